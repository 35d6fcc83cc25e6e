"""Top Hessian eigenvalue of PyTorch models: sktheory's Lanczos vs PyHessian and scipy.

Two cases, each timed on one thread in float32 (CIFAR model) or float64 (deep
linear networks):

* ``resnet20``: a ResNet-20 for CIFAR-10 (3 stages of 3 basic blocks, 16/32/64
  channels, 1x1-convolution shortcuts: 272,474 parameters) at a *random*
  initialisation (BatchNorm running statistics set by a few training-mode
  passes, then eval mode), on a fixed random batch of 64 32x32 images with
  random labels. It stands in for PyHessian's pretrained ResNet-20, whose
  weights cannot be downloaded here. Size ``smoke`` uses a 2-stage, 1-block
  version instead.
* ``deep-linear``: depth-4 residual deep linear networks (``4 m^2`` parameters)
  trained briefly, where the top of the Hessian spectrum is clustered
  (lambda_2 / lambda_1 near 1) and power iteration is slow.

Methods: ``lanczos`` (:func:`sktheory.diagnostics.top_eigenvalues`, stopping on a
relative residual ``tol``), ``pyhessian`` (PyHessian's power iteration, which
stops when the eigenvalue changes by less than ``tol`` relatively; skipped when
PyHessian is not installed; on the deep linear case, where PyHessian cannot run
float64 models, the same rule re-implemented here, ``power``), and ``eigsh``
(scipy's ARPACK on the same products). Accuracy is the relative error against
a reference: Lanczos in float64 at ``tol=1e-10``.

Run: ``python benchmarks/bench_hessian.py --size small``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from sktheory.diagnostics import CurvatureOperator, curvature_operator, top_eigenvalues

TARGET = 1e-5  # the relative accuracy at which methods are compared
SETTINGS = {
    "smoke": {
        "blocks": 1,
        "stages": 2,
        "lanczos": [1e-3],
        "pyhessian": [1e-3],
        "eigsh": [1e-3],
        "widths": [8],
    },
    "small": {
        "blocks": 3,
        "stages": 3,
        "lanczos": [1e-2, 1e-3, 1e-4],
        "pyhessian": [1e-3, 1e-4, 1e-5, 1e-6],
        "eigsh": [1e-3],
        "widths": [50, 158],
    },
    "full": {
        "blocks": 3,
        "stages": 3,
        "lanczos": [1e-2, 1e-3, 1e-4, 1e-5],
        "pyhessian": [1e-3, 1e-4, 1e-5, 1e-6],
        "eigsh": [1e-3, 1e-6],
        "widths": [50, 158, 500],
    },
}


# ----------------------------------------------------------------- the CIFAR model
class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """He et al.'s CIFAR ResNet (6 n + 2 layers); n=3 is ResNet-20."""

    def __init__(self, blocks: int = 3, stages: int = 3, n_classes: int = 10) -> None:
        super().__init__()
        widths = [16, 32, 64][:stages]
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        layers, c_in = [], 16
        for s, c in enumerate(widths):
            for b in range(blocks):
                layers.append(_Block(c_in, c, 2 if (b == 0 and s > 0) else 1))
                c_in = c
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(torch.relu(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


def _resnet_problem(size: str):
    torch.manual_seed(0)
    cfg = SETTINGS[size]
    model = ResNetCIFAR(cfg["blocks"], cfg["stages"])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # running statistics of random data, as a trained model has
        model.train()
        for _ in range(5):
            model(torch.randn(64, 3, 32, 32, generator=gen))
    model.eval()
    images = torch.randn(64, 3, 32, 32, generator=gen)
    labels = torch.randint(0, 10, (64,), generator=gen)
    return model, images, labels


# ------------------------------------------------------------------- the methods
def _pyhessian_row(model, criterion, data, tol: float) -> dict | None:
    try:
        import pyhessian
    except ImportError:
        return None
    # The package re-exports a class named like its module: fetch the module itself.
    ph = sys.modules["pyhessian.hessian"]
    counter = {"n": 0}
    original = ph.hessian_vector_product

    def counted(*args, **kwargs):
        counter["n"] += 1
        return original(*args, **kwargs)

    ph.hessian_vector_product = counted
    try:
        start = time.process_time()
        # The constructor builds the gradient graph once, as curvature_operator does.
        h = pyhessian.hessian(model, criterion, data=data, cuda=False)
        values, _ = h.eigenvalues(maxIter=100, tol=tol, top_n=1)
        elapsed = time.process_time() - start
    finally:
        ph.hessian_vector_product = original
        model.zero_grad(set_to_none=True)  # PyHessian leaves graph-holding .grad behind
    return {"value": float(values[0]), "products": counter["n"], "time": elapsed}


def _lanczos_row(build, tol: float) -> dict:
    start = time.process_time()
    op = build()
    res = top_eigenvalues(op, tol=tol, random_state=0)
    return {
        "value": float(res.eigenvalues[0]),
        "products": res.n_products,
        "time": time.process_time() - start,
    }


def _eigsh_row(build, tol: float) -> dict:
    start = time.process_time()
    op = build()

    def matvec(v: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.ravel(v), dtype=op.dtype)
        return op.matvec(x).double().numpy()

    lin = LinearOperator(op.shape, matvec=matvec, dtype=np.float64)
    v0 = np.random.RandomState(0).standard_normal(op.n_params)
    values = eigsh(lin, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return {
        "value": float(values[-1]),
        "products": op.n_products,
        "time": time.process_time() - start,
    }


def _power_row(build, tol: float, max_iter: int = 100) -> dict:
    """PyHessian's rule: Rayleigh quotients until one changes by < tol relatively."""
    start = time.process_time()
    op = build()
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(op.n_params, generator=gen, dtype=op.dtype)
    v /= v.norm()
    value = None
    for _ in range(max_iter):
        hv = op.matvec(v)
        new = float(v @ hv)
        v = hv / hv.norm()
        if value is not None and abs(value - new) / (abs(value) + 1e-6) < tol:
            value = new
            break
        value = new
    return {"value": value, "products": op.n_products, "time": time.process_time() - start}


def _rows_for(case: str, build, reference: float, settings: dict, model_args=None) -> list:
    rows = []
    for tol in settings["lanczos"]:
        rows.append({"method": "lanczos", "tol": tol, **_lanczos_row(build, tol)})
    for tol in settings["pyhessian"]:
        if model_args is not None:
            row = _pyhessian_row(*model_args, tol)
            if row is None:
                print("PyHessian is not installed: its rows are skipped.", flush=True)
                break
            rows.append({"method": "pyhessian", "tol": tol, **row})
        else:
            rows.append({"method": "power", "tol": tol, **_power_row(build, tol)})
    for tol in settings["eigsh"]:
        rows.append({"method": "eigsh", "tol": tol, **_eigsh_row(build, tol)})
    for row in rows:
        row["case"] = case
        row["error"] = abs(row["value"] - reference) / abs(reference)
        print(
            f"{case} {row['method']} tol={row['tol']:g}: {row['value']:.8g} "
            f"err {row['error']:.1e}, {row['products']} products, {row['time']:.2f} s",
            flush=True,
        )
    return rows


def _resnet_rows(size: str) -> tuple[list, dict]:
    model, images, labels = _resnet_problem(size)
    criterion = nn.CrossEntropyLoss()
    n = sum(p.numel() for p in model.parameters())
    model64 = copy.deepcopy(model).double()
    op64 = curvature_operator(model64, criterion, (images.double(), labels))
    ref = top_eigenvalues(op64, k=2, tol=1e-10, random_state=1)
    info = {
        "case": "resnet20",
        "n_params": n,
        "reference": float(ref.eigenvalues[0]),
        "ratio": float(ref.eigenvalues[1] / ref.eigenvalues[0]),
    }
    print(f"resnet20: {n} parameters, reference {info['reference']:.10g}", flush=True)

    def build():
        return curvature_operator(model, criterion, (images, labels))

    rows = _rows_for(
        "resnet20", build, info["reference"], SETTINGS[size], (model, criterion, (images, labels))
    )
    return rows, info


def _deep_linear_problem(width: int, seed: int = 0):
    from sktheory import DeepLinearRegressor
    from sktheory.datasets import make_deep_linear_regression

    X, y = make_deep_linear_regression(
        n_samples=max(200, 2 * width), n_features=width, random_state=seed
    )
    model = DeepLinearRegressor(
        depth=4, init="residual", init_scale=0.5, learning_rate=0.02, max_iter=50, random_state=seed
    )
    return model.fit(X, y)._sharpness_problem(X, y)


def _deep_linear_rows(size: str) -> tuple[list, list]:
    rows, infos = [], []
    for width in SETTINGS[size]["widths"]:
        loss_fn, params = _deep_linear_problem(width)
        n = sum(p.numel() for p in params)
        ref_op = CurvatureOperator.from_loss(loss_fn, params)
        top2 = top_eigenvalues(ref_op, k=2, tol=1e-10, random_state=1).eigenvalues
        info = {"case": f"deep-linear {n:,}", "n_params": n, "reference": float(top2[0])}
        info["ratio"] = float(top2[1] / top2[0])
        infos.append(info)
        print(f"deep linear width {width}: {n} params, lambda2/lambda1 {info['ratio']:.6f}")

        def build(loss_fn=loss_fn, params=params):
            return CurvatureOperator.from_loss(loss_fn, params)

        settings = dict(SETTINGS[size], eigsh=SETTINGS[size]["eigsh"][:1])
        rows += _rows_for(info["case"], build, info["reference"], settings)
    return rows, infos


# ------------------------------------------------------------------------ report
def _best(rows: list, method: str) -> dict | None:
    """The cheapest run of ``method`` at the target accuracy, else its most accurate."""
    mine = [r for r in rows if r["method"] == method]
    if not mine:
        return None
    good = [r for r in mine if r["error"] <= TARGET]
    return min(good, key=lambda r: r["time"]) if good else min(mine, key=lambda r: r["error"])


def format_table(rows: list, infos: list, size: str) -> str:
    lines = [
        f"Top Hessian eigenvalue (size={size}, one thread). Reference: sktheory Lanczos in "
        "float64 at tol=1e-10. ResNet-20: random initialisation, random batch of 64 "
        "images (no pretrained weights here), float32.",
        "",
        "| case | params | lambda2/lambda1 | reference |",
        "|---|---:|---:|---:|",
    ]
    for info in infos:
        lines.append(
            f"| {info['case']} | {info['n_params']:,} | {info['ratio']:.6f} | "
            f"{info['reference']:.10g} |"
        )
    lines += [
        "",
        "| case | method | tol | eigenvalue | rel. err | products | CPU s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['method']} | {r['tol']:g} | {r['value']:.8g} | "
            f"{r['error']:.1e} | {r['products']} | {r['time']:.3g} |"
        )
    lines += [
        "",
        f"At equal accuracy (the cheapest run with rel. err <= {TARGET:g}; "
        "'best' marks a method that never reached it, with its most accurate run):",
        "",
        "| case | lanczos s (products) | other | other s (products) | other / lanczos time |",
        "|---|---:|---|---:|---:|",
    ]
    for case in dict.fromkeys(r["case"] for r in rows):
        sub = [r for r in rows if r["case"] == case]
        ours = _best(sub, "lanczos")
        for method in ("pyhessian", "power", "eigsh"):
            other = _best(sub, method)
            if other is None:
                continue
            flag = "" if other["error"] <= TARGET else f" best {other['error']:.0e}"
            lines.append(
                f"| {case} | {ours['time']:.3g} ({ours['products']}) | {method} tol="
                f"{other['tol']:g}{flag} | {other['time']:.3g} ({other['products']}) | "
                f"{other['time'] / ours['time']:.2f}x |"
            )
    lines += [
        "",
        "Times are CPU seconds of this process (one thread), robust to other load; "
        "they include building the gradient graph (one forward and backward pass). "
        "Lanczos' tol bounds the residual ||Hv - lambda v|| / lambda; power "
        "iteration's bounds the change of the eigenvalue between two steps.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SETTINGS), default="small")
    parser.add_argument("--output", default=str(Path(__file__).parent / "output"))
    parser.add_argument("--only", choices=["resnet20", "deep-linear"], default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows, infos = [], []
    if args.only in (None, "resnet20"):
        r, info = _resnet_rows(args.size)
        rows, infos = rows + r, infos + [info]
    if args.only in (None, "deep-linear"):
        r, i = _deep_linear_rows(args.size)
        rows, infos = rows + r, infos + i
    table = format_table(rows, infos, args.size)
    print(table)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hessian.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()

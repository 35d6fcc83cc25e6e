"""Sharpness (top Hessian eigenvalue) of deep linear networks: three ways, side by side.

* ``lanczos``: :func:`sktheory.diagnostics.top_hessian_eigenvalue` (sktheory's
  torch thick-restart Lanczos on Hessian-vector products, converged to ``tol``);
* ``arpack``: the same with ``method="arpack"`` (scipy's ARPACK ``eigsh``);
* ``dense``: ``torch.autograd.functional.hessian`` then ``torch.linalg.eigvalsh``
  (skipped where the Hessian would not fit the memory budget);
* ``power-20``: a PyHessian-style power iteration with a fixed 20
  Hessian-vector products and a Rayleigh-quotient estimate.

Models are depth-4 residual deep linear networks on ``m`` features (four
``m x m`` layers: ``4 m^2`` parameters, 1e3 to 1e6), trained briefly from a residual
initialisation on Gaussian data so the Hessian is that of a network near a
minimiser. Accuracy is the relative error against the dense eigenvalue where
it exists, else against Lanczos run to machine precision (``tol=0``). Timings
use one thread.

Run: ``python benchmarks/bench_sharpness.py --size small``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from sktheory import DeepLinearRegressor, _hessian
from sktheory import diagnostics as diag
from sktheory.datasets import make_deep_linear_regression

WIDTHS = {
    "smoke": [8],
    "small": [16, 50, 158, 500],
    "full": [16, 32, 50, 158, 500, 1000],
}
# Largest Hessian formed densely, in bytes (float64).
DENSE_BUDGET = {"smoke": 50e6, "small": 100e6, "full": 2e9}
DEPTH = 4


def _problem(width: int, seed: int = 0):
    X, y = make_deep_linear_regression(
        n_samples=max(200, 2 * width), n_features=width, random_state=seed
    )
    model = DeepLinearRegressor(
        depth=DEPTH,
        init="residual",
        init_scale=0.5,
        learning_rate=0.02,
        max_iter=50,
        random_state=seed,
    )
    model.fit(X, y)
    return model._sharpness_problem(X, y)


def _count_hvps():
    """Count the Hessian-vector products made by the Lanczos (for the table)."""
    original = _hessian._hvp_from_grads
    counter = {"n": 0}

    def counted(*args, **kwargs):
        counter["n"] += 1
        return original(*args, **kwargs)

    _hessian._hvp_from_grads = counted
    return counter, lambda: setattr(_hessian, "_hvp_from_grads", original)


def power_iteration(loss_fn, params, n_iter: int = 20, seed: int = 0) -> float:
    """Fixed-step power iteration on HVPs (PyHessian's default of 20 steps)."""
    leaves = diag._leaves(params)
    grads = diag._gradients(loss_fn, leaves)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in leaves]
    norm = math.sqrt(sum(float((t * t).sum()) for t in v))
    v = [t / norm for t in v]
    value = 0.0
    for _ in range(n_iter):
        hv = diag._hvp_from_grads(grads, leaves, v)
        value = sum(float((a * b).sum()) for a, b in zip(hv, v, strict=True))
        norm = math.sqrt(sum(float((t * t).sum()) for t in hv))
        v = [t / norm for t in hv]
    return value


def _dense_top(loss_fn, params) -> float:
    return torch.linalg.eigvalsh(diag.dense_hessian(loss_fn, params))[-1].item()


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def run(size: str) -> list[dict]:
    rows = []
    for width in WIDTHS[size]:
        loss_fn, params = _problem(width)
        n = sum(p.numel() for p in params)
        row = {"n_params": n}
        counter, restore = _count_hvps()
        try:
            row["lanczos"], row["t_lanczos"] = _timed(
                diag.top_hessian_eigenvalue, loss_fn, params, tol=1e-10, random_state=0
            )
            row["hvp_lanczos"] = counter["n"]
        finally:
            restore()
        row["arpack"], row["t_arpack"] = _timed(
            diag.top_hessian_eigenvalue, loss_fn, params, tol=1e-10, random_state=0, method="arpack"
        )
        row["power"], row["t_power"] = _timed(power_iteration, loss_fn, params)
        if 8.0 * n * n <= DENSE_BUDGET[size]:
            row["dense"], row["t_dense"] = _timed(_dense_top, loss_fn, params)
            row["reference"] = "dense"
            reference = row["dense"]
        else:
            row["dense"] = None
            row["dense_gb"] = 8.0 * n * n / 1e9
            reference = diag.top_hessian_eigenvalue(loss_fn, params, tol=0, random_state=1)
            row["reference"] = "lanczos tol=0"
        row["err_lanczos"] = abs(row["lanczos"] - reference) / abs(reference)
        row["err_power"] = abs(row["power"] - reference) / abs(reference)
        rows.append(row)
        print(f"done n_params={n}", flush=True)
    return rows


def format_table(rows: list[dict], size: str) -> str:
    budget = DENSE_BUDGET[size] / 1e6
    lines = [
        f"Sharpness of depth-{DEPTH} deep linear networks (size={size}, one thread; "
        f"dense only where the Hessian fits in {budget:.0f} MB).",
        "",
        "| params | sharpness | Lanczos s | HVPs | ms / HVP | rel. err | ARPACK s "
        "| ARPACK / Lanczos | dense s "
        "| dense / Lanczos | power-20 s | power-20 / Lanczos | power-20 rel. err "
        "| reference |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r["dense"] is None:
            dense_t = f"skipped ({r['dense_gb']:.2g} GB)"
            dense_ratio = "n/a"
        else:
            dense_t = f"{r['t_dense']:.3g}"
            dense_ratio = f"{r['t_dense'] / r['t_lanczos']:.3g}x"
        lines.append(
            f"| {r['n_params']:,} | {r['lanczos']:.8g} | {r['t_lanczos']:.3g} | "
            f"{r['hvp_lanczos']} | {1000 * r['t_power'] / 20:.3g} | "
            f"{r['err_lanczos']:.1e} | {r['t_arpack']:.3g} | "
            f"{r['t_arpack'] / r['t_lanczos']:.3g}x | {dense_t} | {dense_ratio} | "
            f"{r['t_power']:.3g} | {r['t_power'] / r['t_lanczos']:.3g}x | "
            f"{r['err_power']:.1e} | {r['reference']} |"
        )
    lines += [
        "",
        "Ratios are time over Lanczos time (above 1: Lanczos is faster). HVPs: "
        "Hessian-vector products used by Lanczos (power-20 uses 20); ms / HVP is "
        "measured on the power iteration. Lanczos time beyond HVPs x ms / HVP is "
        "the reorthogonalisation on vectors of length n_params, which weighs "
        "here because a deep linear network's HVP is unusually cheap.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(WIDTHS), default="small")
    parser.add_argument("--output", default=str(Path(__file__).parent / "output"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = format_table(run(args.size), args.size)
    print(table)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sharpness.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()

"""Signature features and spirals classification against the usual peers.

1. Feature throughput: ``sktheory.signature.signature`` (both backends) against
   iisignature called directly, pysiglib called directly, and sktime's
   SignatureTransformer when sktime is installed.
2. Spirals (the paper's task): accuracy and fit time of the signature-kernel
   classifier, the residual RNN and the penalised RNN against an unpenalised
   torch GRU trained the same way.

Run ``python benchmarks/bench_signature.py --size small``; the table is printed
and written to ``benchmarks/output/signature.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import iisignature
import numpy as np
import torch

from sktheory import SignatureKernelRNNClassifier
from sktheory.base import single_thread
from sktheory.datasets import make_brownian_paths, make_spirals
from sktheory.signature import signature

SIZES = {
    # batch, points, channels, depth | n_train, n_test, epochs
    # ..., scale_n: training set of the RNN scale rows
    "smoke": dict(
        batch=32, points=50, channels=3, depth=3, n_train=20, n_test=40, epochs=2, scale_n=500
    ),
    "small": dict(
        batch=256, points=100, channels=3, depth=5, n_train=50, n_test=500, epochs=30, scale_n=20000
    ),
    "full": dict(
        batch=2048,
        points=200,
        channels=4,
        depth=5,
        n_train=50,
        n_test=1000,
        epochs=200,
        scale_n=20000,
    ),
}


def _best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    fn()  # warm-up (thread pools, first-call costs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def feature_rows(cfg: dict) -> list[list[str]]:
    paths = make_brownian_paths(cfg["batch"], cfg["points"], cfg["channels"], random_state=0)
    depth = cfg["depth"]
    ref = iisignature.sig(paths, depth)
    candidates: dict[str, Callable[[], np.ndarray]] = {
        "iisignature.sig (direct)": lambda: iisignature.sig(paths, depth),
        "sktheory signature, backend=iisignature": lambda: signature(
            paths, depth, backend="iisignature"
        ),
    }
    if importlib.util.find_spec("pysiglib") is not None:
        import pysiglib

        candidates["pysiglib.sig (direct, all threads)"] = lambda: pysiglib.sig(
            paths, depth, n_jobs=-1
        )
        candidates["sktheory signature, backend=pysiglib"] = lambda: signature(
            paths, depth, backend="pysiglib"
        )
    rows = []
    base = None
    for name, fn in candidates.items():
        err = float(np.max(np.abs(fn() - ref)))
        seconds = _best_time(fn)
        base = base or seconds
        rows.append(
            [
                name,
                f"{cfg['batch'] / seconds:,.0f}",
                f"{base / seconds:.2f}x",
                f"{err:.1e}",
            ]
        )
    if importlib.util.find_spec("sktime") is None:
        rows.append(["sktime SignatureTransformer", "not installed", "-", "-"])
    return rows


class _GRU(torch.nn.Module):
    def __init__(self, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(2, hidden, batch_first=True, dtype=torch.float64)
        self.out = torch.nn.Linear(hidden, 1, dtype=torch.float64)
        # torch's default GRU init (uniform, 1/sqrt(hidden)), drawn from a seeded generator.
        with torch.no_grad():
            for p in self.parameters():
                bound = 1 / np.sqrt(hidden)
                p.copy_((2 * torch.rand(p.shape, generator=generator, dtype=p.dtype) - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.gru(x)[1][-1])[:, 0]


def fit_gru(X, y, Xt, yt, epochs: int) -> tuple[float, float]:
    """Unpenalised GRU (hidden 32), Adam lr 0.01, batch 25, logistic loss."""
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    with single_thread():
        model = _GRU(32, gen)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        x, t = torch.tensor(X), torch.tensor(y, dtype=torch.float64)
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for s in range(0, len(x), 25):
                idx = order[s : s + 25]
                opt.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx]), t[idx])
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            acc = float(((model(torch.tensor(Xt)) > 0).numpy() == yt).mean())
    return acc, seconds


def spirals_rows(cfg: dict) -> list[list[str]]:
    X, y = make_spirals(cfg["n_train"] + cfg["n_test"], 100, random_state=0)
    X, y, Xt, yt = (
        X[: cfg["n_train"]],
        y[: cfg["n_train"]],
        X[cfg["n_train"] :],
        y[cfg["n_train"] :],
    )
    # The paper's settings are the RNN solver's defaults (hidden 32, Adam lr 0.1
    # halved every 40 epochs, batch 64, raw paths).
    rnn = dict(solver="rnn", depth=3, max_epochs=cfg["epochs"], random_state=0)
    models = {
        "signature kernel (depth 3)": SignatureKernelRNNClassifier(depth=3),
        "signature kernel (depth 5)": SignatureKernelRNNClassifier(depth=5),
        "residual RNN, alpha=0": SignatureKernelRNNClassifier(alpha=0.0, **rnn),
        "residual RNN, RKHS penalty alpha=0.1": SignatureKernelRNNClassifier(alpha=0.1, **rnn),
    }
    fit_gru(X[:4], y[:4], Xt[:4], yt[:4], 1)  # warm-up: first GRU calls are slow
    gru_acc, gru_time = fit_gru(X, y, Xt, yt, cfg["epochs"])
    rows = [["torch GRU (unpenalised)", f"{gru_acc:.3f}", f"{gru_time:.2f}", "1.00x", "-"]]
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        acc = model.score(Xt, yt)
        rows.append(
            [
                name,
                f"{acc:.3f}",
                f"{seconds:.2f}",
                f"{seconds / gru_time:.2f}x",
                f"{model.rkhs_norm_:.3g}",
            ]
        )
    return rows


_SCALE_SCRIPT = """
import resource, sys, time, warnings
warnings.simplefilter("ignore")
from sktheory import SignatureKernelRNNClassifier
from sktheory.datasets import make_spirals
n, batch, dtype, epochs = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
batch = None if batch == "None" else batch if batch == "auto" else int(batch)
X, y = make_spirals(n, 100, random_state=0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = SignatureKernelRNNClassifier(
    solver="rnn", alpha=0.1, batch_size=batch, dtype=dtype, max_epochs=epochs, random_state=0
)
start = time.perf_counter()
model.fit(X, y)
seconds = (time.perf_counter() - start) / epochs
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, peak / 1024, (peak - base) / 1024, model.score(X[:2000], y[:2000]))
"""


def scale_rows(cfg: dict) -> list[list[str]]:
    """RNN solver at large n, one process per setting (peak memory is per process)."""
    n = cfg["scale_n"]
    settings = [
        ("full batch, float64 (the former default)", "None", "float64", 1),
        ('batch_size="auto", float64 (default)', "auto", "float64", 2),
        ('batch_size="auto", float32', "auto", "float32", 2),
    ]
    rows, base = [], None
    for name, batch, dtype, epochs in settings:
        out = subprocess.run(
            [sys.executable, "-c", _SCALE_SCRIPT, str(n), batch, dtype, str(epochs)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        ).stdout.split()
        seconds, peak, grown, acc = (float(v) for v in out)
        base = base or seconds
        rows.append(
            [
                name,
                f"{seconds:.1f}",
                f"{base / seconds:.1f}x",
                f"{200 * seconds / 60:.0f}",
                f"{peak:.0f} ({grown:.0f})",
                f"{acc:.3f}",
            ]
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    feats = feature_rows(cfg)
    spirals = spirals_rows(cfg)
    scale = scale_rows(cfg)
    text = "\n\n".join(
        [
            f"# Signature kernel benchmark ({args.size}, {os.cpu_count()} cores)",
            f"## Signature features: batch {cfg['batch']}, {cfg['points']} points, "
            f"{cfg['channels']} channels, depth {cfg['depth']} (best of 3)",
            _table(["method", "paths / s", "speed vs iisignature", "max abs diff"], feats),
            f"## Spirals: {cfg['n_train']} training, {cfg['n_test']} test sequences "
            f"of 100 points, {cfg['epochs']} epochs for the networks",
            _table(["model", "test accuracy", "fit s", "time vs GRU", "RKHS norm"], spirals),
            f"## RNN solver at n={cfg['scale_n']}: spirals of 100 points, alpha=0.1, "
            "one thread; a default fit is 200 epochs",
            _table(
                [
                    "setting",
                    "s / epoch",
                    "speed-up",
                    "200 epochs, min",
                    "peak RSS MB (fit's growth)",
                    "train accuracy after",
                ],
                scale,
            ),
        ]
    )
    print(text)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "signature.md"), "w") as fh:
        fh.write(text + "\n")
    return text


if __name__ == "__main__":
    main()

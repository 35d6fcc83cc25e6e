"""Benchmark: what the training driver costs on the cheapest torch step.

Every iterative estimator trains through ``TorchEstimator._drive``: windows of
updates, a record per window, the divergence and convergence checks, the
progress bar. Its cost is fixed per window, so it shows most where an update
is cheapest. Here that is DeepLinearRegressor's full-batch gradient step on a
small problem (the numba loop of TwoTimescaleNet has its own row in the
``two_timescale`` benchmark).

Both sides start from the same fitted-data and state objects (the estimator's
own hooks) and run the same updates: the driver, through ``_drive``, and a bare
loop that calls the same gradient function and in-place step ``max_iter``
times with nothing else. The table reports the best of several repeats in CPU
seconds (``time.process_time``, robust to other load), their ratio, and how far
the two final weights are apart (they should be identical).

Run ``python benchmarks/bench_training_driver.py --size small``.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from sktheory import DeepLinearRegressor
from sktheory.datasets import make_deep_linear_regression
from sktheory.deep_linear import _loss_and_gradients

SIZES = {
    "smoke": dict(n_samples=50, max_iter=200, repeats=1),
    "small": dict(n_samples=100, max_iter=5_000, repeats=5),
    "full": dict(n_samples=100, max_iter=50_000, repeats=5),
}


def _prepared(n_samples: int, max_iter: int):
    """A DeepLinear estimator with its validated data and initial state."""
    X, y = make_deep_linear_regression(n_samples=n_samples, random_state=0)
    est = DeepLinearRegressor(depth=3, learning_rate=0.05, max_iter=max_iter, random_state=0)
    generator = est._init_torch()
    data = est._check_fit_data(X, y, reset=True)
    state = est._init_state(data, generator)
    return est, data, state


def _driver(est, data, state) -> float:
    est.history_ = []
    start = time.process_time()
    est._drive(state, data)
    return time.process_time() - start


def _bare(data, state, max_iter: int) -> float:
    start = time.process_time()
    for _ in range(max_iter):
        loss, grads = _loss_and_gradients(state.weights, state.head, data.X, data.y)
        for W, g in zip(state.weights, grads, strict=True):
            W.sub_(state.learning_rate * g)
        loss.item()  # the driver reads every loss too
    return time.process_time() - start


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--output", default=str(Path(__file__).parent / "output"))
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    torch.set_num_threads(1)

    est, data, state = _prepared(size["n_samples"], size["max_iter"])
    driver_times, bare_times = [], []
    for _ in range(size["repeats"]):
        driven, bare = copy.deepcopy(state), copy.deepcopy(state)
        driver_times.append(_driver(est, data, driven))
        bare_times.append(_bare(data, bare, size["max_iter"]))
    gap = max(float((a - b).abs().max()) for a, b in zip(driven.weights, bare.weights, strict=True))
    driver, bare = min(driver_times), min(bare_times)
    n_params = sum(W.numel() for W in state.weights)
    report = "\n".join(
        [
            f"DeepLinearRegressor, depth 3, {n_params} parameters, {size['n_samples']} samples, "
            f"{size['max_iter']} full-batch updates in {len(est.history_)} windows, one "
            f"thread; best of {size['repeats']} (CPU seconds).",
            "",
            "| loop | CPU s | per update | vs bare loop | max weight difference |",
            "|---|---|---|---|---|",
            f"| training driver (`_drive`) | {driver:.3f} | "
            f"{1e6 * driver / size['max_iter']:.1f} us | {driver / bare:.3f}x | {gap:.1e} |",
            f"| bare loop | {bare:.3f} | {1e6 * bare / size['max_iter']:.1f} us | 1x | - |",
            "",
        ]
    )
    print(report)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_driver.md").write_text(report)
    return report


if __name__ == "__main__":
    main()

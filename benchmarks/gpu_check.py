"""Fit every estimator on the GPU and on the CPU; compare predictions and speed.

On a machine with CUDA, each estimator that takes numeric arrays is fitted twice
with the same ``random_state`` (``device="cuda"`` and ``device="cpu"``); the
script prints the largest prediction difference and the CPU/GPU time ratio,
then checks that the GPU-fitted model unpickles in a process that sees no GPU.
Without CUDA it says so and exits cleanly.

    python benchmarks/gpu_check.py [--n-samples 4000]
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.base import is_classifier, is_regressor

from sktheory.discovery import all_estimators

_LOAD_ON_CPU = """
import pickle, sys, numpy as np, torch, warnings
assert not torch.cuda.is_available()
warnings.simplefilter("ignore")
model = pickle.load(open(sys.argv[1], "rb"))
X = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(X) if hasattr(model, "predict") else model.score_samples(X))
"""


def _data(estimator, n_samples, n_features=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n_samples, n_features))
    if is_classifier(estimator):
        return X, (X[:, 0] + X[:, 1] > 1).astype(int)
    if is_regressor(estimator):
        return X, X @ np.linspace(1, 2, n_features) + 0.1 * rng.normal(size=n_samples)
    return X, None


def _timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X) if y is None else estimator.fit(X, y)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _outputs(model, X):
    return model.predict(X) if hasattr(model, "predict") else model.score_samples(X)


def check(n_samples: int) -> list[dict]:
    rows = []
    for name, cls in all_estimators():
        base = cls()
        if not base.__sklearn_tags__().input_tags.two_d_array or "device" not in base.get_params():
            continue
        X, y = _data(base, n_samples)
        cpu = cls(device="cpu", random_state=0)
        gpu = cls(device="cuda", random_state=0)
        t_cpu, t_gpu = _timed_fit(cpu, X, y), _timed_fit(gpu, X, y)
        diff = float(np.max(np.abs(_outputs(cpu, X) - _outputs(gpu, X))))
        rows.append(
            {
                "estimator": name,
                "cpu_s": t_cpu,
                "gpu_s": t_gpu,
                "max_abs_diff": diff,
                "cpu_reload": _reload_without_gpu(gpu, X),
            }
        )
    return rows


def _reload_without_gpu(model, X) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, f) for f in ("model.pkl", "X.npy", "out.npy")]
        with open(paths[0], "wb") as fh:
            pickle.dump(model, fh)
        np.save(paths[1], X)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        done = subprocess.run(
            [sys.executable, "-c", _LOAD_ON_CPU, *paths], env=env, capture_output=True
        )
        if done.returncode:
            return "failed: " + done.stderr.decode()[-200:]
        same = np.allclose(np.load(paths[2]), _outputs(model, X), rtol=1e-5, atol=1e-8)
        return "identical" if same else "differs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=4000)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("CUDA is not available: nothing to compare, skipping the GPU check.")
        return 0
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| estimator | CPU fit s | GPU fit s | speed-up | max |pred diff| | CPU reload |")
    print("|---|---|---|---|---|---|")
    for r in check(args.n_samples):
        print(
            f"| {r['estimator']} | {r['cpu_s']:.2f} | {r['gpu_s']:.2f} | "
            f"{r['cpu_s'] / r['gpu_s']:.2f}x | {r['max_abs_diff']:.2e} | {r['cpu_reload']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

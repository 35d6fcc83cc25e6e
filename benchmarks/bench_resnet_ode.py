"""Benchmark ResNetODERegressor: training speed at large depth, memory, accuracy.

* Time per epoch of the estimator (one skorch epoch per window of the
  training contract's driver, around the stacked-weight module) against a
  bare hand-written torch loop on the same module, data, batch size and
  optimiser: the ratio is what skorch and the driver cost on top of torch.
  The estimator's epoch time is ``history_[i]["seconds"]``, skorch's epoch
  timer.
* Memory kept by autograd for one mini-batch, measured through
  ``torch.autograd.graph.saved_tensors_hooks`` at several depths: it grows
  linearly with depth (bytes per layer stay constant).
* Test R^2 and fit time against scikit-learn's ``MLPRegressor`` on a
  neural-ODE teacher task.
* float32 and 2 threads, side by side in the same run: time per epoch of the
  estimator and of the bare loop, autograd memory and test R^2 for float64 /
  float32 on 1 / 2 torch threads, as ratios to float64 on 1 thread. The
  estimator trains inside the training contract's one-thread block
  (:func:`sktheory.base.single_thread`), so its 2-thread rows measure that pin
  against what the bare loop gains from a second thread.

``--size full`` is the issue's setting: depth 1000, width 30, 10,000 samples.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor

from sktheory import ResNetODERegressor
from sktheory.datasets import make_resnet_ode_teacher
from sktheory.resnet_ode import _ResNetODEModule

SIZES = {
    # depth, width, n_samples, batch, epochs, depths for the memory scan
    "smoke": dict(depth=50, width=10, n=500, batch=250, epochs=2, scan=[10, 20, 40]),
    "small": dict(depth=200, width=30, n=2000, batch=500, epochs=2, scan=[50, 100, 200]),
    "full": dict(depth=1000, width=30, n=10000, batch=1000, epochs=2, scan=[250, 500, 1000]),
}


# The same grid for the ResNet and the MLP peer.
LEARNING_RATES = (1e-3, 1e-2, 3e-2)


def _module(n_features, depth, width, seed=0, dtype=torch.float64):
    return _ResNetODEModule(
        n_features,
        1,
        depth=depth,
        width=width,
        hidden_width=width,
        scaling_exponent=1.0,
        activation="relu",
        residual="v_sigma_w",
        init="smooth",
        bandwidth=0.1,
        hurst=0.5,
        regularity_penalty=0.0,
        generator=torch.Generator().manual_seed(seed),
        dtype=dtype,
    )


def bare_loop_seconds_per_epoch(X, y, depth, width, batch, epochs, dtype=torch.float64):
    """The same module and optimiser in a hand-written loop: no skorch, no driver."""
    module = _module(X.shape[1], depth, width, dtype=dtype)
    Xt = torch.tensor(X, dtype=dtype)
    yt = torch.tensor((y - y.mean()) / y.std(), dtype=dtype)[:, None]
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), batch):
            rows = order[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(module(Xt[rows]), yt[rows])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bare_loop_seconds_per_batch(X, y, depth, width, batch, dtype, n_batches=4):
    """Median seconds of one update of the bare loop, after one warm-up update.

    Timed per update rather than per epoch: on a machine whose cores are
    taken by other work, a second torch thread can make an update many times
    slower, and a whole epoch of those would dominate the run.
    """
    module = _module(X.shape[1], depth, width, dtype=dtype)
    Xt = torch.tensor(X[:batch], dtype=dtype)
    yt = torch.tensor((y[:batch] - y.mean()) / y.std(), dtype=dtype)[:, None]
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    times = []
    for _ in range(n_batches + 1):
        start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(Xt), yt).backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def saved_bytes(n_features, depth, width, batch, dtype=torch.float64):
    """Bytes autograd keeps for the backward pass of one mini-batch."""
    module = _module(n_features, depth, width, dtype=dtype)
    x = torch.randn(batch, n_features, dtype=dtype)
    total = 0
    seen = set()

    def pack(t):
        nonlocal total
        key = (t.data_ptr(), t.numel())
        if key not in seen and not isinstance(t, torch.nn.Parameter):
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x).sum()
    return total


def precision_and_threads(Xtr, ytr, Xte, yte, cfg):
    """Epoch time, memory and R^2 for float64 / float32 on 1 / 2 torch threads.

    The four settings run back to back (float64 on 1 thread again too), so
    that their ratios compare runs under the same load.
    """
    rows = []
    for dtype in ("float64", "float32"):
        tdtype = getattr(torch, dtype)
        mb = saved_bytes(8, cfg["depth"], cfg["width"], cfg["batch"], dtype=tdtype) / 2**20
        for threads in (1, 2):
            torch.set_num_threads(threads)
            try:
                est = ResNetODERegressor(
                    depth=cfg["depth"],
                    width=cfg["width"],
                    hidden_width=cfg["width"],
                    batch_size=cfg["batch"],
                    max_epochs=cfg["epochs"],
                    dtype=dtype,
                    random_state=0,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(Xtr, ytr)
                per_batch = bare_loop_seconds_per_batch(
                    Xtr, ytr, cfg["depth"], cfg["width"], cfg["batch"], tdtype
                )
                bare = per_batch * -(-len(Xtr) // cfg["batch"])
            finally:
                torch.set_num_threads(1)
            assert est.module_.V.dtype == tdtype
            rows.append(
                dict(
                    dtype=dtype,
                    threads=threads,
                    epoch=float(np.median([h["seconds"] for h in est.history_])),
                    bare=bare,
                    mb=mb,
                    r2=est.score(Xte, yte),
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    torch.set_num_threads(1)

    # strength=8: a teacher a linear model cannot fit (its R^2 is reported).
    X, y = make_resnet_ode_teacher(
        cfg["n"] + 1000, 8, depth=100, noise=0.1, strength=8.0, random_state=0
    )
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=cfg["n"], random_state=0)

    # One tiny fit first: torch's optimisers import their compiler machinery
    # on first use, a one-off cost that is not the estimator's.
    ResNetODERegressor(depth=2, width=2, max_epochs=1).fit(Xtr[:10], ytr[:10])
    est = ResNetODERegressor(
        depth=cfg["depth"],
        width=cfg["width"],
        hidden_width=cfg["width"],
        batch_size=cfg["batch"],
        max_epochs=cfg["epochs"],
        random_state=0,
    )
    start = time.perf_counter()
    est.fit(Xtr, ytr)
    est_fit = time.perf_counter() - start
    est_epoch = float(np.median([h["seconds"] for h in est.history_]))
    bare_epoch = bare_loop_seconds_per_epoch(
        Xtr, ytr, cfg["depth"], cfg["width"], cfg["batch"], cfg["epochs"]
    )

    start = time.perf_counter()
    mlp = MLPRegressor(
        hidden_layer_sizes=(cfg["width"], cfg["width"]),
        batch_size=cfg["batch"],
        max_iter=cfg["epochs"],
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at few epochs
        mlp.fit(Xtr, ytr)
    mlp_fit = time.perf_counter() - start
    # Accuracy: both models over the same learning-rate grid and epoch budget.
    grid_rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lr in LEARNING_RATES:
            r = est.set_params(learning_rate=lr).fit(Xtr, ytr).score(Xte, yte)
            m = mlp.set_params(learning_rate_init=lr).fit(Xtr, ytr).score(Xte, yte)
            grid_rows.append(
                f"| test R^2 at lr {lr:g} ({cfg['epochs']} epochs) | {r:.3f} | {m:.3f} | - |"
            )
    linear_r2 = LinearRegression().fit(Xtr, ytr).score(Xte, yte)

    mem = [(L, saved_bytes(8, L, cfg["width"], cfg["batch"])) for L in cfg["scan"]]
    settings = precision_and_threads(Xtr, ytr, Xte, yte, cfg)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [
        f"## ResNetODERegressor benchmark ({args.size}: depth {cfg['depth']}, "
        f"width {cfg['width']}, {cfg['n']} samples, batch {cfg['batch']}, "
        f"{cfg['epochs']} epochs, 1 thread, float64)",
        "",
        "| measure | ResNetODERegressor | peer | ratio |",
        "|---|---|---|---|",
        f"| s / epoch (skorch behind the driver) vs bare torch loop | {est_epoch:.3f} | "
        f"{bare_epoch:.3f} | "
        f"{est_epoch / bare_epoch:.2f} |",
        f"| peer for R^2: MLPRegressor({cfg['width']}, {cfg['width']}), Adam | - | - | - |",
        *grid_rows,
        f"| LinearRegression test R^2 | - | {linear_r2:.3f} | - |",
        f"| fit s vs MLPRegressor | {est_fit:.2f} | {mlp_fit:.2f} | {est_fit / mlp_fit:.1f} |",
        "",
        "| depth | autograd memory per batch (MB) | bytes per layer per sample |",
        "|---|---|---|",
    ]
    for L, b in mem:
        lines.append(f"| {L} | {b / 2**20:.1f} | {b / (L * cfg['batch']):.0f} |")
    lines += [
        "",
        f"float32 and 2 threads (lr 1e-2, {cfg['epochs']} epochs; autograd memory at "
        f"depth {cfg['depth']}; ratios to float64 on 1 thread):",
        "",
        "| dtype | torch threads | s / epoch | ratio "
        "| bare loop s / epoch (from s / update) | ratio "
        "| autograd MB per batch | ratio | test R^2 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ref = settings[0]
    for row in settings:
        lines.append(
            f"| {row['dtype']} | {row['threads']} | {row['epoch']:.3f} | "
            f"{row['epoch'] / ref['epoch']:.2f} | {row['bare']:.3f} | "
            f"{row['bare'] / ref['bare']:.2f} | {row['mb']:.1f} | {row['mb'] / ref['mb']:.2f} | "
            f"{row['r2']:.3f} |"
        )
    lines += ["", f"Peak resident memory of the process: {peak_rss_mb:.0f} MB."]
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.join("benchmarks", "output"), exist_ok=True)
    with open(os.path.join("benchmarks", "output", "resnet_ode.md"), "w") as f:
        f.write(table + "\n")
    return table


if __name__ == "__main__":
    main()

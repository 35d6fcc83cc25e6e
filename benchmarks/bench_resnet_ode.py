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
import multiprocessing
import os
import resource
import time
import warnings
from collections.abc import Sequence
from unittest import mock

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


def estimator(cfg, **params) -> ResNetODERegressor:
    """The benchmarked estimator at a size; ``params`` override the defaults."""
    return ResNetODERegressor(
        depth=cfg["depth"],
        width=cfg["width"],
        hidden_width=cfg["width"],
        batch_size=cfg["batch"],
        max_epochs=cfg["epochs"],
        random_state=0,
    ).set_params(**params)


def teacher_split(cfg):
    """Train/test split of the teacher task; strength 8 is a task a linear
    model cannot fit (its R^2 is reported)."""
    X, y = make_resnet_ode_teacher(
        cfg["n"] + 1000, 8, depth=100, noise=0.1, strength=8.0, random_state=0
    )
    return train_test_split(X, y, train_size=cfg["n"], random_state=0)


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


def _warm_up(X, y) -> None:
    """One tiny fit: torch's optimisers import their compiler machinery on
    first use, a one-off cost in time and memory that is not the estimator's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: it cannot have converged
        ResNetODERegressor(depth=2, width=2, max_epochs=1).fit(X[:10], y[:10])


def _status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (Linux), in MB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _reset_peak_rss_mb() -> float:
    """Reset the process's peak RSS to its current RSS (Linux), and return it.

    Importing torch peaks above what it keeps, so a peak measured from the
    process start would hide a small fit.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def _one_epoch_child(kind: str, size: str, Xtr, ytr, queue) -> None:
    """One epoch in a fresh process; reports its peak RSS above the RSS before it."""
    torch.set_num_threads(1)
    cfg = SIZES[size]
    _warm_up(Xtr, ytr)  # imports the optimisers' machinery, which would count
    base = _reset_peak_rss_mb()
    start = time.perf_counter()
    if kind == "bare":
        bare_loop_seconds_per_epoch(Xtr, ytr, cfg["depth"], cfg["width"], cfg["batch"], 1)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one epoch: it cannot have converged
            estimator(cfg, max_epochs=1).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    queue.put((_status_mb("VmHWM") - base, seconds))


# glibc serves allocations above this threshold by mmap, returned at free; its
# default threshold rises with the sizes freed, after which freed per-layer
# intermediates stay in the heap.
_FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def one_epoch_peak_memory(size: str, Xtr, ytr) -> list[tuple[str, float, float]]:
    """``(setting, peak RSS MB above the RSS before the fit, seconds)`` of one epoch.

    Each runs in a fresh spawned process, so the peak is that epoch's: the
    estimator, the bare loop, and the estimator with glibc's mmap threshold
    fixed (``MALLOC_MMAP_THRESHOLD_``, read at process start).
    """
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for label, kind, env in [
        ("estimator", "estimator", {}),
        ("bare torch loop", "bare", {}),
        ("estimator, MALLOC_MMAP_THRESHOLD_=131072", "estimator", _FIXED_MMAP),
    ]:
        queue = ctx.Queue()
        proc = ctx.Process(target=_one_epoch_child, args=(kind, size, Xtr, ytr, queue))
        with mock.patch.dict(os.environ, env):  # the child inherits it at start
            proc.start()
        mb, seconds = queue.get()
        proc.join()
        rows.append((label, mb, seconds))
    return rows


def precision_and_threads(Xtr, ytr, Xte, yte, cfg):
    """Epoch time, memory and R^2 for float64 / float32 on 1 / 2 torch threads.

    The four settings run back to back, so that their ratios compare runs
    under the same load, after one untimed float64 fit: the first deep fit
    after the accuracy grid's runs measured about 10% slower than the next.
    """
    rows = []
    settings = [("float64", 1, False)] + [
        (dtype, threads, True) for dtype in ("float64", "float32") for threads in (1, 2)
    ]
    for dtype, threads, timed in settings:
        tdtype = getattr(torch, dtype)
        torch.set_num_threads(threads)
        try:
            est = estimator(cfg, max_epochs=cfg["epochs"] if timed else 1, dtype=dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(Xtr, ytr)
            if not timed:
                continue
            per_batch = bare_loop_seconds_per_batch(
                Xtr, ytr, cfg["depth"], cfg["width"], cfg["batch"], tdtype
            )
            bare = per_batch * -(-len(Xtr) // cfg["batch"])
        finally:
            torch.set_num_threads(1)
        assert est.module_.V.dtype == tdtype
        mb = saved_bytes(8, cfg["depth"], cfg["width"], cfg["batch"], dtype=tdtype) / 2**20
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

    Xtr, Xte, ytr, yte = teacher_split(cfg)

    _warm_up(Xtr, ytr)
    est = estimator(cfg)
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
    epoch_memory = one_epoch_peak_memory(args.size, Xtr, ytr)
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
    saved_mb = mem[-1][1] / 2**20
    lines += [
        "",
        f"One epoch in a fresh process (float64, 1 thread, after a warm-up fit): peak "
        f"resident memory above the memory before the fit, against the {saved_mb:.0f} MB "
        "autograd keeps per batch:",
        "",
        "| setting | peak RSS MB | ratio | s | ratio |",
        "|---|---|---|---|---|",
    ]
    ref_mb, ref_s = epoch_memory[0][1], epoch_memory[0][2]
    for label, mb, seconds in epoch_memory:
        ratio = f"{mb / ref_mb:.2f}" if ref_mb >= 1 else "-"  # tiny sizes: nothing measurable
        lines.append(f"| {label} | {mb:.0f} | {ratio} | {seconds:.1f} | {seconds / ref_s:.2f} |")
    lines += ["", f"Peak resident memory of this whole benchmark: {peak_rss_mb:.0f} MB."]
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.join("benchmarks", "output"), exist_ok=True)
    with open(os.path.join("benchmarks", "output", "resnet_ode.md"), "w") as f:
        f.write(table + "\n")
    return table


if __name__ == "__main__":
    main()

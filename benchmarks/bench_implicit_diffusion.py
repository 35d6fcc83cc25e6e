"""Implicit Diffusion vs nested loops: reward reached per Langevin step, and wall time.

The paper's hexagon experiment (reward only): for a fixed budget of Langevin
steps, the single-loop method (one step per parameter update) is compared with
nested loops of several inner lengths T (restart, T steps, one update). The
reward is E_pi[R] of the fitted law, computed by exact sampling of the mixture
(not the particles' running mean). Ratios are against the implicit method.
CPU seconds (process time, one torch thread) are reported beside wall seconds,
which on a shared machine also count other people's work.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from sktheory import DiffusionOptimizer
from sktheory.datasets import make_hexagon_mixture
from sktheory.diffusion import HEXAGON_WEIGHTS, HexagonReward, hexagon_means

SIZES = {
    "smoke": dict(budgets=(200,), inner=(10,), n_particles=100, seeds=(0,)),
    "small": dict(budgets=(1000, 5000), inner=(5, 20, 100), n_particles=1000, seeds=(0, 1)),
    "full": dict(
        budgets=(1000, 5000, 20000), inner=(5, 20, 100), n_particles=1000, seeds=(0, 1, 2)
    ),
}


def _run(budget, method, inner, n_particles, seed):
    model = DiffusionOptimizer(
        reward="hexagon",
        kl_weight=0.0,
        means_init=hexagon_means(),
        weights_init=HEXAGON_WEIGHTS,
        n_particles=n_particles,
        method=method,
        inner_steps=inner,
        max_iter=max(1, budget // inner),
        random_state=seed,
    )
    X, _ = make_hexagon_mixture(1000, random_state=seed)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(X)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    exact = float(HexagonReward()(model.sample(200_000)[0]).mean())
    return exact, seconds, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    torch.set_num_threads(1)
    start_law = make_hexagon_mixture(200_000, random_state=0)[0]
    r0 = float(HexagonReward()(start_law).mean())
    lines = [
        f"# Implicit Diffusion, hexagon experiment ({args.size}: "
        f"{cfg['n_particles']} particles, seeds {list(cfg['seeds'])})",
        "",
        f"E_pi[R] of the initial law: {r0:.4f}",
        "",
        "| Langevin steps | method | updates | E_pi[R] (mean ± sd) | reward / implicit "
        "| wall s | CPU s | CPU s per 1000 steps | CPU / implicit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for budget in cfg["budgets"]:
        rows = [("implicit", 1)] + [("nested", t) for t in cfg["inner"] if t < budget]
        ref = None
        for method, inner in rows:
            res = [_run(budget, method, inner, cfg["n_particles"], s) for s in cfg["seeds"]]
            rewards = np.array([r[0] for r in res])
            secs, cpus = np.array([r[1] for r in res]), np.array([r[2] for r in res])
            if ref is None:
                ref = (rewards.mean(), cpus.mean())
            name = "implicit" if method == "implicit" else f"nested T={inner}"
            r_mean, c_mean = rewards.mean(), cpus.mean()
            lines.append(
                f"| {budget} | {name} | {budget // inner} | {r_mean:.4f} ± "
                f"{rewards.std():.4f} | {r_mean / ref[0]:.2f} | {secs.mean():.2f} | "
                f"{c_mean:.2f} | {1000 * c_mean / budget:.3f} | {c_mean / ref[1]:.2f} |"
            )
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    print(table)
    out = Path("benchmarks/output")
    out.mkdir(parents=True, exist_ok=True)
    (out / "implicit_diffusion.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()

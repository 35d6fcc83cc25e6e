"""Implicit Diffusion on the paper's Langevin experiment (hexagon mixture).
========================================================================

Six unit-variance Gaussians on a hexagon of radius 4; the sampler's parameters
are the mixture logits, started at [1.5, 0, 1.5, 0, 1.5, 0]; the reward peaks
at (4, 3.8) on the half-plane x_0 >= 0. We compare the single-loop method (one
Langevin step, one parameter step) with the nested loop (restart the
particles, T Langevin steps, one parameter step) at equal numbers of Langevin
steps, and plot the reward against the steps, then the particles and mixture
weights before and after.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sktheory import DiffusionOptimizer
from sktheory.datasets import make_hexagon_mixture
from sktheory.diffusion import HEXAGON_WEIGHTS, HexagonReward, hexagon_means


def _fit(steps, method, inner, n_particles, seed):
    model = DiffusionOptimizer(
        reward="hexagon",
        kl_weight=0.0,
        means_init=hexagon_means(),
        weights_init=HEXAGON_WEIGHTS,
        n_particles=n_particles,
        method=method,
        inner_steps=inner,
        max_iter=steps // inner,
        random_state=seed,
    )
    X, _ = make_hexagon_mixture(1000, random_state=seed)
    start = time.perf_counter()
    model.fit(X)
    return model, time.perf_counter() - start


# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv=None):
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--output", default="examples/output")
    args = parser.parse_args(argv)
    steps, n_particles = (400, 200) if args.smoke else (5000, 1000)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reward = HexagonReward()

    runs = {"implicit": _fit(steps, "implicit", 1, n_particles, 0)}
    for inner in (10, 50):
        runs[f"nested T={inner}"] = _fit(steps, "nested", inner, n_particles, 0)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for name, (model, seconds) in runs.items():
        steps_axis = [h["sampling_steps"] for h in model.history_]
        rewards = np.array([h["reward"] for h in model.history_])
        width = max(1, len(rewards) // 50)
        smooth = np.convolve(rewards, np.ones(width) / width, mode="valid")
        axes[0].plot(steps_axis[width - 1 :], smooth, label=name)
        exact = float(reward(model.sample(100_000)[0]).mean())
        print(
            f"{name:>12}: E_pi[R] = {exact:.4f} after {steps_axis[-1]} Langevin steps "
            f"({seconds:.2f} s); weights = {np.round(model.weights_, 3).tolist()}"
        )
    axes[0].set(xlabel="Langevin steps", ylabel="mean reward of the particles")
    axes[0].set_title("Reward vs sampling steps")
    axes[0].legend()

    model = runs["implicit"][0]
    grid = np.linspace(-7, 7, 200)
    gx, gy = np.meshgrid(grid, grid)
    axes[1].contourf(gx, gy, reward(np.c_[gx.ravel(), gy.ravel()]).reshape(gx.shape), 20)
    axes[1].scatter(
        *make_hexagon_mixture(n_particles, random_state=1)[0].T,
        s=3,
        c="w",
        label="initial law",
    )
    axes[1].scatter(*model.particles_.T, s=3, c="r", label="final particles")
    axes[1].set_title("Reward and particles (implicit)")
    axes[1].legend(loc="lower left")
    axes[1].set_aspect("equal")

    weights = np.array([h["weights"] for h in model.history_])
    for i in range(6):
        axes[2].plot(weights[:, i], label=f"vertex {i}")
    axes[2].set(xlabel="iteration", ylabel="mixture weight")
    axes[2].set_title("Mixture weights (implicit)")
    axes[2].legend()
    fig.tight_layout()
    path = out / "implicit_diffusion.png"
    fig.savefig(path, dpi=110)
    initial = make_hexagon_mixture(100_000, random_state=2)[0]
    print(f"initial law: E_pi[R] = {float(reward(initial).mean()):.4f}")
    print(f"wrote {path}")
    return path


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

"""Two-timescale regime vs standard regime on a piecewise-constant target.
=======================================================================

Reproduces the paper's Figures 3-5 at small size ("Leveraging the two-timescale
regime to demonstrate convergence of neural networks", NeurIPS 2023):

* L2 error to the target vs SGD step, for eps small (two-timescale) and eps = 1,
  with the two-timescale limit alongside;
* neuron positions over time against the jumps of the target, SGD vs the limit
  ODE (two-timescale) and SGD with eps = 1;
* the fitted functions at the end;
* Figure 7 (:func:`figure7`): the final L2 error against ``eps`` over seeds
  (box plots) at the paper's step counts: ``h = 1e-5``, ``tau = eps h t = 3``,
  so 3e7, 3e6 and 3e5 steps for eps = 0.01, 0.1 and 1, 20 seeds.

Run ``python examples/plot_two_timescale.py`` (Figures 3-5 at the quick
configuration and Figure 7 in full: a few minutes) or with ``--smoke``
(seconds; Figure 7 at 1/100 of the steps and 3 seeds).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sktheory import TwoTimescaleNet, simulate_two_timescale_limit
from sktheory.datasets import make_piecewise_constant
from sktheory.two_timescale import l2_error, limit_final_positions


def _seed_with_two_neurons_per_piece(X, y, target, start: int) -> int:
    # The limit theorem needs two neurons in every piece at init; a one-step fit
    # shows the initial positions a seed gives, and the limit refuses bad ones.
    for seed in range(start, start + 1000):
        init = TwoTimescaleNet(max_iter=1, random_state=seed).fit(X, y).initial_positions_
        try:
            limit_final_positions(init[0], target)
        except ValueError:
            continue
        return seed
    raise RuntimeError("no seed with two neurons per piece found")


def figure7(
    eps_values: tuple[float, ...] = (0.01, 0.1, 1.0),
    tau: float = 3.0,
    learning_rate: float = 1e-5,
    n_seeds: int = 20,
    n_samples: int = 1_000_000,
    out: Path | None = None,
) -> dict:
    """The paper's Figure 7: final L2 error to f* against eps, over seeds.

    Each run is one-sample SGD on the paper's target (20 neurons, eta = 4e-3,
    a = 0 and uniform positions at init, noise U[-1, 1]) for ``tau / (eps h)``
    steps, so every eps runs for the same slow time ``tau`` (the reference
    code's ``varying_epsilon`` configuration: ``tau = 3``, ``h = 1e-5``, 20
    repeats). The target is fitted as given (``target_scaling="none"``), as
    in the paper. Seed ``k`` draws the initial positions; the data are drawn
    once.

    Returns
    -------
    dict
        ``"errors"``: eps -> list of final L2 errors; ``"steps"``: eps -> steps;
        ``"seconds"``: wall time.
    """
    X, y, target = make_piecewise_constant(n_samples, random_state=12345)
    errors, steps, start = {}, {}, time.perf_counter()
    for eps in eps_values:
        n_steps = int(round(tau / (learning_rate * eps)))
        steps[eps] = n_steps
        errors[eps] = []
        for seed in range(n_seeds):
            net = TwoTimescaleNet(
                timescale_ratio=eps,
                learning_rate=learning_rate,
                max_iter=n_steps,
                target_scaling="none",
                record_every=max(1, n_steps // 10),
                random_state=seed,
            )
            with warnings.catch_warnings():
                # Short (smoke) budgets end while the loss still falls; the plot shows it.
                warnings.simplefilter("ignore", ConvergenceWarning)
                net.fit(X, y)
            errors[eps].append(l2_error(net, target))
    seconds = time.perf_counter() - start
    if out is not None:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.boxplot([errors[e] for e in eps_values])
        ax.set_xticks(range(1, len(eps_values) + 1), [f"{e:g}" for e in eps_values])
        ax.set_xlabel(r"$\varepsilon$")
        ax.set_ylabel(r"final $\int (f - f^*)^2$")
        ax.set_title(f"{n_seeds} seeds, h={learning_rate:g}, tau={tau:g}")
        fig.tight_layout()
        fig.savefig(out / "two_timescale_eps_boxplot.png", dpi=120)
        plt.close(fig)
    for eps in eps_values:
        values = np.array(errors[eps])
        print(
            f"eps={eps:g}: {steps[eps]:,} steps, final L2 median {np.median(values):.4f}, "
            f"quartiles {np.quantile(values, 0.25):.4f}-{np.quantile(values, 0.75):.4f}"
        )
    print(f"Figure 7: {seconds:.1f} s")
    return {"errors": errors, "steps": steps, "seconds": seconds}


# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny run, a few seconds")
    parser.add_argument("--output", default="examples/output", help="folder for PNGs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    # Paper's quick configuration: h = 1e-3, eps = 2e-5, 1.75M steps (tau = 0.035).
    # The smoke run keeps tau fixed with 10x fewer steps and a 10x larger eps.
    steps = 175_000 if args.smoke else 1_750_000
    eps = 0.035 / (1e-3 * steps)
    X, y, target = make_piecewise_constant(100_000, random_state=args.seed)
    seed = _seed_with_two_neurons_per_piece(X, y, target, args.seed)
    common = dict(max_iter=steps, learning_rate=1e-3, random_state=seed, record_every=steps // 50)

    start = time.perf_counter()
    slow = TwoTimescaleNet(timescale_ratio=eps, **common).fit(X, y)
    t_slow = time.perf_counter() - start
    start = time.perf_counter()
    # Standard regime at the paper's eps = 1 step (h = 1e-5): with h = 1e-3 the
    # positions move so fast that they leave [0, 1] (see the benchmark).
    same = TwoTimescaleNet(timescale_ratio=1.0, **{**common, "learning_rate": 1e-5})
    same.fit(X, y)
    t_same = time.perf_counter() - start

    iters = np.array([h["iter"] for h in slow.history_])
    tau = eps * 1e-3 * steps
    limit = simulate_two_timescale_limit(
        slow.initial_positions_[0], target, tau, n_records=len(iters) + 1
    )
    err_slow = [l2_error(slow, target, history_index=i) for i in range(len(iters))]
    err_same = [l2_error(same, target, history_index=i) for i in range(len(iters))]

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(iters, err_slow, label=f"SGD, eps={eps:.0e}, h=1e-3")
    ax.loglog(iters, err_same, label="SGD, eps=1, h=1e-5")
    ax.loglog(limit.times[1:] / (eps * 1e-3), limit.l2_error[1:], "k--", label="TT limit")
    ax.set_ylim(bottom=1e-3)  # the limit reaches 0 (rounding) once every jump is covered
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"$\int (f - f^*)^2$")
    ax.set_title("Two-timescale vs standard regime")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "two_timescale_l2.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    pos_slow = np.array([h["positions"][0] for h in slow.history_])
    pos_same = np.array([h["positions"][0] for h in same.history_])
    axes[0].plot(iters, np.sort(pos_slow, axis=1), color="C0", lw=1)
    axes[0].plot(limit.times / (eps * 1e-3), limit.positions, "k--", lw=0.8)
    axes[0].set_title(f"positions, eps={eps:.0e} (dashed: limit ODE)")
    axes[1].plot(iters, pos_same, color="C1", lw=1)
    axes[1].set_title("positions, eps=1")
    for ax in axes[:2]:
        for jump in target.jumps:
            ax.axhline(jump, color="grey", lw=0.5, ls=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("SGD step")
    grid = np.linspace(0, 1, 2000)[:, None]
    axes[2].plot(grid, target(grid[:, 0]), "k", label="target")
    axes[2].plot(grid, slow.predict(grid), label="two-timescale")
    axes[2].plot(grid, same.predict(grid), label="eps=1")
    axes[2].legend()
    axes[2].set_title("fitted functions")
    fig.tight_layout()
    fig.savefig(out / "two_timescale_positions.png", dpi=120)
    plt.close(fig)

    gap = float(np.max(np.abs(np.sort(slow.positions_[0]) - limit.positions[-1])))
    results = {
        "steps": steps,
        "eps": eps,
        "l2_two_timescale": l2_error(slow, target),
        "l2_standard": l2_error(same, target),
        "l2_limit": float(limit.l2_error[-1]),
        "max_position_gap_sgd_vs_limit": gap,
        "fit_seconds_two_timescale": t_slow,
        "fit_seconds_standard": t_same,
    }
    results["figure7"] = figure7(
        tau=0.03 if args.smoke else 3.0,
        n_seeds=3 if args.smoke else 20,
        n_samples=100_000 if args.smoke else 1_000_000,
        out=out,
    )
    for key, value in results.items():
        if key == "figure7":
            continue
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    print(
        f"wrote {out / 'two_timescale_l2.png'}, {out / 'two_timescale_positions.png'} "
        f"and {out / 'two_timescale_eps_boxplot.png'}"
    )
    return results


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

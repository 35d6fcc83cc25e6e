"""Deep linear networks are implicitly regularised towards flat minima.
====================================================================

At small size, the paper's Figure 1 and its companions:

1. sharpness after training vs the initialisation scale, for several
   learning rates, against the lower bound ``S_min`` and the lines ``2 / eta``;
2. sharpness after training vs depth: ``S_min`` grows linearly with depth and
   trained networks from a small initialisation stay close to it;
3. sharpness during training for one run at a large learning rate and the
   largest init scale that still trains: it settles just below ``2 / eta``
   (edge of stability), far below where the same init ends at a small rate;
4. probability that gradient descent diverges (blows up, as the paper
   counts it) vs the initialisation scale, per learning rate; runs whose step
   is above ``2 / S_min`` but whose loss stays finite cannot settle and are
   counted apart (``unstable_``).

and, in two more figures, the paper's other settings:

5. the underdetermined case (n=15 < d=20, depth 5): every run interpolates,
   and the sharpness after training against the init scale, and the
   generalisation gap (test minus train loss) against that sharpness;
6. the GELU MLP (``activation="gelu"``, noiseless data, depth 10): sharpness
   after training against the init scale, between ``S_min`` and ``2 / eta``.

Run ``python examples/plot_deep_linear_sharpness.py [--smoke] [--output DIR]``.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sktheory import DeepLinearRegressor, DivergenceWarning
from sktheory.datasets import make_deep_linear_regression


def _fit(X, y, **params) -> DeepLinearRegressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DeepLinearRegressor(on_divergence="warn", **params).fit(X, y)


# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--output", default="examples/output")
    args = parser.parse_args(argv)

    if args.smoke:
        depth, steps, seeds = 3, 200, 2
        scales, lrs = [0.1, 0.4], [0.05, 0.2]
        depths, div_scales = [3, 5], [0.3, 1.0]
        under_lrs, under_steps, under_scales, under_seeds = [0.01], [300], [0.1, 0.3], 1
        gelu_lrs, gelu_steps, gelu_scales, gelu_seeds = [0.02], [100], [0.45, 0.6], 1
    else:
        depth, steps, seeds = 5, 2000, 8
        scales, lrs = list(np.linspace(0.1, 0.6, 6)), [0.02, 0.1, 0.2]
        depths, div_scales = [3, 5, 7, 10], list(np.linspace(0.3, 0.9, 7))
        # The paper's learning rates and step counts (n < d) ...
        under_lrs, under_steps = [0.001, 0.004, 0.01], [40_000, 10_000, 4_000]
        under_scales, under_seeds = list(np.linspace(0.1, 0.36, 6)), 3
        # ... and, for the GELU MLP, its learning rates with 10x fewer steps.
        gelu_lrs, gelu_steps = [0.005, 0.02, 0.07], [16_000, 4_000, 1_600]
        gelu_scales, gelu_seeds = list(np.linspace(0.428, 0.7, 5)), 2

    X, y = make_deep_linear_regression(n_samples=50, n_features=5, random_state=0)
    common = dict(max_iter=steps, random_state=0)
    results: dict = {}

    # 1. Sharpness vs init scale, per learning rate.
    by_scale = {
        lr: [_fit(X, y, depth=depth, init_scale=s, learning_rate=lr, **common) for s in scales]
        for lr in lrs
    }
    s_min = by_scale[lrs[0]][0].sharpness_lower_bound_
    results["S_min"] = s_min
    results["sharpness_vs_scale"] = {
        lr: [m.sharpness_ for m in models] for lr, models in by_scale.items()
    }

    # 2. Sharpness vs depth, small and residual inits, learning rate "auto"
    # (1 / max(S_min, initial sharpness): safely below critical).
    by_depth = {}
    for init, scale in (("small", 0.25), ("residual", 0.5)):
        models = [
            _fit(X, y, depth=L, init=init, init_scale=scale, learning_rate="auto", **common)
            for L in depths
        ]
        by_depth[init] = [m.sharpness_ for m in models]
    bounds = [m.sharpness_lower_bound_ for m in models]
    results["sharpness_vs_depth"] = {"S_min": bounds, **by_depth}

    # 3. Sharpness along one run at a large learning rate.
    lr_big = lrs[-1]
    # The largest init scale at which this learning rate still trains.
    stable = [s for s, m in zip(scales, by_scale[lr_big], strict=True) if not m.diverged_]
    trace_scale = max(stable) if stable else scales[0]
    traced = _fit(
        X,
        y,
        depth=depth,
        init_scale=trace_scale,
        learning_rate=lr_big,
        sharpness_every=max(1, steps // 100),
        **common,
    )
    trace = [(h["iter"], h["sharpness"]) for h in traced.history_ if "sharpness" in h]

    # 4. Probability of divergence (a blow-up, as the paper counts it) vs init
    # scale, per learning rate; runs that cannot settle are counted apart.
    prob, unsettled = {}, {}
    for lr in lrs:
        prob[lr], unsettled[lr] = [], []
        for s in div_scales:
            runs = [
                _fit(
                    X,
                    y,
                    depth=depth,
                    init_scale=s,
                    learning_rate=lr,
                    max_iter=steps,
                    random_state=seed,
                )
                for seed in range(seeds)
            ]
            prob[lr].append(float(np.mean([m.diverged_ for m in runs])))
            unsettled[lr].append(float(np.mean([m.unstable_ for m in runs])))
    results["divergence_probability"] = prob
    results["cannot_settle_probability"] = unsettled
    results["critical_learning_rate"] = 2 / s_min

    results["underdetermined"] = _underdetermined(
        under_lrs, under_steps, under_scales, under_seeds, out=Path(args.output)
    )
    results["gelu"] = _gelu(gelu_lrs, gelu_steps, gelu_scales, gelu_seeds, out=Path(args.output))

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    ax = axes[0]
    for k, lr in enumerate(lrs):
        values = results["sharpness_vs_scale"][lr]
        ax.plot(scales, values, "o-", color=f"C{k}", label=f"trained, lr={lr}")
        ax.axhline(2 / lr, color=f"C{k}", ls="--", lw=1, label=f"2/lr = {2 / lr:.3g}")
    ax.axhline(s_min, color="k", ls=":", label="S_min")
    ax.set(
        xlabel="initialisation scale",
        ylabel="sharpness",
        yscale="log",
        title=f"depth {depth}",
    )
    ax.legend(fontsize=7)

    ax = axes[1]
    for init, values in by_depth.items():
        ax.plot(depths, values, "o-", label=f"trained, {init} init")
    ax.plot(depths, bounds, "k:", label="S_min = 2 L a ||w*||^(2-2/L)")
    ax.set(xlabel="depth L", ylabel="sharpness", title="sharpness vs depth (lr auto)")
    ax.legend(fontsize=7)

    ax = axes[2]
    if trace:
        ax.plot(*zip(*trace, strict=True), label="sharpness")
    ax.axhline(2 / lr_big, color="C3", ls="--", label=f"2/lr = {2 / lr_big:.3g}")
    ax.axhline(s_min, color="k", ls=":", label="S_min")
    ax.set(
        xlabel="GD step",
        ylabel="sharpness",
        title=f"one run, lr={lr_big}, scale {trace_scale:.2g}",
    )
    ax.legend(fontsize=7)

    ax = axes[3]
    for k, lr in enumerate(lrs):
        ax.plot(div_scales, prob[lr], "o-", color=f"C{k}", label=f"blow-up, lr={lr}")
        if any(unsettled[lr]):
            ax.plot(div_scales, unsettled[lr], "x:", color=f"C{k}", label=f"cannot settle, lr={lr}")
    ax.set(
        xlabel="initialisation scale",
        ylabel="P(divergence)",
        ylim=(-0.05, 1.05),
        title=f"{seeds} seeds, depth {depth}, 2/S_min = {2 / s_min:.3g}",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "deep_linear_sharpness.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)

    print(f"S_min = {s_min:.4g} (depth {depth}); critical learning rate {2 / s_min:.4g}")
    for lr, values in results["sharpness_vs_scale"].items():
        cells = ", ".join(f"{s:.2g}: {v:.4g}" for s, v in zip(scales, values, strict=True))
        print(f"lr={lr} (2/lr={2 / lr:.4g}) sharpness by init scale  {cells}")
    for k, L in enumerate(depths):
        print(
            f"depth {L:2d}: S_min {bounds[k]:.4g}  sharpness small init "
            f"{by_depth['small'][k]:.4g}, residual init {by_depth['residual'][k]:.4g}"
        )
    if trace:
        print(
            f"run at lr={lr_big}: max sharpness along training "
            f"{max(v for _, v in trace):.4g}, final {traced.sharpness_:.4g}"
        )
    for lr in lrs:
        cells = ", ".join(
            f"{s:.2f}: {p:.2f}/{q:.2f}"
            for s, p, q in zip(div_scales, prob[lr], unsettled[lr], strict=True)
        )
        print(f"lr={lr}: P(blow-up)/P(cannot settle) by init scale  {cells}")
    print(f"wrote {path}")
    return results


def _underdetermined(lrs, steps, scales, seeds, out: Path) -> dict:
    """The paper's n < d case: sharpness vs init scale, and generalisation gap vs sharpness."""
    out.mkdir(parents=True, exist_ok=True)
    X, y, X_test, y_test = make_deep_linear_regression(15, 20, n_test=15, random_state=1)
    rows = []
    for lr, n_steps in zip(lrs, steps, strict=True):
        for s in scales:
            for seed in range(seeds):
                m = _fit(
                    X,
                    y,
                    depth=5,
                    init_scale=s,
                    learning_rate=lr,
                    max_iter=n_steps,
                    fit_intercept=False,
                    random_state=seed,
                )
                if m.diverged_:
                    rows.append((lr, s, np.nan, np.nan, np.nan))
                    continue
                train = float(np.mean((m.predict(X) - y) ** 2))
                test = float(np.mean((m.predict(X_test) - y_test) ** 2))
                rows.append((lr, s, m.sharpness_, train, test))
    s_min = m.sharpness_lower_bound_
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for k, lr in enumerate(lrs):
        mean = [np.nanmean([r[2] for r in rows if r[0] == lr and r[1] == s]) for s in scales]
        ax.plot(scales, mean, "o-", color=f"C{k}", label=f"trained, lr={lr}")
        ax.axhline(2 / lr, color=f"C{k}", ls="--", lw=1)
    ax.axhline(s_min, color="k", ls=":", label="S_min")
    ax.set(
        xlabel="initialisation scale",
        ylabel="sharpness",
        yscale="log",
        title="n=15 < d=20, depth 5 (dashed: 2/lr)",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for k, lr in enumerate(lrs):
        pts = [(r[2], r[4] - r[3]) for r in rows if r[0] == lr and np.isfinite(r[2])]
        if pts:
            ax.scatter(*zip(*pts, strict=True), color=f"C{k}", s=14, label=f"lr={lr}")
    ax.set(
        xlabel="sharpness after training",
        ylabel="test loss - train loss",
        xscale="log",
        yscale="log",
        title="generalisation gap vs sharpness",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "deep_linear_underdetermined.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    fine = [r for r in rows if np.isfinite(r[2])]
    corr = (
        float(np.corrcoef(np.log([r[2] for r in fine]), [r[4] for r in fine])[0, 1])
        if len(fine) > 2
        else float("nan")
    )
    print(
        f"n < d: S_min {s_min:.4g}; max train loss {max(r[3] for r in fine):.2e}; "
        f"corr(log sharpness, test loss) = {corr:.2f}; wrote {path}"
    )
    return {"S_min": s_min, "rows": rows, "corr_log_sharpness_test_loss": corr}


def _gelu(lrs, steps, scales, seeds, out: Path) -> dict:
    """The paper's GELU MLP on noiseless data: sharpness after training vs init scale."""
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_deep_linear_regression(50, 5, noise=0.0, random_state=2)
    depth = 10
    sharp = {}
    for lr, n_steps in zip(lrs, steps, strict=True):
        sharp[lr] = []
        for s in scales:
            runs = [
                _fit(
                    X,
                    y,
                    depth=depth,
                    activation="gelu",
                    init_scale=s,
                    learning_rate=lr,
                    max_iter=n_steps,
                    fit_intercept=False,
                    random_state=seed,
                )
                for seed in range(seeds)
            ]
            sharp[lr].append(float(np.nanmean([m.sharpness_ for m in runs])))
    s_min = runs[0].sharpness_lower_bound_
    upper = 8 * depth * float(np.linalg.eigvalsh(X.T @ X / len(X))[-1])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, lr in enumerate(lrs):
        ax.plot(scales, sharp[lr], "o-", color=f"C{k}", label=f"trained, lr={lr}")
        ax.axhline(2 / lr, color=f"C{k}", ls="--", lw=1)
    ax.axhline(s_min, color="k", ls=":", label="2 L a (linear S_min)")
    ax.axhline(upper, color="k", ls="-.", lw=1, label="8 L lambda_max")
    ax.set(
        xlabel="initialisation scale",
        ylabel="sharpness",
        yscale="log",
        title=f"GELU MLP, depth {depth} (dashed: 2/lr)",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "deep_linear_gelu.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    for lr in lrs:
        cells = ", ".join(f"{s:.2f}: {v:.4g}" for s, v in zip(scales, sharp[lr], strict=True))
        print(f"GELU lr={lr} (2/lr={2 / lr:.4g}) sharpness by init scale  {cells}")
    print(f"GELU: 2 L a = {s_min:.4g}, 8 L lambda_max = {upper:.4g}; wrote {path}")
    return {"S_min": s_min, "upper": upper, "sharpness": sharp}


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

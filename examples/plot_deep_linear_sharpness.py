"""Deep linear networks are implicitly regularised towards flat minima.

At small size, the paper's Figure 1 and its companions:

1. sharpness after training vs the initialisation scale, for several
   learning rates, against the lower bound ``S_min`` and the lines ``2 / eta``;
2. sharpness after training vs depth: ``S_min`` grows linearly with depth and
   trained networks from a small initialisation stay close to it;
3. sharpness during training for one run at a large learning rate and the
   largest init scale that still trains: it settles just below ``2 / eta``
   (edge of stability), far below where the same init ends at a small rate;
4. probability that gradient descent diverges vs the initialisation scale.

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

from sktheory import DeepLinearRegressor, DivergenceWarning
from sktheory.datasets import make_deep_linear_regression


def _fit(X, y, **params) -> DeepLinearRegressor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        return DeepLinearRegressor(on_divergence="warn", **params).fit(X, y)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--output", default="examples/output")
    args = parser.parse_args(argv)

    if args.smoke:
        depth, steps, seeds = 3, 200, 2
        scales, lrs = [0.1, 0.4], [0.05, 0.2]
        depths, div_scales = [3, 5], [0.3, 1.0]
    else:
        depth, steps, seeds = 5, 2000, 8
        scales, lrs = list(np.linspace(0.1, 0.6, 6)), [0.02, 0.1, 0.2]
        depths, div_scales = [3, 5, 7, 10], list(np.linspace(0.3, 0.9, 7))

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

    # 4. Probability of divergence vs init scale.
    lr_div = lrs[1] if len(lrs) > 2 else lrs[0]
    prob = []
    for s in div_scales:
        runs = [
            _fit(
                X,
                y,
                depth=depth,
                init_scale=s,
                learning_rate=lr_div,
                max_iter=steps,
                random_state=seed,
            )
            for seed in range(seeds)
        ]
        prob.append(np.mean([m.diverged_ for m in runs]))
    results["divergence_probability"] = list(zip(div_scales, prob, strict=True))

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
    ax.plot(div_scales, prob, "o-")
    ax.set(
        xlabel="initialisation scale",
        ylabel="P(divergence)",
        ylim=(-0.05, 1.05),
        title=f"{seeds} seeds, lr={lr_div}, depth {depth}",
    )
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
    for s, p in results["divergence_probability"]:
        print(f"init scale {s:.2f}: P(divergence) = {p:.2f}")
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()

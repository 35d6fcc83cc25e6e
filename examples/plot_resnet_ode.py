"""Deep residual networks as neural ODEs: scaling, regularity and generalisation.
==============================================================================

Four panels at CPU size:

1. At initialisation, ``||h_L - h_0|| / ||h_0||`` against depth for i.i.d.
   weights with ``beta`` in {1/4, 1/2, 1} (explosion, non-trivial, identity),
   for smooth (RBF Gaussian-process) weights with ``beta = 1``, and for
   fractional-Gaussian-noise weights with ``H = 0.8`` at ``beta = 1/2`` and
   ``beta = H`` ("Scaling ResNets in the large-depth regime").
2. The regime map: the slope of ``log ratio`` in ``log L`` over a grid of
   ``beta`` and ``H`` (:func:`sktheory.resnet_ode.regime_map`), positive where
   the network explodes, negative where it collapses to the identity.
3. The ICLR 2024 reference's synthetic setting (no embedding or readout,
   ``V_k = 0``, ``W_k`` one Gaussian matrix, full-batch GD, 50 steps at
   ``lr = 0.01 L``): ``L max_k ||V_{k+1} - V_k||_F`` and the final loss
   against depth, both flat ("Implicit regularization of deep residual
   networks towards neural ODEs").
4. The successive-difference penalty ``lambda ||(Z_{k+1} - Z_k)_k||_F`` in the
   NeurIPS 2023 setting (``h_{k+1} = h_k + V_k relu(h_k) / L``, fixed
   embedding and readout, RBF initialisation with bandwidth 0.1, Adam at
   0.02): its effect on the Lipschitz-in-depth constant, on the measured
   test-train gap and on the value of the generalisation bound
   (:func:`sktheory.resnet_ode.generalization_bound`), which falls with the
   Lipschitz-in-depth constant ("Generalization bounds for neural ODEs and
   deep residual networks").

Run ``python examples/plot_resnet_ode.py --smoke`` for a seconds-long run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sktheory import ResNetODERegressor
from sktheory.datasets import (
    make_resnet_ode_random_targets,
    make_resnet_ode_teacher,
)
from sktheory.resnet_ode import generalization_bound, regime_map


def scaling_at_init(depths, seeds, width=16):
    """Mean output ratio at init for each (init, beta) setting and depth."""
    X, y = make_resnet_ode_random_targets(32, 8, 1, random_state=0)
    settings = [
        ("iid", 0.25, 0.5),
        ("iid", 0.5, 0.5),
        ("iid", 1.0, 0.5),
        ("smooth", 1.0, 0.5),
        ("fbm", 0.5, 0.8),
        ("fbm", 0.8, 0.8),
    ]
    out = {}
    for init, beta, hurst in settings:
        out[(init, beta, hurst)] = [
            np.mean(
                [
                    ResNetODERegressor(
                        depth=L,
                        width=width,
                        hidden_width=width,
                        init=init,
                        hurst=hurst,
                        scaling_exponent=beta,
                        max_epochs=0,
                        random_state=s,
                    )
                    .fit(X, y)
                    .init_ratios_["output_ratio"]
                    for s in seeds
                ]
            )
            for L in depths
        ]
    return out


def iclr_setting(depths, epochs=50):
    """The ICLR 2024 reference's synthetic experiment at each depth."""
    X, Y = make_resnet_ode_random_targets(100, 16, 16, random_state=0)
    rows = []
    for L in depths:
        est = ResNetODERegressor(
            depth=L,
            hidden_width=32,
            activation="gelu",
            init="zero_v",
            embedding="identity",
            fan_in_scaling=False,
            optimizer="sgd",
            learning_rate=0.01,
            scale_lr_with_depth=True,
            max_epochs=epochs,
            random_state=0,
        ).fit(X, Y)
        reg = est.weight_regularity()
        rows.append(
            {
                "depth": L,
                "V": reg["V"]["max_diff_times_depth"],
                "W": reg["W"]["max_diff_times_depth"],
                "max_norm_V": reg["V"]["max_norm"],
                "loss_start": est.history_[0]["loss"],
                "loss_end": est.history_[-1]["loss"],
            }
        )
    return rows


def penalty_effect(lambdas, depth, epochs, n_train):
    """Train/test error, Lipschitz-in-depth constant and bound for each penalty.

    The network is the NeurIPS 2023 one, which the bound covers: one matrix
    per layer on ``relu(h_k)`` (``residual="v_sigma"``) between a fixed
    random embedding and readout, in the reference's parametrisation
    (``fan_in_scaling="init"``: Adam and the penalty act on the scaled
    matrices). Errors are on the standardised targets, the scale the bound's
    risk is measured in.
    """
    X, y = make_resnet_ode_teacher(n_train + 1000, 8, depth=50, noise=0.3, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=n_train, random_state=0)
    rows = []
    for lam in lambdas:
        est = ResNetODERegressor(
            depth=depth,
            width=16,
            residual="v_sigma",
            fan_in_scaling="init",
            freeze_embedding=True,
            init="smooth",
            bandwidth=0.1,
            learning_rate=0.02,
            max_epochs=epochs,
            regularity_penalty=lam,
            random_state=0,
        ).fit(Xtr, ytr)
        train = np.mean(((est.predict(Xtr) - ytr) / est.y_scale_) ** 2)
        test = np.mean(((est.predict(Xte) - yte) / est.y_scale_) ** 2)
        bound = generalization_bound(est, Xtr, ytr, delta=0.05)
        rows.append(
            {
                "lambda": lam,
                "train_mse": train,
                "test_mse": test,
                "gap": test - train,
                "lipschitz": bound["lipschitz_in_depth"],
                "weight_radius": bound["weight_radius"],
                "bound_gap": bound["gap"],
            }
        )
    return rows


# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--output", default=os.path.join("examples", "output"))
    args = parser.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)

    if args.smoke:
        init_depths, seeds = [4, 16, 64], [0]
        train_depths, epochs = [8, 32], 20
        betas, hursts, map_depths = [0.25, 0.5, 1.0], [0.3, 0.7], (8, 32)
        lambdas, pen_depth, pen_epochs, n_train = [0.0, 0.1], 16, 30, 60
    else:
        init_depths, seeds = [4, 16, 64, 256, 1024], [0, 1, 2]
        train_depths, epochs = [16, 64, 256, 1024], 50
        betas = np.round(np.arange(0.2, 1.21, 0.1), 2)
        hursts, map_depths = np.round(np.arange(0.1, 0.91, 0.1), 2), (16, 64, 256)
        lambdas, pen_depth, pen_epochs, n_train = [0.0, 0.01, 0.1, 1.0], 100, 300, 100

    ratios = scaling_at_init(init_depths, seeds)
    print("||h_L - h_0|| / ||h_0|| at init:")
    for (init, beta, hurst), values in ratios.items():
        cells = ", ".join(f"L={L}: {v:.3g}" for L, v in zip(init_depths, values, strict=True))
        print(f"  {init:6s} H={hurst} beta={beta:<4}  {cells}")

    rmap = regime_map(betas, hursts, map_depths, random_state=0)
    print(f"regime map (slope of log ratio in log L, depths {list(map_depths)}):")
    for j, hurst in enumerate(rmap.hursts):
        cells = " ".join(f"{v:+.2f}" for v in rmap.slope[:, j])
        print(f"  H={hurst:.2f}: {cells}  (betas {rmap.betas.tolist()})")

    reg = iclr_setting(train_depths, epochs)
    print(f"ICLR 2024 setting (V=0, W tied, GD {epochs} steps at lr = 0.01 L):")
    for r in reg:
        print(
            f"  L={r['depth']:5d}  L*max||dV||={r['V']:.3g}  L*max||dW||={r['W']:.3g}  "
            f"max||V_k||={r['max_norm_V']:.3g}  loss {r['loss_start']:.4g} -> {r['loss_end']:.4g}"
        )
    slopes = {
        fam: float(np.polyfit(np.log(train_depths), np.log([r[fam] for r in reg]), 1)[0])
        for fam in ("V", "W")
    }
    print(f"  log-log slopes of L*max||dZ||: V {slopes['V']:.3f}, W {slopes['W']:.3f} (flat: 0)")

    pen = penalty_effect(lambdas, pen_depth, pen_epochs, n_train)
    print(f"regularity penalty (depth {pen_depth}, {n_train} training samples):")
    for r in pen:
        print(
            f"  lambda={r['lambda']:<5} train {r['train_mse']:.3f}  "
            f"test {r['test_mse']:.3f}  gap {r['gap']:.3f}  "
            f"L*max||dZ|| {r['lipschitz']:.3g}  max||Z_k|| {r['weight_radius']:.3g}  "
            f"bound on the gap {r['bound_gap']:.3g}"
        )

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    for (init, beta, hurst), values in ratios.items():
        label = f"{init}, beta={beta}" + (f", H={hurst}" if init == "fbm" else "")
        axes[0].loglog(init_depths, values, "o-", label=label)
    axes[0].set(xlabel="depth L", ylabel="||h_L - h_0|| / ||h_0||", title="At initialisation")
    axes[0].legend(fontsize=7)
    lim = float(np.nanmax(np.abs(np.clip(rmap.slope, -2, 2))))
    image = axes[1].imshow(
        np.clip(rmap.slope, -2, 2).T,
        origin="lower",
        aspect="auto",
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        extent=[rmap.betas[0], rmap.betas[-1], rmap.hursts[0], rmap.hursts[-1]],
    )
    fig.colorbar(image, ax=axes[1], label="slope of log ratio in log L")
    axes[1].set(
        xlabel="beta",
        ylabel="Hurst index H",
        title="Regime map (red: explodes, blue: identity)",
    )
    for fam, marker in (("V", "o-"), ("W", "s--")):
        axes[2].loglog(train_depths, [r[fam] for r in reg], marker, label=f"L max||d{fam}||")
    axes[2].loglog(train_depths, [r["loss_end"] for r in reg], "k^:", label="final loss")
    axes[2].set(xlabel="depth L", title="ICLR 2024 setting, after 50 GD steps")
    axes[2].legend()
    axes = [axes[0], axes[1], axes[3]]
    lam_axis = [max(r["lambda"], 1e-3) for r in pen]
    axes[2].semilogx(lam_axis, [r["gap"] for r in pen], "o-", label="test - train MSE")
    axes[2].semilogx(lam_axis, [r["train_mse"] for r in pen], "s--", label="train MSE")
    axes[2].set(xlabel="lambda (0 drawn at 1e-3)", title="Regularity penalty (NeurIPS 2023 net)")
    bound_axis = axes[2].twinx()
    bound_axis.loglog(lam_axis, [r["bound_gap"] for r in pen], "k^:", label="bound on the gap")
    bound_axis.set_ylabel("bound on the gap (log scale)")
    lines = axes[2].get_legend_handles_labels()
    more = bound_axis.get_legend_handles_labels()
    axes[2].legend(lines[0] + more[0], lines[1] + more[1], loc="center left", fontsize=8)
    fig.tight_layout()
    path = os.path.join(args.output, "resnet_ode.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return {
        "ratios": ratios,
        "regime_map": rmap,
        "regularity": reg,
        "slopes": slopes,
        "penalty": pen,
    }


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

"""Deep residual networks as neural ODEs: scaling, regularity and generalisation.

Three figures at CPU size:

1. At initialisation, ``||h_L - h_0|| / ||h_0||`` against depth for i.i.d.
   weights with ``beta`` in {1/4, 1/2, 1} (explosion, non-trivial, identity)
   and for smooth (RBF Gaussian-process) weights with ``beta = 1``
   ("Scaling ResNets in the large-depth regime").
2. After training from the ICLR 2024 start (``V_k = 0``, ``W_k = W`` shared,
   learning rate proportional to ``L``), ``max_k ||Z_{k+1} - Z_k||_F`` against
   depth: a slope of about -1 in log-log ("Implicit regularization of deep
   residual networks towards neural ODEs").
3. The successive-difference penalty ``lambda ||(Z_{k+1} - Z_k)_k||_F``: its
   effect on the Lipschitz-in-depth constant and on the test-train gap
   ("Generalization bounds for neural ODEs and deep residual networks").

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


def scaling_at_init(depths, seeds, width=16):
    """Mean output ratio at init for each (init, beta) setting and depth."""
    X, y = make_resnet_ode_random_targets(32, 8, 1, random_state=0)
    settings = [("iid", 0.25), ("iid", 0.5), ("iid", 1.0), ("smooth", 1.0)]
    out = {}
    for init, beta in settings:
        out[(init, beta)] = [
            np.mean(
                [
                    ResNetODERegressor(
                        depth=L,
                        width=width,
                        hidden_width=width,
                        init=init,
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


def regularity_after_training(depths, epochs):
    """max_k ||Z_{k+1} - Z_k|| after training from the ICLR init, per depth."""
    X, Y = make_resnet_ode_random_targets(50, 16, 16, random_state=0)
    rows = []
    for L in depths:
        est = ResNetODERegressor(
            depth=L,
            width=16,
            hidden_width=32,
            activation="gelu",
            init="zero_v",
            optimizer="sgd",
            learning_rate=0.05,
            scale_lr_with_depth=True,
            max_epochs=epochs,
            random_state=0,
        ).fit(X, Y)
        reg = est.weight_regularity()
        rows.append(
            {
                "depth": L,
                "V": reg["V"]["max_diff"],
                "W": reg["W"]["max_diff"],
                "loss_start": est.history_[0]["loss"],
                "loss_end": est.history_[-1]["loss"],
            }
        )
    return rows


def penalty_effect(lambdas, depth, epochs, n_train):
    """Train/test error and Lipschitz-in-depth constant for each penalty."""
    X, y = make_resnet_ode_teacher(n_train + 1000, 8, depth=50, noise=0.3, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=n_train, random_state=0)
    rows = []
    for lam in lambdas:
        est = ResNetODERegressor(
            depth=depth,
            width=16,
            hidden_width=16,
            init="smooth",
            learning_rate=0.02,
            max_epochs=epochs,
            regularity_penalty=lam,
            random_state=0,
        ).fit(Xtr, ytr)
        train = np.mean((est.predict(Xtr) - ytr) ** 2)
        test = np.mean((est.predict(Xte) - yte) ** 2)
        terms = est.generalization_bound_terms()
        rows.append(
            {
                "lambda": lam,
                "train_mse": train,
                "test_mse": test,
                "gap": test - train,
                "lipschitz": terms["lipschitz_in_depth"],
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--output", default=os.path.join("examples", "output"))
    args = parser.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)

    if args.smoke:
        init_depths, seeds = [4, 16, 64], [0]
        train_depths, epochs = [8, 32], 20
        lambdas, pen_depth, pen_epochs, n_train = [0.0, 0.1], 16, 30, 60
    else:
        init_depths, seeds = [4, 16, 64, 256, 1024], [0, 1, 2]
        # lr = 0.05 L diverged at depth 512 (loss NaN at epoch 9); stay below it.
        train_depths, epochs = [8, 16, 32, 64], 100
        lambdas, pen_depth, pen_epochs, n_train = [0.0, 0.01, 0.1, 1.0], 100, 300, 100

    ratios = scaling_at_init(init_depths, seeds)
    print("||h_L - h_0|| / ||h_0|| at init:")
    for (init, beta), values in ratios.items():
        cells = ", ".join(f"L={L}: {v:.3g}" for L, v in zip(init_depths, values, strict=True))
        print(f"  {init:6s} beta={beta:<4}  {cells}")

    reg = regularity_after_training(train_depths, epochs)
    slopes = {
        fam: float(np.polyfit(np.log(train_depths), np.log([r[fam] for r in reg]), 1)[0])
        for fam in ("V", "W")
    }
    print("after training from V=0, W tied (lr = 0.05 L):")
    for r in reg:
        print(
            f"  L={r['depth']:4d}  max||dV||={r['V']:.3g}  max||dW||={r['W']:.3g}  "
            f"loss {r['loss_start']:.3g} -> {r['loss_end']:.3g}"
        )
    print(
        f"  log-log slopes: V {slopes['V']:.2f}, W {slopes['W']:.2f} (theory: O(1/L), slope <= -1)"
    )

    pen = penalty_effect(lambdas, pen_depth, pen_epochs, n_train)
    print(f"regularity penalty (depth {pen_depth}, {n_train} training samples):")
    for r in pen:
        print(
            f"  lambda={r['lambda']:<5} train {r['train_mse']:.3f}  "
            f"test {r['test_mse']:.3f}  gap {r['gap']:.3f}  "
            f"L*max||dZ|| {r['lipschitz']:.3g}"
        )

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (init, beta), values in ratios.items():
        axes[0].loglog(init_depths, values, "o-", label=f"{init}, beta={beta}")
    axes[0].set(xlabel="depth L", ylabel="||h_L - h_0|| / ||h_0||", title="At initialisation")
    axes[0].legend()
    for fam in ("V", "W"):
        axes[1].loglog(train_depths, [r[fam] for r in reg], "o-", label=f"{fam}")
    ref = np.array(train_depths, dtype=float)
    axes[1].loglog(ref, reg[0]["W"] * ref[0] / ref, "k--", label="1/L")
    axes[1].set(
        xlabel="depth L",
        ylabel="max_k ||Z_{k+1} - Z_k||_F",
        title="After training (ICLR init)",
    )
    axes[1].legend()
    lam_axis = [max(r["lambda"], 1e-3) for r in pen]
    axes[2].semilogx(lam_axis, [r["gap"] for r in pen], "o-", label="test - train MSE")
    axes[2].semilogx(lam_axis, [r["train_mse"] for r in pen], "s--", label="train MSE")
    axes[2].set(xlabel="lambda (0 drawn at 1e-3)", title="Regularity penalty")
    axes[2].legend()
    fig.tight_layout()
    path = os.path.join(args.output, "resnet_ode.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return {"ratios": ratios, "regularity": reg, "slopes": slopes, "penalty": pen}


if __name__ == "__main__":
    main()

"""Single-location regression: excess risk and alignments along training.
======================================================================

Reproduces the paper's two figures ("Attention layers provably solve
single-location regression", ICLR 2025) at CPU size: from a uniform init on
the sphere, projected SGD with a decaying temperature aligns the key with k*
and the value with v*, and the excess risk of the predictor falls to that of
T(k*, v*) at the same temperature, far below the best linear predictor.

The excess risk along training is the closed-form population risk of the
paper's predictor (output scale 1) at the recorded overlaps; the final test
excess risk of the fitted model (with its least-squares output scale) is
printed next to the Bayes oracle and the linear baseline.

Run ``python examples/plot_single_location.py [--smoke] [--output DIR]``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sktheory import (
    SingleLocationRegressor,
    bayes_oracle_predict,
    linear_baseline_risk,
    population_risk,
)
from sktheory.attention import overlaps, population_gradient_descent
from sktheory.datasets import make_single_location

# %%
# The experiment
# --------------
# ``main`` reads the script's command line: ``--smoke`` selects the
# seconds-long sizes and ``--output DIR`` the folder the figures go to.


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--output", default=os.path.join("examples", "output"))
    args = parser.parse_args(argv)

    if args.smoke:
        d, L, n_train, seeds = 20, 5, 2000, [0]
        params = {"temperature_decay": 2e-2, "max_iter": 2000}
    else:
        d, L, n_train, seeds = 80, 10, 4800, [0, 1, 2]
        params = {}  # the defaults
    gamma, noise = float(np.sqrt(0.5)), 0.1
    kw = {"n_features": d, "n_tokens": L, "gamma": gamma}

    fig, (ax_risk, ax_align) = plt.subplots(1, 2, figsize=(11, 4))
    results = []
    for seed in seeds:
        X, y, ks, vs, _ = make_single_location(
            n_train, L, d, gamma=gamma, noise=noise, return_truth=True, random_state=seed
        )
        Xte, yte, _, _, pte = make_single_location(
            5000, L, d, gamma=gamma, noise=noise, k_star=ks, v_star=vs,
            return_truth=True, random_state=1000 + seed,
        )  # fmt: skip
        model = SingleLocationRegressor(**params, random_state=seed).fit(X, y)
        steps = np.array([h["iter"] + 1 for h in model.history_])
        ov = [overlaps(h["key"], h["value"], ks, vs) for h in model.history_]
        lam = np.array([h["temperature"] for h in model.history_])
        risk = np.array(
            [
                population_risk(
                    o["kappa"], o["nu"], o["theta"], o["eta"], o["rho"], temperature=t, **kw
                )
                for o, t in zip(ov, lam, strict=True)
            ]
        )
        oracle_t = population_risk(1, 1, 0, 0, 0, temperature=lam, **kw)
        ax_risk.plot(steps, risk, label=f"run {seed}")
        ax_align.plot(
            steps, [abs(o["kappa"]) for o in ov], color=f"C{seed}", label=f"|kappa| {seed}"
        )
        ax_align.plot(
            steps, [abs(o["nu"]) for o in ov], "--", color=f"C{seed}", label=f"|nu| {seed}"
        )
        final = model.overlaps(ks, vs)
        results.append(
            {
                "seed": seed,
                "kappa": abs(final["kappa"]),
                "nu": abs(final["nu"]),
                "temperature": model.temperature_,
                "test_excess": float(np.mean((model.predict(Xte) - yte) ** 2) - noise**2),
                "oracle_T_excess": float(
                    population_risk(
                        1, 1, 0, 0, 0, temperature=model.temperature_, **kw, scale="optimal"
                    )
                ),
                "bayes_excess": float(
                    np.mean((bayes_oracle_predict(Xte, ks, vs, gamma) - yte) ** 2) - noise**2
                ),
                "locate_accuracy": float((model.locate(Xte) == pte).mean()),
            }
        )
    ax_risk.plot(steps, oracle_t, "k:", label="T(k*, v*) at the same lambda")
    ax_risk.axhline(linear_baseline_risk(L, gamma), color="grey", ls="--", label="best linear")
    ax_risk.set(xscale="log", yscale="log", xlabel="SGD step", ylabel="excess risk (closed form)")
    ax_risk.legend(fontsize=7)
    ax_align.set(xscale="log", xlabel="SGD step", ylabel="alignment", ylim=(0, 1.02))
    ax_align.legend(fontsize=7, ncol=2)
    fig.suptitle(f"Single-location regression, d={d}, L={L}: projected SGD from the sphere")
    fig.tight_layout()
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "single_location.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)

    # The paper's other experiment: projected GD on the closed-form population
    # risk, d = 400, L = 10, from the sphere with the schedule lambda_0 = 1,
    # decay 1e-4, step 4e-3, 120000 steps (smoke: d = 100, L = 5, shortened).
    if args.smoke:
        pop_kw = {"n_features": 100, "n_tokens": 5, "temperature_decay": 5e-3}
        pop_kw.update(learning_rate=0.03, max_iter=2000, record_every=100)
    else:
        pop_kw = {"n_features": 400, "n_tokens": 10, "temperature_decay": 1e-4}
        pop_kw.update(learning_rate=4e-3, max_iter=120_000, record_every=600)
    run = population_gradient_descent(**pop_kw, temperature=1.0, random_state=0)
    fig, (ax_risk, ax_align) = plt.subplots(1, 2, figsize=(11, 4))
    ax_risk.plot(run.iter + 1, run.excess_risk, label="T(k, v) along GD")
    ax_risk.plot(run.iter + 1, run.ideal_risk, "k:", label="T(k*, v*) at the same lambda")
    ax_risk.set(xscale="log", yscale="log", xlabel="GD step", ylabel="excess risk")
    ax_risk.legend(fontsize=7)
    for name, values in [("|kappa|", run.kappa), ("|nu|", run.nu)]:
        ax_align.plot(run.iter + 1, np.abs(values), label=name)
    ax_align.plot(run.iter + 1, run.distance_to_manifold, label="distance to manifold")
    ax_align.set(xscale="log", xlabel="GD step", ylim=(0, 1.02))
    ax_align.legend(fontsize=7)
    fig.suptitle(f"Population projected GD, d={pop_kw['n_features']}, L={pop_kw['n_tokens']}")
    fig.tight_layout()
    pop_path = os.path.join(args.output, "single_location_population.png")
    fig.savefig(pop_path, dpi=120)
    plt.close(fig)
    print(
        f"population GD {pop_kw}: final |kappa| {abs(run.kappa[-1]):.4f}, |nu| "
        f"{abs(run.nu[-1]):.4f}, excess risk {run.excess_risk[-1]:.4f} vs ideal "
        f"{run.ideal_risk[-1]:.4f}; wrote {pop_path}"
    )

    print(f"d={d} L={L} n_train={n_train} params={params}")
    print("seed |kappa|  |nu|    lambda  test excess  T(k*,v*) excess  Bayes excess  locate")
    for r in results:
        print(
            f"{r['seed']:>4} {r['kappa']:.4f}  {r['nu']:.4f}  {r['temperature']:.4f}  "
            f"{r['test_excess']:.4f}       {r['oracle_T_excess']:.4f}           "
            f"{r['bayes_excess']:.4f}        {r['locate_accuracy']:.4f}"
        )
    print(f"best linear predictor excess risk: {linear_baseline_risk(L, gamma):.4f}")
    print(f"wrote {path}")
    return {"results": results, "path": path}


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

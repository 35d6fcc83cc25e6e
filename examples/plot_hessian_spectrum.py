"""Sharpness of a small CNN along gradient descent, and its Hessian spectrum.
==========================================================================

A small convolutional network learns sklearn's digits (8x8 images) by
full-batch gradient descent on the mean squared error to one-hot targets, at
two learning rates ``eta``. Every few steps :func:`sktheory.diagnostics.top_eigenvalues`
measures the sharpness (top Hessian eigenvalue) of the training loss. Gradient
descent is stable on a quadratic only while the sharpness is below ``2 / eta``:
the sharpness rises during training (progressive sharpening) until it reaches
that line, then hovers at it (the edge of stability, Cohen et al., 2021).
The last panel is the Hessian's eigenvalue density at the end of training, by
stochastic Lanczos quadrature (:func:`sktheory.diagnostics.spectral_density`).

Run ``python examples/plot_hessian_spectrum.py [--smoke] [--output DIR]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from sktheory.diagnostics import (
    curvature_operator,
    plot_spectral_density,
    spectral_density,
    top_eigenvalues,
)


def _cnn(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(channels * 16, 10),
    )


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out - target) ** 2).sum(dim=1).mean()


def _train(X, Y, lr: float, steps: int, every: int, channels: int, seed: int = 0):
    """Full-batch gradient descent; the sharpness every ``every`` steps."""
    torch.manual_seed(seed)
    model = _cnn(channels)
    trace, losses, products = [], [], 0
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            op = curvature_operator(model, _mse, (X, Y))
            top = top_eigenvalues(op, tol=1e-3, random_state=step)
            trace.append((step, float(top.eigenvalues[0])))
            products += top.n_products
        if step == steps:
            break
        loss = _mse(model(X), Y)
        losses.append(float(loss.detach()))
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return model, trace, losses, products


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
        n, channels, steps, every, n_steps = 100, 4, 20, 10, 20
    else:
        n, channels, steps, every, n_steps = 500, 8, 600, 20, 80
    lrs = [0.05, 0.2]

    digits = load_digits()
    X = torch.tensor(digits.images[:n] / 16.0, dtype=torch.float32)[:, None]
    Y = nn.functional.one_hot(torch.tensor(digits.target[:n]), 10).float()

    runs = {lr: _train(X, Y, lr, steps, every, channels) for lr in lrs}
    final = runs[lrs[-1]][0]
    density = spectral_density(curvature_operator(final, _mse, (X, Y)), n_steps=n_steps)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for k, (lr, (_, trace, losses, _)) in enumerate(runs.items()):
        axes[0].plot(*zip(*trace, strict=True), "o-", ms=3, color=f"C{k}", label=f"eta={lr}")
        axes[0].axhline(2 / lr, color=f"C{k}", ls="--", lw=1, label=f"2/eta = {2 / lr:.3g}")
        axes[1].plot(losses, color=f"C{k}", label=f"eta={lr}")
    axes[0].set(xlabel="GD step", ylabel="sharpness (top Hessian eigenvalue)")
    axes[0].set_title("sharpness along gradient descent")
    axes[0].legend(fontsize=7)
    axes[1].set(xlabel="GD step", ylabel="training loss", yscale="log", title="training loss")
    axes[1].legend(fontsize=7)
    plot_spectral_density(density, ax=axes[2])
    axes[2].set_title(f"Hessian spectral density at the end (eta={lrs[-1]})")
    fig.tight_layout()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "hessian_spectrum.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)

    n_params = sum(p.numel() for p in final.parameters())
    results = {"n_params": n_params, "density_products": density.n_products}
    print(f"CNN with {n_params} parameters on {n} digits, {steps} GD steps")
    for lr, (_, trace, losses, products) in runs.items():
        peak = max(v for _, v in trace)
        results[lr] = {"sharpness": trace, "final_loss": losses[-1]}
        print(
            f"eta={lr}: 2/eta={2 / lr:.3g}, peak sharpness {peak:.4g}, final {trace[-1][1]:.4g}, "
            f"final loss {losses[-1]:.4g} ({products} Hessian-vector products)"
        )
    nodes = density.nodes[density.weights > 0]
    bulk = density.weights[np.abs(density.nodes) < 0.01 * nodes.max()].sum() / len(density.nodes)
    print(
        f"density: {density.n_products} products, Ritz values in "
        f"[{nodes.min():.3g}, {nodes.max():.3g}]; mass within 1% of the top of zero: {bulk:.2f}"
    )
    print(f"wrote {path}")
    return results


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

"""Reward fine-tuning of a denoising diffusion on the 8x8 digits (Implicit Diffusion).
===================================================================================

The paper's denoising experiment at CPU size. A small noise-prediction network
is pretrained by denoising score matching on scikit-learn's digits (pixels
scaled to [0, 1]); it is then fine-tuned so that its samples maximise a reward,
the log-probability of one digit class under a multinomial
:class:`~sklearn.linear_model.LogisticRegression` fitted on the same digits
(:class:`~sktheory.diffusion.ClassifierLogProbReward`, a torch linear map, so
the reward can be differentiated through the sampler), minus ``kl_weight``
times the denoising loss on the data, which holds the model near the digits.
(Image brightness, the paper's other reward, is
``LinearReward(np.full(64, 1 / 64))``.) Samples are drawn with the same seed
before and after fine-tuning, so each image can be followed as it turns into
a 3.

The figure shows samples before and after fine-tuning (at a small and a large
``kl_weight``); the mean reward against the number of sampling steps for the
single loop (``method="implicit"``: a queue of batches at successive diffusion
steps, advanced by one step per update) and the nested loop (a fresh reverse
chain per update), with both reward gradients (likelihood ratio, and pathwise:
backpropagation through the chain); and the reward and the mean ELBO of the
digits under the fine-tuned model against ``kl_weight``.

At equal sampling steps the nested loop is ahead here, as on the hexagon
benchmark (``benchmarks/bench_diffusion_denoising.py``): the queue's gradients
are up to ``T`` updates stale.

The network is a user ``score_model``: an MLP plus a learned, time-gated copy
of its input (``eps ~ g(t) x`` is the exact noise prediction for Gaussian
data). On 64 pixels the last reverse steps divide by ``sqrt(alpha_t)`` (down to
about 0.03 with the cosine schedule), and without the skip a plain MLP's small
errors there produced samples far outside [0, 1].
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
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from torch import nn

from sktheory import DiffusionOptimizer
from sktheory.diffusion import ClassifierLogProbReward

#: The digit whose log-probability is the reward.
TARGET = 3

SIZES = {
    # pretraining updates, width, fine-tuning updates, KL weights, samples scored
    "smoke": dict(pretrain=150, hidden=32, iters=12, kl=(0.0, 30.0), n_eval=200, steps=10),
    "full": dict(
        pretrain=3000,
        hidden=128,
        iters=150,
        kl=(0.0, 3.0, 10.0, 30.0, 100.0),
        n_eval=1000,
        steps=20,
    ),
}


class SkipEps(nn.Module):
    """Noise prediction ``g(t) x + mlp(x, t)`` with a sinusoidal time embedding.

    ``forward(x, t)``: ``x`` of shape ``(n, d)``, ``t`` of shape ``(n,)`` in
    ``(0, 1]`` (the signature ``DiffusionOptimizer(score_model=...)`` expects).
    """

    def __init__(self, n_features: int, hidden: int = 128, n_freq: int = 8):
        super().__init__()
        self.n_freq = n_freq
        self.mlp = nn.Sequential(
            nn.Linear(n_features + 2 * n_freq, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_features),
        )
        self.gate = nn.Sequential(nn.Linear(2 * n_freq, 32), nn.SiLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        freqs = torch.pi * 2.0 ** torch.arange(self.n_freq, dtype=x.dtype, device=x.device)
        angles = t[:, None] * freqs
        emb = torch.cat([torch.sin(angles), torch.cos(angles)], 1)
        return torch.sigmoid(self.gate(emb)) * x + self.mlp(torch.cat([x, emb], 1))


def digits_setup(size: str = "full", seed: int = 0):
    """Digits in [0, 1], the reward, and a denoising model pretrained on them.

    Returns ``(X, y, classifier, reward, pretrained, base)`` with ``base`` the
    keyword arguments shared by every fine-tuning fit.
    """
    cfg = SIZES[size]
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    classifier = LogisticRegression(max_iter=2000).fit(X, y)
    reward = ClassifierLogProbReward(classifier, TARGET)
    base = dict(
        sampler="denoising",
        n_diffusion_steps=cfg["steps"],
        n_particles=64,
        batch_size=256,
        dtype="float32",
        random_state=seed,
    )
    torch.manual_seed(seed)  # the network's initialisation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pretrained = DiffusionOptimizer(
            **base,
            reward=None,
            score_model=SkipEps(X.shape[1], cfg["hidden"]),
            pretrain_max_iter=cfg["pretrain"],
            max_iter=1,
            learning_rate=1e-12,  # the one fine-tuning update leaves the network as pretrained
        ).fit(X)
    return X, y, classifier, reward, pretrained, base


def fine_tune(X, reward, pretrained, base, *, method, gradient, kl_weight, iters):
    """Fine-tune ``pretrained.module_`` for ``reward``; returns the fitted model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DiffusionOptimizer(
            **base,
            reward=reward,
            kl_weight=kl_weight,
            score_model=pretrained.module_,
            pretrain_max_iter=0,
            method=method,
            reward_gradient=gradient,
            max_iter=iters,
        ).fit(X)


def _grid(ax, images, title):
    rows, cols = 4, 8
    canvas = np.zeros((rows * 9 - 1, cols * 9 - 1))  # white gaps in gray_r
    for k, img in enumerate(images[: rows * cols]):
        r, c = divmod(k, cols)
        canvas[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = img.reshape(8, 8)
    ax.imshow(np.clip(canvas, 0, 1), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


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
    size = "smoke" if args.smoke else "full"
    cfg = SIZES[size]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    start = time.perf_counter()
    X, y, classifier, reward, pre, base = digits_setup(size)
    n_eval = cfg["n_eval"]
    Z_pre = pre.sample(n_eval)[0]
    elbo_pre = pre.score_samples(X)
    r_pre = float(reward(Z_pre).mean())
    share = (classifier.predict(Z_pre) == TARGET).mean()
    print(
        f"pretrained ({cfg['pretrain']} updates, {time.perf_counter() - start:.1f} s): "
        f"E[R] = {r_pre:.3f}, P(predicted {TARGET}) = {share:.2f}"
        f", mean ELBO of the digits = {elbo_pre.mean():.1f}; data: E[R] = {reward(X).mean():.3f}"
    )

    # Implicit vs nested at equal sampling steps, both reward gradients.
    curves = {}
    for gradient in ("likelihood_ratio", "pathwise"):
        for method in ("implicit", "nested"):
            t0 = time.perf_counter()
            model = fine_tune(
                X,
                reward,
                pre,
                base,
                method=method,
                gradient=gradient,
                kl_weight=0.0,
                iters=cfg["iters"],
            )
            final = float(reward(model.sample(n_eval)[0]).mean())
            curves[gradient, method] = model.history_
            print(
                f"kl_weight=0 {gradient:16s} {method:8s}: E[R] = {final:7.3f} after "
                f"{model.history_[-1]['sampling_steps']} sampling steps "
                f"({time.perf_counter() - t0:.1f} s)"
            )

    # The KL trade-off (nested, pathwise: the faster combination above).
    sweep = {}
    for kl in cfg["kl"]:
        model = fine_tune(
            X,
            reward,
            pre,
            base,
            method="nested",
            gradient="pathwise",
            kl_weight=kl,
            iters=cfg["iters"],
        )
        Z = model.sample(n_eval)[0]
        elbo = model.score_samples(X)
        gap = float(np.abs(elbo - elbo_pre).mean())
        sweep[kl] = dict(reward=float(reward(Z).mean()), elbo=float(elbo.mean()), samples=Z)
        print(
            f"kl_weight={kl:6.1f}: E[R] = {sweep[kl]['reward']:7.3f}, "
            f"P(predicted {TARGET}) = {(classifier.predict(Z) == TARGET).mean():.2f}, "
            f"mean ELBO of the digits = {elbo.mean():.1f} "
            f"(mean |ELBO - pretrained ELBO| = {gap:.1f})"
        )

    fig = plt.figure(figsize=(15, 8))
    grid = fig.add_gridspec(2, 3)
    kls = list(cfg["kl"])
    low, high = kls[0], kls[-1] if len(kls) < 3 else kls[-2]
    _grid(fig.add_subplot(grid[0, 0]), Z_pre, f"pretrained (E[R] = {r_pre:.2f})")
    for col, kl in ((1, low), (2, high)):
        _grid(
            fig.add_subplot(grid[0, col]),
            sweep[kl]["samples"],
            f"fine-tuned for log p({TARGET} | x), kl_weight={kl:g} "
            f"(E[R] = {sweep[kl]['reward']:.2f})",
        )
    ax = fig.add_subplot(grid[1, :2])
    styles = {"implicit": "-", "nested": "--"}
    colors = {"likelihood_ratio": "C0", "pathwise": "C3"}
    for (gradient, method), hist in curves.items():
        steps = np.array([h["sampling_steps"] for h in hist])
        rewards = np.array([h["reward"] for h in hist])
        width = max(1, len(rewards) // 15)
        smooth = np.convolve(rewards, np.ones(width) / width, mode="valid")
        ax.plot(
            steps[width - 1 :],
            smooth,
            styles[method],
            color=colors[gradient],
            label=f"{method}, {gradient}",
        )
    ax.axhline(r_pre, color="gray", lw=0.8, label="pretrained")
    ax.set(xlabel="sampling steps (reverse steps of a batch of 64)", ylabel="mean reward")
    ax.set_title(f"Reward log p({TARGET} | x) vs sampling steps, kl_weight=0")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[1, 2])
    xs = [max(k, 0.3) for k in kls]  # kl_weight 0 drawn at 0.3 on the log axis
    ax.semilogx(xs, [sweep[k]["reward"] for k in kls], "o-", color="C3", label="E[R]")
    ax.set(xlabel="kl_weight (0 drawn at 0.3)", ylabel="mean reward")
    twin = ax.twinx()
    twin.semilogx(xs, [sweep[k]["elbo"] for k in kls], "s--", color="C2")
    twin.axhline(elbo_pre.mean(), color="C2", lw=0.8, ls=":")
    twin.set_ylabel("mean ELBO of the digits (dotted: pretrained)", color="C2")
    ax.set_title("The KL trade-off (nested, pathwise)")
    fig.tight_layout()
    path = out / "diffusion_digits.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")
    return path


# %%
# Run it
# ------
# As a script, or in this gallery with the arguments chosen by
# ``SKTHEORY_DOCS_SIZE``; the figures below are the ones ``main`` wrote.

if __name__ == "__main__":
    main()

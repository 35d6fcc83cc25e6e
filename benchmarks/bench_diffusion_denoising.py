"""Denoising reward fine-tuning: gradient estimators, and implicit vs nested.

Part 1 compares the two estimators of ``grad_theta E[R(x_0)]`` for a
pretrained denoiser (hexagon data, smooth hexagon reward): the likelihood-ratio
(covariance) form and the pathwise one (backpropagation through the reverse
chain). Each is drawn ``reps`` times on fresh chains of ``n`` points; reported
are the relative variance ``E|g - mean g|^2 / |mean g|^2``, the cosine between
the two means, and CPU seconds per estimate (one torch thread).

Part 2 fine-tunes from the same pretrained network with the implicit queue and
the nested loop at equal sampling steps, for both estimators, and reports
``E[R]`` of 2000 samples of the fitted law.

Part 3 is the paper's reward fine-tuning at CPU size on scikit-learn's 8x8
digits (the set-up of ``examples/plot_diffusion_digits.py``: a gated-skip
noise-prediction network pretrained on the digits in [0, 1], reward
``log p(3 | x)`` under a multinomial LogisticRegression): implicit vs nested at
equal sampling steps (kl_weight=0) for both gradients, with ``E[R]`` and the
share of samples the classifier calls a 3 (``P3``) over 1000 samples, then the
KL trade-off (nested, pathwise): ``E[R]`` and the mean ELBO of the digits
against ``kl_weight``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from sktheory import DiffusionOptimizer
from sktheory.datasets import make_hexagon_mixture
from sktheory.diffusion import HexagonReward
from sktheory.diffusion import _denoising as dn

SIZES = {
    "smoke": dict(reps=5, n=64, steps=10, pretrain=100, iters=(10,)),
    "small": dict(reps=30, n=256, steps=10, pretrain=600, iters=(40, 120)),
}
# Digits (part 3): the example's sizes, and fine-tuning budgets in updates.
DIGITS = {
    "smoke": dict(example="smoke", iters=(6,), kl=(0.0, 30.0), n_eval=200),
    "small": dict(
        example="full", iters=(10, 30, 100), kl=(0.0, 3.0, 10.0, 30.0, 100.0), n_eval=1000
    ),
}


def _digits_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "plot_diffusion_digits.py"
    spec = importlib.util.spec_from_file_location("plot_diffusion_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digits(size: str) -> None:
    """Part 3: reward fine-tuning on the digits."""
    cfg = DIGITS[size]
    ex = _digits_example()
    t0 = time.process_time()
    X, _, clf, reward, pre, base = ex.digits_setup(cfg["example"])
    T = base["n_diffusion_steps"]

    def evaluate(model):
        Z = model.sample(cfg["n_eval"])[0]
        return float(reward(Z).mean()), float((clf.predict(Z) == ex.TARGET).mean())

    r_pre, p_pre = evaluate(pre)
    print(
        f"\n# digits: reward log p({ex.TARGET} | x), T={T}, batches of {base['n_particles']}; "
        f"pretrained E[R] = {r_pre:.3f}, P3 = {p_pre:.2f} "
        f"(pretraining {time.process_time() - t0:.0f} cpu s); data E[R] = {reward(X).mean():.3f}"
    )
    print("gradient          updates  steps  implicit (E[R], P3)  nested (E[R], P3)  cpu_ratio")
    for grad in ("likelihood_ratio", "pathwise"):
        for iters in cfg["iters"]:
            row = {}
            for method in ("implicit", "nested"):
                t0 = time.process_time()
                m = ex.fine_tune(
                    X,
                    reward,
                    pre,
                    base,
                    method=method,
                    gradient=grad,
                    kl_weight=0.0,
                    iters=iters,
                )
                row[method] = (*evaluate(m), time.process_time() - t0)
            print(
                f"{grad:17s} {iters:7d} {iters * T:6d}   {row['implicit'][0]:8.3f} "
                f"{row['implicit'][1]:5.2f}      {row['nested'][0]:8.3f} {row['nested'][1]:5.2f}"
                f"  {row['implicit'][2] / row['nested'][2]:8.2f}"
            )
    iters = cfg["iters"][-1]
    elbo_pre = float(pre.score_samples(X).mean())
    print(f"\nkl_weight  E[R]     P3    mean ELBO of the digits (pretrained {elbo_pre:.1f})")
    for kl in cfg["kl"]:
        m = ex.fine_tune(
            X, reward, pre, base, method="nested", gradient="pathwise", kl_weight=kl, iters=iters
        )
        r, p3 = evaluate(m)
        print(f"{kl:9.1f} {r:7.3f} {p3:5.2f}   {float(m.score_samples(X).mean()):9.1f}")


def _grad(model, schedule, n, reward, center, scale, pathwise, gen):
    model.zero_grad()
    d = center.shape[0]
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    xs, ts = [], []
    for step in reversed(range(schedule["betas"].shape[0])):
        t = torch.full((n,), step, dtype=torch.long)
        z = torch.randn(n, d, generator=gen, dtype=torch.float64)
        if pathwise:
            x = dn.reverse_mean(model, x, t, schedule) + schedule["sigma2"][step].sqrt() * z
        else:
            xs.append((x, t))
            x = dn.reverse_step(model, x, t, schedule, z)
            ts.append(x)
    r = reward(x * scale + torch.as_tensor(center))
    if pathwise:
        r.mean().backward()
    else:
        c = (r - r.mean()).detach()
        logp = sum(
            dn.transition_log_prob(model, xp, xt, t, schedule)
            for (xt, t), xp in zip(xs, ts, strict=True)
        )
        (c * logp).mean().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()]).clone()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--part", choices=("all", "hexagon", "digits"), default="all", help="parts 1-2 or 3"
    )
    parser.add_argument("--output", default=str(Path(__file__).parent / "output"))
    args = parser.parse_args(argv)
    cfg = SIZES[args.size]
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    # The parts print their tables; the same text goes to output/ for RESULTS.md.
    report = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, report)):
        if args.part != "digits":
            hexagon(args.size, cfg)
        if args.part != "hexagon":
            digits(args.size)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "diffusion_denoising.md").write_text(f"```\n{report.getvalue()}```\n")


class _Tee(io.TextIOBase):
    """Write to several streams at once."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def hexagon(size: str, cfg: dict) -> None:
    """Parts 1 and 2: gradient estimators, and implicit vs nested, on the hexagon."""
    X, _ = make_hexagon_mixture(1000, weights=np.ones(6) / 6, random_state=0)
    base = dict(
        sampler="denoising",
        n_diffusion_steps=cfg["steps"],
        n_particles=128,
        batch_size=128,
        hidden_size=32,
        random_state=0,
    )
    pre = DiffusionOptimizer(
        **base, reward=None, pretrain_max_iter=cfg["pretrain"], max_iter=1
    ).fit(X)
    reward = HexagonReward(smooth=True)
    schedule = dn.cosine_schedule(cfg["steps"])
    print(f"# denoising reward gradients ({size}: n={cfg['n']}, T={cfg['steps']})")
    means = {}
    for pathwise in (False, True):
        gen = torch.Generator().manual_seed(1)
        t0 = time.process_time()
        gs = torch.stack(
            [
                _grad(
                    pre.module_,
                    schedule,
                    cfg["n"],
                    reward._torch,
                    pre.center_,
                    pre.scale_,
                    pathwise,
                    gen,
                )
                for _ in range(cfg["reps"])
            ]
        )
        cpu = (time.process_time() - t0) / cfg["reps"]
        mean = gs.mean(0)
        rel = float(((gs - mean) ** 2).sum(1).mean() / (mean**2).sum())
        name = "pathwise" if pathwise else "likelihood_ratio"
        means[name] = mean
        print(f"{name:17s} relative variance {rel:9.3f}   cpu s/estimate {cpu:.4f}")
    cos = float(
        torch.nn.functional.cosine_similarity(means["pathwise"], means["likelihood_ratio"], 0)
    )
    print(f"cosine(mean LR, mean pathwise) = {cos:.3f}")
    r_pre = float(reward(pre.sample(2000)[0]).mean())
    print(f"\n# implicit vs nested at equal sampling steps; pretrained E[R] = {r_pre:.3f}")
    print("gradient          updates  steps  implicit  nested  cpu_ratio(impl/nest)")
    for grad in ("likelihood_ratio", "pathwise"):
        for iters in cfg["iters"]:
            row = {}
            for method in ("implicit", "nested"):
                t0 = time.process_time()
                m = DiffusionOptimizer(
                    **base,
                    reward="hexagon_smooth",
                    kl_weight=0.0,
                    score_model=pre.module_,
                    pretrain_max_iter=0,
                    method=method,
                    max_iter=iters,
                    reward_gradient=grad,
                ).fit(X)
                row[method] = (float(reward(m.sample(2000)[0]).mean()), time.process_time() - t0)
            print(
                f"{grad:17s} {iters:7d} {iters * cfg['steps']:6d} {row['implicit'][0]:9.3f}"
                f" {row['nested'][0]:7.3f} {row['implicit'][1] / row['nested'][1]:8.2f}"
            )


if __name__ == "__main__":
    main()

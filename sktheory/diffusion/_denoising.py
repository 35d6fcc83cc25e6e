"""A small denoising diffusion (DDPM) for low-dimensional data.

The model predicts the noise ``eps`` added to a data point at step ``t`` of a
discrete variance-preserving chain with the cosine schedule; it is trained by
denoising score matching (the noise-prediction loss). Sampling runs the
ancestral reverse chain ``x_{t-1} = mu_theta(x_t, t) + sigma_t z``.

For fine-tuning, the gradient of ``E[R(x_0)]`` with respect to the network is
taken in covariance (likelihood-ratio) form,
``Cov(R(x_0), sum_t grad log p_theta(x_{t-1} | x_t))``, the finite-time
counterpart of the Langevin covariance formula: it needs the reward's values
only, never its gradient, so indicator rewards work as well as smooth ones.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Smallest reverse-step variance (standardised units).
SIGMA2_FLOOR = 1e-3


def cosine_schedule(n_steps: int, dtype=torch.float64):
    """Betas, alphas and cumulative alphas of the cosine schedule, each (T,)."""
    s = 0.008
    t = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = (f / f[0])[1:]
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    betas = (1 - alpha_bar / prev).clamp(1e-5, 0.999)
    alphas = 1 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    # Posterior variance of x_{t-1} given x_t and x_0; the first step keeps beta_1
    # so that every reverse transition has a density.
    sigma2 = betas * (1 - prev) / (1 - alpha_bar)
    sigma2[0] = betas[0]
    # A floor on the reverse noise keeps the likelihood-ratio terms
    # |x_{t-1} - mu_theta|^2 / sigma_t^2 bounded when the transitions were drawn by
    # slightly older parameters (the implicit queue).
    sigma2 = sigma2.clamp_min(SIGMA2_FLOOR)
    return {
        k: v.to(dtype)
        for k, v in dict(betas=betas, alphas=alphas, alpha_bar=alpha_bar, sigma2=sigma2).items()
    }


class ScoreNet(nn.Module):
    """Noise-prediction MLP ``eps_theta(x, t)`` with a sinusoidal time embedding."""

    def __init__(self, n_features: int, hidden: int = 64, n_freq: int = 8):
        super().__init__()
        self.n_freq = n_freq
        self.net = nn.Sequential(
            nn.Linear(n_features + 2 * n_freq, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_features),
        )

    def forward(self, x: torch.Tensor, t_frac: torch.Tensor) -> torch.Tensor:
        freqs = torch.pi * 2.0 ** torch.arange(self.n_freq, dtype=x.dtype, device=x.device)
        angles = t_frac[:, None] * freqs[None, :]
        return self.net(torch.cat([x, torch.sin(angles), torch.cos(angles)], 1))


def _t_frac(t: torch.Tensor, n_steps: int, dtype) -> torch.Tensor:
    return (t.to(dtype) + 1) / n_steps


def dsm_loss(model, x0, schedule, generator, per_sample=False):
    """Denoising score-matching (noise-prediction) loss on a batch of data."""
    n_steps = schedule["betas"].shape[0]
    n = x0.shape[0]
    t = torch.randint(n_steps, (n,), generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    ab = schedule["alpha_bar"][t][:, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    err = ((model(xt, _t_frac(t, n_steps, x0.dtype)) - eps) ** 2).sum(1)
    return err if per_sample else err.mean()


def reverse_mean(model, xt, t, schedule):
    """Mean ``mu_theta(x_t, t)`` of the reverse transition, for per-row steps ``t``."""
    n_steps = schedule["betas"].shape[0]
    beta = schedule["betas"][t][:, None]
    ab = schedule["alpha_bar"][t][:, None]
    eps = model(xt, _t_frac(t, n_steps, xt.dtype))
    return (xt - beta / (1 - ab).sqrt() * eps) / schedule["alphas"][t][:, None].sqrt()


def reverse_step(model, xt, t, schedule, noise):
    """One ancestral step for every row (rows may sit at different steps ``t``)."""
    with torch.no_grad():
        mu = reverse_mean(model, xt, t, schedule)
    return mu + schedule["sigma2"][t][:, None].sqrt() * noise


def transition_log_prob(model, x_prev, xt, t, schedule):
    """``log p_theta(x_{t-1} | x_t)`` up to a constant, differentiable in the model."""
    mu = reverse_mean(model, xt, t, schedule)
    return -((x_prev - mu) ** 2).sum(1) / (2 * schedule["sigma2"][t])


def sample_chain(model, n, n_features, schedule, generator, dtype, device):
    """Run the reverse chain from N(0, I) and return x_0, (n, d)."""
    n_steps = schedule["betas"].shape[0]
    x = torch.randn(n, n_features, generator=generator, dtype=dtype).to(device)
    for step in reversed(range(n_steps)):
        t = torch.full((n,), step, dtype=torch.long, device=device)
        z = torch.randn(n, n_features, generator=generator, dtype=dtype).to(device)
        x = reverse_step(model, x, t, schedule, z)
    return x


def elbo(model, x0, schedule, generator):
    """Evidence lower bound on ``log p_theta(x_0)`` per point, one noise draw per step."""
    n_steps = schedule["betas"].shape[0]
    n, d = x0.shape
    ab, sigma2 = schedule["alpha_bar"], schedule["sigma2"]
    # Prior term: KL(q(x_T | x_0) || N(0, I)).
    abT = ab[-1]
    total = 0.5 * (d * (1 - abT) + abT * (x0**2).sum(1) - d - d * torch.log(1 - abT))
    with torch.no_grad():
        for step in range(n_steps):
            t = torch.full((n,), step, dtype=torch.long, device=x0.device)
            # One draw per step shared by all rows: each point's estimate then
            # does not depend on which other points are scored with it.
            eps = torch.randn((1, d), generator=generator, dtype=x0.dtype).to(x0.device)
            xt = ab[step].sqrt() * x0 + (1 - ab[step]).sqrt() * eps
            mu = reverse_mean(model, xt, t, schedule)
            if step == 0:
                # Reconstruction: -log N(x_0; mu_theta(x_1, 1), beta_1 I).
                total = total + ((x0 - mu) ** 2).sum(1) / (2 * sigma2[0])
                total = total + 0.5 * d * torch.log(2 * math.pi * sigma2[0])
            else:
                # KL between Gaussians of equal variance: the posterior one.
                prev = ab[step - 1]
                beta = schedule["betas"][step]
                mu_q = (
                    prev.sqrt() * beta * x0 + schedule["alphas"][step].sqrt() * (1 - prev) * xt
                ) / (1 - ab[step])
                total = total + ((mu_q - mu) ** 2).sum(1) / (2 * sigma2[step])
    return -total

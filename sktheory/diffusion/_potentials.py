"""Gaussian-mixture potential, its Langevin sampler and the Gibbs-law gradients.

The potential is ``V(x, theta) = -log sum_i softmax(theta)_i exp(-|x - c_i|^2 / (2 s))``
with ``s`` the (fixed, shared) component variance. Its Gibbs law
``exp(-V) / Z`` is exactly the Gaussian mixture with weights ``softmax(theta)``,
and ``Z = (2 pi s)^(d/2)`` does not depend on ``theta`` or the means, so the
log density and the KL to data are available in closed form (used for
``score_samples`` and the recorded objective, never for the gradients, which
use only the particles, as the method prescribes).

All functions work on whole particle clouds at once (no Python loop over
particles) and return plain tensors: gradients are written out by hand, which
is several times faster than autograd for these tiny operations. The loop's
cost is per-call overhead, so the kernel ``exp(-|x - c_i|^2 / (2 s))`` of a
cloud is computed once (:class:`Kernel`) and reused for every ``theta`` that
meets the same points (before and after a parameter step).
"""

from __future__ import annotations

import math

import torch


class Kernel:
    """Component kernels of a point cloud, stabilised row by row.

    ``k[n, i] = exp(-|x_n - c_i|^2 / (2 s) - m_n)`` for a per-row constant ``m_n``,
    so that mixture densities are ``(k @ w) * exp(m)``. The exponent is computed
    as ``x.c_i / s - |c_i|^2 / (2 s)``: the dropped ``-|x|^2 / (2 s)`` is a row
    constant, irrelevant to responsibilities and added back in ``shift`` only
    when a density is asked for.
    """

    __slots__ = ("_row", "_var", "_x", "k", "shift")

    def __init__(self, x: torch.Tensor, means: torch.Tensor, var: float):
        expo = torch.addmm((means * means).sum(1) * (-0.5 / var), x, means.T, alpha=1 / var)
        top = expo.amax(1, keepdim=True)
        self.k = torch.exp(expo - top)
        self.shift = top[:, 0]
        self._x, self._var, self._row = x, var, None

    def responsibilities(self, weights: torch.Tensor) -> torch.Tensor:
        """Posterior component probabilities ``r_i(x)``, (n, K)."""
        joint = self.k * weights
        return joint / joint.sum(1, keepdim=True)

    def neg_potential(self, weights: torch.Tensor) -> torch.Tensor:
        """``-V(x, theta) = log sum_i w_i exp(-|x - c_i|^2 / (2 s))``, (n,)."""
        if self._row is None:  # cached: the data's kernel is reused every update
            self._row = self.shift - (self._x * self._x).sum(1) * (0.5 / self._var)
        return torch.log(self.k @ weights) + self._row

    def rows(self, idx: torch.Tensor) -> Kernel:
        """The kernel of a subset of the points."""
        sub = Kernel.__new__(Kernel)
        sub.k, sub.shift, sub._x, sub._var = (
            self.k[idx],
            self.shift[idx],
            self._x[idx],
            self._var,
        )
        sub._row = None if self._row is None else self._row[idx]
        return sub


def log_density(x, weights, means, var):
    """Normalised log density of the mixture (the Gibbs law of ``V``)."""
    neg_v = Kernel(x, means, var).neg_potential(weights)
    return neg_v - 0.5 * x.shape[1] * math.log(2 * math.pi * var)


def langevin_step(x, resp, means, var, step_size, noise):
    """One unadjusted Langevin step ``x - gamma grad_x V + sqrt(2 gamma) xi``.

    ``grad_x V(x) = (x - sum_i r_i(x) c_i) / var``, fused into two calls.
    """
    rate = step_size / var
    pulled = torch.addmm(x, resp, means, beta=1 - rate, alpha=rate)
    return pulled.add_(noise, alpha=math.sqrt(2 * step_size))


def reward_gradient(x, rewards, resp, means, var, learn_means):
    """Gradient of ``E_pi[R]`` by the covariance formula ``-Cov_pi(R, grad_theta V)``.

    Returns the gradients for the logits (K,) and for the means (K, d), or
    ``None`` for the means when they are fixed.
    """
    centred = (rewards - rewards.mean()) / x.shape[0]
    # -Cov(R, w - r) = Cov(R, r): the constant w drops out of a covariance.
    g_logits = centred @ resp
    g_means = None
    if learn_means:
        # grad_{c_j} V = -r_j (x - c_j) / var, so
        # -Cov(R, grad_{c_j} V) = E[(R - ER) r_j (x - c_j)] / var.
        weighted = resp * centred[:, None]
        g_means = (weighted.T @ x - weighted.sum(0)[:, None] * means) / var
    return g_logits, g_means


def kl_gradient(x_model, resp_model, x_ref, resp_ref, means, var, learn_means):
    """Gradient of ``KL(p_ref || pi_theta)``: ``E_ref[grad V] - E_pi[grad V]``.

    The expectation under ``pi_theta`` is estimated on the particles, the one
    under the reference on a batch of data.
    """
    # grad_theta V = w - r: the w terms cancel between the two expectations.
    g_logits = resp_model.mean(0) - resp_ref.mean(0)
    g_means = None
    if learn_means:

        def mean_grad_means(x, resp):
            return -(resp.T @ x - resp.sum(0)[:, None] * means) / (var * x.shape[0])

        g_means = mean_grad_means(x_ref, resp_ref) - mean_grad_means(x_model, resp_model)
    return g_logits, g_means


def sample_mixture(n, weights, means, var, generator, dtype):
    """Exact draws from the mixture: components, then Gaussian noise."""
    probs = torch.as_tensor(weights, dtype=torch.float64)
    labels = torch.multinomial(probs, n, replacement=True, generator=generator)
    noise = torch.randn(n, means.shape[1], generator=generator, dtype=dtype)
    x = torch.as_tensor(means, dtype=dtype)[labels] + math.sqrt(var) * noise
    return x, labels


# ---------------------------------------------------------------------------
# Potentials as torch modules: any differentiable V(x, theta), by autograd.
# ---------------------------------------------------------------------------
class DiagonalGaussianMixture(torch.nn.Module):
    """The mixture potential with learned diagonal variances, normalised.

    ``V(x) = -log sum_i softmax(theta)_i N(x; c_i, diag(s_i))`` with
    ``s_i = exp(log_var_i)``. Its Gibbs law is the mixture itself and
    ``Z = 1`` for every parameter, so ``E_pi[grad_theta V] = grad log Z = 0``:
    the particle half of the KL gradient has mean zero and is left out
    (``normalised = True``).
    """

    normalised = True

    def __init__(self, weights, means, variances, learn_means: bool = True):
        super().__init__()
        w = torch.as_tensor(weights)
        self.logits = torch.nn.Parameter(torch.log(w))
        self.means = torch.nn.Parameter(torch.as_tensor(means).clone(), requires_grad=learn_means)
        self.log_var = torch.nn.Parameter(torch.log(torch.as_tensor(variances)).clone())

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """``log w_i + log N(x; c_i, diag s_i)``, (n, K)."""
        var = self.log_var.exp()
        diff = x[:, None, :] - self.means[None]
        quad = (diff * diff / var[None]).sum(2)
        log_norm = 0.5 * (self.log_var.sum(1) + x.shape[1] * math.log(2 * math.pi))
        return torch.log_softmax(self.logits, 0)[None] - 0.5 * quad - log_norm[None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.logsumexp(self.log_joint(x), 1)


class CallablePotential(torch.nn.Module):
    """``V(x) = func(x, params)`` for a plain callable and a dict of tensors."""

    normalised = False

    def __init__(self, func, params: dict):
        super().__init__()
        self.func = func
        self.params = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(torch.as_tensor(v).clone()) for k, v in params.items()}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.func(x, dict(self.params))


def energy(potential: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``V(x)`` per point, checked to be an (n,) tensor."""
    v = potential(x)
    if not isinstance(v, torch.Tensor) or tuple(v.shape) != (x.shape[0],):
        shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise ValueError(
            f"The potential must map an ({x.shape[0]}, {x.shape[1]}) tensor of points to "
            f"a tensor of {x.shape[0]} energies; it returned {shape}."
        )
    return v


def autograd_langevin_step(potential, x, step_size, noise):
    """One unadjusted Langevin step with ``grad_x V`` by autograd."""
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (gx,) = torch.autograd.grad(energy(potential, xr).sum(), xr)
    return x.detach() - step_size * gx + math.sqrt(2 * step_size) * noise


def surrogate(potential, x, centred, x_data, w_data, kl_weight):
    """A scalar whose gradient in ``theta`` is ``-grad J`` (descend it).

    ``grad J = -Cov_pi(R, grad V) - kl_weight (E_data[grad V] - E_pi[grad V])``,
    the particles ``x`` standing for ``pi`` and ``centred = R - mean R``. The
    particle half of the KL term is dropped for normalised potentials, where
    its mean is exactly zero. Also returns ``E_data[V] - E_pi[V]`` (float).
    """
    total = x.new_zeros(())
    v_model = None
    if centred is not None:
        v_model = energy(potential, x)
        total = total + (centred * v_model).mean()
    gap = math.nan
    if x_data is not None:
        v_data = energy(potential, x_data)
        data_term = v_data.mean() if w_data is None else (v_data * w_data).mean()
        if getattr(potential, "normalised", False):
            gap = float(data_term.detach())
            if kl_weight > 0:
                total = total + kl_weight * data_term
        else:
            if v_model is None:
                v_model = energy(potential, x)
            gap_t = data_term - v_model.mean()
            gap = float(gap_t.detach())
            if kl_weight > 0:
                total = total + kl_weight * gap_t
    return total, gap

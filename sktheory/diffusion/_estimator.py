"""DiffusionOptimizer: optimise the law of a sampler with Implicit Diffusion."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import DensityMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from sktheory.base import TorchEstimator, make_generator, single_thread
from sktheory.datasets._diffusion import HEXAGON_LOGITS
from sktheory.diffusion import _denoising as dn
from sktheory.diffusion import _potentials as pot
from sktheory.diffusion._rewards import REWARD_PRESETS, _resolve_reward

__all__ = ["DiffusionOptimizer"]

# Adam's step for denoising score matching (pretraining the score network).
_PRETRAIN_LR = 3e-3
# Adam's default step for reward fine-tuning: with the queue, gradients are up
# to n_diffusion_steps updates stale, and 1e-3 made the reward oscillate.
_FINETUNE_LR = 3e-4


def _is_langevin(est) -> bool:
    return est.sampler == "langevin"


class DiffusionOptimizer(DensityMixin, TorchEstimator):
    """Optimise the law of a stochastic sampler for a reward, by Implicit Diffusion.

    The fitted object is a generative model, used like
    :class:`~sklearn.mixture.GaussianMixture`: ``fit(X)`` on samples of a
    reference law, then ``sample``, ``score_samples`` and (for the mixture)
    ``predict``. What is fitted is the maximiser of

    ``J(theta) = E_{pi(theta)}[R(X)] - kl_weight * KL(p_data || pi(theta))``,

    where ``pi(theta)`` is the law produced by the sampler. Two samplers:

    ``"langevin"``
        ``pi(theta)`` is the Gibbs law ``exp(-V(x, theta))`` of the mixture
        potential ``V(x, theta) = -log sum_i softmax(theta)_i
        exp(-|x - c_i|^2 / (2 variance))`` (learned logits, optionally
        learned means ``c_i``), sampled by unadjusted Langevin steps
        ``x <- x - gamma grad_x V + sqrt(2 gamma) xi`` on ``n_particles``
        particles. The reward gradient is the covariance formula
        ``grad E_pi[R] = -Cov_pi(R, grad_theta V)`` and the KL gradient is
        ``E_data[grad_theta V] - E_pi[grad_theta V]``, both estimated on the
        particle cloud (and a batch of data). ``method="implicit"`` takes ONE
        Langevin step of all particles then ONE parameter step per iteration;
        ``method="nested"`` restarts the particles, takes ``inner_steps``
        Langevin steps, then one parameter step.
    ``"denoising"``
        A small noise-prediction network is first trained on ``X`` by
        denoising score matching (``pretrain_iter`` Adam steps), then
        fine-tuned for the reward with the KL term replaced by the denoising
        loss on the data (a bound on ``KL(p_data || pi)``). With
        ``method="implicit"`` a queue of ``n_diffusion_steps`` particle
        batches at successive diffusion steps is advanced by one step per
        iteration; the batch that finishes gives the reward gradient, in the
        covariance form ``Cov(R(x_0), sum_t grad log p_theta(x_{t-1} | x_t))``,
        each transition's term taken at the parameters that sampled it (this
        likelihood-ratio form replaces the paper's adjoint computation: it
        needs no reward gradient, so indicator rewards work).
        ``method="nested"`` runs a whole fresh chain per update instead. Both
        take ``n_diffusion_steps`` sampling steps of a batch per update.

    Parameters
    ----------
    n_components : int, default=6
        Number of mixture components (``"langevin"``); six as in the paper's
        hexagon experiment.
    sampler : {"langevin", "denoising"}, default="langevin"
        The sampler whose law is optimised.
    method : {"implicit", "nested"}, default="implicit"
        Single loop (sampling and optimisation interleaved) or the nested-loop
        baseline.
    reward : callable, str or None, default=None
        ``R``: a picklable callable mapping an ``(n, d)`` float array to ``n``
        finite values, or a preset name: ``"hexagon"`` (the paper's reward),
        ``"hexagon_smooth"`` (its sigmoid-gated version) or
        ``"first_coordinate"`` (``R(x) = x_0``). ``None`` fits the KL term only.
    kl_weight : float, default=1.0
        Weight of ``KL(p_data || pi(theta))`` against the reward; 0 ignores the
        data after initialisation, as in the paper's reward experiment.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial component means; ``None`` runs k-means on ``X``.
    weights_init : array-like of shape (n_components,), default=None
        Initial mixture weights (positive, summing to one); ``None`` uses the
        proportions of the initial clustering of ``X`` (uniform when
        ``means_init`` is given).
    learn_means : bool, default=False
        Also optimise the means (the paper keeps them fixed).
    variance : float, default=1.0
        Variance of every component (fixed).
    n_particles : int, default=1000
        Number of Langevin particles, or of points per batch for the
        denoising sampler.
    step_size : float, default=0.2
        Langevin step ``gamma``.
    learning_rate : float or "auto", default="auto"
        Parameter step ``eta``: plain gradient ascent on the mixture
        parameters (``"auto"`` = 0.1, the paper's value), Adam's step for the
        denoising network (``"auto"`` = 3e-4).
    learning_rate_schedule : {"constant", "invsqrt"}, default="constant"
        ``eta`` or ``eta / sqrt(k + 1)`` at update ``k``.
    max_iter : int, default=1000
        Number of parameter updates.
    inner_steps : int, default=10
        Langevin steps per update of the nested method (unused by the implicit
        method, which takes one per update, and by the denoising sampler).
    init_particles : {"normal", "data"}, default="normal"
        Particles start at ``N(0, I)`` (as in the paper) or at random rows of
        ``X`` (Langevin only).
    batch_size : int, default=1024
        Data points per update for the KL term and for denoising training
        (all of ``X`` when it has no more rows).
    n_diffusion_steps : int, default=20
        Steps ``T`` of the denoising chain.
    hidden_size : int, default=64
        Width of the denoising network.
    pretrain_iter : int, default=1000
        Denoising score-matching steps before fine-tuning.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisation, the particles, the noise and the
        data batches.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    dtype : {"float64", "float32"}, default="float64"
    verbose : int, default=0
        Show a progress bar.
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when the particles or the parameters become non-finite.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Fitted mixture weights (``"langevin"``).
    means_ : ndarray of shape (n_components, n_features)
        Fitted (or fixed) means (``"langevin"``).
    particles_ : ndarray of shape (n_particles, n_features)
        The final particle cloud (for ``"denoising"``: the last finished batch).
    score_model_ : torch.nn.Module
        The fine-tuned noise-prediction network (``"denoising"``).
    pretrain_history_ : list of float
        Denoising score-matching loss per pretraining step (``"denoising"``).
    history_ : list of dict
        One entry per update: ``"loss"`` (``-reward + kl_weight * kl``),
        ``"reward"`` (mean reward of the particles used for the update),
        ``"kl"`` (the KL term up to the data's entropy: the data's average
        negative log-likelihood for ``"langevin"``, the denoising loss for
        ``"denoising"``), ``"sampling_steps"`` (cumulative sampling steps) and,
        for ``"langevin"``, ``"weights"`` (and ``"means"`` when learned).
    n_iter_ : int
    diverged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : Maximum-likelihood mixture, no reward.
    sktheory.datasets.make_hexagon_mixture : The paper's reference law.

    References
    ----------
    P. Marion, A. Korba, P. Bartlett, M. Blondel, V. De Bortoli, A. Doucet,
    F. Llinares-Lopez, C. Paquette, Q. Berthet. Implicit Diffusion: Efficient
    Optimization through Stochastic Sampling. AISTATS 2025.

    Examples
    --------
    >>> from sktheory.datasets import make_hexagon_mixture
    >>> from sktheory.diffusion import hexagon_means, HEXAGON_WEIGHTS
    >>> X, _ = make_hexagon_mixture(200, random_state=0)
    >>> model = DiffusionOptimizer(
    ...     reward="hexagon", kl_weight=0.0, means_init=hexagon_means(),
    ...     weights_init=HEXAGON_WEIGHTS, n_particles=300, max_iter=600,
    ...     random_state=0).fit(X)
    >>> bool(model.weights_[[0, 1, 5]].sum() > 0.8)  # the vertices where x_0 >= 0
    True
    >>> model.history_[-1]["reward"] > 2 * model.history_[0]["reward"]
    True
    >>> Z, labels = model.sample(3)
    >>> Z.shape, model.score_samples(Z).shape, model.predict(Z).shape
    ((3, 2), (3,), (3,))
    """

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "sampler": [StrOptions({"langevin", "denoising"})],
        "method": [StrOptions({"implicit", "nested"})],
        "reward": [callable, StrOptions(set(REWARD_PRESETS)), None],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "means_init": ["array-like", None],
        "weights_init": ["array-like", None],
        "learn_means": ["boolean"],
        "variance": [Interval(Real, 0, None, closed="neither")],
        "n_particles": [Interval(Integral, 2, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "learning_rate_schedule": [StrOptions({"constant", "invsqrt"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "init_particles": [StrOptions({"normal", "data"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_diffusion_steps": [Interval(Integral, 2, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "pretrain_iter": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int = 6,
        *,
        sampler: str = "langevin",
        method: str = "implicit",
        reward: Callable | str | None = None,
        kl_weight: float = 1.0,
        means_init: Any = None,
        weights_init: Any = None,
        learn_means: bool = False,
        variance: float = 1.0,
        n_particles: int = 1000,
        step_size: float = 0.2,
        learning_rate: float | str = "auto",
        learning_rate_schedule: str = "constant",
        max_iter: int = 1000,
        inner_steps: int = 10,
        init_particles: str = "normal",
        batch_size: int = 1024,
        n_diffusion_steps: int = 20,
        hidden_size: int = 64,
        pretrain_iter: int = 1000,
        random_state: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
        verbose: int = 0,
        on_divergence: str = "raise",
    ):
        self.n_components = n_components
        self.sampler = sampler
        self.method = method
        self.reward = reward
        self.kl_weight = kl_weight
        self.means_init = means_init
        self.weights_init = weights_init
        self.learn_means = learn_means
        self.variance = variance
        self.n_particles = n_particles
        self.step_size = step_size
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.max_iter = max_iter
        self.inner_steps = inner_steps
        self.init_particles = init_particles
        self.batch_size = batch_size
        self.n_diffusion_steps = n_diffusion_steps
        self.hidden_size = hidden_size
        self.pretrain_iter = pretrain_iter
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    # ------------------------------------------------------------------ helpers
    def _eta(self, k: int, default: float) -> float:
        eta = default if self.learning_rate == "auto" else float(self.learning_rate)
        if self.learning_rate_schedule == "invsqrt":
            eta /= math.sqrt(k + 1)
        return eta

    def _data_batch(self, Xt: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = Xt.shape[0]
        if n <= self.batch_size:
            return Xt
        return Xt[torch.randint(n, (self.batch_size,), generator=gen).to(Xt.device)]

    def _randn(self, shape, gen) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=self._torch_dtype).to(self.device_)

    # ---------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> DiffusionOptimizer:
        """Fit the sampler's parameters to ``X`` and the reward.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples of the reference law.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : DiffusionOptimizer
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        gen = self._init_torch()
        reward = _resolve_reward(self.reward)
        with single_thread():
            if self.sampler == "langevin":
                self._fit_langevin(X, reward, gen)
            else:
                self._fit_denoising(X, reward, gen)
        return self

    def _initial_mixture(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, d = X.shape
        k = self.n_components
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=float)
            if means.shape != (k, d):
                raise ValueError(
                    f"means_init must have shape (n_components, n_features) = ({k}, {d}), "
                    f"got {means.shape}."
                )
            if not np.all(np.isfinite(means)):
                raise ValueError("means_init contains NaN or infinite values.")
            counts = np.ones(k)
        else:
            if n < k:
                raise ValueError(
                    f"n_samples={n} should be >= n_components={k} to initialise the "
                    "means by k-means; pass means_init or lower n_components."
                )
            rs = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            km = KMeans(n_clusters=k, n_init=1, random_state=rs).fit(X)
            means = km.cluster_centers_
            counts = np.bincount(km.labels_, minlength=k).astype(float) + 1e-3
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=float)
            if weights.shape != (k,):
                raise ValueError(
                    f"weights_init must have shape (n_components,) = ({k},), got {weights.shape}."
                )
            if (
                not np.all(np.isfinite(weights))
                or np.any(weights <= 0)
                or not np.isclose(weights.sum(), 1.0, atol=1e-6)
            ):
                raise ValueError(
                    "weights_init must be positive and sum to 1, got "
                    f"{weights.tolist()!r} (sum {weights.sum():.6g})."
                )
        else:
            weights = counts / counts.sum()
        return means, weights

    def _fit_langevin(self, X: np.ndarray, reward, gen: torch.Generator) -> None:
        means_np, weights_np = self._initial_mixture(X)
        Xt = self._to_tensor(X)
        means = self._to_tensor(means_np)
        logits = torch.log(self._to_tensor(weights_np))
        weights = torch.softmax(logits, 0)
        var, gamma = float(self.variance), float(self.step_size)
        n, d = self.n_particles, X.shape[1]
        log_z = 0.5 * d * math.log(2 * math.pi * var)
        learn_means, kl_weight = self.learn_means, float(self.kl_weight)
        # With fixed means the data's kernels never change: compute them once.
        data_kernel = None if learn_means else pot.Kernel(Xt, means, var)

        def fresh_particles() -> torch.Tensor:
            if self.init_particles == "data":
                idx = torch.randint(X.shape[0], (n,), generator=gen).to(self.device_)
                return Xt[idx].clone()
            return self._randn((n, d), gen)

        def noise() -> torch.Tensor:
            # Float32 normals are ample for Langevin noise and several times
            # cheaper to draw than float64 ones, which dominated the loop's cost.
            z = torch.randn((n, d), generator=gen, dtype=torch.float32)
            return z.to(device=self.device_, dtype=self._torch_dtype)

        def advance(x: torch.Tensor, kern: pot.Kernel | None) -> torch.Tensor:
            if kern is None:
                kern = pot.Kernel(x, means, var)
            resp = kern.responsibilities(weights)
            return pot.langevin_step(x, resp, means, var, gamma, noise())

        def data_batch() -> tuple[torch.Tensor, pot.Kernel]:
            if X.shape[0] <= self.batch_size:
                return Xt, data_kernel or pot.Kernel(Xt, means, var)
            idx = torch.randint(X.shape[0], (self.batch_size,), generator=gen)
            idx = idx.to(self.device_)
            if data_kernel is not None:
                return Xt[idx], data_kernel.rows(idx)
            return Xt[idx], pot.Kernel(Xt[idx], means, var)

        state = {"x": fresh_particles(), "kern": None, "steps": 0}
        record: dict = {}

        def step(k: int) -> float:
            nonlocal logits, weights, means
            if self.method == "nested":
                x = fresh_particles()
                for _ in range(self.inner_steps):
                    x = advance(x, None)
                state["steps"] += self.inner_steps
            else:
                x = advance(state["x"], state["kern"])
                state["steps"] += 1
            state["x"] = x
            kern = pot.Kernel(x, means, var)
            resp = kern.responsibilities(weights)
            g_logits = torch.zeros_like(logits)
            g_means = torch.zeros_like(means) if learn_means else None
            mean_reward = math.nan
            if reward is not None:
                r = reward(x)
                mean_reward = float(r.mean())
                if not math.isfinite(mean_reward) and bool(torch.isfinite(x).all()):
                    reward.check_finite(x, r)
                g_logits, g_means = pot.reward_gradient(x, r, resp, means, var, learn_means)
            xb, kb = data_batch()
            kl = float(log_z - kb.neg_potential(weights).mean())
            if kl_weight > 0:
                rb = kb.responsibilities(weights)
                gl, gm = pot.kl_gradient(x, resp, xb, rb, means, var, learn_means)
                g_logits.add_(gl, alpha=-kl_weight)
                if learn_means:
                    g_means.add_(gm, alpha=-kl_weight)
            # Gradient ascent on J = E[R] - kl_weight * KL.
            eta = self._eta(k, 0.1)
            logits = torch.add(logits, g_logits, alpha=eta)
            if k % 64 == 0:
                logits = logits - logits.max()  # softmax is shift-invariant; stay bounded
            weights = torch.softmax(logits, 0)
            if learn_means:
                means = torch.add(means, g_means, alpha=eta)
                state["kern"] = None
            else:
                state["kern"] = kern
            record.update(reward=mean_reward, kl=kl)
            # Non-finite particles poison the responsibilities, hence the gradient
            # (checked here once, rather than the whole cloud every step).
            check = float(g_logits.sum()) + (float(g_means.sum()) if learn_means else 0.0)
            if not math.isfinite(check) or (
                reward is None and kl_weight == 0 and not math.isfinite(float(x.sum()))
            ):
                return math.nan
            return (0.0 if reward is None else -mean_reward) + kl_weight * kl

        def extra(k: int) -> dict:
            entry = {
                "reward": record.get("reward", math.nan),
                "kl": record.get("kl", math.nan),
                "sampling_steps": state["steps"],
                "weights": weights.tolist(),
            }
            if learn_means:
                entry["means"] = means.tolist()
            return entry

        self._run_loop(step, self.max_iter, desc=f"DiffusionOptimizer ({self.method})", extra=extra)
        self.weights_ = self._to_numpy(weights)
        self.means_ = self._to_numpy(means)
        self.particles_ = self._to_numpy(state["x"])

    # ------------------------------------------------------------- denoising
    def _fit_denoising(self, X: np.ndarray, reward, gen: torch.Generator) -> None:
        n_data, d = X.shape
        if n_data < 2:
            raise ValueError(f"n_samples={n_data}: the denoising sampler needs at least 2 samples.")
        # Diffuse standardised data: the chain ends at N(0, I) whatever X's scale.
        self.center_ = X.mean(0)
        spread = float(X.std())
        self.scale_ = spread if spread > 0 else 1.0
        Z = self._to_tensor((X - self.center_) / self.scale_)
        center, scale = self._to_tensor(self.center_), self.scale_
        T, nb, dtype = self.n_diffusion_steps, self.n_particles, self._torch_dtype
        schedule = {k: v.to(self.device_) for k, v in dn.cosine_schedule(T, dtype).items()}
        model = self._make_score_net(d, gen)

        def data_batch() -> torch.Tensor:
            if n_data <= self.batch_size:
                return Z
            idx = torch.randint(n_data, (self.batch_size,), generator=gen)
            return Z[idx.to(self.device_)]

        # Pretraining: denoising score matching on X.
        opt = torch.optim.Adam(model.parameters(), lr=_PRETRAIN_LR)
        self.pretrain_history_ = []
        for _ in range(self.pretrain_iter):
            loss = dn.dsm_loss(model, data_batch(), schedule, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = float(loss.detach())
            self.pretrain_history_.append(value)
            if not math.isfinite(value):
                self.score_model_ = model
                self.n_iter_, self.history_ = 0, []
                self._diverge(len(self.pretrain_history_) - 1, value)
                return

        def noise(rows: int) -> torch.Tensor:
            return torch.randn((rows, d), generator=gen, dtype=dtype).to(self.device_)

        def run_rows(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return dn.reverse_step(model, x, t, schedule, noise(x.shape[0]))

        # A batch is [x, step, trajectory]; it finishes at step -1. Each trajectory
        # entry is (x_t, t, parameters that took the step), so that the gradient of
        # each transition's log-likelihood is taken where it was sampled: with the
        # queue, a finished batch was advanced by T successive parameter values,
        # and evaluating its old transitions at today's parameters makes the
        # likelihood-ratio estimate unstable (observed: particles blew up).
        def new_batch() -> list:
            return [noise(nb), T - 1, []]

        def snapshot() -> dict:
            return {k: v.detach().clone() for k, v in model.named_parameters()}

        def advance(batches: list) -> None:
            """One reverse step for every batch at once (one network call)."""
            params = snapshot() if self.method == "implicit" else None
            x = torch.cat([b[0] for b in batches])
            t = torch.cat([torch.full((nb,), b[1], dtype=torch.long) for b in batches])
            out = run_rows(x, t.to(self.device_)).split(nb)
            for b, x_new in zip(batches, out, strict=True):
                b[2].append((b[0], b[1], params))
                b[0], b[1] = x_new, b[1] - 1

        def reward_surrogate(done: list, centred: torch.Tensor) -> torch.Tensor | None:
            """Accumulate -grad E[R] into the model's .grad; return the surrogate."""
            traj = done[2]
            x_prev = [p[0] for p in traj[1:]] + [done[0]]
            groups: dict = {}
            for (xt, t, params), xp in zip(traj, x_prev, strict=True):
                groups.setdefault(id(params), [params, [], [], []])
                groups[id(params)][1].append(xt)
                groups[id(params)][2].append(xp)
                groups[id(params)][3].append(t)
            names = [k for k, _ in model.named_parameters()]
            for params, xts, xps, ts in groups.values():
                tt = torch.cat([torch.full((nb,), t, dtype=torch.long) for t in ts])
                args = (torch.cat(xps), torch.cat(xts), tt.to(self.device_))
                if params is None:
                    logp = dn.transition_log_prob(model, *args, schedule)
                    (-(centred.repeat(len(ts)) * logp).sum() / nb).backward()
                    continue
                leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}

                def net(xin, tin, leaves=leaves):
                    return torch.func.functional_call(model, leaves, (xin, tin))

                logp = dn.transition_log_prob(net, *args, schedule)
                surrogate = -(centred.repeat(len(ts)) * logp).sum() / nb
                grads = torch.autograd.grad(surrogate, [leaves[k] for k in names])
                for p, g in zip(model.parameters(), grads, strict=True):
                    p.grad = g if p.grad is None else p.grad + g
            return None

        queue: list = []
        if self.method == "implicit":
            # Warm start: batch j has already taken j steps with the pretrained model.
            for _ in range(T):
                queue.append(new_batch())
                advance(queue)
        opt = torch.optim.Adam(model.parameters(), lr=self._eta(0, _FINETUNE_LR))
        state = {"steps": 0, "x": None}
        record: dict = {}

        def step(k: int) -> float:
            if self.method == "implicit":
                done = queue.pop(0)  # the batch that reached x_0
                queue.append(new_batch())
                advance(queue)
                state["steps"] += len(queue)
            else:
                done = new_batch()
                for _ in range(T):
                    advance([done])
                state["steps"] += T
            x0 = done[0]
            state["x"] = x0
            if not math.isfinite(float(x0.sum())):
                return math.nan
            for group in opt.param_groups:
                group["lr"] = self._eta(k, _FINETUNE_LR)
            opt.zero_grad()
            x_real = x0 * scale + center
            mean_reward = math.nan
            if reward is not None:
                r = reward(x_real)
                mean_reward = float(r.mean())
                if not math.isfinite(mean_reward):
                    reward.check_finite(x_real, r)
                # Covariance (likelihood-ratio) form of grad E[R(x_0)].
                reward_surrogate(done, (r - r.mean()).detach())
            kl = dn.dsm_loss(model, data_batch(), schedule, gen)
            (self.kl_weight * kl).backward()
            opt.step()
            record.update(reward=mean_reward, kl=float(kl.detach()))
            return (0.0 if reward is None else -mean_reward) + self.kl_weight * record["kl"]

        def extra(k: int) -> dict:
            return {
                "reward": record.get("reward", math.nan),
                "kl": record.get("kl", math.nan),
                "sampling_steps": state["steps"],
            }

        self.score_model_ = model
        self._run_loop(step, self.max_iter, desc=f"DiffusionOptimizer ({self.method})", extra=extra)
        self.particles_ = self._to_numpy(state["x"] * scale + center)

    def _make_score_net(self, d: int, gen: torch.Generator) -> dn.ScoreNet:
        # Built inside fork_rng so that torch's default initialisation does not
        # consume the process-wide generator; then re-initialised from ``gen``.
        with torch.random.fork_rng(devices=[]):
            model = dn.ScoreNet(d, self.hidden_size)
        with torch.no_grad():
            for layer in model.net:
                if isinstance(layer, torch.nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    for p in (layer.weight, layer.bias):
                        p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
        return model.to(device=self.device_, dtype=self._torch_dtype)

    def _denoising_elbo(self, X: np.ndarray) -> torch.Tensor:
        z = self._to_tensor((X - self.center_) / self.scale_)
        schedule = self._schedule()
        out = dn.elbo(self.score_model_, z, schedule, make_generator(0))
        # Change of variables back to the data's scale.
        return out - X.shape[1] * math.log(self.scale_)

    def _denoising_sample(self, n: int, gen: torch.Generator) -> np.ndarray:
        device = next(self.score_model_.parameters()).device
        dtype = next(self.score_model_.parameters()).dtype
        z = dn.sample_chain(
            self.score_model_, n, self.n_features_in_, self._schedule(), gen, dtype, device
        )
        return self._to_numpy(z) * self.scale_ + self.center_

    def _schedule(self) -> dict:
        param = next(self.score_model_.parameters())
        return {
            k: v.to(param.device)
            for k, v in dn.cosine_schedule(self.n_diffusion_steps, param.dtype).items()
        }

    # ------------------------------------------------------------------ public
    def score_samples(self, X) -> np.ndarray:
        """Log density of the fitted law at each point.

        For ``"langevin"`` this is the exact log density of the Gibbs law
        (``-V(x, theta) - log Z``, with ``log Z = d/2 log(2 pi variance)`` in
        closed form); for ``"denoising"`` the evidence lower bound of the
        diffusion, evaluated with a fixed seed so that it is deterministic.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if self.sampler == "langevin":
            out = pot.log_density(
                self._to_tensor(X),
                self._to_tensor(self.weights_),
                self._to_tensor(self.means_),
                float(self.variance),
            )
        else:
            with single_thread():
                out = self._denoising_elbo(X)
        return self._finite_output(self._to_numpy(out))

    def score(self, X, y=None) -> float:
        """Average log density of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    @available_if(_is_langevin)
    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each mixture component (``"langevin"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        kern = pot.Kernel(self._to_tensor(X), self._to_tensor(self.means_), float(self.variance))
        resp = kern.responsibilities(self._to_tensor(self.weights_))
        return self._finite_output(self._to_numpy(resp))

    @available_if(_is_langevin)
    def predict(self, X) -> np.ndarray:
        """Most likely mixture component of each point (``"langevin"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.predict_proba(X).argmax(1)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw from the fitted law.

        The mixture is sampled exactly (no Langevin error); the denoising
        model runs its reverse chain. Seeded by ``random_state``, so repeated
        calls with an integer seed return the same points, as in
        :class:`~sklearn.mixture.GaussianMixture`.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each point (``"langevin"``); zeros for ``"denoising"``,
            which has no components.
        """
        check_is_fitted(self)
        if int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        n_samples = int(n_samples)
        gen = make_generator(self.random_state)
        if self.sampler == "langevin":
            x, labels = pot.sample_mixture(
                n_samples,
                self.weights_,
                self.means_,
                float(self.variance),
                gen,
                torch.float64,
            )
            return self._finite_output(x.numpy()), labels.numpy()
        with single_thread():
            x = self._denoising_sample(n_samples, gen)
        return self._finite_output(x), np.zeros(n_samples, dtype=int)

    @classmethod
    def _demo(cls, random_state: int = 0) -> dict:
        """The paper's hexagon experiment at small size: implicit vs nested (T=10).

        Both use 1500 Langevin steps of 400 particles; the score is the expected
        reward of the fitted law (exact sampling of the mixture).
        """
        from sktheory.datasets import make_hexagon_mixture
        from sktheory.datasets._diffusion import hexagon_means
        from sktheory.diffusion._rewards import HexagonReward

        X, _ = make_hexagon_mixture(1000, random_state=random_state)
        reward = HexagonReward()
        scores = {}
        for method, iters in (("implicit", 1500), ("nested", 150)):
            model = cls(
                reward="hexagon",
                kl_weight=0.0,
                means_init=hexagon_means(),
                weights_init=np.exp(HEXAGON_LOGITS) / np.exp(HEXAGON_LOGITS).sum(),
                n_particles=400,
                method=method,
                inner_steps=10,
                max_iter=iters,
                random_state=random_state,
            ).fit(X)
            scores[method] = float(reward(model.sample(100_000)[0]).mean())
        return {
            "task": "hexagon mixture, reward (1500 Langevin steps)",
            "metric": "E_pi[R]",
            "score": scores["implicit"],
            "baseline": "nested loop T=10",
            "baseline_score": scores["nested"],
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

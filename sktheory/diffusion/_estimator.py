"""DiffusionOptimizer: optimise the law of a sampler with Implicit Diffusion."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import DensityMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sktheory.base import (
    TorchEstimator,
    TrainState,
    Window,
    make_generator,
)
from sktheory.diffusion import _denoising as dn
from sktheory.diffusion import _potentials as pot
from sktheory.diffusion._rewards import REWARD_PRESETS, _resolve_reward

__all__ = ["DiffusionOptimizer"]

# Adam's step for denoising score matching (pretraining the score network).
_PRETRAIN_LR = 3e-3
# Adam's default step for reward fine-tuning: with the queue, gradients are up
# to n_diffusion_steps updates stale, and 1e-3 made the reward oscillate.
_FINETUNE_LR = 3e-4
# Adam's default step for a torch potential (the built-in diagonal mixture or
# a custom one): its parameters (means, log-variances, ...) have unrelated
# scales, which plain gradient steps would need tuning for.
_POTENTIAL_LR = 0.05
# Langevin steps of ``sample`` for a custom potential (not sampled exactly).
_SAMPLE_STEPS = 1000
# Rows of X on which the loss scale of the divergence rule is measured.
_SCALE_ROWS = 4096


def _is_langevin(est) -> bool:
    """A mixture (fixed or diagonal variances): component posteriors exist."""
    return est.sampler == "langevin" and est.potential is None


def _uses_potential(est) -> bool:
    """Langevin on a torch potential (a custom one, or the diagonal mixture)."""
    return est.sampler == "langevin" and (
        est.potential is not None or est.covariance_type == "diag"
    )


# Parameters that apply to one sampler only, with their defaults: setting one
# for the other sampler is an error rather than silently ignored.
# (n_components is not among them: scikit-learn's checks set it on any estimator.)
_LANGEVIN_ONLY = {
    "means_init": None,
    "weights_init": None,
    "learn_means": False,
    "variance": 1.0,
    "step_size": 0.2,
    "inner_steps": 10,
    "init_particles": "normal",
    "potential": None,
    "potential_params": None,
    "covariance_type": "fixed",
}
_DENOISING_ONLY = {
    "n_diffusion_steps": 20,
    "hidden_size": 64,
    "pretrain_max_iter": 1000,
    "score_model": None,
    "reward_gradient": "likelihood_ratio",
}
# Parameters of the built-in mixture, meaningless with a custom potential.
_MIXTURE_ONLY = ("means_init", "weights_init", "learn_means", "variance")


@dataclass
class _Data:
    """One fit's validated data (rebuilt by every fit, warm or not)."""

    X: np.ndarray  # as given, for the initial mixture and the reward scale
    Xt: torch.Tensor  # the data term's points: X, or X standardised (denoising)
    sw: np.ndarray  # sample weights as given
    w: torch.Tensor | None  # weights / their mean, or None when all equal
    reward: Callable | None
    center: np.ndarray | None = None  # denoising standardisation
    scale: float | None = None
    schedule: dict | None = None  # denoising noise schedule
    kernel: Any = None  # Langevin: the data's kernel, cached while the means are fixed


@dataclass
class _LangevinState(TrainState):
    """Mixture parameters and particle cloud of the Langevin sampler."""

    logits: torch.Tensor = None
    weights: torch.Tensor = None
    means: torch.Tensor = None
    x: torch.Tensor = None  # the particles
    kern: Any = None  # kernel of ``x`` from the last update, reused when means are fixed
    steps: int = 0  # Langevin steps taken
    window: dict = field(default_factory=dict)  # mean reward and KL of the last window


@dataclass
class _PotentialState(TrainState):
    """A torch potential (module), its optimiser and the Langevin particles."""

    module: torch.nn.Module = None
    optimizer: torch.optim.Optimizer = None
    x: torch.Tensor = None
    steps: int = 0
    window: dict = field(default_factory=dict)


@dataclass
class _DenoisingState(TrainState):
    """Score network, optimisers and particle queue of the denoising sampler."""

    module: torch.nn.Module = None
    optimizer: torch.optim.Optimizer = None  # fine-tuning Adam
    pretrain_optimizer: torch.optim.Optimizer | None = None  # only during pretraining
    queue: list = field(default_factory=list)  # [x, step, trajectory] batches
    x: torch.Tensor | None = None  # the last finished batch (standardised)
    steps: int = 0  # reverse-chain steps taken (per batch of n_particles)
    phase: str = "pretrain"
    halted: bool = False  # pretraining diverged (on_divergence="warn")
    window: dict = field(default_factory=dict)


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
        Langevin step of all particles then ONE parameter step per update;
        ``method="nested"`` restarts the particles, takes ``inner_steps``
        Langevin steps, then one parameter step.
    ``"denoising"``
        A small noise-prediction network is first trained on ``X`` by
        denoising score matching (``pretrain_max_iter`` Adam steps), then
        fine-tuned for the reward with the KL term replaced by the denoising
        loss on the data: the *unweighted* noise-prediction loss
        ``E |eps - eps_theta(x_t, t)|^2`` of Ho et al. (2020), a reweighting of
        the ELBO's terms that is neither ``KL(p_data || pi)`` nor a bound on
        it (``score_samples`` gives the ELBO itself). With
        ``method="implicit"`` a queue of ``n_diffusion_steps`` particle
        batches at successive diffusion steps is advanced by one step per
        update; the batch that finishes gives the reward gradient, in the
        covariance form ``Cov(R(x_0), sum_t grad log p_theta(x_{t-1} | x_t))``,
        each transition's term taken at the parameters that sampled it (this
        likelihood-ratio form replaces the paper's adjoint computation: it
        needs no reward gradient, so indicator rewards work).
        ``method="nested"`` runs a whole fresh chain per update instead. Both
        take ``n_diffusion_steps`` sampling steps of a batch per update.
        ``reward_gradient="pathwise"`` instead differentiates ``R(x_0)``
        through the sampler (backpropagation through the reverse chain, the
        paper's approach; the reward must be differentiable in torch). Its
        memory is the chain's activations: ``T`` network calls of a batch for
        ``"nested"``, and for ``"implicit"`` the whole queue, about ``T^2 / 2``
        calls of a batch. With the queue, gradients are up to ``T`` updates
        stale; at equal sampling steps the nested loop reached higher rewards
        in our tests (see ``tests/test_diffusion.py``) and on the digits
        (``examples/plot_diffusion_digits.py``), for both gradients.

    A custom potential (``potential=``) or the mixture with learned diagonal
    variances (``covariance_type="diag"``) is a torch module ``V``: Langevin
    uses ``grad_x V`` by autograd, and one Adam step per update descends
    ``mean_n (R_n - mean R) V(x_n) + kl_weight (E_data[V] - E_pi[V])``, whose
    gradient is ``-grad J`` by the same two formulas. For the normalised
    diagonal mixture ``E_pi[grad_theta V] = grad log Z = 0`` and that term is
    left out.

    Training follows the package's contract (:mod:`sktheory._training`). The
    loss of an update is the negative objective it ascends, ``-mean R(x) +
    kl_weight * KL``, with ``R`` averaged over the particles the update used
    and ``KL`` the data term on its batch of data (see ``history_``); the
    denoising pretraining is a phase of its own whose loss is the denoising
    score-matching loss. There is no trivial predictor, and the objective
    legitimately crosses zero (rewards of either sign), so the divergence rule
    (a loss above ``1e4`` times a reference) measures against a *scale*
    rather than the value at initialisation: ``mean |R|`` over the data plus
    ``kl_weight * |KL|`` of the initial model on the data (for the
    pretraining, the initial denoising loss). The same scale stands for the
    initial loss of the no-progress rule, which thus only warns when the loss
    ends above that magnitude.

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
        Initial component means; ``None`` runs a (weighted) k-means on ``X``
        from a farthest-point start, which is deterministic.
    weights_init : array-like of shape (n_components,), default=None
        Initial mixture weights (positive, summing to one); ``None`` uses the
        (weighted) proportions of the initial clustering of ``X`` (uniform when
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
        parameters (``"auto"`` = 0.1, the paper's value), Adam's step for
        fine-tuning the denoising network (``"auto"`` = 3e-4; the pretraining
        always uses 3e-3).
    learning_rate_schedule : {"constant", "invsqrt"}, default="constant"
        ``eta`` or ``eta / sqrt(k + 1)`` at update ``k``.
    max_iter : int, default=1000
        Number of parameter updates (of the mixture, or of the fine-tuning).
    tol : float or None, default=None
        Stop early once the window loss stops improving by ``tol`` (relative),
        as defined in :mod:`sktheory._training`; ``None`` runs ``max_iter``
        updates. The loss is stochastic (particle and batch noise), so
        ``tol`` should stay well above its fluctuations.
    warm_start : bool, default=False
        When True, a new ``fit`` continues the optimisation from the previous
        fit's state (parameters, particles or queue, optimiser, random
        stream), without re-initialising the mixture or re-pretraining the
        network; ``max_iter`` more updates are made. A fit of ``a`` updates
        then a warm fit of ``b`` equals one fit of ``a + b``.
    inner_steps : int, default=10
        Langevin steps per update of the nested method (unused by the implicit
        method, which takes one per update, and by the denoising sampler).
    init_particles : {"normal", "data"}, default="normal"
        Particles start at ``N(0, I)`` (as in the paper) or at random rows of
        ``X``, drawn in proportion to ``sample_weight`` (Langevin only).
    batch_size : int, default=1024
        Data points per update for the KL term and for denoising training
        (all of ``X`` when it has no more rows).
    n_diffusion_steps : int, default=20
        Steps ``T`` of the denoising chain.
    hidden_size : int, default=64
        Width of the denoising network.
    pretrain_max_iter : int, default=1000
        Denoising score-matching updates (Adam steps) before fine-tuning; 0
        takes ``score_model`` as pretrained.
    potential : callable or torch.nn.Module, default=None
        A custom potential ``V`` for ``"langevin"``: a module whose
        ``forward(x)`` maps an ``(n, d)`` tensor to ``n`` energies (its
        parameters are optimised; the module given is copied, not changed), or
        a callable ``V(x, params)`` with ``params`` the dict
        ``potential_params``. ``None`` uses the built-in Gaussian mixture.
        The mixture-only parameters (``n_components``, ``means_init``,
        ``weights_init``, ``learn_means``, ``variance``, ``covariance_type``)
        must stay at their defaults. ``score_samples`` then returns ``-V``,
        the log density up to the unknown ``log Z``, and ``sample`` runs 1000
        Langevin steps of ``step_size``.
    potential_params : dict of str to array-like, default=None
        Initial parameters of a callable ``potential`` (tensors or arrays).
    covariance_type : {"fixed", "diag"}, default="fixed"
        The built-in mixture's variances: ``"fixed"`` (all ``variance``, the
        paper's set-up) or ``"diag"`` (learned, per component and feature,
        initialised from the clusters plus ``1e-6``; trained with Adam).
    score_model : torch.nn.Module, default=None
        A noise-prediction network for ``"denoising"``: ``forward(x, t)`` with
        ``x`` of shape ``(n, d)`` (standardised data, see ``center_`` and
        ``scale_``) and ``t`` of shape ``(n,)``, the step as a fraction
        ``(t + 1) / n_diffusion_steps`` in ``(0, 1]``, returning the predicted
        noise shaped like ``x``. It is copied, then pretrained for
        ``pretrain_max_iter`` updates (0: used as given, e.g. a previous
        fit's ``module_``). ``None`` builds an MLP of width ``hidden_size``.
    reward_gradient : {"likelihood_ratio", "pathwise"}, default="likelihood_ratio"
        How ``"denoising"`` estimates ``grad E[R(x_0)]`` (see above).
    random_state : int, RandomState instance or None, default=None
        Seeds the particles, the noise, the network's initialisation and the
        data batches.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        Show a progress bar.
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when the loss becomes non-finite or blows up (see above):
        raise :class:`~sktheory.base.DivergenceError`, or warn
        :class:`~sktheory.base.DivergenceWarning`, stop, and refuse to sample
        or score afterwards.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Fitted mixture weights (``"langevin"``).
    means_ : ndarray of shape (n_components, n_features)
        Fitted (or fixed) means (``"langevin"``).
    particles_ : ndarray of shape (n_particles, n_features)
        The final particle cloud (for ``"denoising"``: the last finished batch).
    module_ : torch.nn.Module
        The fine-tuned noise-prediction network (``"denoising"``), or the
        fitted potential (``potential=`` or ``covariance_type="diag"``).
    covariances_ : ndarray of shape (n_components, n_features)
        Fitted diagonal variances (``covariance_type="diag"``).
    center_ : ndarray of shape (n_features,)
        Mean of ``X``, subtracted before diffusing (``"denoising"``).
    scale_ : float
        Standard deviation of ``X``, divided out before diffusing
        (``"denoising"``).
    pretrain_history_ : list of dict
        The denoising pretraining phase (``"denoising"``), one dict per window
        of updates: ``"iter"`` (pretraining updates so far) and ``"loss"``
        (mean denoising score-matching loss over the window).
    history_ : list of dict
        One dict per window of updates (about 100 a fit): ``"iter"`` (updates
        so far), ``"loss"`` (mean over the window of ``-reward + kl_weight *
        kl``), ``"reward"`` (mean reward of the particles the updates used),
        ``"kl"`` (the KL term up to the data's entropy: the data's average
        negative log-likelihood for ``"langevin"``, the denoising loss for
        ``"denoising"``; both weighted by ``sample_weight``),
        ``"sampling_steps"`` (cumulative sampling steps) and, for
        ``"langevin"``, ``"weights"`` (and ``"means"`` when learned) at the
        window's end.
    n_iter_ : int
        Parameter updates done (cumulative over ``warm_start`` fits; the
        pretraining's are in ``pretrain_history_``).
    diverged_ : bool
        True when the fit diverged (with ``on_divergence="warn"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
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
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "warm_start": ["boolean"],
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "init_particles": [StrOptions({"normal", "data"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_diffusion_steps": [Interval(Integral, 2, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "pretrain_max_iter": [Interval(Integral, 0, None, closed="left")],
        "potential": [callable, None],
        "potential_params": [dict, None],
        "covariance_type": [StrOptions({"fixed", "diag"})],
        "score_model": [torch.nn.Module, None],
        "reward_gradient": [StrOptions({"likelihood_ratio", "pathwise"})],
    }

    _divergence_hint = (
        "Lower learning_rate (the mixture's step, or the denoising network's Adam "
        "step) or step_size (the Langevin step)."
    )
    _no_progress_hint = (
        "Raise max_iter or learning_rate (pretrain_max_iter for the denoising "
        "pretraining); with reward=None and weights fitted by k-means the "
        "initial mixture may already be optimal."
    )

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
        tol: float | None = None,
        warm_start: bool = False,
        inner_steps: int = 10,
        init_particles: str = "normal",
        batch_size: int = 1024,
        n_diffusion_steps: int = 20,
        hidden_size: int = 64,
        pretrain_max_iter: int = 1000,
        potential: Callable | torch.nn.Module | None = None,
        potential_params: dict | None = None,
        covariance_type: str = "fixed",
        score_model: torch.nn.Module | None = None,
        reward_gradient: str = "likelihood_ratio",
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
        self.tol = tol
        self.warm_start = warm_start
        self.inner_steps = inner_steps
        self.init_particles = init_particles
        self.batch_size = batch_size
        self.n_diffusion_steps = n_diffusion_steps
        self.hidden_size = hidden_size
        self.pretrain_max_iter = pretrain_max_iter
        self.potential = potential
        self.potential_params = potential_params
        self.covariance_type = covariance_type
        self.score_model = score_model
        self.reward_gradient = reward_gradient
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

    def _data_rows(
        self, state: TrainState, data: _Data
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Rows of the data term for one update, and their weights (mean 1).

        All of the data, weighted, when it fits in a batch; else a batch drawn
        uniformly (equal weights) or in proportion to the weights, to be
        averaged plainly. Returns ``(None, weights)`` for all rows.
        """
        n = data.Xt.shape[0]
        if n <= self.batch_size:
            return None, data.w
        if data.w is None:
            idx = torch.randint(n, (self.batch_size,), generator=state.generator)
        else:
            probs = data.w.detach().cpu().to(torch.float64)
            idx = torch.multinomial(probs, self.batch_size, True, generator=state.generator)
        return idx.to(self.device_), None

    def _dsm(self, module, data: _Data, state: TrainState) -> torch.Tensor:
        """Denoising score-matching loss on a batch of data (weighted mean)."""
        idx, w = self._data_rows(state, data)
        z = data.Xt if idx is None else data.Xt[idx]
        if w is None:
            return dn.dsm_loss(module, z, data.schedule, state.generator)
        return (dn.dsm_loss(module, z, data.schedule, state.generator, per_sample=True) * w).mean()

    # ---------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None) -> DiffusionOptimizer:
        """Fit the sampler's parameters to ``X`` and the reward.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples of the reference law.
        y : Ignored
            Present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples of ``X`` in the data term (a weighted mean
            over the data: integer weights act as repeated rows, zero weights
            as dropped ones), in the initial clustering and in the data's
            standardisation (``"denoising"``). The reward term does not see
            the data.

        Returns
        -------
        self : DiffusionOptimizer
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def _check_applicable(self) -> None:
        """Refuse parameters that the chosen sampler or potential would ignore."""
        params = self.get_params(deep=False)

        def changed(name, default):
            value = params[name]
            if default is None or isinstance(value, np.ndarray):
                return value is not None
            return value != default

        other = _DENOISING_ONLY if self.sampler == "langevin" else _LANGEVIN_ONLY
        bad = [k for k, v in other.items() if changed(k, v)]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} {'does' if len(bad) == 1 else 'do'} not apply to "
                f"sampler={self.sampler!r}; leave {'it' if len(bad) == 1 else 'them'} at "
                "the default."
            )
        if self.sampler != "langevin":
            if self.reward_gradient == "pathwise" and self.reward is not None:
                reward = _resolve_reward(self.reward)
                if not reward.native:
                    raise ValueError(
                        "reward_gradient='pathwise' differentiates the reward: pass a "
                        "preset, a reward object with a `_torch` method or a "
                        "torch.nn.Module, not a numpy callable."
                    )
            return
        if self.potential is not None:
            bad = [k for k in _MIXTURE_ONLY if changed(k, _LANGEVIN_ONLY[k])]
            if self.covariance_type != "fixed":
                bad.append("covariance_type")
            if bad:
                raise ValueError(
                    f"{', '.join(bad)} configure the built-in mixture and do not apply "
                    "to a custom potential."
                )
            if not isinstance(self.potential, torch.nn.Module) and self.potential_params is None:
                raise ValueError(
                    "A potential that is not a torch.nn.Module is called as "
                    "potential(x, params): pass its parameters as potential_params "
                    "(a dict of tensors)."
                )
            if isinstance(self.potential, torch.nn.Module) and self.potential_params is not None:
                raise ValueError(
                    "potential_params is for a plain callable potential; a "
                    "torch.nn.Module potential carries its own parameters."
                )
        elif self.potential_params is not None:
            raise ValueError("potential_params needs a potential.")
        elif self.covariance_type == "diag" and changed("variance", 1.0):
            raise ValueError(
                "variance is the fixed variance of covariance_type='fixed'; the "
                "'diag' mixture learns its variances (initialised from the clusters)."
            )

    # Training hooks of the contract (see sktheory/_training.py).
    def _check_fit_data(self, X, y, reset, sample_weight=None) -> _Data:
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if not reset:
            kind = _DenoisingState
            if self.sampler == "langevin":
                kind = _PotentialState if _uses_potential(self) else _LangevinState
            if not isinstance(self._train_state_, kind):
                raise ValueError(
                    "warm_start=True continues the previous fit, which used another "
                    "sampler or potential than now; refit with warm_start=False."
                )
        self._check_applicable()
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        uniform = bool(np.all(sw == sw[0]))
        w = None if uniform else self._to_tensor(sw / sw.mean())
        reward = _resolve_reward(self.reward)
        if self.sampler == "langevin":
            return _Data(X, self._to_tensor(X), sw, w, reward)
        if X.shape[0] < 2:
            raise ValueError(
                f"n_samples={X.shape[0]}: the denoising sampler needs at least 2 samples."
            )
        if reset:
            # Diffuse standardised data: the chain ends at N(0, I) whatever X's scale.
            if uniform:
                center, spread = X.mean(0), float(X.std())
            else:
                center = np.average(X, axis=0, weights=sw)
                # The std of all entries, as X.std(), with rows weighted.
                mu = np.average(X.mean(1), weights=sw)
                spread = math.sqrt(np.average(((X - mu) ** 2).mean(1), weights=sw))
            scale = spread if spread > 0 else 1.0
        else:
            center, scale = self.center_, self.scale_
        schedule = dn.cosine_schedule(self.n_diffusion_steps, self._torch_dtype)
        schedule = {k: v.to(self.device_) for k, v in schedule.items()}
        Z = self._to_tensor((X - center) / scale)
        return _Data(X, Z, sw, w, reward, center, scale, schedule)

    def _init_state(self, data: _Data, generator: torch.Generator) -> TrainState:
        if _uses_potential(self):
            state = _PotentialState(generator=generator)
            state.module = self._initial_potential(data)
            params = [p for p in state.module.parameters() if p.requires_grad]
            if not params:
                raise ValueError("The potential has no parameters that require a gradient.")
            state.optimizer = torch.optim.Adam(params, lr=self._eta(0, _POTENTIAL_LR))
            state.x = self._fresh_particles(state, data)
            return state
        if self.sampler == "langevin":
            means, weights = self._initial_mixture(data.X, data.sw)
            state = _LangevinState(generator=generator)
            state.means = self._to_tensor(means)
            state.logits = torch.log(self._to_tensor(weights))
            state.weights = torch.softmax(state.logits, 0)
            state.x = self._fresh_particles(state, data)
            return state
        state = _DenoisingState(generator=generator)
        if self.score_model is None:
            state.module = self._make_score_net(data.X.shape[1], generator)
        else:
            state.module = self._user_score_net(data)
        # Pretraining is a phase of its own, with its own history and checks.
        self.pretrain_history_ = []
        if self.pretrain_max_iter:
            state.pretrain_optimizer = torch.optim.Adam(state.module.parameters(), lr=_PRETRAIN_LR)
            self._drive(
                state,
                data,
                run_window=self._pretrain_window,
                budget=("max_iter", self.pretrain_max_iter),
                history="pretrain_history_",
                desc="DiffusionOptimizer (pretraining)",
            )
            state.pretrain_optimizer = None
            state.halted = self.diverged_
        state.n_iter, state.phase = 0, "finetune"
        if self.method == "implicit" and not state.halted:
            # Warm queue: batch j has already taken j steps with the pretrained model.
            for _ in range(self.n_diffusion_steps):
                state.queue.append(self._new_batch(state, data))
                self._advance(state, data, state.queue)
        state.optimizer = torch.optim.Adam(state.module.parameters(), lr=self._eta(0, _FINETUNE_LR))
        return state

    def _initial_loss(self, state: TrainState, data: _Data) -> float:
        """Scale of the phase's loss (see the class docstring), on the data.

        Fixed random draws, not the fit's stream, so that measuring it does
        not change the fit.
        """
        gen = torch.Generator().manual_seed(0)
        if getattr(state, "phase", None) == "pretrain":
            with torch.no_grad():
                z = data.Xt[: self.batch_size]
                return float(dn.dsm_loss(state.module, z, data.schedule, gen))
        scale = 0.0
        rows = self._to_tensor(data.X[:_SCALE_ROWS])
        if data.reward is not None:
            r = data.reward(rows)
            value = float(r.abs().mean())
            if not math.isfinite(value):
                data.reward.check_finite(rows, r)
            scale += value
        if isinstance(state, _PotentialState):
            if self.kl_weight > 0:
                with torch.no_grad():
                    _, gap = pot.surrogate(state.module, state.x, None, rows, None, 0.0)
                scale += self.kl_weight * abs(gap)
            return scale
        if self.kl_weight > 0:
            if isinstance(state, _LangevinState):
                kern = pot.Kernel(rows, state.means, float(self.variance))
                log_z = 0.5 * rows.shape[1] * math.log(2 * math.pi * float(self.variance))
                kl = log_z - float(kern.neg_potential(state.weights).mean())
            else:
                with torch.no_grad():
                    z = data.Xt[: self.batch_size]
                    kl = float(dn.dsm_loss(state.module, z, data.schedule, gen))
            scale += self.kl_weight * abs(kl)
        return scale

    def _run_window(self, state: TrainState, data: _Data, n_updates: int) -> Window:
        if isinstance(state, _LangevinState):
            update = self._langevin_update
        elif isinstance(state, _PotentialState):
            update = self._potential_update
        else:
            if state.halted:  # the pretraining diverged: nothing to fine-tune
                return Window(math.nan, 0)
            update = self._finetune_update
        total = reward = kl = 0.0
        for i in range(n_updates):
            loss, r, k = update(state, data, state.n_iter + i)
            if not math.isfinite(loss):
                return Window(loss, i + 1)
            total, reward, kl = total + loss, reward + r, kl + k
        state.window = {"reward": reward / n_updates, "kl": kl / n_updates}
        return Window(total / n_updates, n_updates)

    def _record(self, state: TrainState, data: _Data) -> dict:
        if getattr(state, "phase", None) == "pretrain":
            return {}
        entry = {**state.window, "sampling_steps": state.steps}
        if isinstance(state, _LangevinState):
            entry["weights"] = state.weights.tolist()
            if self.learn_means:
                entry["means"] = state.means.tolist()
        return entry

    def _finalize(self, state: TrainState, data: _Data) -> None:
        if isinstance(state, _PotentialState):
            self.module_ = state.module
            self.particles_ = self._to_numpy(state.x)
            if isinstance(state.module, pot.DiagonalGaussianMixture):
                with torch.no_grad():
                    self.weights_ = self._to_numpy(torch.softmax(state.module.logits, 0))
                    self.means_ = self._to_numpy(state.module.means)
                    self.covariances_ = self._to_numpy(state.module.log_var.exp())
            return
        if isinstance(state, _LangevinState):
            self.weights_ = self._to_numpy(state.weights)
            self.means_ = self._to_numpy(state.means)
            self.particles_ = self._to_numpy(state.x)
            return
        self.module_ = state.module
        self.center_, self.scale_ = data.center, data.scale
        # Graphs of the queue's batches (pathwise) cannot be pickled or copied:
        # a warm start continues their gradient from here (truncated there).
        for b in state.queue:
            b[0] = b[0].detach()
            if self._pathwise(data):
                b[2].clear()
        if state.x is not None:
            self.particles_ = self._to_numpy(state.x) * data.scale + data.center

    # ------------------------------------------------------------- Langevin
    def _initial_mixture(self, X: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
            if int(np.count_nonzero(sw)) < k:
                raise ValueError(
                    f"n_samples={n} should be >= n_components={k} to initialise the "
                    "means by k-means; pass means_init or lower n_components."
                )
            # A farthest-point start makes k-means deterministic and blind to the
            # rows' order, so weights act exactly as repeated rows.
            # sklearn.cluster is slow to import and only this path needs it.
            from sklearn.cluster import KMeans

            km = KMeans(n_clusters=k, init=_farthest_points(X, sw, k), n_init=1, tol=0.0)
            km.fit(X, sample_weight=sw)
            means = km.cluster_centers_
            counts = np.bincount(km.labels_, weights=sw, minlength=k) + 1e-3
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

    def _fresh_particles(self, state: _LangevinState, data: _Data) -> torch.Tensor:
        n, d = self.n_particles, data.X.shape[1]
        if self.init_particles == "data":
            if data.w is None:
                idx = torch.randint(data.X.shape[0], (n,), generator=state.generator)
            else:
                probs = data.w.detach().cpu().to(torch.float64)
                idx = torch.multinomial(probs, n, True, generator=state.generator)
            return data.Xt[idx.to(self.device_)].clone()
        z = torch.randn((n, d), generator=state.generator, dtype=self._torch_dtype)
        return z.to(self.device_)

    def _langevin_advance(
        self, state: _LangevinState, x: torch.Tensor, kern: pot.Kernel | None
    ) -> torch.Tensor:
        var = float(self.variance)
        if kern is None:
            kern = pot.Kernel(x, state.means, var)
        resp = kern.responsibilities(state.weights)
        # Float32 normals are ample for Langevin noise and several times
        # cheaper to draw than float64 ones, which dominated the loop's cost.
        z = torch.randn(x.shape, generator=state.generator, dtype=torch.float32)
        noise = z.to(device=self.device_, dtype=self._torch_dtype)
        return pot.langevin_step(x, resp, state.means, var, float(self.step_size), noise)

    def _langevin_update(
        self, state: _LangevinState, data: _Data, k: int
    ) -> tuple[float, float, float]:
        """One parameter update; returns its loss, mean reward and KL term."""
        var, learn_means = float(self.variance), self.learn_means
        kl_weight, reward = float(self.kl_weight), data.reward
        if self.method == "nested":
            x = self._fresh_particles(state, data)
            for _ in range(self.inner_steps):
                x = self._langevin_advance(state, x, None)
            state.steps += self.inner_steps
        else:
            x = self._langevin_advance(state, state.x, state.kern)
            state.steps += 1
        state.x = x
        kern = pot.Kernel(x, state.means, var)
        resp = kern.responsibilities(state.weights)
        g_logits = torch.zeros_like(state.logits)
        g_means = torch.zeros_like(state.means) if learn_means else None
        mean_reward = math.nan
        if reward is not None:
            r = reward(x)
            mean_reward = float(r.mean())
            if not math.isfinite(mean_reward) and bool(torch.isfinite(x).all()):
                reward.check_finite(x, r)
            g_logits, g_means = pot.reward_gradient(x, r, resp, state.means, var, learn_means)
        # The data term: a (weighted) mean over a batch of data.
        idx, w = self._data_rows(state, data)
        if learn_means:
            xb = data.Xt if idx is None else data.Xt[idx]
            kb = pot.Kernel(xb, state.means, var)
        else:
            if data.kernel is None:  # the means never change: one kernel per fit
                data.kernel = pot.Kernel(data.Xt, state.means, var)
            xb = None
            kb = data.kernel if idx is None else data.kernel.rows(idx)
        neg_v = kb.neg_potential(state.weights)
        log_z = 0.5 * x.shape[1] * math.log(2 * math.pi * var)
        kl = float(log_z - (neg_v.mean() if w is None else (neg_v * w).mean()))
        if kl_weight > 0:
            rb = kb.responsibilities(state.weights)
            if w is not None:  # rows scaled by weights of mean 1: weighted means
                rb = rb * w[:, None]
            gl, gm = pot.kl_gradient(x, resp, xb, rb, state.means, var, learn_means)
            g_logits.add_(gl, alpha=-kl_weight)
            if learn_means:
                g_means.add_(gm, alpha=-kl_weight)
        # Gradient ascent on J = E[R] - kl_weight * KL.
        eta = self._eta(k, 0.1)
        logits = torch.add(state.logits, g_logits, alpha=eta)
        if k % 64 == 0:
            logits = logits - logits.max()  # softmax is shift-invariant; stay bounded
        state.logits, state.weights = logits, torch.softmax(logits, 0)
        if learn_means:
            state.means = torch.add(state.means, g_means, alpha=eta)
            state.kern = None
        else:
            state.kern = kern
        # Non-finite particles poison the responsibilities, hence the gradient
        # (checked here once, rather than the whole cloud every step).
        check = float(g_logits.sum()) + (float(g_means.sum()) if learn_means else 0.0)
        if not math.isfinite(check) or (
            reward is None and kl_weight == 0 and not math.isfinite(float(x.sum()))
        ):
            return math.nan, mean_reward, kl
        loss = (0.0 if reward is None else -mean_reward) + kl_weight * kl
        return loss, mean_reward, kl

    # -------------------------------------------------------- torch potential
    def _initial_potential(self, data: _Data) -> torch.nn.Module:
        if self.potential is None:  # the diagonal mixture, from the clustering
            means, weights = self._initial_mixture(data.X, data.sw)
            labels = ((data.X[:, None, :] - means[None]) ** 2).sum(2).argmin(1)
            overall = np.average((data.X - np.average(data.X, 0, data.sw)) ** 2, 0, data.sw)
            var = np.empty_like(means)
            for i in range(len(means)):
                rows = (labels == i) & (data.sw > 0)
                if rows.sum() < 2:
                    var[i] = overall
                else:
                    w = data.sw[rows]
                    var[i] = np.average((data.X[rows] - means[i]) ** 2, 0, w)
            # The floor of sklearn's GaussianMixture (reg_covar) for constant features.
            var = var + 1e-6
            module = pot.DiagonalGaussianMixture(weights, means, var, self.learn_means)
        elif isinstance(self.potential, torch.nn.Module):
            module = copy.deepcopy(self.potential)  # the user's module is left untouched
        else:
            params = {
                k: np.asarray(v, dtype=float) if not isinstance(v, torch.Tensor) else v
                for k, v in self.potential_params.items()
            }
            module = pot.CallablePotential(self.potential, params)
        return module.to(device=self.device_, dtype=self._torch_dtype)

    def _potential_advance(self, state: _PotentialState, x: torch.Tensor) -> torch.Tensor:
        z = torch.randn(x.shape, generator=state.generator, dtype=self._torch_dtype)
        return pot.autograd_langevin_step(
            state.module, x, float(self.step_size), z.to(self.device_)
        )

    def _potential_update(
        self, state: _PotentialState, data: _Data, k: int
    ) -> tuple[float, float, float]:
        """One Adam step on the potential's parameters (see :func:`pot.surrogate`)."""
        if self.method == "nested":
            x = self._fresh_particles(state, data)
            for _ in range(self.inner_steps):
                x = self._potential_advance(state, x)
            state.steps += self.inner_steps
        else:
            x = self._potential_advance(state, state.x)
            state.steps += 1
        state.x = x
        if not math.isfinite(float(x.sum())):
            return math.nan, math.nan, math.nan
        reward, centred, mean_reward = data.reward, None, math.nan
        if reward is not None:
            r = reward(x)
            mean_reward = float(r.mean())
            if not math.isfinite(mean_reward):
                reward.check_finite(x, r)
            centred = (r - r.mean()).detach()
        idx, w = self._data_rows(state, data)
        xb = data.Xt if idx is None else data.Xt[idx]
        for group in state.optimizer.param_groups:
            group["lr"] = self._eta(k, _POTENTIAL_LR)
        state.optimizer.zero_grad()
        total, gap = pot.surrogate(state.module, x, centred, xb, w, float(self.kl_weight))
        if not math.isfinite(float(total.detach())):
            return math.nan, mean_reward, gap
        if total.requires_grad:
            total.backward()
        state.optimizer.step()
        loss = (0.0 if reward is None else -mean_reward) + float(self.kl_weight) * gap
        return loss, mean_reward, gap

    # ------------------------------------------------------------- denoising
    def _pretrain_window(self, state: _DenoisingState, data: _Data, n_updates: int) -> Window:
        """Denoising score matching on ``X``: the pretraining phase's window."""
        opt, total = state.pretrain_optimizer, 0.0
        for i in range(n_updates):
            loss = self._dsm(state.module, data, state)
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                return Window(value, i + 1)
            total += value
        return Window(total / n_updates, n_updates)

    def _noise(self, state: _DenoisingState, rows: int, d: int) -> torch.Tensor:
        z = torch.randn((rows, d), generator=state.generator, dtype=self._torch_dtype)
        return z.to(self.device_)

    # A batch is [x, step, trajectory]; it finishes at step -1. Each trajectory
    # entry is (x_t, t, parameters that took the step), so that the gradient of
    # each transition's log-likelihood is taken where it was sampled: with the
    # queue, a finished batch was advanced by T successive parameter values,
    # and evaluating its old transitions at today's parameters makes the
    # likelihood-ratio estimate unstable (observed: particles blew up).
    def _new_batch(self, state: _DenoisingState, data: _Data) -> list:
        return [
            self._noise(state, self.n_particles, data.Xt.shape[1]),
            self.n_diffusion_steps - 1,
            [],
        ]

    def _pathwise(self, data: _Data) -> bool:
        return self.reward_gradient == "pathwise" and data.reward is not None

    def _advance(self, state: _DenoisingState, data: _Data, batches: list) -> None:
        """One reverse step for every batch at once (one network call)."""
        model, nb = state.module, self.n_particles
        if self._pathwise(data):
            # Differentiable steps, one network call per batch so that each
            # batch's graph is its own (freed when the batch finishes). The
            # implicit queue's steps use a snapshot of the parameters of their
            # update (leaves), the nested chain the live parameters.
            leaves = None
            if self.method == "implicit":
                leaves = {
                    k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()
                }

                def net(xin, tin, leaves=leaves):
                    return torch.func.functional_call(model, leaves, (xin, tin))
            else:
                net = model
            for b in batches:
                t = torch.full((nb,), b[1], dtype=torch.long, device=self.device_)
                noise = self._noise(state, nb, b[0].shape[1])
                with torch.enable_grad():
                    mu = dn.reverse_mean(net, b[0], t, data.schedule)
                b[0] = mu + data.schedule["sigma2"][b[1]].sqrt() * noise
                b[1] -= 1
                if leaves is not None:
                    b[2].append(leaves)
            return
        params = None
        if self.method == "implicit":
            params = {k: v.detach().clone() for k, v in model.named_parameters()}
        x = torch.cat([b[0] for b in batches])
        t = torch.cat([torch.full((nb,), b[1], dtype=torch.long) for b in batches])
        noise = self._noise(state, x.shape[0], x.shape[1])
        out = dn.reverse_step(model, x, t.to(self.device_), data.schedule, noise).split(nb)
        for b, x_new in zip(batches, out, strict=True):
            b[2].append((b[0], b[1], params))
            b[0], b[1] = x_new, b[1] - 1

    def _reward_surrogate(
        self, state: _DenoisingState, data: _Data, done: list, centred: torch.Tensor
    ) -> None:
        """Accumulate -grad E[R] (likelihood-ratio form) into the module's .grad."""
        model, nb, schedule = state.module, self.n_particles, data.schedule
        traj = done[2]
        x_prev = [p[0] for p in traj[1:]] + [done[0]]
        groups: dict = {}
        for (xt, t, params), xp in zip(traj, x_prev, strict=True):
            group = groups.setdefault(id(params), [params, [], [], []])
            group[1].append(xt)
            group[2].append(xp)
            group[3].append(t)
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

    def _pathwise_gradient(self, state: _DenoisingState, done: list, loss) -> None:
        """Accumulate ``d loss / d theta`` through the finished batch's chain."""
        model = state.module
        if self.method == "nested":
            loss.backward()
            return
        names = [k for k, _ in model.named_parameters()]
        leaves = [snap[k] for snap in done[2] for k in names]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        for j, p in enumerate(model.parameters()):
            g = sum(
                grads[i * len(names) + j]
                for i in range(len(done[2]))
                if grads[i * len(names) + j] is not None
            )
            if isinstance(g, torch.Tensor):
                p.grad = g if p.grad is None else p.grad + g

    def _finetune_update(
        self, state: _DenoisingState, data: _Data, k: int
    ) -> tuple[float, float, float]:
        """One fine-tuning update; returns its loss, mean reward and KL term."""
        T = self.n_diffusion_steps
        if self.method == "implicit":
            done = state.queue.pop(0)  # the batch that reached x_0
            state.queue.append(self._new_batch(state, data))
            self._advance(state, data, state.queue)
            state.steps += len(state.queue)
        else:
            done = self._new_batch(state, data)
            for _ in range(T):
                self._advance(state, data, [done])
            state.steps += T
        x0 = done[0]
        state.x = x0.detach()
        if not math.isfinite(float(x0.detach().sum())):
            return math.nan, math.nan, math.nan
        opt, reward = state.optimizer, data.reward
        for group in opt.param_groups:
            group["lr"] = self._eta(k, _FINETUNE_LR)
        opt.zero_grad()
        mean_reward = math.nan
        if reward is not None:
            x_real = x0 * data.scale + self._to_tensor(data.center)
            r = reward(x_real)
            mean_reward = float(r.detach().mean())
            if not math.isfinite(mean_reward):
                reward.check_finite(x_real, r)
            if self._pathwise(data):
                # Backpropagation through the sampler: d R(x_0) / d theta.
                self._pathwise_gradient(state, done, -r.mean())
            else:
                # Covariance (likelihood-ratio) form of grad E[R(x_0)].
                self._reward_surrogate(state, data, done, (r - r.mean()).detach())
        kl = self._dsm(state.module, data, state)
        (self.kl_weight * kl).backward()
        opt.step()
        kl_value = float(kl.detach())
        loss = (0.0 if reward is None else -mean_reward) + self.kl_weight * kl_value
        return loss, mean_reward, kl_value

    def _user_score_net(self, data: _Data) -> torch.nn.Module:
        """A copy of ``score_model`` (the user's stays untouched), checked once."""
        model = copy.deepcopy(self.score_model).to(device=self.device_, dtype=self._torch_dtype)
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("score_model has no parameters that require a gradient.")
        z = data.Xt[:2]
        t = torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
        with torch.no_grad():
            out = model(z, t)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(z.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                "score_model(x, t) must return the predicted noise, a tensor shaped like "
                f"x = {tuple(z.shape)}; it returned {shape}."
            )
        return model

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
        out = dn.elbo(self.module_, z, schedule, make_generator(0))
        # Change of variables back to the data's scale.
        return out - X.shape[1] * math.log(self.scale_)

    def _denoising_sample(self, n: int, gen: torch.Generator) -> np.ndarray:
        device = next(self.module_.parameters()).device
        dtype = next(self.module_.parameters()).dtype
        z = dn.sample_chain(
            self.module_, n, self.n_features_in_, self._schedule(), gen, dtype, device
        )
        return self._to_numpy(z) * self.scale_ + self.center_

    def _schedule(self) -> dict:
        param = next(self.module_.parameters())
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
            Points, in the units of the training data.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            The log density (``"langevin"``) or its lower bound
            (``"denoising"``) at each point.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if _uses_potential(self):
            with torch.no_grad():
                out = -pot.energy(self.module_, self._to_tensor(X))
        elif self.sampler == "langevin":
            out = pot.log_density(
                self._to_tensor(X),
                self._to_tensor(self.weights_),
                self._to_tensor(self.means_),
                float(self.variance),
            )
        else:
            with self._torch_context():
                out = self._denoising_elbo(X)
        return self._finite_output(self._to_numpy(out))

    def score(self, X, y=None) -> float:
        """Average log density of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points, in the units of the training data.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        float
            The mean of :meth:`score_samples` over ``X``.
        """
        return float(np.mean(self.score_samples(X)))

    @available_if(_is_langevin)
    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each mixture component (``"langevin"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points, in the units of the training data.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            The responsibilities; rows sum to one.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if _uses_potential(self):
            with torch.no_grad():
                resp = torch.softmax(self.module_.log_joint(self._to_tensor(X)), 1)
        else:
            kern = pot.Kernel(
                self._to_tensor(X), self._to_tensor(self.means_), float(self.variance)
            )
            resp = kern.responsibilities(self._to_tensor(self.weights_))
        return self._finite_output(self._to_numpy(resp))

    @available_if(_is_langevin)
    def predict(self, X) -> np.ndarray:
        """Most likely mixture component of each point (``"langevin"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points, in the units of the training data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the most likely component of each point.
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
            Number of points to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The points.
        y : ndarray of shape (n_samples,)
            Component of each point (``"langevin"``); zeros for ``"denoising"``,
            which has no components.
        """
        check_is_fitted(self)
        if int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        n_samples = int(n_samples)
        gen = make_generator(self.random_state)
        if _uses_potential(self) and self.potential is None:
            labels = torch.multinomial(
                torch.as_tensor(self.weights_), n_samples, replacement=True, generator=gen
            )
            noise = torch.randn(n_samples, self.n_features_in_, generator=gen, dtype=torch.float64)
            x = self.means_[labels.numpy()] + np.sqrt(self.covariances_[labels.numpy()]) * (
                noise.numpy()
            )
            return self._finite_output(x), labels.numpy()
        if _uses_potential(self):
            # No exact sampler for a custom potential: a long Langevin chain.
            module = self.module_
            param = next(module.parameters())
            x = torch.randn(n_samples, self.n_features_in_, generator=gen, dtype=param.dtype)
            x = x.to(param.device)
            with self._torch_context():
                for _ in range(_SAMPLE_STEPS):
                    z = torch.randn(x.shape, generator=gen, dtype=param.dtype).to(param.device)
                    x = pot.autograd_langevin_step(module, x, float(self.step_size), z)
            return self._finite_output(self._to_numpy(x)), np.zeros(n_samples, dtype=int)
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
        with self._torch_context():
            x = self._denoising_sample(n_samples, gen)
        return self._finite_output(x), np.zeros(n_samples, dtype=int)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _farthest_points(X: np.ndarray, sw: np.ndarray, k: int) -> np.ndarray:
    """``k`` rows of positive weight, each the farthest from those chosen before.

    The first is the row farthest from the weighted mean. Depends only on the
    set of rows of positive weight, not on their order or multiplicity.
    """
    support = X[sw > 0]
    mean = np.average(X, axis=0, weights=sw)
    dist = ((support - mean) ** 2).sum(1)
    chosen = [int(dist.argmax())]
    nearest = ((support - support[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, ((support - support[chosen[-1]]) ** 2).sum(1))
    return support[chosen]

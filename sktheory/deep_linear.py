"""Deep linear networks for regression and their implicit bias towards flat minima.

A deep linear network predicts ``f(x) = W_L ... W_1 x`` (or, in the residual
variant, ``f(x) = u' W_L ... W_1 x`` with a fixed unit vector ``u``) and is
trained by full-batch gradient descent on the mean squared error
``R = mean_i (f(x_i) - y_i)^2`` (no 1/2 factor). Every minimiser of ``R`` has
sharpness (top Hessian eigenvalue) at least

    S_min = 2 L a ||w*||^(2 - 2/L),   a = w*' Sigma w* / ||w*||^2,

where ``w*`` is the least-squares solution and ``Sigma = X'X / n``, so gradient
descent converges only for learning rates below ``2 / S_min``; from a small
initialisation it ends at a minimiser whose sharpness stays within a constant
factor of ``S_min`` and below about ``2 / learning_rate``.

Two failures are told apart, as the paper does: a **blow-up** (the loss
leaves every bound: :class:`~sktheory.DivergenceError`, ``diverged_``), and a
run whose step is above ``2 / S_min`` but whose loss stays finite: no
minimiser is stable, so it oscillates and **cannot settle**
(:class:`~sklearn.exceptions.ConvergenceWarning`, ``unstable_``; the model is
kept). The paper's probability of divergence counts blow-ups only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sktheory.base import TorchEstimator, TrainState, Window
from sktheory.diagnostics import top_hessian_eigenvalue

__all__ = ["DeepLinearRegressor", "sharpness_lower_bound"]

# Lanczos accuracy: tight for the reported sharpness, looser during training
# where it is only plotted.
_FINAL_TOL = 1e-10
_TRAIN_TOL = 1e-6


def sharpness_lower_bound(X: Any, y: Any, depth: int) -> float:
    """The paper's lower bound ``S_min`` on the sharpness of any minimiser.

    ``S_min = 2 L a ||w*||^(2 - 2/L)`` with ``a = w*' Sigma w* / ||w*||^2``,
    ``Sigma = X'X / n`` and ``w*`` the minimum-norm least-squares solution of
    ``X w = y`` (no intercept: centre the data first to match a model with
    ``fit_intercept=True``). It is 0 when ``w* = 0``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,)
        Targets.
    depth : int
        Number of layers ``L``.

    Returns
    -------
    float
        The bound ``S_min``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> sharpness_lower_bound(X, X @ np.array([2.0, 0.0]), depth=2)  # 2*2*0.5*2
    4.0
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}.")
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    norm2 = float(w_star @ w_star)
    if norm2 == 0.0:
        return 0.0
    a = float(w_star @ (X.T @ (X @ w_star))) / (len(X) * norm2)
    return 2.0 * depth * a * norm2 ** (1.0 - 1.0 / depth)


def _end_to_end(weights: Sequence[torch.Tensor], head: torch.Tensor | None) -> torch.Tensor:
    """The linear map ``head' W_L ... W_1`` as a vector of length n_features."""
    v = weights[-1][0] if head is None else head @ weights[-1]
    for W in reversed(weights[:-1]):
        v = v @ W
    return v


def _mse_loss(
    X: torch.Tensor, y: torch.Tensor, head: torch.Tensor | None
) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
    """The training objective R(W_1..W_L) = mean (f(x_i) - y_i)^2 on (X, y)."""

    def loss_fn(weights: Sequence[torch.Tensor]) -> torch.Tensor:
        # Forming the end-to-end vector first costs O(L m^2 + n d), cheaper than
        # pushing all n samples through the layers when n exceeds the width.
        return ((X @ _end_to_end(weights, head) - y) ** 2).mean()

    return loss_fn


def _gelu_network(weights: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """``W_L gelu(W_{L-1} ... gelu(W_1 x))`` for every row of ``X``.

    GELU in its tanh approximation, the default of ``jax.nn.gelu`` that the
    paper's reference code uses.
    """
    h = X
    for k, W in enumerate(weights):
        h = h @ W.T
        if k < len(weights) - 1:
            h = torch.nn.functional.gelu(h, approximate="tanh")
    return h[:, 0]


def _gelu_loss(
    X: torch.Tensor, y: torch.Tensor
) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
    """The training objective of the GELU network on (X, y)."""

    def loss_fn(weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return ((_gelu_network(weights, X) - y) ** 2).mean()

    return loss_fn


def _autograd_loss_and_gradients(
    loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor], weights: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    params = [W.detach().requires_grad_(True) for W in weights]
    loss = loss_fn(params)
    grads = torch.autograd.grad(loss, params)
    return loss.detach(), list(grads)


def _top_singular_values(weights: Sequence[torch.Tensor]) -> np.ndarray:
    """The two largest singular values of each layer, shape (L, 2); 0 pads a rank-one shape."""
    out = np.zeros((len(weights), 2))
    for k, W in enumerate(weights):
        values = torch.linalg.svdvals(W.detach().to(torch.float64)).cpu().numpy()[:2]
        out[k, : len(values)] = values
    return out


def _as64(array: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def _loss_and_gradients(
    weights: Sequence[torch.Tensor],
    head: torch.Tensor | None,
    X: torch.Tensor,
    y: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """R and its gradients in closed form (what autograd of ``_mse_loss`` gives).

    With ``w' = A_k W_k B_k`` (``A_k`` the layers above ``W_k`` and the head,
    ``B_k`` those below) and ``g = 2 X'(X w - y) / n``, the gradient with
    respect to ``W_k`` is the outer product ``A_k' (B_k g)'``: L matrix-vector
    products each way, far cheaper than autograd's bookkeeping on tiny layers.
    """
    w = _end_to_end(weights, head)
    residual = X @ w - y
    loss = (residual**2).mean()
    below = [2.0 * (X.T @ residual) / len(y)]  # B_k g, k = 1..L
    for W in weights[:-1]:
        below.append(W @ below[-1])
    above = head if head is not None else torch.ones(1, dtype=w.dtype, device=w.device)
    grads = [torch.empty(0)] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        grads[k] = torch.outer(above, below[k])
        above = above @ weights[k]
    return loss, grads


@dataclass
class _Data:
    """Training data of one fit, centred and weighted (see ``_check_fit_data``)."""

    X: torch.Tensor  # sqrt(w) * (X - offset), training dtype
    y: torch.Tensor  # sqrt(w) * (y - offset)
    X64: torch.Tensor  # the same in float64, for the sharpness
    y64: torch.Tensor
    baseline: float  # loss of the zero network: mean of y**2
    unit: float  # s_y / s_X, the scale of the end-to-end map in standardised units
    w_star: np.ndarray  # minimum-norm least-squares solution of (X64, y64)
    least_squares_loss: float  # its training loss


@dataclass
class _State(TrainState):
    """Layers, the fixed head ``u`` (residual variant), the step and the Lanczos seed."""

    weights: list[torch.Tensor] = field(default_factory=list)
    head: torch.Tensor | None = None
    learning_rate: float = 0.0
    seed: int = 0


class DeepLinearRegressor(RegressorMixin, TorchEstimator):
    """Deep linear network regressor trained by full-batch gradient descent.

    The model is ``f(x) = W_L ... W_1 x`` with ``W_1`` of shape
    ``(width, n_features)``, ``W_k`` of shape ``(width, width)`` and ``W_L`` of
    shape ``(1, width)`` (``init="small"``), or the residual variant
    ``f(x) = u' W_L ... W_1 x`` with ``L`` square matrices of size
    ``n_features`` and a fixed random unit vector ``u`` (``init="residual"``).
    Training minimises ``R = mean_i w_i (f(x_i) - y_i)^2`` (no 1/2 factor;
    ``w_i`` the sample weights rescaled to mean 1, all 1 by default) by
    gradient descent with a constant step, as in the paper. After training the
    estimator reports the sharpness of ``R`` (largest Hessian eigenvalue, by
    Lanczos on Hessian-vector products) and the paper's lower bound ``S_min``
    on the sharpness of any minimiser.

    With ``fit_intercept=True`` the network has no bias: ``X`` and ``y`` are
    centred by their (weighted) training means, the network is trained on the
    centred data, and ``intercept_ = mean(y) - mean(X) @ coef_``. ``S_min``
    and the sharpness then refer to the centred problem.

    Units. The initialisation is drawn in standardised units: the layers
    start as they would on ``X / s_X`` and ``y / s_y`` (``s_X``, ``s_y`` the
    root mean squares of the centred entries of ``X`` and of ``y``), that is
    each layer is multiplied by ``(s_y / s_X)^(1/L)``. Gradient descent is
    equivariant under this change of units (with the step size converted), so
    training here is exactly training on the standardised data and mapping
    back; but every reported quantity (``history_`` losses, ``sharpness_``,
    ``sharpness_lower_bound_``, ``critical_learning_rate_``,
    ``learning_rate`` and ``learning_rate_``) is in the units of the data as
    given, where the paper's relations ``S_min <= sharpness_ <= 2 / eta``
    hold. Without it a small initialisation would sit at the saddle at zero
    whenever ``y`` is large against ``X`` (with ``y`` times 1e4, nothing was
    learned). On the paper's data (unit-variance features, ``||w*|| = 1``)
    the factor is close to 1.

    Activation. ``activation="gelu"`` is the paper's non-linear variant:
    ``f(x) = W_L gelu(W_{L-1} ... gelu(W_1 x))`` (GELU in the tanh
    approximation, as ``jax.nn.gelu`` in the reference code), trained the same
    way with autograd gradients. ``S_min`` is then the linear network's bound,
    reported for comparison as in the paper, not a theorem, so a step above
    ``2 / S_min`` is not flagged; ``coef_`` is the product of the layer
    matrices (the paper's distance to ``w*`` uses it) and predictions run the
    network. Only the linear network is exactly equivariant under the data's
    units.

    Sample weights. Rows are weighted by scaling the centred data by
    ``sqrt(w_i)``, which makes the mean squared error of the scaled data the
    weighted one; ``S_min`` and the sharpness are those of the weighted
    objective (``Sigma = sum_i w_i x_i x_i' / n`` and ``w*`` the weighted
    least-squares solution). Integer weights are equivalent to repeated rows
    and zero weights to dropped rows.

    Parameters
    ----------
    depth : int, default=5
        Number of layers ``L``.
    width : int or None, default=None
        Hidden width (``init="small"``); None uses ``n_features``. The
        residual variant requires ``width`` None or equal to ``n_features``.
    init : {"small", "residual"}, default="small"
        In standardised units (see above), ``"small"``: every entry is
        ``init_scale * N(0, 1)``; ``"residual"``:
        ``W_k = I + init_scale / sqrt(L d) * N(0, 1)``.
    activation : {"linear", "gelu"}, default="linear"
        ``"gelu"``: the paper's non-linear MLP (see "Activation" above);
        requires ``init="small"``.
    init_scale : float, default=0.3
        Scale of the initialisation (the paper uses 0.25 to 0.6 for
        ``"small"``, 0 to 1.7 for ``"residual"``). With ``"small"`` each layer
        has a gain of about ``init_scale * sqrt(width)``; at 0 (or near it,
        for depth above 2) gradient descent starts at the saddle at zero and
        learns nothing, which is warned.
    learning_rate : float or "auto", default="auto"
        Constant step size ``eta``, in the units of the data. ``"auto"``
        uses ``1 / S``, where ``S`` is the larger of ``S_min`` and the
        sharpness at initialisation, i.e. half the critical learning rate
        ``2 / S_min`` when the initialisation is flat.
    max_iter : int, default=2000
        Number of gradient steps (updates).
    tol : float or None, default=None
        Early stopping with the meaning of the training contract
        (:mod:`sktheory._training`): stop once the window loss (the mean over
        about ``max_iter / 100`` steps) has improved on the best earlier
        window by less than ``tol`` times that loss, in two windows running.
        None (default) runs ``max_iter`` steps: from a small initialisation
        the loss has long plateaus near the saddle at zero, on which a
        tolerance would stop training early.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` (see above).
    sharpness_every : int or None, default=None
        Compute the sharpness after every ``sharpness_every`` steps and record
        it in ``history_`` (one Lanczos solve each). Windows are then
        ``gcd(max(1, max_iter // 100), sharpness_every)`` steps long, so that
        a window ends on each multiple of ``sharpness_every``. None records
        only the loss.
    warm_start : bool, default=False
        When True and the model is fitted, ``fit`` continues training from
        the previous layers and step size for another ``max_iter`` steps.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, ``u`` and the Lanczos starting vectors.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        Show a progress bar.
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when training blows up: raise
        :class:`~sktheory.DivergenceError`, or warn
        :class:`~sktheory.DivergenceWarning` and set ``diverged_``. Training
        blows up when the loss is not finite or exceeds 1e4 times the loss of
        the mean predictor (the rule of :mod:`sktheory._training`; training
        then stops). A learning rate above ``critical_learning_rate_`` whose
        loss stays finite is not a blow-up: see ``unstable_``.

    Attributes
    ----------
    coefs_ : list of ndarray
        The layer matrices ``W_1, ..., W_L``, input side first.
    coef_ : ndarray of shape (n_features,)
        End-to-end linear map ``W_L ... W_1`` (times ``u'`` if residual); with
        ``activation="gelu"`` the product of the layer matrices, which is not
        the predictor.
    intercept_ : float
        With ``activation="gelu"``, the offset added to the network's output
        (the network sees inputs centred by the training mean).
    projection_ : ndarray of shape (n_features,) or None
        The fixed unit vector ``u`` of the residual variant.
    sharpness_ : float
        Top Hessian eigenvalue of the training loss at the end of training
        (NaN if training diverged).
    sharpness_lower_bound_ : float
        ``S_min`` for the (centred, weighted) training data.
    critical_learning_rate_ : float
        ``2 / S_min`` (inf when ``S_min = 0``).
    learning_rate_ : float
        The step size used.
    history_ : list of dict
        One record per window of steps: ``"iter"`` (steps done), ``"loss"``
        (mean training loss over the window's steps, each taken before its
        update) and, with ``sharpness_every``, at the iterate after every
        multiple of ``sharpness_every`` steps: ``"sharpness"``,
        ``"squared_distance"`` (mean over features of ``(coef - w*)^2``, ``w*``
        the least-squares solution of the centred, weighted data: the
        reference code's squared distance to the optimal regressor) and
        ``"singular_values"`` (ndarray of shape ``(depth, 2)``: the two largest
        singular values of each layer, input side first; 0 where a layer has
        rank at most one by shape).
    n_iter_ : int
        Gradient steps done (cumulative over ``warm_start`` fits).
    diverged_ : bool
        True if training blew up (see ``on_divergence``); such a model
        refuses to predict.
    unstable_ : bool
        True when training did not blow up but ``learning_rate_`` exceeds
        ``critical_learning_rate_`` (linear networks): every minimiser is
        sharper than ``2 / learning_rate_``, so gradient descent cannot settle
        at one. A :class:`~sklearn.exceptions.ConvergenceWarning` says so; the
        model is kept and predicts with its last iterate.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.

    See Also
    --------
    sktheory.diagnostics.sharpness : Sharpness of a fitted model on any data.
    sktheory.datasets.make_deep_linear_regression : The paper's data.
    sklearn.linear_model.LinearRegression : The least-squares solution.

    Examples
    --------
    >>> from sktheory import DeepLinearRegressor
    >>> from sktheory.datasets import make_deep_linear_regression
    >>> X, y = make_deep_linear_regression(random_state=0)
    >>> model = DeepLinearRegressor(depth=4, learning_rate=0.05, random_state=0)
    >>> model = model.fit(X, y)
    >>> bool(model.sharpness_lower_bound_ <= model.sharpness_ <= 2 / 0.05)
    True
    """

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"small", "residual"})],
        "activation": [StrOptions({"linear", "gelu"})],
        "init_scale": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "fit_intercept": ["boolean"],
        "sharpness_every": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
    }

    _divergence_hint = (
        "Use a learning rate below critical_learning_rate_ (or learning_rate='auto'), "
        "or a smaller init_scale."
    )
    _no_progress_hint = (
        "A small initialisation starts at the saddle at zero, where the gradient "
        "vanishes (exactly at init_scale=0): raise init_scale (0.1 to 0.6 with "
        "init='small'), raise max_iter, or use init='residual'."
    )

    def __init__(
        self,
        depth: int = 5,
        width: int | None = None,
        init: str = "small",
        activation: str = "linear",
        init_scale: float = 0.3,
        learning_rate: float | str = "auto",
        max_iter: int = 2000,
        tol: float | None = None,
        fit_intercept: bool = True,
        sharpness_every: int | None = None,
        warm_start: bool = False,
        random_state: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
        verbose: int = 0,
        on_divergence: str = "raise",
    ) -> None:
        self.depth = depth
        self.width = width
        self.init = init
        self.activation = activation
        self.init_scale = init_scale
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.sharpness_every = sharpness_every
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> DeepLinearRegressor:
        """Train the network by full-batch gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the squared errors (see the class docstring).

        Returns
        -------
        self : DeepLinearRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    # Training hooks of the contract (see sktheory/_training.py).
    def _check_fit_data(self, X: Any, y: Any, reset: bool, sample_weight: Any = None) -> _Data:
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64, reset=reset)
        y = self._check_numeric_target(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        n_features = X.shape[1]
        if self.activation == "gelu" and self.init == "residual":
            raise ValueError(
                "activation='gelu' is the paper's non-linear MLP, with init='small'; "
                "the residual variant is linear. Use init='small'."
            )
        if self.init == "residual" and self.width not in (None, n_features):
            raise ValueError(
                f"init='residual' uses square layers of size n_features={n_features}; "
                f"got width={self.width}. Leave width=None."
            )
        sw = sw / sw.mean()
        if self.fit_intercept:
            self._X_offset = np.average(X, axis=0, weights=sw)
            self._y_offset = float(np.average(y, weights=sw))
        else:
            self._X_offset, self._y_offset = np.zeros(n_features), 0.0
        # sqrt(w) row scaling: the plain MSE of the scaled data is the weighted MSE.
        root = np.sqrt(sw)
        Xw = root[:, None] * (X - self._X_offset)
        yw = root * (y - self._y_offset)
        self.sharpness_lower_bound_ = sharpness_lower_bound(Xw, yw, self.depth)
        s_min = self.sharpness_lower_bound_
        self.critical_learning_rate_ = 2.0 / s_min if s_min > 0 else math.inf
        s_X, s_y = float(np.sqrt(np.mean(Xw**2))), float(np.sqrt(np.mean(yw**2)))
        unit = s_y / s_X if s_X > 0 and s_y > 0 else 1.0
        w_star = np.linalg.lstsq(Xw, yw, rcond=None)[0]
        return _Data(
            X=self._to_tensor(Xw),
            y=self._to_tensor(yw),
            X64=_as64(Xw).to(self.device_),
            y64=_as64(yw).to(self.device_),
            baseline=float(np.mean(yw**2)),
            unit=unit,
            w_star=w_star,
            least_squares_loss=float(np.mean((Xw @ w_star - yw) ** 2)),
        )

    def _init_state(self, data: _Data, generator: torch.Generator) -> _State:
        weights, head = self._initial_weights(data.X.shape[1], generator, data.unit)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        state = _State(generator=generator, weights=weights, head=head, seed=seed)
        state.learning_rate = self._step_size(data, state)
        return state

    def _initial_loss(self, state: _State, data: _Data) -> float:
        return float(self._objective(data.X, data.y, state.head)(state.weights))

    def _objective(
        self, X: torch.Tensor, y: torch.Tensor, head: torch.Tensor | None
    ) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
        """The training loss on (X, y) as a function of the layers."""
        return _gelu_loss(X, y) if self.activation == "gelu" else _mse_loss(X, y, head)

    def _baseline_loss(self, data: _Data) -> float:
        # The zero network predicts the (weighted) mean: the trivial predictor.
        return data.baseline

    def _window_updates(self, total: int) -> int:
        window = super()._window_updates(total)
        if self.sharpness_every is not None:
            window = math.gcd(window, self.sharpness_every)
        return window

    def _run_window(self, state: _State, data: _Data, n_updates: int) -> Window:
        total = 0.0
        gelu = _gelu_loss(data.X, data.y) if self.activation == "gelu" else None
        for done in range(1, n_updates + 1):
            if gelu is None:
                loss, grads = _loss_and_gradients(state.weights, state.head, data.X, data.y)
            else:
                loss, grads = _autograd_loss_and_gradients(gelu, state.weights)
            for W, g in zip(state.weights, grads, strict=True):
                W.sub_(state.learning_rate * g)
            value = loss.item()
            if not math.isfinite(value):
                return Window(value, done)
            total += value
        return Window(total / n_updates, n_updates)

    def _record(self, state: _State, data: _Data) -> dict:
        every = self.sharpness_every
        if every is None or state.n_iter % every:
            return {}
        seed = state.seed + 2 + state.n_iter
        w = self._to_numpy(_end_to_end(state.weights, state.head)).astype(np.float64)
        return {
            "sharpness": self._safe_sharpness(data, state, _TRAIN_TOL, seed),
            # The reference code's squared distance: the mean over features.
            "squared_distance": float(np.mean((w - data.w_star) ** 2)),
            "singular_values": _top_singular_values(state.weights),
        }

    def _finalize(self, state: _State, data: _Data) -> None:
        weights = [W.detach() for W in state.weights]
        self.learning_rate_ = state.learning_rate
        self.projection_ = None if state.head is None else self._to_numpy(state.head)
        self.coefs_ = [self._to_numpy(W) for W in weights]
        self.coef_ = self._to_numpy(_end_to_end(weights, state.head))
        self.intercept_ = (
            float(self._y_offset)  # the GELU network sees centred inputs
            if self.activation == "gelu"
            else float(self._y_offset - self._X_offset @ self.coef_)
        )
        self.sharpness_ = (
            math.nan
            if self.diverged_
            else self._safe_sharpness(data, state, _FINAL_TOL, state.seed)
        )
        # A blow-up (diverged_) and a run that cannot settle are two reports:
        # the second keeps a finite model, which predicts.
        self.unstable_ = (
            not self.diverged_
            and self.activation == "linear"
            and self.learning_rate_ > self.critical_learning_rate_
        )
        if self.unstable_:
            self._warn_unstable(float(self.history_[-1]["loss"]), data)

    def _warn_unstable(self, loss: float, data: _Data) -> None:
        """Warn that the step is above the critical learning rate.

        Every minimiser has sharpness >= S_min > 2 / eta, so none is stable
        under gradient descent: a run that does not blow up oscillates and
        cannot converge, even when its loss stays finite.
        """
        warnings.warn(
            f"{type(self).__name__} cannot converge: learning_rate="
            f"{self.learning_rate_:.4g} exceeds the critical learning rate 2 / S_min = "
            f"{self.critical_learning_rate_:.4g}, so every minimiser is sharper than "
            f"2 / learning_rate and none is stable under gradient descent (final loss "
            f"{loss:.6g}, least-squares loss {data.least_squares_loss:.6g}). The model "
            "is kept (unstable_ is True). Use a learning rate below "
            "critical_learning_rate_ or learning_rate='auto'.",
            ConvergenceWarning,
            stacklevel=6,  # _warn_unstable, _finalize, _fit, fit, _fit_context, the caller
        )

    def _initial_weights(
        self, n_features: int, gen: torch.Generator, unit: float
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        L, dtype, device = self.depth, self._torch_dtype, self.device_
        width = n_features if self.width is None else self.width
        # Each layer times unit^(1/L): the end-to-end map starts as it would on
        # standardised data (see "Units" in the class docstring).
        gain = unit ** (1.0 / L)

        def normal(*shape: int) -> torch.Tensor:
            # Drawn on the CPU generator so CPU and GPU fits agree.
            return torch.randn(*shape, generator=gen, dtype=torch.float64)

        if self.init == "small":
            shapes = [(width, n_features)] + [(width, width)] * (L - 2) + [(1, width)]
            if L == 1:
                shapes = [(1, n_features)]
            weights = [self.init_scale * normal(*s) for s in shapes]
            head = None
        else:
            d = n_features
            scale = self.init_scale / math.sqrt(L * d)
            weights = [torch.eye(d, dtype=torch.float64) + scale * normal(d, d) for _ in range(L)]
            u = normal(d)
            head = (u / torch.linalg.norm(u)).to(device=device, dtype=dtype)
        return [(gain * W).to(device=device, dtype=dtype) for W in weights], head

    def _step_size(self, data: _Data, state: _State) -> float:
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        init_sharpness = self._safe_sharpness(data, state, _TRAIN_TOL, state.seed + 1)
        scale = max(self.sharpness_lower_bound_, init_sharpness)
        if not scale > 0:
            # w* = 0 and a flat start: fall back on the curvature of the data.
            top = float(torch.linalg.matrix_norm(data.X64, ord=2)) ** 2
            scale = 2.0 * self.depth * top / len(data.X64)
        return 1.0 / scale if scale > 0 else 1.0

    def _safe_sharpness(self, data: _Data, state: _State, tol: float, seed: int) -> float:
        # The Hessian of a diverging run is not finite; ARPACK would fail.
        if not all(bool(torch.isfinite(W).all()) for W in state.weights):
            return math.nan
        head = None if state.head is None else state.head.to(torch.float64)
        return top_hessian_eigenvalue(
            self._objective(data.X64, data.y64, head),
            [W.detach().to(torch.float64) for W in state.weights],
            tol=tol,
            random_state=seed,
        )

    # -------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        """Predict with the end-to-end linear map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,)
            The predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if self.activation == "gelu":
            with torch.no_grad():
                out = _gelu_network([_as64(W) for W in self.coefs_], _as64(X - self._X_offset))
            return self._finite_output(out.numpy() + self._y_offset)
        return self._finite_output(X @ self.coef_ + self.intercept_)

    # ---------------------------------------------------- sharpness protocol
    def _sharpness_problem(
        self, X: Any, y: Any
    ) -> tuple[Callable[[Sequence[torch.Tensor]], torch.Tensor], list[torch.Tensor]]:
        """Training loss on (X, y) as a function of the layers, and the layers.

        ``X`` and ``y`` are centred by the training means (as in training),
        so on the unweighted training data this is exactly the training
        objective (with sample weights, training used the weighted one).
        """
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, y_numeric=True, dtype=np.float64)
        y = self._check_numeric_target(y)
        head = None if self.projection_ is None else _as64(self.projection_)
        loss_fn = self._objective(_as64(X - self._X_offset), _as64(y - self._y_offset), head)
        return loss_fn, [_as64(W) for W in self.coefs_]

"""Shallow networks trained in the two-timescale regime, and their limit dynamics.

Implements "Leveraging the two-timescale regime to demonstrate convergence of
neural networks" (NeurIPS 2023). A one-hidden-layer network with a smooth step
activation,

    f(x) = a_0 + sum_j a_j sigma((x - u_j) / eta),

is trained by stochastic gradient descent where the inner positions ``u`` move
``eps`` times slower than the outer weights ``a``. For ``eps -> 0`` (and
``eta -> 0``) the outer weights are always at their least-squares optimum for
the current positions (the *fast solution*), and the positions follow a slow
ODE that places one neuron on each jump of a piecewise-constant target.

Public names: :class:`TwoTimescaleNet`, :func:`fast_outer_weights`,
:func:`limit_l2_error`, :func:`simulate_two_timescale_limit`,
:func:`limit_final_positions`, :func:`l2_error` and the
:class:`TwoTimescaleLimit` result.

Why not torch here: one-sample SGD on a 20-neuron network is millions of
microscopic updates; the per-step dispatch cost of torch (tens of microseconds)
would dominate by orders of magnitude. The inner loop and the forward pass are
plain functions over numpy arrays, compiled with numba (a dependency of
sktheory) on first use; ``import sktheory`` does not import numba. Where numba
cannot be imported the same functions run as pure Python, which is correct but
about a hundred times slower, and the first fit warns once.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sktheory._training import TrainState, Window, mean_predictor_loss
from sktheory.base import TorchEstimator
from sktheory.datasets._two_timescale import PiecewiseConstant

__all__ = [
    "HAS_NUMBA",
    "TwoTimescaleLimit",
    "TwoTimescaleNet",
    "fast_outer_weights",
    "l2_error",
    "limit_final_positions",
    "limit_l2_error",
    "simulate_two_timescale_limit",
]

#: Whether numba is installed (checked without importing it).
HAS_NUMBA = importlib.util.find_spec("numba") is not None

# Sample indices drawn at once, per block of SGD steps: bounds the memory of the
# index block (kept in the training state) whatever max_iter is. Blocks are drawn
# whole, so the random stream does not depend on the window sizes.
_BLOCK = 1 << 12
_NO_INDICES = np.zeros(0, dtype=np.int64)


# ----------------------------------------------------------------- activation
def _sigma(z: np.ndarray) -> np.ndarray:
    """The paper's smooth step: 0 below -1/2, cubic pieces on [-1/2, 1/2], 1 above."""
    z = np.asarray(z, dtype=np.float64)
    left = 4.0 * np.clip(z + 0.5, 0.0, 0.5) ** 3
    right = 4.0 * np.clip(0.5 - z, 0.0, 0.5) ** 3
    return np.where(z <= 0.0, left, 1.0 - right)


def _sigma_prime(z: np.ndarray) -> np.ndarray:
    """Derivative of :func:`_sigma`: 12 (1/2 - |z|)^2 on [-1/2, 1/2], 0 outside."""
    z = np.asarray(z, dtype=np.float64)
    return 12.0 * np.clip(0.5 - np.abs(z), 0.0, None) ** 2


# ------------------------------------------------------- the compiled kernels
# Plain Python over numpy arrays; _kernels() compiles them with numba on first
# use. _sigma_local and _forward_one are registered as numba-callable helpers,
# so they stay plain Python when called from Python.
def _sigma_local(z):
    # Value and derivative on the transition window -1/2 < z < 1/2 only; the
    # caller handles the flat parts (0 or 1, zero derivative) without calling.
    if z <= 0.0:
        t = z + 0.5
        return 4.0 * t * t * t, 12.0 * t * t
    t = 0.5 - z
    return 1.0 - 4.0 * t * t * t, 12.0 * t * t


def _forward_one(X, i, bias, a, u, inv_eta):
    # f(x_i): neurons left of x by more than eta/2 contribute a_j in full, those
    # right of it nothing, only those within the window need the cubic.
    d, m = a.shape
    f = bias[0]
    for k in range(d):
        xk = X[i, k]
        for j in range(m):
            z = (xk - u[k, j]) * inv_eta
            if z >= 0.5:
                f += a[k, j]
            elif z > -0.5:
                s, _ = _sigma_local(z)
                f += a[k, j] * s
    return f


def _forward_rows(X, bias, a, u, inv_eta):
    """The network at every row of ``X`` (inputs on the network's [0, 1] scale)."""
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = _forward_one(X, i, bias, a, u, inv_eta)
    return out


def _sgd_steps(X, y, idx, bias, a, u, lr, ratio, inv_eta, batch, n_steps):
    """Run ``n_steps`` SGD updates in place on ``bias``, ``a``, ``u``.

    ``idx`` holds ``n_steps * batch`` sample indices; ``batch == 0`` means full
    batch (``idx`` unused). The loss is the squared error ``r^2`` (no 1/2
    factor), so the gradients are ``2 r sigma`` for ``a`` and
    ``-2 r a sigma' / eta`` for ``u`` with ``r = f(x) - y``. The update of
    ``u`` uses the outer weights from before the step (a simultaneous update).
    Returns the sum of the per-step training losses (each the mean squared
    error over the step's samples, before the step) and the number of steps
    done (fewer than ``n_steps`` when a residual became non-finite).
    """
    d, m = a.shape
    n = X.shape[0]
    full = batch == 0
    size = n if full else batch
    lr_u = lr * ratio
    total = 0.0
    if batch == 1:
        # One-sample SGD, the paper's regime: update each parameter directly.
        for t in range(n_steps):
            i = idx[t]
            r = _forward_one(X, i, bias, a, u, inv_eta) - y[i]
            if not math.isfinite(r):
                return total, t
            total += r * r
            g = 2.0 * r
            bias[0] -= lr * g
            for k in range(d):
                xk = X[i, k]
                for j in range(m):
                    z = (xk - u[k, j]) * inv_eta
                    if z >= 0.5:
                        a[k, j] -= lr * g
                    elif z > -0.5:
                        s, ds = _sigma_local(z)
                        ak = a[k, j]
                        a[k, j] = ak - lr * g * s
                        u[k, j] += lr_u * g * ak * ds * inv_eta
        return total, n_steps
    ga = np.zeros((d, m))
    gu = np.zeros((d, m))
    for t in range(n_steps):
        ga[:, :] = 0.0
        gu[:, :] = 0.0
        gb = 0.0
        loss = 0.0
        for b in range(size):
            i = b if full else idx[t * size + b]
            r = _forward_one(X, i, bias, a, u, inv_eta) - y[i]
            loss += r * r
            g = 2.0 * r / size
            gb += g
            for k in range(d):
                xk = X[i, k]
                for j in range(m):
                    z = (xk - u[k, j]) * inv_eta
                    if z >= 0.5:
                        ga[k, j] += g
                    elif z > -0.5:
                        s, ds = _sigma_local(z)
                        ga[k, j] += g * s
                        gu[k, j] -= g * a[k, j] * ds * inv_eta
        loss /= size
        if not math.isfinite(loss):
            return total, t
        total += loss
        bias[0] -= lr * gb
        for k in range(d):
            for j in range(m):
                a[k, j] -= lr * ga[k, j]
                u[k, j] -= lr_u * gu[k, j]
    return total, n_steps


class _Kernels(NamedTuple):
    """The training loop and the forward pass, compiled or pure Python."""

    sgd_steps: Callable
    forward_rows: Callable


#: The kernels as plain Python (what runs without numba).
_PYTHON_KERNELS = _Kernels(_sgd_steps, _forward_rows)
_compiled: _Kernels | None = None
_compile_lock = threading.Lock()


def _kernels() -> _Kernels:
    """The numba-compiled kernels (compiled, or loaded from numba's cache, on first
    call), or the pure-Python ones, with one warning per process, when numba
    cannot be imported."""
    global _compiled
    with _compile_lock:
        if _compiled is None:
            try:
                if not HAS_NUMBA:
                    raise ImportError("No module named 'numba'")
                import numba
                from numba.extending import register_jitable
            except ImportError as exc:
                _compiled = _PYTHON_KERNELS
                warnings.warn(
                    f"TwoTimescaleNet runs its SGD loop in pure Python ({exc}): correct, "
                    "but about a hundred times slower than the compiled loop. numba is a "
                    "dependency of sktheory: reinstall it with `pip install numba`.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                register_jitable(_sigma_local)
                register_jitable(_forward_one)
                jit = numba.njit(cache=True, nogil=True)
                _compiled = _Kernels(jit(_sgd_steps), jit(_forward_rows))
        return _compiled


# ------------------------------------------------------------ training state
@dataclass
class _Data:
    """One fit's training data, on the network's scales."""

    Z: np.ndarray  # inputs mapped onto [0, 1], C-contiguous float64
    y: np.ndarray  # the target the SGD fits, (y - target_offset_) / target_scale_
    batch: int  # samples per update; 0 = full batch
    baseline: float  # mean-predictor loss of that target


@dataclass
class _State(TrainState):
    """Parameters (training units, positions on [0, 1]) and the sample stream."""

    bias: np.ndarray | None = None  # shape (1,)
    a: np.ndarray | None = None  # outer weights, (n_features, n_neurons)
    u: np.ndarray | None = None  # positions, (n_features, n_neurons)
    initial_u: np.ndarray | None = None
    rng: np.random.RandomState | None = None  # initial positions, then sample indices
    indices: np.ndarray | None = None  # current block of sample indices
    next_step: int = 0  # steps of the block already used
    block_for: tuple = ()  # (n_samples, batch) the block was drawn for


# ------------------------------------------------------------------- estimator
class TwoTimescaleNet(RegressorMixin, TorchEstimator):
    """Shallow network trained by SGD with a slow inner and a fast outer layer.

    The network, for one input feature, is
    ``f(x) = a_0 + sum_{j=1..m} a_j sigma((x - u_j) / eta)`` with the paper's
    smooth step ``sigma`` (0 below -1/2, ``4 (z + 1/2)^3`` on [-1/2, 0],
    ``1 - 4 (1/2 - z)^3`` on [0, 1/2], 1 above). ``a_0`` is the paper's bias
    neuron (a neuron at ``-eta/2``, equal to 1 on [0, 1]). Training minimises
    the squared error by SGD: ``a <- a - h grad_a`` and
    ``u <- u - eps h grad_u``, from ``a = 0`` and sorted uniform positions on
    [0, 1]. With ``eps`` small (the two-timescale regime) the network provably
    fits piecewise-constant targets, one neuron landing on each jump; with
    ``eps = 1`` SGD can leave jumps uncovered.

    Several features use the paper's additive extension: ``n_neurons`` neurons
    per feature and ``f(x) = a_0 + sum_k sum_j a_kj sigma((x_k - u_kj) / eta)``.

    The positions move at a speed proportional to the square of the target's
    scale (scaling ``y`` by ``c`` acts like multiplying ``eps`` by ``c^2``), so
    the SGD fits a rescaled target (``target_scaling``); the fitted attributes
    are reported in the units of ``y``.

    The SGD runs on the CPU in float64, compiled with numba (a dependency):
    the per-step overhead of torch would dominate one-sample SGD on a tiny
    network by orders of magnitude. Where numba cannot be imported the same
    loop runs in pure Python, about a hundred times slower, with a
    ``RuntimeWarning`` once per process.

    ``fit`` takes no ``sample_weight``: the paper's SGD draws one sample per
    update, uniformly, and a weight has no place in that loop (weighting each
    step's gradient would change the step size, not the distribution the
    network fits).

    Parameters
    ----------
    n_neurons : int, default=20
        Number of neurons ``m`` per input feature (the bias is extra).
    bandwidth : float, default=4e-3
        Width ``eta`` of the activation's transition, in the [0, 1] scale of
        the inputs the network sees (see ``input_scaling``).
    learning_rate : float, default=1e-3
        Step ``h`` of the outer weights.
    timescale_ratio : float, default=2e-5
        Ratio ``eps``: the positions take steps ``eps * h``. ``1`` is the
        standard regime.
    max_iter : int, default=1_750_000
        Number of SGD updates. The defaults are the paper's quick configuration
        (limit time ``eps * h * max_iter = 0.035``).
    batch_size : int or None, default=1
        Samples per update, drawn uniformly with replacement; 1 is the paper's
        one-sample SGD. None uses the full training set at every step
        (full-batch gradient descent, deterministic after the initialisation).
    input_scaling : {"auto", "minmax", "none"}, default="auto"
        The network lives on [0, 1]. ``"minmax"`` maps each feature's training
        range onto [0, 1]; ``"auto"`` does so only for features whose training
        values leave [0, 1] (so data already in [0, 1], as in the paper, are
        used as they are); ``"none"`` never rescales. Reported positions are
        in input units.
    target_scaling : {"auto", "standard", "none"}, default="auto"
        The target the SGD fits is ``(y - target_offset_) / target_scale_``.
        ``"auto"`` centres ``y`` on its mean and divides it by the power of ten
        nearest its standard deviation, so that ``eps`` keeps its meaning for
        targets of any order of magnitude while a target of unit order (as in
        the paper) keeps its jump heights; ``"standard"`` divides by the
        standard deviation itself; ``"none"`` fits ``y`` as it is, from a
        network that starts at 0 (the paper's setting).
    record_every : int or None, default=None
        Updates per window: the training loss and a snapshot of the parameters
        are recorded in ``history_`` every ``record_every`` updates; None
        records about 100 times per fit. Recording does not change the fit.
    warm_start : bool, default=False
        Continue the previous fit's SGD (parameters and sample stream) for
        ``max_iter`` more updates: ``max_iter=a`` then, warm, ``max_iter=b``
        equals one fit with ``max_iter=a + b``. The input and target scaling
        of the first fit are kept.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial positions and the sample indices (numpy draws, kept
        in the training state so ``warm_start`` continues the same stream).
    verbose : int, default=0
        Show a progress bar.
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when the training loss becomes non-finite or exceeds
        10^4 times the variance of the (scaled) target: raise
        :class:`~sktheory.DivergenceError`, or warn
        :class:`~sktheory.DivergenceWarning` and stop (the model then refuses
        to predict).

    Attributes
    ----------
    outer_weights_ : ndarray of shape (`n_features_in_`, n_neurons)
        The outer weights ``a_kj``, in units of ``y``.
    bias_ : float
        The bias neuron's weight ``a_0``, in units of ``y``.
    positions_ : ndarray of shape (`n_features_in_`, n_neurons)
        The neuron positions ``u_kj`` in input units.
    initial_positions_ : ndarray of shape (`n_features_in_`, n_neurons)
        The positions at initialisation, in input units.
    data_min_, data_scale_ : ndarray of shape (`n_features_in_`,)
        The input map ``x -> (x - data_min_) / data_scale_`` onto the
        network's [0, 1] scale (0 and 1 for features left unscaled).
    target_offset_, target_scale_ : float
        The target map ``y -> (y - target_offset_) / target_scale_`` of
        ``target_scaling`` (0 and 1 with ``"none"``).
    history_ : list of dict
        One entry per window (see ``record_every`` and
        :mod:`sktheory._training`): ``"iter"`` (updates done), ``"loss"``
        (mean training squared error over the window's updates, each before
        its update, on the scaled target: multiply by ``target_scale_**2``
        for units of ``y``), ``"bias"``, ``"outer_weights"`` (units of ``y``)
        and ``"positions"`` (input units).
    n_iter_ : int
        Number of updates performed, cumulative over ``warm_start`` fits.
    diverged_ : bool
        Whether training diverged (only with ``on_divergence="warn"``).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X has string column names.

    See Also
    --------
    simulate_two_timescale_limit : The slow ODE the positions follow as eps -> 0.
    fast_outer_weights : The outer weights the fast layer tracks as eps -> 0.
    l2_error : L2 distance of a fitted 1-feature network to a known target.
    sktheory.datasets.make_piecewise_constant : The paper's data.

    Examples
    --------
    >>> from sktheory.two_timescale import TwoTimescaleNet, l2_error
    >>> from sktheory.datasets import make_piecewise_constant
    >>> X, y, target = make_piecewise_constant(20_000, random_state=0)
    >>> net = TwoTimescaleNet(max_iter=200_000, timescale_ratio=2e-4, random_state=0)
    >>> net = net.fit(X, y)
    >>> net.positions_.shape
    (1, 20)
    >>> bool(l2_error(net, target) < 0.5)
    True
    """

    _parameter_constraints = {
        # device and dtype are not parameters: the SGD is CPU float64 (see above).
        **{
            key: value
            for key, value in TorchEstimator._parameter_constraints.items()
            if key not in ("device", "dtype")
        },
        "n_neurons": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "timescale_ratio": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "input_scaling": [StrOptions({"auto", "minmax", "none"})],
        "target_scaling": [StrOptions({"auto", "standard", "none"})],
        "record_every": [Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
    }

    _divergence_hint = (
        "Lower learning_rate (the outer layer's step; the positions step "
        "timescale_ratio * learning_rate) or timescale_ratio, or keep "
        "target_scaling='auto' for a target far from unit scale."
    )
    _no_progress_hint = (
        "Raise learning_rate or max_iter (the positions travel about "
        "timescale_ratio * learning_rate * max_iter in the paper's limit time), "
        "or keep target_scaling='auto' for a target far from unit scale."
    )

    def __init__(
        self,
        n_neurons: int = 20,
        bandwidth: float = 4e-3,
        learning_rate: float = 1e-3,
        timescale_ratio: float = 2e-5,
        max_iter: int = 1_750_000,
        batch_size: int | None = 1,
        input_scaling: str = "auto",
        target_scaling: str = "auto",
        record_every: int | None = None,
        warm_start: bool = False,
        random_state: Any = None,
        verbose: int = 0,
        on_divergence: str = "raise",
    ) -> None:
        self.n_neurons = n_neurons
        self.bandwidth = bandwidth
        self.learning_rate = learning_rate
        self.timescale_ratio = timescale_ratio
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.input_scaling = input_scaling
        self.target_scaling = target_scaling
        self.record_every = record_every
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.on_divergence = on_divergence

    # ---------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> TwoTimescaleNet:
        """Train the network by SGD on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; the network sees each feature on [0, 1] (``input_scaling``).
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self : TwoTimescaleNet
            The fitted estimator.
        """
        return self._fit(X, y)

    # Training hooks of the contract (see sktheory/_training.py).
    def _init_torch(self) -> torch.Generator:
        # The SGD is numpy/numba, CPU float64, and draws from the numpy stream
        # of the state (rng); the torch generator is only the state's required
        # field, left unseeded so it does not consume a draw of random_state.
        self.device_, self.dtype_ = torch.device("cpu"), "float64"
        return torch.Generator()

    def _check_fit_data(self, X: Any, y: Any, reset: bool) -> _Data:
        X, y = validate_data(self, X, y, reset=reset, y_numeric=True, dtype=np.float64)
        y = self._check_numeric_target(y)
        if reset:
            self._fit_scaling(X)
            self._fit_target_scaling(y)
        Z = np.ascontiguousarray(self._scale(X))
        target = np.ascontiguousarray((y - self.target_offset_) / self.target_scale_)
        batch = 0 if self.batch_size is None else int(self.batch_size)
        return _Data(Z, target, batch, mean_predictor_loss(target))

    def _init_state(self, data: _Data, generator: torch.Generator) -> _State:
        rng = check_random_state(self.random_state)
        u = np.sort(rng.uniform(0.0, 1.0, size=(data.Z.shape[1], self.n_neurons)), axis=1)
        return _State(
            generator=generator,
            bias=np.zeros(1),
            a=np.zeros_like(u),
            u=u,
            initial_u=u.copy(),
            rng=rng,
        )

    def _window_updates(self, total: int) -> int:
        return self.record_every or super()._window_updates(total)

    def _initial_loss(self, state: _State, data: _Data) -> float:
        return float(np.mean(data.y**2))  # the network starts at 0

    def _baseline_loss(self, data: _Data) -> float:
        return data.baseline

    def _run_window(self, state: _State, data: _Data, n_updates: int) -> Window:
        sgd_steps = _kernels().sgd_steps
        args = (float(self.learning_rate), float(self.timescale_ratio), 1.0 / self.bandwidth)
        batch, n = data.batch, data.Z.shape[0]
        if state.block_for != (n, batch):  # new data or batch size (warm start)
            state.indices, state.next_step, state.block_for = None, 0, (n, batch)
        done, loss_sum = 0, 0.0
        while done < n_updates:
            if batch == 0:  # full batch: no sampling
                steps, part = n_updates - done, _NO_INDICES
            else:
                if state.indices is None or state.next_step * batch >= len(state.indices):
                    steps_per_block = max(1, _BLOCK // batch)
                    state.indices = state.rng.randint(n, size=steps_per_block * batch)
                    state.next_step = 0
                first = state.next_step
                steps = min(n_updates - done, len(state.indices) // batch - first)
                part = state.indices[first * batch : (first + steps) * batch]
            total, ran = sgd_steps(
                data.Z, data.y, part, state.bias, state.a, state.u, *args, batch, steps
            )
            state.next_step += ran
            done += ran
            loss_sum += total
            if ran < steps:  # a residual went non-finite
                return Window(math.nan, done)
        return Window(loss_sum / done, done)

    def _record(self, state: _State, data: _Data) -> dict:
        bias, a = self._in_target_units(state)
        return {"bias": bias, "outer_weights": a, "positions": self._unscale_positions(state.u)}

    def _finalize(self, state: _State, data: _Data) -> None:
        self.bias_, self.outer_weights_ = self._in_target_units(state)
        self._positions01 = state.u.copy()
        self.positions_ = self._unscale_positions(state.u)
        self.initial_positions_ = self._unscale_positions(state.initial_u)

    def _in_target_units(self, state: _State) -> tuple[float, np.ndarray]:
        # f is linear in (bias, a): scaling them maps the fitted target back to y.
        bias = self.target_offset_ + self.target_scale_ * float(state.bias[0])
        return bias, self.target_scale_ * state.a

    # --------------------------------------------------------------- scaling
    def _fit_scaling(self, X: np.ndarray) -> None:
        lo, hi = X.min(axis=0), X.max(axis=0)
        rescale = np.full(X.shape[1], self.input_scaling == "minmax")
        if self.input_scaling == "auto":
            rescale = (lo < 0.0) | (hi > 1.0)
        span = np.where(hi > lo, hi - lo, 1.0)  # a constant feature keeps unit scale
        self.data_min_ = np.where(rescale, lo, 0.0)
        self.data_scale_ = np.where(rescale, span, 1.0)

    def _fit_target_scaling(self, y: np.ndarray) -> None:
        offset, scale = 0.0, 1.0
        if self.target_scaling != "none":
            offset, std = float(np.mean(y)), float(np.std(y))
            if math.isfinite(std) and std > 0.0:
                exact = self.target_scaling == "standard"
                scale = std if exact else 10.0 ** round(math.log10(std))
        self.target_offset_, self.target_scale_ = offset, scale

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (X - self.data_min_) / self.data_scale_

    def _unscale_positions(self, u: np.ndarray) -> np.ndarray:
        return self.data_min_[:, None] + self.data_scale_[:, None] * u

    def _network(self, Z: np.ndarray, bias: float, a: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The training loop's forward pass, on inputs already on [0, 1]."""
        return _kernels().forward_rows(
            np.ascontiguousarray(Z, dtype=np.float64),
            np.array([bias], dtype=np.float64),
            np.ascontiguousarray(a, dtype=np.float64),
            np.ascontiguousarray(u, dtype=np.float64),
            1.0 / self.bandwidth,
        )

    # ------------------------------------------------------------ prediction
    def predict(self, X: Any) -> np.ndarray:
        """Evaluate the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, in the units of the training data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The network's outputs, in the units of the training targets.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # Overflow from a diverged model is reported by _finite_output instead.
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._network(self._scale(X), self.bias_, self.outer_weights_, self._positions01)
        return self._finite_output(out)


# ----------------------------------------------------------- target helpers
def _as_target(target: Any) -> PiecewiseConstant:
    if isinstance(target, PiecewiseConstant):
        return target
    if isinstance(target, tuple) and len(target) == 2:
        return PiecewiseConstant(*target)
    raise TypeError(
        "target must be a sktheory.datasets.PiecewiseConstant or a (jumps, values) "
        f"tuple, got {type(target).__name__}."
    )


def _as_positions(positions: Any) -> np.ndarray:
    u = np.asarray(positions, dtype=np.float64)
    if u.ndim != 1 or u.size == 0:
        raise ValueError(
            f"positions must be a non-empty 1-D array of neuron positions, got shape {u.shape}."
        )
    if not np.all(np.isfinite(u)):
        raise ValueError("positions must be finite (no NaN or inf).")
    return u


def l2_error(
    net: TwoTimescaleNet,
    target: Any,
    *,
    history_index: int | None = None,
    domain: tuple = (0.0, 1.0),
) -> float:
    """Squared L2 distance ``int (f - f*)^2 dx`` of a fitted net to its target.

    The integral over ``domain`` (input units) is exact up to rounding: the
    integrand is a polynomial of degree 6 between consecutive breakpoints
    (jumps of ``f*``, neuron centres and window edges), where 4-point
    Gauss-Legendre quadrature is exact.

    Parameters
    ----------
    net : TwoTimescaleNet
        A network fitted on one feature.
    target : PiecewiseConstant or (jumps, values) tuple
        The piecewise-constant target ``f*``.
    history_index : int or None, default=None
        Evaluate the snapshot ``net.history_[history_index]`` instead of the
        final network (for error-vs-step curves).
    domain : (float, float), default=(0.0, 1.0)
        Integration interval, where the data live.

    Returns
    -------
    float
        The integral of ``(f - f*)^2`` over ``domain``.

    Examples
    --------
    >>> from sktheory.two_timescale import TwoTimescaleNet, l2_error
    >>> from sktheory.datasets import make_piecewise_constant
    >>> X, y, target = make_piecewise_constant(1000, random_state=0)
    >>> import warnings
    >>> net = TwoTimescaleNet(max_iter=1, learning_rate=1e-12, target_scaling="none")
    >>> with warnings.catch_warnings():  # one tiny step: the fit warns of no progress
    ...     warnings.simplefilter("ignore")
    ...     net = net.set_params(random_state=0).fit(X, y)
    >>> round(l2_error(net, target), 6)  # f = 0 still: the integral of f*^2
    10.6
    """
    check_is_fitted(net)
    if net.n_features_in_ != 1:
        raise ValueError(
            f"l2_error needs a network fitted on one feature; this one has {net.n_features_in_}."
        )
    target = _as_target(target)
    lo, hi = (float(v) for v in domain)
    if not hi > lo:
        raise ValueError(f"domain must be an increasing pair (lo, hi), got {domain}.")
    if history_index is None:
        bias, a, centres = net.bias_, net.outer_weights_, net.positions_
    else:
        entry = net.history_[history_index]
        bias, a, centres = entry["bias"], entry["outer_weights"], entry["positions"]
    scale, shift = float(net.data_scale_[0]), float(net.data_min_[0])
    half = 0.5 * net.bandwidth * scale
    points = np.concatenate(
        [[lo, hi], target.jumps, centres[0], centres[0] - half, centres[0] + half]
    )
    points = np.unique(np.clip(points, lo, hi))
    nodes, weights = np.polynomial.legendre.leggauss(4)
    left, width = points[:-1, None], np.diff(points)[:, None]
    x = (left + 0.5 * width * (nodes + 1.0)).ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        f = net._network(((x - shift) / scale)[:, None], bias, a, (centres - shift) / scale)
    sq = ((f - target(x)) ** 2).reshape(-1, nodes.size)
    return float(np.sum(0.5 * width[:, 0] * (sq @ weights)))


# ---------------------------------------------------------- the limit system
def fast_outer_weights(positions: Any, target: Any) -> tuple[float, np.ndarray]:
    """The fast solution ``a*(u)``: optimal outer weights for fixed positions.

    In the limit ``eta -> 0`` each neuron is a step ``1[x >= u_j]``, and least
    squares in ``a`` for fixed ``u`` (with ``x ~ U[0, 1]``) makes ``f`` equal to
    the mean of ``f*`` on every cell between neighbouring neurons (the outer
    cells end at 0 and 1).

    Parameters
    ----------
    positions : array-like of shape (n_neurons,)
        Neuron positions (any order).
    target : PiecewiseConstant or (jumps, values) tuple
        The target ``f*``.

    Returns
    -------
    bias : float
        ``a_0``, the mean of ``f*`` left of the first neuron.
    weights : ndarray of shape (n_neurons,)
        ``a_j``, the jump of ``f`` at neuron ``j`` (in the input order).

    Examples
    --------
    >>> bias, a = fast_outer_weights([0.25, 0.75], ([0.5], [0.0, 1.0]))
    >>> bias, a.tolist()
    (0.0, [0.5, 0.5])
    """
    u = _as_positions(positions)
    target = _as_target(target)
    order = np.argsort(u, kind="stable")
    edges = np.concatenate([[0.0], np.clip(u[order], 0.0, 1.0), [1.0]])
    means = target.cell_means(edges)
    weights = np.empty_like(u)
    weights[order] = np.diff(means)
    return float(means[0]), weights


def limit_l2_error(positions: Any, target: Any) -> float:
    """L2 error ``int (f - f*)^2`` of the fast solution for given positions.

    It is the sum over cells of ``f*``'s variance there; a cell holding one jump
    of height ``D`` at distances ``dL``, ``dR`` from its ends contributes
    ``D^2 dL dR / (dL + dR)``.

    Parameters
    ----------
    positions : array-like of shape (n_neurons,)
        Neuron positions on [0, 1].
    target : PiecewiseConstant or (jumps, values) tuple
        The piecewise-constant target ``f*`` on [0, 1].

    Returns
    -------
    float
        The L2 error on [0, 1].

    Examples
    --------
    >>> limit_l2_error([0.25, 0.75], ([0.5], [0.0, 2.0]))  # 2^2 * 0.25 * 0.25 / 0.5
    0.5
    """
    u = _as_positions(positions)
    target = _as_target(target)
    edges = np.concatenate([[0.0], np.sort(np.clip(u, 0.0, 1.0)), [1.0]])
    width = np.diff(edges)
    mean = target.cell_means(edges)
    mean_sq = PiecewiseConstant(target.jumps, target.values**2).cell_means(edges)
    return float(max(0.0, np.sum(width * (mean_sq - mean**2))))


class TwoTimescaleLimit(NamedTuple):
    """A trajectory of the two-timescale limit ODE.

    Attributes
    ----------
    times : ndarray of shape (n_records,)
        Limit times ``tau = eps * h * steps``.
    positions : ndarray of shape (n_records, n_neurons)
        Sorted neuron positions at each time.
    l2_error : ndarray of shape (n_records,)
        L2 error of the fast solution at each time.
    """

    times: np.ndarray
    positions: np.ndarray
    l2_error: np.ndarray


def _check_pieces(u: np.ndarray, target: PiecewiseConstant) -> None:
    edges = np.concatenate([[0.0], target.jumps, [1.0]])
    counts = np.histogram(u, bins=edges)[0]
    bad = np.flatnonzero(counts < 2)
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"piece {k} of the target, [{edges[k]:g}, {edges[k + 1]:g}), holds "
            f"{int(counts[k])} neuron(s) at initialisation; the two-timescale limit "
            "needs at least two neurons in every piece of f* (use more neurons or "
            "another initialisation)."
        )


def _flanking(u: np.ndarray, target: PiecewiseConstant) -> tuple[np.ndarray, np.ndarray]:
    # For sorted u: the last neuron left of (or on) each jump and the first right of it.
    left = np.searchsorted(u, target.jumps, side="right") - 1
    right = np.searchsorted(u, target.jumps, side="left")
    return left, right


def limit_final_positions(initial_positions: Any, target: Any) -> np.ndarray:
    """Where the limit ODE ends, in closed form.

    Along the ODE ``dL^3 - dR^3`` is constant for the two neurons flanking a
    jump, so the closer neuron reaches the jump while the other stops at
    distance ``|dL^3 - dR^3|^(1/3)`` on its side; other neurons never move.

    Parameters
    ----------
    initial_positions : array-like of shape (n_neurons,)
        Neuron positions on [0, 1] at the start, at least two in every piece
        of ``f*``.
    target : PiecewiseConstant or (jumps, values) tuple
        The piecewise-constant target ``f*`` on [0, 1].

    Returns
    -------
    ndarray of shape (n_neurons,)
        Sorted final positions.

    Examples
    --------
    >>> limit_final_positions([0.1, 0.3, 0.55, 0.9], ([0.4], [0.0, 1.0])).round(4).tolist()
    [0.1, 0.4, 0.5334, 0.9]
    """
    u = np.sort(_as_positions(initial_positions))
    target = _as_target(target)
    _check_pieces(u, target)
    left, right = _flanking(u, target)
    d_left, d_right = target.jumps - u[left], u[right] - target.jumps
    rest = np.cbrt(np.abs(d_left**3 - d_right**3))
    final = u.copy()
    final[left] = np.where(d_left <= d_right, target.jumps, target.jumps - rest)
    final[right] = np.where(d_right <= d_left, target.jumps, target.jumps + rest)
    # A jump without height exerts no force.
    still = target.heights == 0
    final[left[still]], final[right[still]] = u[left[still]], u[right[still]]
    return final


def simulate_two_timescale_limit(
    initial_positions: Any,
    target: Any,
    duration: float,
    *,
    n_steps: int = 10_000,
    n_records: int = 101,
) -> TwoTimescaleLimit:
    """Integrate the slow ODE of the neuron positions in the two-timescale limit.

    With the outer weights at the fast solution, the two neurons flanking a
    jump of height ``D`` at distances ``dL`` (left) and ``dR`` (right) move by
    ``du_L/dtau = D^2 dR^2 / (dL + dR)^2`` and
    ``du_R/dtau = -D^2 dL^2 / (dL + dR)^2``; all other neurons stay put. A
    neuron that reaches its jump stops there (the motion is discontinuous), so
    the forward Euler scheme snaps a neuron onto the jump when a step would
    overshoot it. SGD time ``t`` corresponds to ``tau = eps * h * t``.

    Parameters
    ----------
    initial_positions : array-like of shape (n_neurons,)
        Positions at ``tau = 0`` (any order, returned sorted).
    target : PiecewiseConstant or (jumps, values) tuple
        The piecewise-constant target.
    duration : float
        Final limit time ``tau``.
    n_steps : int, default=10_000
        Euler steps.
    n_records : int, default=101
        Number of evenly spaced times returned (both ends included).

    Returns
    -------
    TwoTimescaleLimit
        ``times``, sorted ``positions`` and the fast solution's ``l2_error``.

    Raises
    ------
    ValueError
        If a piece of ``f*`` holds fewer than two neurons at initialisation,
        the hypothesis of the paper's convergence theorem.

    Examples
    --------
    >>> path = simulate_two_timescale_limit([0.1, 0.3, 0.55, 0.9], ([0.4], [0.0, 1.0]), 1.0)
    >>> path.positions[-1].round(4).tolist()
    [0.1, 0.4, 0.5334, 0.9]
    >>> bool(path.l2_error[-1] < 1e-6)
    True
    """
    u = np.sort(_as_positions(initial_positions))
    target = _as_target(target)
    if not (np.isfinite(duration) and duration >= 0):
        raise ValueError(f"duration must be a finite number >= 0, got {duration}.")
    for name, value, low in (("n_steps", n_steps, 1), ("n_records", n_records, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    _check_pieces(u, target)
    left, right = _flanking(u, target)
    jumps, d2 = target.jumps, target.heights**2
    dt = duration / n_steps
    record_at = np.unique(np.round(np.linspace(0, n_steps, n_records)).astype(int))
    times, snaps, errors = [], [], []
    for step in range(n_steps + 1):
        if step == record_at[len(times)]:
            times.append(step * dt)
            snaps.append(u.copy())
            errors.append(limit_l2_error(u, target))
            if len(times) == len(record_at):
                break
        d_left, d_right = jumps - u[left], u[right] - jumps
        total = d_left + d_right
        moving = (d_left > 0) & (d_right > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            speed_left = np.where(moving, d2 * d_right**2 / total**2, 0.0)
            speed_right = np.where(moving, d2 * d_left**2 / total**2, 0.0)
        u[left] += np.minimum(dt * speed_left, d_left)
        u[right] -= np.minimum(dt * speed_right, d_right)
    return TwoTimescaleLimit(np.array(times), np.array(snaps), np.array(errors))

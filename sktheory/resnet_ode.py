"""Deep residual networks as discretised neural ODEs.

One residual network covers three papers:

* "Scaling ResNets in the large-depth regime" (Marion, Fermanian, Biau, Vert):
  ``h_{k+1} = h_k + L^{-beta} V_k sigma(W_k h_k)``; with i.i.d. weights the
  scaling ``beta = 1/2`` is the only non-trivial one (``beta < 1/2`` explodes,
  ``beta > 1/2`` collapses to the identity), while weights that are smooth in
  ``k / L`` make ``beta = 1`` the non-trivial regime (a neural ODE).
* "Implicit regularization of deep residual networks towards neural ODEs"
  (Sander, Ablin, Peyré, Marion; ICLR 2024): from ``V_k = 0`` and ``W_k = W``
  shared by all layers, gradient descent with a learning rate proportional to
  ``L`` keeps ``max_k ||Z_{k+1} - Z_k||_F = O(1 / L)``.
* "Generalization bounds for neural ODEs and deep residual networks" (Marion,
  NeurIPS 2023): the bound grows with the Lipschitz constant in depth of the
  weights; the penalty ``lambda ||(Z_{k+1} - Z_k)_k||_F`` on successive
  differences improves generalisation.

The per-layer weights are stored as stacked tensors of shape ``(depth, ...)``
and the forward pass loops over layers, so memory grows linearly with depth
and a depth of 1000 stays practical on a CPU.

Training follows the shared contract of :mod:`sktheory._training`: one window
is one epoch, run by a skorch net (built on first use, so that importing the
package does not import skorch), and the driver of
:class:`~sktheory.base.TorchEstimator` checks, records and stops.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from torch import nn

from sktheory._training import TrainState, Window, mean_predictor_loss, prior_predictor_loss
from sktheory.base import TorchEstimator

__all__ = [
    "ResNetODEClassifier",
    "ResNetODERegressor",
    "RegimeMap",
    "depth_process",
    "fgn_autocovariance",
    "generalization_bound",
    "regime_map",
]

_ACTIVATIONS = {
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "tanh": torch.tanh,
    "identity": lambda t: t,
}
_INITS = {"iid", "smooth", "fbm", "tied", "zero_v"}
# Largest number of rows pushed through the network at once outside training.
_CHUNK = 4096
# Rows on which the loss at initialisation is evaluated (a strided subsample beyond).
_INITIAL_ROWS = 2048


# --------------------------------------------------------------------------
# Weight processes in depth
# --------------------------------------------------------------------------
def _rbf_covariance(depth: int, bandwidth: float) -> np.ndarray:
    """RBF covariance in depth of one weight entry, on the grid ``t_k = k / L``
    (the NeurIPS 2023 paper's initialisation)."""
    t = np.arange(depth) / depth
    return np.exp(-((t[:, None] - t[None, :]) ** 2) / (2.0 * bandwidth**2))


def fgn_autocovariance(lags: Any, hurst: float) -> np.ndarray:
    """Autocovariance of unit-variance fractional Gaussian noise.

    ``gamma(k) = (|k + 1|^(2H) - 2 |k|^(2H) + |k - 1|^(2H)) / 2``: the
    covariance of two increments of fractional Brownian motion ``k`` steps
    apart, with unit steps. ``gamma(0) = 1``; for ``H = 1/2`` it vanishes at
    every other lag (independent noise).

    Parameters
    ----------
    lags : array-like of int
        Lags ``k`` (in layers).
    hurst : float
        Hurst index in (0, 1).

    Returns
    -------
    ndarray of float
        ``gamma(k)`` for each lag, the shape of ``lags``.

    Examples
    --------
    >>> fgn_autocovariance([0, 1, 2], 0.5).tolist()
    [1.0, 0.0, 0.0]
    """
    k = np.abs(np.asarray(lags, dtype=np.float64))
    h2 = 2.0 * hurst
    return 0.5 * ((k + 1) ** h2 - 2.0 * k**h2 + np.abs(k - 1) ** h2)


def _fgn(depth: int, size: int, hurst: float, generator: torch.Generator | None) -> torch.Tensor:
    """``size`` independent fGn sequences of length ``depth``, shape ``(depth, size)``.

    Davies and Harte's exact sampler: the Toeplitz covariance of ``depth``
    noise values is embedded in a circulant one of size ``2 depth``, which the
    FFT diagonalises; its eigenvalues are non-negative for every ``H`` in
    (0, 1), so the draw is exact (not an approximation) in ``O(L log L)``.
    """
    m = 2 * depth
    row = fgn_autocovariance(np.r_[np.arange(depth + 1), np.arange(depth - 1, 0, -1)], hurst)
    eig = np.fft.fft(row).real
    if eig.min() < -1e-8 * eig.max():  # cannot happen for fGn; guards a future kernel
        raise ValueError("The circulant embedding of the fGn covariance is not positive.")
    scale = torch.tensor(np.sqrt(np.clip(eig, 0.0, None) / m), dtype=torch.float64)
    # With xi complex Gaussian (independent N(0, 1) real and imaginary parts),
    # the real part of FFT(sqrt(eig / m) xi) has exactly the circulant covariance.
    re = torch.randn(m, size, generator=generator, dtype=torch.float64)
    im = torch.randn(m, size, generator=generator, dtype=torch.float64)
    z = torch.fft.fft(scale[:, None] * torch.complex(re, im), dim=0).real
    return z[:depth].contiguous()


def depth_process(
    kind: str,
    depth: int,
    shape: tuple[int, ...],
    *,
    bandwidth: float = 0.1,
    hurst: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw stacked weights ``(Z_k)_{k<depth}`` with a given regularity in depth.

    Every entry of ``Z_k`` is an independent copy of a Gaussian process
    evaluated at ``k / L``.

    Parameters
    ----------
    kind : {"iid", "smooth", "fbm", "tied", "zero"}
        ``"iid"``: independent standard Gaussian entries across layers.
        ``"smooth"``: a Gaussian process with the RBF kernel
        ``exp(-(s - t)^2 / (2 bandwidth^2))`` (unit marginal variance).
        ``"fbm"``: fractional Gaussian noise with Hurst index ``hurst`` along
        depth, the unit-variance increments of a fractional Brownian motion
        (the scaling paper's weights): every entry has variance 1 and
        ``Cov(Z_k, Z_{k+j}) = gamma(j)`` of :func:`fgn_autocovariance`.
        ``hurst=0.5`` is the i.i.d. case (the same draws as ``"iid"``);
        ``H > 1/2`` correlates neighbouring layers, ``H < 1/2`` anti-correlates
        them. Drawn exactly (Davies-Harte).
        ``"tied"``: one standard Gaussian matrix repeated in every layer.
        ``"zero"``: zeros.
    depth : int
        Number of layers ``L``.
    shape : tuple of int
        Shape of one layer's weight.
    bandwidth : float, default=0.1
        RBF bandwidth for ``"smooth"``.
    hurst : float, default=0.5
        Hurst index in (0, 1) for ``"fbm"``.
    generator : torch.Generator or None
        Source of randomness.

    Returns
    -------
    Tensor of shape ``(depth, *shape)``
        The stacked weights, in float64.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> z = depth_process("smooth", 50, (3, 2), bandwidth=0.2, generator=g)
    >>> tuple(z.shape)
    (50, 3, 2)
    """
    size = int(np.prod(shape))
    f64 = torch.float64
    if kind == "zero":
        return torch.zeros(depth, *shape, dtype=f64)
    if kind == "iid":
        return torch.randn(depth, *shape, generator=generator, dtype=f64)
    if kind == "tied":
        one = torch.randn(*shape, generator=generator, dtype=f64)
        return one.expand(depth, *shape).clone()
    if kind == "fbm":
        if not 0.0 < hurst < 1.0:
            raise ValueError(f"hurst must lie in (0, 1), got {hurst!r}.")
        if hurst == 0.5:
            # fGn with H = 1/2 is i.i.d. noise: the same draws as "iid".
            return torch.randn(depth, *shape, generator=generator, dtype=f64)
        return _fgn(depth, size, hurst, generator).reshape(depth, *shape)
    if kind != "smooth":
        raise ValueError(f"Unknown depth process {kind!r}.")
    cov = _rbf_covariance(depth, bandwidth)
    # A symmetric square root through eigh: the RBF covariance is numerically
    # singular at large depth, where a Cholesky factorisation fails.
    eigval, eigvec = np.linalg.eigh(cov)
    root = torch.tensor(eigvec * np.sqrt(np.clip(eigval, 0.0, None)), dtype=f64)
    z = torch.randn(depth, size, generator=generator, dtype=f64)
    return (root @ z).reshape(depth, *shape)


# --------------------------------------------------------------------------
# The torch module
# --------------------------------------------------------------------------
class _ResNetODEModule(nn.Module):
    """The residual network, with per-layer weights stacked in depth.

    ``h_0 = A x / sqrt(d)``, ``h_{k+1} = h_k + L^-beta r_k(h_k)``, output
    ``B h_L / sqrt(q) + b``, where
    ``r_k(h) = V_k sigma(W_k h / sqrt(q)) / sqrt(m)`` (residual ``"v_sigma_w"``)
    or ``V_k sigma(h) / sqrt(q)`` (residual ``"v_sigma"``). The ``1 / sqrt(fan in)``
    factors sit in the forward pass (as in the ICLR 2024 paper), so the stored
    weights have unit-variance entries at initialisation; ``fan_in_scaling=False``
    drops them (the ICLR 2024 reference's synthetic experiment), and
    ``fan_in_scaling="init"`` moves them into the initial draw of every weight
    (the NeurIPS 2023 reference: the trained matrices, the penalty and Adam's
    steps are then in the same units as its). With
    ``embedding="identity"`` there is no ``A``, ``B`` or ``b``: ``h_0 = x``,
    the state has ``q = d`` coordinates and the output is ``h_L`` itself.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        depth: int,
        width: int,
        hidden_width: int,
        scaling_exponent: float,
        activation: str,
        residual: str,
        init: str,
        bandwidth: float,
        hurst: float,
        regularity_penalty: float,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        embedding: str = "linear",
        fan_in_scaling: bool | str = True,
    ) -> None:
        super().__init__()
        if embedding == "identity":
            width = n_features
        self.embedding = embedding
        # Where the 1 / sqrt(fan in) factors go: "forward", "init" or "none".
        self.fan_in_scaling = {True: "forward", False: "none"}.get(fan_in_scaling, fan_in_scaling)
        self.depth, self.width = depth, width
        self.residual = residual
        self.hidden_width = hidden_width if residual == "v_sigma_w" else width
        self.scaling_exponent = scaling_exponent
        self.activation = activation
        self.regularity_penalty = regularity_penalty
        self.alpha = float(depth) ** (-scaling_exponent)
        m, q = self.hidden_width, width

        def weight(values: torch.Tensor) -> nn.Parameter:
            if self.fan_in_scaling == "init":
                values = values / math.sqrt(values.shape[-1])
            return nn.Parameter(values.to(dtype))

        def draw(*shape):
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        linear = embedding == "linear"
        self.A = weight(draw(q, n_features)) if linear else None
        v_kind = "zero" if init == "zero_v" else init
        w_kind = "tied" if init == "zero_v" else init
        kwargs = {"bandwidth": bandwidth, "hurst": hurst, "generator": generator}
        self.V = weight(depth_process(v_kind, depth, (q, m), **kwargs))
        if residual == "v_sigma_w":
            self.W = weight(depth_process(w_kind, depth, (m, q), **kwargs))
        else:
            self.W = None
        if linear:
            self.B = weight(draw(n_outputs, q))
            self.b = nn.Parameter(torch.zeros(n_outputs, dtype=dtype))
        else:
            self.B = self.b = None

    def _scale(self, fan_in: int) -> float:
        """The residual branch's factor for a weight with this fan-in."""
        return 1.0 / math.sqrt(fan_in) if self.fan_in_scaling == "forward" else 1.0

    def _outer_scale(self, fan_in: int) -> float:
        """The embedding's or readout's factor: in the forward pass unless drawn at init."""
        return 1.0 if self.fan_in_scaling == "init" else 1.0 / math.sqrt(fan_in)

    def families(self) -> dict[str, torch.Tensor]:
        """The stacked per-layer weights, by name."""
        out = {"V": self.V}
        if self.W is not None:
            out["W"] = self.W
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.A is None:
            return x
        return x @ self.A.T * self._outer_scale(self.A.shape[1])

    def step(self, h: torch.Tensor, k: int) -> torch.Tensor:
        # Every tensor a layer allocates is one autograd keeps: the scalings
        # go in place or into addmm. Freed per-layer temporaries doubled the
        # resident memory of deep fits, as the allocator kept them.
        sigma = _ACTIVATIONS[self.activation]
        if self.W is None:
            act, scale = sigma(h), self._scale(self.width)
        else:
            # mm keeps its inputs for backward, not its output: scaling in place is safe.
            pre = torch.mm(h, self.W[k].T).mul_(self._scale(self.width))
            act, scale = sigma(pre), self._scale(self.hidden_width)
        return torch.addmm(h, act, self.V[k].T, alpha=self.alpha * scale)

    def flow(self, h: torch.Tensor, keep: bool = False) -> torch.Tensor | list:
        states = [h] if keep else None
        for k in range(self.depth):
            h = self.step(h, k)
            if keep:
                states.append(h)
        return states if keep else h

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        if self.B is None:
            return h
        return h @ self.B.T * self._outer_scale(self.width) + self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.flow(self.embed(x)))

    def penalty(self) -> torch.Tensor:
        return _difference_penalty(list(self.families().values()), self.regularity_penalty)


@dataclass
class RegimeMap:
    """The output ratio at initialisation over a grid of ``beta``, ``H`` and depth.

    Attributes
    ----------
    betas, hursts, depths : ndarray
        The grid.
    output_ratio : ndarray of shape (n_betas, n_hursts, n_depths)
        Mean over draws of ``||h_L - h_0|| / ||h_0||`` at initialisation.
    slope : ndarray of shape (n_betas, n_hursts)
        Least-squares slope of ``log output_ratio`` against ``log L``.
    regime : ndarray of str, shape (n_betas, n_hursts)
        ``"explodes"`` (slope above ``threshold``), ``"identity"`` (slope
        below ``-threshold``: the network collapses to the identity) or
        ``"non-trivial"`` (of order one at every depth).
    """

    betas: np.ndarray
    hursts: np.ndarray
    depths: np.ndarray
    output_ratio: np.ndarray
    slope: np.ndarray
    regime: np.ndarray


def regime_map(
    betas: Any,
    hursts: Any,
    depths: Any = (16, 64, 256),
    *,
    width: int = 16,
    hidden_width: int = 16,
    activation: str = "relu",
    n_samples: int = 32,
    n_draws: int = 2,
    threshold: float = 0.15,
    random_state: Any = None,
) -> RegimeMap:
    """Phase diagram of the scaling paper: explosion, identity or non-trivial.

    For every scaling exponent ``beta`` and Hurst index ``H``, networks with
    fractional-Gaussian-noise weights along depth (``init="fbm"``; ``H = 1/2``
    is the i.i.d. case) are drawn at each depth ``L`` and the ratio
    ``||h_L - h_0|| / ||h_0||`` is measured at initialisation on standard
    Gaussian inputs (``n_features = width``). How it moves with ``L`` gives the
    regime: it grows when ``beta`` is below the critical value, falls like a
    power of ``L`` (the identity) when ``beta`` is above, and stays of order
    one at the critical scaling, which moves with the regularity ``H``.

    Parameters
    ----------
    betas : array-like of float
        Scaling exponents ``beta`` (``alpha_L = L^-beta``).
    hursts : array-like of float
        Hurst indices in (0, 1).
    depths : array-like of int, default=(16, 64, 256)
        Depths ``L`` at which the ratio is measured.
    width, hidden_width : int, default=16
        ``q`` and ``m`` of the residual blocks ``V_k sigma(W_k h / sqrt(q)) / sqrt(m)``.
    activation : {"relu", "gelu", "tanh", "identity"}, default="relu"
        The activation ``sigma`` of the residual branch.
    n_samples : int, default=32
        Inputs per draw.
    n_draws : int, default=2
        Independent networks averaged per cell.
    threshold : float, default=0.15
        Slope of ``log ratio`` in ``log L`` beyond which a cell explodes or
        collapses.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the inputs.

    Returns
    -------
    RegimeMap
        The grid, the measured ratios, their slopes and the regimes.

    Examples
    --------
    >>> rm = regime_map([0.25, 0.5, 1.0], [0.5], depths=(8, 64), random_state=0)
    >>> rm.regime[:, 0].tolist()
    ['explodes', 'non-trivial', 'identity']
    """
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    hursts = np.atleast_1d(np.asarray(hursts, dtype=np.float64))
    depths = np.atleast_1d(np.asarray(depths, dtype=np.int64))
    if np.any(betas < 0) or np.any((hursts <= 0) | (hursts >= 1)):
        raise ValueError("betas must be >= 0 and hursts must lie in (0, 1).")
    if len(depths) < 2 or np.any(depths < 1):
        raise ValueError("depths needs at least two positive depths to give a slope.")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}.")
    from sktheory.base import make_generator

    generator = make_generator(random_state)
    ratio = np.empty((len(betas), len(hursts), len(depths)))
    with torch.no_grad():
        for j, hurst in enumerate(hursts):
            for k, depth in enumerate(depths):
                draws = []
                for _ in range(n_draws):
                    module = _ResNetODEModule(
                        width,
                        1,
                        depth=int(depth),
                        width=width,
                        hidden_width=hidden_width,
                        scaling_exponent=0.0,
                        activation=activation,
                        residual="v_sigma_w",
                        init="fbm",
                        bandwidth=0.1,
                        hurst=float(hurst),
                        regularity_penalty=0.0,
                        generator=generator,
                        embedding="identity",
                    )
                    x = torch.randn(n_samples, width, generator=generator, dtype=torch.float64)
                    draws.append([_output_ratio(module, x, depth**-b) for b in betas])
                ratio[:, j, k] = np.mean(draws, axis=0)
    logs = np.log(np.maximum(ratio, 1e-300))
    logd = np.log(depths.astype(np.float64))
    centred = logd - logd.mean()
    slope = (logs - logs.mean(axis=2, keepdims=True)) @ centred / (centred @ centred)
    regime = np.where(
        slope > threshold, "explodes", np.where(slope < -threshold, "identity", "non-trivial")
    )
    return RegimeMap(betas, hursts, depths, ratio, slope, regime)


def _output_ratio(module: _ResNetODEModule, x: torch.Tensor, alpha: float) -> float:
    """``||h_L - h_0|| / ||h_0||`` with the residual scale ``alpha``; inf on overflow."""
    module.alpha = alpha
    h = module.flow(x)
    value = float((h - x).norm() / x.norm())
    return value if math.isfinite(value) else math.inf


def _regularity(module: _ResNetODEModule) -> dict[str, dict[str, float]]:
    """Regularity in depth of each stacked family (see ``weight_regularity``)."""
    out = {}
    with torch.no_grad():
        for name, z in module.families().items():
            diff = (z[1:] - z[:-1]).flatten(1).norm(dim=1)
            max_diff = float(diff.max()) if len(diff) else 0.0
            out[name] = {
                "max_diff": max_diff,
                "max_diff_times_depth": max_diff * module.depth,
                "diff_norm": float(diff.norm()),
                "max_norm": float(z.flatten(1).norm(dim=1).max()),
            }
    return out


def _difference_penalty(stacks: list[torch.Tensor], lam: float) -> torch.Tensor:
    """``lam * ||(Z_{k+1} - Z_k)_k||_F`` over all weight families (NeurIPS 2023)."""
    if lam == 0 or stacks[0].shape[0] < 2:
        return stacks[0].new_zeros(())
    sq = sum(((z[1:] - z[:-1]) ** 2).sum() for z in stacks)
    # The norm is not differentiable at 0 (tied weights); there the
    # subgradient 0 is used.
    return lam * torch.where(sq > 0, sq, 1.0).sqrt() * (sq > 0)


class _SquaredError(nn.Module):
    """Squared error averaged over outputs: one loss per sample."""

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out - y) ** 2).mean(dim=1)


# --------------------------------------------------------------------------
# skorch plumbing
# --------------------------------------------------------------------------
class _NonFiniteLoss(Exception):
    """A training batch gave a non-finite loss; raised before its update."""

    def __init__(self, loss: float) -> None:
        super().__init__(loss)
        self.loss = loss


class _TensorBatches:
    """skorch's ``iterator_train``: mini-batches sliced straight from the tensors.

    A DataLoader indexes and collates sample by sample, which costs more than
    a shallow epoch. ``X`` is skorch's dict ``{"X": rows, "sample_weight":
    weights}``; the shuffling draws from the fit's generator, once per epoch,
    so fits reproduce and warm starts continue the same stream.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 128,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        self.X, self.y = dataset.X, dataset.y
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        n, size = len(self.y), self.batch_size
        if size >= n:
            yield self.X, self.y
            return
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.y.device)
        for start in range(0, n, size):
            rows = slice(start, start + size) if order is None else order[start : start + size]
            yield {key: value[rows] for key, value in self.X.items()}, self.y[rows]


@functools.cache
def _net_class() -> type:
    """The skorch net class, built on first use so that ``import sktheory``
    does not import skorch."""
    from skorch import NeuralNet

    class _ResNetODENet(NeuralNet):
        """skorch's ``NeuralNet`` with sample weights and the regularity penalty.

        ``X`` is a dict ``{"X": rows, "sample_weight": weights}`` (skorch's
        way to carry per-sample data); the criterion has ``reduction="none"``
        and :meth:`get_loss` weights it. A batch whose loss is not finite
        raises :class:`_NonFiniteLoss` before the optimiser's update, so the
        window ends there, as the training contract asks.
        """

        def infer(self, x: Any, **fit_params: Any) -> torch.Tensor:
            # The module sees the rows only; the weights are the loss's.
            if isinstance(x, Mapping):
                x = x["X"]
            return super().infer(x, **fit_params)

        def get_loss(
            self, y_pred: torch.Tensor, y_true: Any, X: Any = None, training: bool = False
        ) -> torch.Tensor:
            losses = super().get_loss(y_pred, y_true, X=X, training=training)
            if isinstance(X, Mapping):
                losses = X["sample_weight"] * losses
            return losses.mean() + self.module_.penalty()

        def train_step_single(self, batch: Any, **fit_params: Any) -> dict:
            step = super().train_step_single(batch, **fit_params)
            # Raised inside the optimiser's closure, so no update is applied.
            if not bool(torch.isfinite(step["loss"])):
                raise _NonFiniteLoss(step["loss"].item())
            return step

    # Pickles find the class as an attribute of this module (see __getattr__).
    _ResNetODENet.__module__ = __name__
    _ResNetODENet.__qualname__ = _ResNetODENet.__name__
    return _ResNetODENet


def __getattr__(name: str) -> Any:
    # Unpickling a fitted net looks its class up here; build it then.
    if name == "_ResNetODENet":
        return _net_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------
# Training state
# --------------------------------------------------------------------------
@dataclass
class _Data:
    """Validated training data as tensors."""

    X: torch.Tensor
    y: torch.Tensor  # standardised targets (regression) or class codes
    weight: torch.Tensor  # sample weights scaled to mean 1
    baseline: float  # trivial predictor's loss, in the training loss's units
    batch_size: int

    def inputs(self, rows: Any = slice(None)) -> dict[str, torch.Tensor]:
        """``X`` as the skorch net takes it: rows and their weights."""
        return {"X": self.X[rows], "sample_weight": self.weight[rows]}


@dataclass
class _State(TrainState):
    """The skorch net (module, optimiser, its history) of the fit.

    The minibatch order needs no field: every epoch is a whole one and draws
    its permutation from ``generator``, which the net's iterator shares.
    """

    net: Any = None  # a _ResNetODENet (skorch.NeuralNet)


# --------------------------------------------------------------------------
# The shared estimator
# --------------------------------------------------------------------------
class _ResNetODEBase(TorchEstimator):
    """Everything the regressor and the classifier share."""

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "hidden_width": [Interval(Integral, 1, None, closed="left")],
        "scaling_exponent": [Interval(Real, 0, None, closed="left")],
        "residual": [StrOptions({"v_sigma_w", "v_sigma"})],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "init": [StrOptions(_INITS)],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "hurst": [Interval(Real, 0, 1, closed="neither")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "scale_lr_with_depth": ["boolean"],
        "embedding": [StrOptions({"linear", "identity"})],
        "fan_in_scaling": ["boolean", StrOptions({"forward", "init"})],
        "freeze_embedding": ["boolean"],
        "embedding_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "regularity_penalty": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
    }

    _budget = "max_epochs"
    _divergence_hint = (
        "Lower learning_rate (the default 0.01 suits Adam), switch off "
        "scale_lr_with_depth, or raise scaling_exponent (1/2 for init='iid', 1 for "
        "smooth weights) so that the forward pass does not explode with depth."
    )
    _no_progress_hint = (
        "Raise learning_rate or max_epochs (plain SGD on a deep network needs "
        "scale_lr_with_depth=True), or lower regularity_penalty."
    )

    def __init__(
        self,
        depth: int = 16,
        width: int = 16,
        hidden_width: int = 32,
        scaling_exponent: float = 1.0,
        residual: str = "v_sigma_w",
        activation: str = "relu",
        init: str = "smooth",
        bandwidth: float = 0.1,
        hurst: float = 0.5,
        optimizer: str = "adam",
        learning_rate: float = 1e-2,
        scale_lr_with_depth: bool = False,
        embedding: str = "linear",
        fan_in_scaling: bool | str = True,
        freeze_embedding: bool = False,
        embedding_learning_rate: float | None = None,
        max_epochs: int = 100,
        batch_size: int | None = None,
        regularity_penalty: float = 0.0,
        tol: float | None = None,
        n_iter_no_change: int = 10,
        warm_start: bool = False,
        random_state: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
        verbose: int = 0,
        on_divergence: str = "raise",
    ) -> None:
        self.depth = depth
        self.width = width
        self.hidden_width = hidden_width
        self.scaling_exponent = scaling_exponent
        self.residual = residual
        self.activation = activation
        self.init = init
        self.bandwidth = bandwidth
        self.hurst = hurst
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.scale_lr_with_depth = scale_lr_with_depth
        self.embedding = embedding
        self.fan_in_scaling = fan_in_scaling
        self.freeze_embedding = freeze_embedding
        self.embedding_learning_rate = embedding_learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.regularity_penalty = regularity_penalty
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    # Subclasses define these five.
    def _validate_fit_data(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _encode_targets(
        self, y: np.ndarray, reset: bool, sample_weight: np.ndarray | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def _trivial_loss(self, y: torch.Tensor, sample_weight: np.ndarray) -> float:
        raise NotImplementedError

    def _criterion(self) -> nn.Module:
        """The training criterion, one loss per sample (``reduction="none"``)."""
        raise NotImplementedError

    def _sample_losses(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample training loss, shape (n_samples,)."""
        return self._criterion()(out, y)

    # ------------------------------------------------- training contract hooks
    def _check_fit_data(self, X: Any, y: Any, reset: bool, sample_weight: Any = None) -> _Data:
        X, y = self._validate_fit_data(X, y, reset)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        self.n_train_samples_ = len(X)
        yt = self._encode_targets(y, reset, sw)
        batch = len(X) if self.batch_size is None else min(self.batch_size, len(X))
        return _Data(
            X=self._to_tensor(X),
            y=yt,
            weight=self._to_tensor(sw / sw.mean()),
            baseline=self._trivial_loss(yt, sw),
            batch_size=batch,
        )

    def _init_state(self, data: _Data, generator: torch.Generator) -> _State:
        if self.embedding == "identity" and self.n_outputs_ != data.X.shape[1]:
            what = "targets" if isinstance(self, RegressorMixin) else "classes"
            raise ValueError(
                f"embedding='identity' predicts with the state h_L itself, which has "
                f"n_features={data.X.shape[1]} coordinates, but y has {self.n_outputs_} "
                f"{what}; use embedding='linear' (a readout B) instead."
            )
        module = _ResNetODEModule(
            data.X.shape[1],
            self.n_outputs_,
            depth=self.depth,
            width=self.width,
            hidden_width=self.hidden_width,
            scaling_exponent=self.scaling_exponent,
            activation=self.activation,
            residual=self.residual,
            init=self.init,
            bandwidth=self.bandwidth,
            hurst=self.hurst,
            regularity_penalty=self.regularity_penalty,
            generator=generator,
            dtype=self._torch_dtype,
            embedding=self.embedding,
            fan_in_scaling=self.fan_in_scaling,
        ).to(self.device_)
        outer = [p for p in (module.A, module.B, module.b) if p is not None]
        if self.freeze_embedding:
            for p in outer:
                p.requires_grad_(False)
        sub = slice(0, min(len(data.X), 512))
        with self._torch_context():
            self.init_ratios_ = self._ratios(module, data.X[sub], data.y[sub])
        # Per-group learning rates: the depth factor of the ICLR 2024 gradient
        # flow belongs to the residual weights V, W only; A, B, b keep theirs.
        lr = self.learning_rate * (self.depth if self.scale_lr_with_depth else 1)
        outer_lr = self.embedding_learning_rate or self.learning_rate
        groups = [(name, {"lr": outer_lr}) for name in ("A", "B", "b")] if outer else []
        # No EarlyStopping or divergence callback: tol, divergence and
        # progress are the driver's. skorch's PrintLog formats a table every
        # epoch even when silent, so it is dropped unless verbose.
        quiet = {} if self.verbose else {"callbacks__print_log": None}
        net = _net_class()(
            module=module,
            criterion=self._criterion(),
            optimizer=torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD,
            lr=lr,
            batch_size=data.batch_size,
            train_split=None,
            iterator_train=_TensorBatches,
            iterator_train__shuffle=True,
            iterator_train__generator=generator,
            optimizer__param_groups=groups,
            device=str(self.device_),
            verbose=int(bool(self.verbose)),
            **quiet,
        )
        return _State(generator=generator, net=net.initialize())

    def _run_window(self, state: _State, data: _Data, n_updates: int | None) -> Window:
        """One epoch of skorch's loop (the budget is in epochs: ``n_updates`` is None)."""
        net = state.net
        net.batch_size = data.batch_size  # a warm fit may change it
        try:
            # fit_loop rather than partial_fit: partial_fit swallows
            # KeyboardInterrupt, after which the driver would start the next epoch.
            net.fit_loop(data.inputs(), data.y, epochs=1)
        except _NonFiniteLoss as exc:
            return Window(exc.loss, len(net.history[-1]["batches"]))
        epoch = net.history[-1]
        return Window(float(epoch["train_loss"]), int(epoch["train_batch_count"]))

    def _initial_loss(self, state: _State, data: _Data) -> float:
        rows = slice(None, None, -(-len(data.X) // _INITIAL_ROWS))  # strided beyond that
        net = state.net
        with torch.no_grad():
            out = net.infer(data.X[rows])
            return float(net.get_loss(out, data.y[rows], X=data.inputs(rows)))

    def _baseline_loss(self, data: _Data) -> float:
        return data.baseline

    def _record(self, state: _State, data: _Data) -> dict:
        entry = {"seconds": float(state.net.history[-1]["dur"])}
        for name, reg in _regularity(state.net.module_).items():
            entry[f"max_diff_{name}"] = reg["max_diff"]
            entry[f"max_diff_{name}_times_depth"] = reg["max_diff_times_depth"]
        return entry

    def _finalize(self, state: _State, data: _Data) -> None:
        self.net_ = state.net
        self.module_ = state.net.module_
        self.module_.eval()
        if self.diverged_:
            self.final_ratios_ = {"output_ratio": math.nan, "gradient_ratio": math.nan}
            return
        sub = slice(0, min(len(data.X), 512))
        with self._torch_context():
            self.final_ratios_ = self._ratios(self.module_, data.X[sub], data.y[sub])

    # ------------------------------------------------------------- forward
    def _forward(self, X: np.ndarray) -> torch.Tensor:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Xt = self._to_tensor(X)
        with self._torch_context(), torch.no_grad():
            chunks = [self.module_(Xt[i : i + _CHUNK]) for i in range(0, len(Xt), _CHUNK)]
        return torch.cat(chunks)

    # --------------------------------------------------------- diagnostics
    def hidden_states(self, X: Any) -> np.ndarray:
        """Trajectory ``(h_0, ..., h_L)`` of every sample through the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, depth + 1, width)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Xt = self._to_tensor(X)
        with self._torch_context(), torch.no_grad():
            states = self.module_.flow(self.module_.embed(Xt), keep=True)
        return self._to_numpy(torch.stack(states, dim=1))

    def weight_regularity(self) -> dict[str, dict[str, float]]:
        """Regularity in depth of each stacked weight family (``"V"``, ``"W"``).

        Returns
        -------
        dict
            For each family ``Z``: ``"max_diff"`` = ``max_k ||Z_{k+1} - Z_k||_F``;
            ``"max_diff_times_depth"`` = ``L`` times it (bounded in ``L`` for a
            discretised neural ODE, ICLR 2024); ``"diff_norm"`` =
            ``||(Z_{k+1} - Z_k)_k||_F``, the quantity the regularity penalty
            multiplies; ``"max_norm"`` = ``max_k ||Z_k||_F``.
        """
        check_is_fitted(self)
        return _regularity(self.module_)

    def depth_ratios(self, X: Any, y: Any = None) -> dict[str, float]:
        """Output and gradient ratios of the scaling paper on ``(X, y)``.

        ``output_ratio`` = ``||h_L - h_0|| / ||h_0||`` and ``gradient_ratio`` =
        ``||p_0 - p_L|| / ||p_L||`` with ``p_k`` the gradient of the loss with
        respect to ``h_k`` (norms over the whole batch). The loss is the
        training criterion on ``y``, or ``||F(x)||^2 / 2`` when ``y`` is None.
        Near 0: the network is close to the identity; of order 1: non-trivial;
        large: explosion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or None

        Returns
        -------
        dict with keys ``"output_ratio"`` and ``"gradient_ratio"``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        yt = None if y is None else self._encode_targets(np.asarray(y), reset=False)
        with self._torch_context():
            return self._ratios(self.module_, self._to_tensor(X), yt)

    def _ratios(
        self, module: nn.Module, Xt: torch.Tensor, yt: torch.Tensor | None
    ) -> dict[str, float]:
        with torch.enable_grad():
            h0 = module.embed(Xt).detach().requires_grad_(True)
            hL = module.flow(h0)
            hL.retain_grad()
            out = module.readout(hL)
            loss = (out**2).sum() / 2 if yt is None else self._sample_losses(out, yt).mean()
            p0, pL = torch.autograd.grad(loss, [h0, hL])
        with torch.no_grad():
            return {
                "output_ratio": float((hL - h0).norm() / h0.norm()),
                "gradient_ratio": float((p0 - pL).norm() / pL.norm()),
            }

    def generalization_bound_terms(self) -> dict[str, float]:
        """The quantities the generalisation bound of Marion (NeurIPS 2023) grows with.

        For residual networks whose stacked weights satisfy ``||Z_k|| <= R``
        and ``||Z_{k+1} - Z_k|| <= K / L``, the bound on the gap between test
        and training risk grows with ``R``, with the Lipschitz-in-depth constant
        ``K`` and with the number of parameters per layer, and decreases as
        ``1 / sqrt(n)``; it does not grow with ``L`` when ``K`` stays bounded.

        Returns
        -------
        dict
            ``"lipschitz_in_depth"`` (``K = L max_k ||Z_{k+1} - Z_k||_F``, max over
            families), ``"max_weight_norm"`` (``R = max_k ||Z_k||_F``),
            ``"embedding_norm"`` (``||A||_F``), ``"readout_norm"`` (``||B||_F``),
            ``"params_per_layer"``, ``"depth"``, ``"n_samples"`` (training size).

        See Also
        --------
        generalization_bound : The bound's value, with its constants.
        """
        reg = self.weight_regularity()
        mod = self.module_
        return {
            "lipschitz_in_depth": max(r["max_diff_times_depth"] for r in reg.values()),
            "max_weight_norm": max(r["max_norm"] for r in reg.values()),
            "embedding_norm": 0.0 if mod.A is None else float(mod.A.detach().norm()),
            "readout_norm": 0.0 if mod.B is None else float(mod.B.detach().norm()),
            "params_per_layer": float(sum(z[0].numel() for z in mod.families().values())),
            "depth": float(mod.depth),
            "n_samples": float(self.n_train_samples_),
        }

    def _sharpness_problem(
        self, X: Any, y: Any
    ) -> tuple[Callable[[list[torch.Tensor]], torch.Tensor], list[torch.Tensor]]:
        """The training objective on ``(X, y)`` as a function of the parameters.

        Returns ``(loss_fn, params)``: ``loss_fn(list_of_tensors)`` is the
        training loss (criterion plus regularity penalty) with the module's
        trainable parameters replaced by the given tensors, computed in
        float64; ``params`` are float64 detached copies of the current ones,
        in the module's ``named_parameters`` order.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        module = copy.deepcopy(self.module_).to(torch.float64).cpu()
        Xt = torch.tensor(X, dtype=torch.float64)
        yt = self._encode_targets(np.asarray(y), reset=False).cpu()
        if yt.is_floating_point():
            yt = yt.to(torch.float64)
        names = [n for n, p in module.named_parameters() if p.requires_grad]
        params = [p.detach().clone() for n, p in module.named_parameters() if n in names]
        lam = module.regularity_penalty
        families = [n for n in ("V", "W") if n in names]

        def loss_fn(values: list[torch.Tensor]) -> torch.Tensor:
            mapping = dict(zip(names, values, strict=True))
            out = torch.func.functional_call(module, mapping, (Xt,))
            stacks = [mapping[n] for n in families]
            loss = self._sample_losses(out, yt).mean()
            return loss + _difference_penalty(stacks, lam)

        return loss_fn, params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


# --------------------------------------------------------------------------
# Generalisation bound (NeurIPS 2023)
# --------------------------------------------------------------------------
def _activation_lipschitz(name: str) -> float:
    """Lipschitz constant ``K_sigma`` of the activation (all have sigma(0) = 0)."""
    if name == "gelu":
        # GELU' = Phi(x) + x phi(x) peaks at x = sqrt(2).
        s = math.sqrt(2.0)
        return 0.5 * (1 + math.erf(1.0)) + s * math.exp(-1.0) / math.sqrt(2 * math.pi)
    return 1.0


def _covering_blocks(depth: int, lipschitz: float, eps: float) -> int:
    """Blocks of consecutive layers, each within ``eps`` of its first layer."""
    if lipschitz <= 0:
        return 1
    per_block = max(1, math.floor(eps * depth / lipschitz))
    return -(-depth // per_block)


def _bound_gap(
    *,
    depth: int,
    n_samples: int,
    params_per_layer: int,
    weight_radius: float,
    lipschitz: float,
    param_lipschitz: float,
    loss_bound: float,
    loss_lipschitz: float,
    delta: float,
    eps: float,
) -> tuple[float, float]:
    """``(gap, log covering number)`` of the bound at one scale ``eps``."""
    blocks = _covering_blocks(depth, lipschitz, eps)
    log_cover = blocks * params_per_layer * math.log1p(2 * weight_radius / eps)
    gap = loss_bound * math.sqrt((log_cover + math.log(1 / delta)) / (2 * n_samples))
    return gap + 4 * loss_lipschitz * param_lipschitz * eps, log_cover


# Scales eps = 2^-j * scale tried by the bound; the union bound over them costs log(len).
_BOUND_SCALES = 48


def generalization_bound(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    delta: float = 0.05,
    input_radius: float | None = None,
    target_radius: float | None = None,
    weight_radius: float | None = None,
    lipschitz_in_depth: float | None = None,
) -> dict[str, float]:
    """Value of the depth-free generalisation bound of Marion (NeurIPS 2023).

    The class is the paper's residual network: ``H_0 = A x``,
    ``H_{k+1} = H_k + (1/L) M_{k+1} sigma(H_k)``, ``F(x) = B H_L + b`` with
    ``A``, ``B``, ``b`` fixed (not trained: ``freeze_embedding=True`` or
    ``embedding="identity"``) and the per-layer matrices in

    ``Theta = {(M_k) : ||M_k||_F <= R_W, ||M_{k+1} - M_k||_F <= K_W / L}``.

    For an estimator with ``residual="v_sigma"``, ``M_k`` is its ``V_k`` times
    ``L^(1 - beta)`` and the ``1 / sqrt(q)`` fan-in factor, which writes its
    forward pass exactly in this form; with ``fan_in_scaling="init"`` and
    ``beta = 1``, ``M_k`` is ``V_k`` itself, the NeurIPS 2023 reference's
    parametrisation. Assumptions (plugged in from the
    sample when not given): ``||x|| <= R_X``; ``sigma`` is ``K_sigma``-Lipschitz
    with ``sigma(0) = 0`` (1 for ReLU, tanh and the identity, 1.129 for GELU);
    for regression the standardised targets satisfy ``||y|| <= R_Y``.

    With probability at least ``1 - delta`` over ``n`` i.i.d. training
    samples, every network of ``Theta`` has a risk at most

    ``bound = R_n + min_eps [ B_l sqrt((log N(eps) + log(G / delta)) / (2 n)) + 4 K_l C eps ]``

    where ``R_n`` is its empirical risk and, with ``c = K_sigma R_W``:

    * ``R_H = ||A||_2 R_X (1 + c/L)^L`` bounds every state (discrete Gronwall);
    * ``C = ||B||_2 K_sigma R_H ((1 + c/L)^L - 1) / c`` is the Lipschitz
      constant of ``F(x)`` in the weights for ``max_k ||M_k - M'_k||_F``;
    * ``R_F = ||B||_2 R_H + ||b||`` bounds the output; the loss is bounded
      by ``B_l`` and ``K_l``-Lipschitz in the output: for the regressor's
      squared error averaged over ``q`` outputs ``B_l = (R_F + R_Y)^2 / q`` and
      ``K_l = 2 (R_F + R_Y) / q``; for the cross-entropy ``B_l = log K +
      sqrt(2) R_F`` and ``K_l = sqrt(2)``;
    * ``log N(eps) = J(eps) p log(1 + 2 R_W / eps)`` bounds the covering number of
      ``Theta`` at scale ``2 eps``: ``p`` parameters per layer, and ``J(eps) =
      ceil(L / max(1, floor(eps L / K_W)))`` blocks of consecutive layers, each
      within ``eps`` of its first layer, so ``J <= K_W / eps + 1`` whatever
      the depth (``J = 1`` for ``K_W = 0``, ``J = L`` at most);
    * ``eps`` runs over ``G = 48`` scales ``2^-j max(R_W, K_W, 1)``, paid for
      by a union bound.

    The bound grows with the Lipschitz-in-depth constant ``K_W`` through
    ``J``, and with ``R_W`` through the Gronwall factor ``exp(K_sigma R_W)``;
    it does not grow with ``L`` when ``K_W`` stays bounded, which is the
    paper's point.

    Each step is the paper's argument (Gronwall for the Lipschitz dependence
    on the weights, a covering of weights that are Lipschitz in depth, a
    union bound over the cover), but the constants are this implementation's
    own: the theorem's statement with its numerical constants was not at hand,
    so this value is a valid bound under the assumptions above, not the
    paper's formula to the digit. The paper's Lipschitz-in-depth term decays
    as ``n^(-1/4)``; minimising over ``eps`` here makes it decay as
    ``n^(-1/3)`` up to a logarithm (``eps ~ (K_W p / n)^(1/3)``), and its
    ``R_W`` and ``K_W`` are Frobenius norms of ``M_k`` and of its
    differences. As in the paper's experiments, ``R_W``,
    ``K_W``, ``R_X`` and ``R_Y`` default to the fitted network's and the
    sample's own values; the guarantee holds for a class fixed before seeing
    the data, so pass them to evaluate a fixed class.

    Parameters
    ----------
    estimator : ResNetODERegressor or ResNetODEClassifier
        Fitted, with ``residual="v_sigma"`` and fixed ``A``, ``B``.
    X : array-like of shape (n_samples, n_features)
        The training inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        The training targets.
    delta : float, default=0.05
        Failure probability, in (0, 1).
    input_radius, target_radius, weight_radius, lipschitz_in_depth : float or None
        ``R_X``, ``R_Y`` (standardised targets; regression only), ``R_W`` and
        ``K_W``; None plugs in the sample's / network's values. ``R_W`` and
        ``K_W`` below the network's own are refused.

    Returns
    -------
    dict
        ``"bound"`` (the risk bound), ``"empirical_risk"`` (``R_n``, the
        unweighted mean training criterion), ``"gap"`` (bound minus ``R_n``),
        ``"epsilon"`` (the scale attaining the minimum), ``"log_covering"``
        (``log N`` there), ``"blocks"`` (``J`` there) and the terms
        ``"weight_radius"`` (``R_W``), ``"lipschitz_in_depth"`` (``K_W``),
        ``"input_radius"``, ``"target_radius"``, ``"state_radius"`` (``R_H``),
        ``"output_radius"`` (``R_F``), ``"param_lipschitz"`` (``C``),
        ``"loss_bound"``, ``"loss_lipschitz"``, ``"activation_lipschitz"``,
        ``"params_per_layer"``, ``"depth"``, ``"n_samples"``, ``"delta"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktheory import ResNetODERegressor
    >>> from sktheory.resnet_ode import generalization_bound
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> y = np.tanh(X[:, 0])
    >>> est = ResNetODERegressor(depth=16, width=8, residual="v_sigma",
    ...                          freeze_embedding=True, learning_rate=0.05,
    ...                          max_epochs=50, random_state=0).fit(X, y)
    >>> out = generalization_bound(est, X, y, delta=0.05)
    >>> out["bound"] > out["empirical_risk"]
    True
    """
    check_is_fitted(estimator, "module_")
    if not isinstance(estimator, _ResNetODEBase):
        raise TypeError("generalization_bound takes a fitted ResNetODERegressor or Classifier.")
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}.")
    for name, value in [
        ("input_radius", input_radius),
        ("target_radius", target_radius),
        ("weight_radius", weight_radius),
        ("lipschitz_in_depth", lipschitz_in_depth),
    ]:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    if estimator.diverged_:
        raise ValueError("The estimator diverged; there is no network to bound.")
    module = estimator.module_
    if module.residual != "v_sigma":
        raise ValueError(
            "The NeurIPS 2023 bound covers H_{k+1} = H_k + V_k sigma(H_k) / L, i.e. "
            "residual='v_sigma'; this estimator has residual='v_sigma_w'."
        )
    trained_outer = [p for p in (module.A, module.B, module.b) if p is not None and p.requires_grad]
    if trained_outer:
        raise ValueError(
            "The bound holds for a fixed embedding A and readout B (the NeurIPS 2023 "
            "setting): fit with freeze_embedding=True or embedding='identity'."
        )
    X = validate_data(estimator, X, reset=False, dtype=[np.float64, np.float32])
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}.")
    n, depth = len(X), module.depth

    with torch.no_grad():
        V = module.V.detach().to(torch.float64).cpu()
        # V_k sigma(h) * alpha * fanin == (1/L) M_k sigma(h).
        M = V * (module.alpha * depth * module._scale(module.width))
        norms = M.flatten(1).norm(dim=1)
        diffs = (M[1:] - M[:-1]).flatten(1).norm(dim=1)
        own_radius = float(norms.max())
        own_lipschitz = float(diffs.max()) * depth if depth > 1 else 0.0
        # Spectral norms of the maps x -> h_0 and h_L -> output, factors included.
        a_norm = (
            1.0
            if module.A is None
            else float(torch.linalg.matrix_norm(module.A.double(), 2))
            * module._outer_scale(module.A.shape[1])
        )
        b_norm = (
            1.0
            if module.B is None
            else float(torch.linalg.matrix_norm(module.B.double(), 2))
            * module._outer_scale(module.width)
        )
        bias = 0.0 if module.b is None else float(module.b.double().norm())
        Xt = estimator._to_tensor(X)
        yt = estimator._encode_targets(y, reset=False)
        out = torch.cat([module(Xt[i : i + _CHUNK]) for i in range(0, n, _CHUNK)])
        empirical = float(estimator._sample_losses(out, yt).double().mean())

    slack = 1e-9 * max(1.0, own_radius, own_lipschitz)
    if weight_radius is not None and weight_radius < own_radius - slack:
        raise ValueError(
            f"weight_radius={weight_radius} is below the network's R_W={own_radius:.6g}."
        )
    if lipschitz_in_depth is not None and lipschitz_in_depth < own_lipschitz - slack:
        raise ValueError(
            f"lipschitz_in_depth={lipschitz_in_depth} is below the network's "
            f"K_W={own_lipschitz:.6g}."
        )
    r_w = own_radius if weight_radius is None else float(weight_radius)
    k_w = own_lipschitz if lipschitz_in_depth is None else float(lipschitz_in_depth)
    r_x = float(np.linalg.norm(X, axis=1).max()) if input_radius is None else float(input_radius)

    k_sigma = _activation_lipschitz(module.activation)
    c = k_sigma * r_w
    growth = (1 + c / depth) ** depth
    r_h = a_norm * r_x * growth
    param_lip = b_norm * k_sigma * r_h * ((growth - 1) / c if c > 0 else 1.0)
    r_f = b_norm * r_h + bias
    if isinstance(estimator, RegressorMixin):
        y_norms = yt.double().norm(dim=1)
        r_y = float(y_norms.max()) if target_radius is None else float(target_radius)
        q = yt.shape[1]
        loss_bound, loss_lip = (r_f + r_y) ** 2 / q, 2 * (r_f + r_y) / q
    else:
        r_y = math.nan
        loss_bound = math.log(estimator.n_outputs_) + math.sqrt(2) * r_f
        loss_lip = math.sqrt(2)

    p = int(M[0].numel())
    scale = max(r_w, k_w, 1.0)
    best = None
    for j in range(_BOUND_SCALES):
        eps = scale * 2.0**-j
        gap, log_cover = _bound_gap(
            depth=depth,
            n_samples=n,
            params_per_layer=p,
            weight_radius=r_w,
            lipschitz=k_w,
            param_lipschitz=param_lip,
            loss_bound=loss_bound,
            loss_lipschitz=loss_lip,
            delta=delta / _BOUND_SCALES,
            eps=eps,
        )
        if best is None or gap < best[0]:
            best = (gap, eps, log_cover)
    gap, eps, log_cover = best
    return {
        "bound": empirical + gap,
        "empirical_risk": empirical,
        "gap": gap,
        "epsilon": eps,
        "log_covering": log_cover,
        "blocks": float(_covering_blocks(depth, k_w, eps)),
        "weight_radius": r_w,
        "lipschitz_in_depth": k_w,
        "input_radius": r_x,
        "target_radius": r_y,
        "state_radius": r_h,
        "output_radius": r_f,
        "param_lipschitz": param_lip,
        "loss_bound": loss_bound,
        "loss_lipschitz": loss_lip,
        "activation_lipschitz": k_sigma,
        "params_per_layer": float(p),
        "depth": float(depth),
        "n_samples": float(n),
        "delta": float(delta),
    }


# --------------------------------------------------------------------------
# Public estimators
# --------------------------------------------------------------------------
class ResNetODERegressor(RegressorMixin, _ResNetODEBase):
    """Deep residual network in the neural-ODE scaling, for regression.

    ``h_0 = A x / sqrt(d)``, ``h_{k+1} = h_k + L^-beta V_k sigma(W_k h_k / sqrt(q))
    / sqrt(m)`` for ``k < L``, prediction ``B h_L / sqrt(q) + b``, trained on the
    (sample-weighted) mean squared error of standardised targets, averaged over
    outputs, plus the optional regularity penalty.

    Parameters
    ----------
    depth : int, default=16
        Number of residual layers ``L``.
    width : int, default=16
        Width ``q`` of the hidden state ``h_k``.
    hidden_width : int, default=32
        Width ``m`` inside each residual block (``V_k`` is ``q x m``, ``W_k`` is
        ``m x q``); ignored with ``residual="v_sigma"``.
    scaling_exponent : float, default=1.0
        ``beta`` in the residual scaling ``alpha_L = L^-beta``.
    residual : {"v_sigma_w", "v_sigma"}, default="v_sigma_w"
        ``V_k sigma(W_k h_k / sqrt(q)) / sqrt(m)`` or ``V_k sigma(h_k) / sqrt(q)``.
    activation : {"relu", "gelu", "tanh", "identity"}, default="relu"
        The activation ``sigma`` of the residual branch.
    init : {"iid", "smooth", "fbm", "tied", "zero_v"}, default="smooth"
        Regularity in depth of the initial ``V_k`` and ``W_k`` (unit-variance
        entries): independent across layers, an RBF Gaussian process in ``k/L``
        with ``bandwidth``, fractional Gaussian noise along depth with index ``hurst``,
        one matrix shared by all layers, or the ICLR 2024 start ``V_k = 0`` with
        ``W_k = W`` shared.
    bandwidth : float, default=0.1
        RBF bandwidth for ``init="smooth"``.
    hurst : float, default=0.5
        Hurst index for ``init="fbm"`` (1/2: i.i.d. layers).
    optimizer : {"adam", "sgd"}, default="adam"
        :class:`torch.optim.Adam` or plain :class:`torch.optim.SGD` (no
        momentum).
    learning_rate : float, default=1e-2
        Step size of the optimiser.
    scale_lr_with_depth : bool, default=False
        Multiply the learning rate of the residual weights ``V_k``, ``W_k`` (and
        of nothing else) by ``L``, as the ICLR 2024 paper's gradient flow does
        (use with ``optimizer="sgd"``).
    embedding : {"linear", "identity"}, default="linear"
        ``"linear"``: a trained embedding ``A`` and readout ``B h_L + b``.
        ``"identity"``: none (the ICLR 2024 reference's synthetic setting):
        ``h_0 = x``, the state has ``n_features`` coordinates (``width`` is
        ignored) and the prediction is ``h_L`` itself, so ``y`` must have
        ``n_features`` columns (regression, fitted in the targets' own units,
        without standardisation) or ``n_features`` classes (the state is the
        logits).
    fan_in_scaling : bool or {"forward", "init"}, default=True
        Where the ``1 / sqrt(fan in)`` factors of the weights go. True (or
        "forward") keeps them inside the forward pass, on unit-variance
        weights; False drops them from the residual branch, giving
        ``h_{k+1} = h_k + L^-beta V_k sigma(W_k h_k)`` (the ICLR 2024
        reference's synthetic experiment); "init" draws them into the initial
        weights instead, with no factor in the forward pass (the NeurIPS 2023
        reference, whose Adam steps and penalty act on the scaled matrices).
    freeze_embedding : bool, default=False
        Keep ``A``, ``B`` and ``b`` at their initial values (the NeurIPS 2023
        reference trains the residual weights only); no effect with
        ``embedding="identity"``.
    embedding_learning_rate : float or None, default=None
        Learning rate of ``A``, ``B`` and ``b`` (never scaled with depth); None
        uses ``learning_rate``.
    max_epochs : int, default=100
        Passes over the training set; 0 keeps the initialisation.
    batch_size : int or None, default=None
        Mini-batch size; None uses the whole training set (gradient descent).
        Each epoch shuffles the rows with the fit's generator.
    regularity_penalty : float, default=0.0
        ``lambda`` in the penalty ``lambda ||(Z_{k+1} - Z_k)_k||_F`` summed over
        the stacked families (NeurIPS 2023), added to the training loss.
    tol : float or None, default=None
        Early stopping of the shared training contract
        (:mod:`sktheory._training`) with an epoch as the window: stop once the
        epoch's mean training loss has improved on the best earlier epoch by
        less than ``tol`` times that best loss in ``n_iter_no_change``
        consecutive epochs. None runs all ``max_epochs``.
    n_iter_no_change : int, default=10
        Epochs without a ``tol`` improvement before the fit stops.
    warm_start : bool, default=False
        If True, a new ``fit`` continues from the previous one (network,
        optimiser state and shuffling stream) for ``max_epochs`` more epochs,
        so two warm fits of ``a`` and ``b`` epochs equal one of ``a + b``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the shuffling of mini-batches.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        If truthy, show a progress bar over epochs with the current loss, and
        skorch's table of epochs (silenced otherwise).
    on_divergence : {"raise", "warn"}, default="raise"
        What a divergence (an epoch loss that is not finite, or above 1e4 times
        the trivial predictor's) does: raise :class:`~sktheory.DivergenceError`,
        or warn :class:`~sktheory.DivergenceWarning`, stop and set ``diverged_``
        (``predict`` then refuses).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in fit.
    module_ : torch.nn.Module
        The trained network; ``module_.V`` and ``module_.W`` hold the stacked
        per-layer weights of shape ``(depth, ...)``.
    history_ : list of dict
        One entry per epoch: ``"iter"`` (updates so far), ``"epoch"``,
        ``"loss"`` (skorch's ``train_loss``: the mean over the epoch's
        mini-batches, weighted by batch size, of the weighted training
        objective, penalty included, each taken before its update) and
        ``"seconds"`` (wall time of the epoch, skorch's ``dur``), and for each
        stacked family ``Z`` in ``{"V", "W"}`` the regularity in depth after the
        epoch: ``"max_diff_Z"`` (``max_k ||Z_{k+1} - Z_k||_F``) and
        ``"max_diff_Z_times_depth"`` (``L`` times it, bounded in ``L`` for a
        discretised neural ODE).
    n_iter_ : int
        Number of parameter updates (mini-batches) done, cumulative over
        ``warm_start`` fits.
    diverged_ : bool
        Whether training diverged (possible with ``on_divergence="warn"``).
    init_ratios_, final_ratios_ : dict
        :meth:`depth_ratios` on (up to 512) training samples before and after
        training (``final_ratios_`` is NaN after a divergence).
    n_train_samples_ : int
        Number of training samples.
    net_ : skorch.NeuralNet
        The skorch net that trained ``module_`` (``net_.module_`` is
        ``module_``); ``net_.history`` holds skorch's record of every epoch,
        batch losses included. Prediction goes through ``module_``, not
        ``net_``.
    n_outputs_ : int
        Number of targets.
    y_mean_, y_scale_ : ndarray
        Target standardisation (weighted mean and standard deviation; 0 and 1
        with ``embedding="identity"``).

    See Also
    --------
    ResNetODEClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : A shallow network baseline.

    Notes
    -----
    The epochs are skorch's: skorch is the library made for training a torch
    module with mini-batches (optimiser set-up, the batch loop, per-batch and
    per-epoch history, timing, device handling), so the estimator keeps it
    rather than a hand-written copy, and ``net_`` exposes the fitted net.
    skorch sits behind the shared training contract of
    :class:`~sktheory.base.TorchEstimator`: each window of the driver is one
    epoch of ``net_.fit_loop``, whose ``train_loss`` and batch count become
    the window's loss and updates, so ``tol`` stopping, the divergence and
    no-progress checks, ``history_``, the progress bar and ``warm_start`` are
    the same as every other estimator's. The net therefore has no
    ``EarlyStopping`` or divergence callback; it only refuses to apply an
    update whose batch loss is not finite, which ends the epoch there.
    Sample weights reach the loss as skorch documents, through a dict input
    ``{"X": ..., "sample_weight": ...}`` and a criterion with
    ``reduction="none"``; mini-batches are sliced from the tensors and
    shuffled with the fit's generator instead of going through a DataLoader.

    Examples
    --------
    >>> import numpy as np
    >>> from sktheory import ResNetODERegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 4)
    >>> y = np.sin(X[:, 0]) + X[:, 1]
    >>> reg = ResNetODERegressor(depth=8, width=8, max_epochs=100, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9
    True
    >>> reg.hidden_states(X[:3]).shape
    (3, 9, 8)
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ResNetODERegressor:
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the samples in the mean squared error (and in the target
            standardisation); None weighs them equally.

        Returns
        -------
        self : ResNetODERegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def _validate_fit_data(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float64, np.float32],
            y_numeric=True,
            multi_output=True,
            reset=reset,
        )
        return X, self._check_numeric_target(y)

    def _encode_targets(
        self, y: np.ndarray, reset: bool, sample_weight: np.ndarray | None = None
    ) -> torch.Tensor:
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        if reset:
            self._y_ndim = y.ndim
            self.n_outputs_ = y2.shape[1]
            if self.embedding == "identity":
                # The state itself is the prediction, in the targets' units
                # (as in the ICLR 2024 reference): no standardisation.
                self.y_mean_, self.y_scale_ = np.zeros(y2.shape[1]), np.ones(y2.shape[1])
            else:
                self.y_mean_ = np.average(y2, axis=0, weights=sample_weight)
                scale = np.average((y2 - self.y_mean_) ** 2, axis=0, weights=sample_weight)
                self.y_scale_ = np.where(scale > 0, np.sqrt(scale), 1.0)
        return self._to_tensor((y2 - self.y_mean_) / self.y_scale_)

    def _trivial_loss(self, y: torch.Tensor, sample_weight: np.ndarray) -> float:
        return mean_predictor_loss(self._to_numpy(y), sample_weight)

    def _criterion(self) -> nn.Module:
        return _SquaredError()

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            The predictions, shaped as ``y`` in fit.
        """
        out = self._to_numpy(self._forward(X)) * self.y_scale_ + self.y_mean_
        if self._y_ndim == 1:
            out = out[:, 0]
        return self._finite_output(out)


class ResNetODEClassifier(ClassifierMixin, _ResNetODEBase):
    """Deep residual network in the neural-ODE scaling, for classification.

    The network of :class:`ResNetODERegressor` with one output per class,
    trained on the (sample-weighted) cross-entropy of the logits
    ``B h_L / sqrt(q) + b``, plus the optional regularity penalty.

    Parameters
    ----------
    depth : int, default=16
        Number of residual layers ``L``.
    width : int, default=16
        Width ``q`` of the hidden state ``h_k``.
    hidden_width : int, default=32
        Width ``m`` inside each residual block (``V_k`` is ``q x m``, ``W_k`` is
        ``m x q``); ignored with ``residual="v_sigma"``.
    scaling_exponent : float, default=1.0
        ``beta`` in the residual scaling ``alpha_L = L^-beta``.
    residual : {"v_sigma_w", "v_sigma"}, default="v_sigma_w"
        ``V_k sigma(W_k h_k / sqrt(q)) / sqrt(m)`` or ``V_k sigma(h_k) / sqrt(q)``.
    activation : {"relu", "gelu", "tanh", "identity"}, default="relu"
        The activation ``sigma`` of the residual branch.
    init : {"iid", "smooth", "fbm", "tied", "zero_v"}, default="smooth"
        Regularity in depth of the initial ``V_k`` and ``W_k`` (unit-variance
        entries): independent across layers, an RBF Gaussian process in ``k/L``
        with ``bandwidth``, fractional Gaussian noise along depth with index ``hurst``,
        one matrix shared by all layers, or the ICLR 2024 start ``V_k = 0`` with
        ``W_k = W`` shared.
    bandwidth : float, default=0.1
        RBF bandwidth for ``init="smooth"``.
    hurst : float, default=0.5
        Hurst index for ``init="fbm"`` (1/2: i.i.d. layers).
    optimizer : {"adam", "sgd"}, default="adam"
        :class:`torch.optim.Adam` or plain :class:`torch.optim.SGD` (no
        momentum).
    learning_rate : float, default=1e-2
        Step size of the optimiser.
    scale_lr_with_depth : bool, default=False
        Multiply the learning rate of the residual weights ``V_k``, ``W_k`` (and
        of nothing else) by ``L``, as the ICLR 2024 paper's gradient flow does
        (use with ``optimizer="sgd"``).
    embedding : {"linear", "identity"}, default="linear"
        ``"linear"``: a trained embedding ``A`` and readout ``B h_L + b``.
        ``"identity"``: none (the ICLR 2024 reference's synthetic setting):
        ``h_0 = x``, the state has ``n_features`` coordinates (``width`` is
        ignored) and the prediction is ``h_L`` itself, so ``y`` must have
        ``n_features`` columns (regression, fitted in the targets' own units,
        without standardisation) or ``n_features`` classes (the state is the
        logits).
    fan_in_scaling : bool or {"forward", "init"}, default=True
        Where the ``1 / sqrt(fan in)`` factors of the weights go. True (or
        "forward") keeps them inside the forward pass, on unit-variance
        weights; False drops them from the residual branch, giving
        ``h_{k+1} = h_k + L^-beta V_k sigma(W_k h_k)`` (the ICLR 2024
        reference's synthetic experiment); "init" draws them into the initial
        weights instead, with no factor in the forward pass (the NeurIPS 2023
        reference, whose Adam steps and penalty act on the scaled matrices).
    freeze_embedding : bool, default=False
        Keep ``A``, ``B`` and ``b`` at their initial values (the NeurIPS 2023
        reference trains the residual weights only); no effect with
        ``embedding="identity"``.
    embedding_learning_rate : float or None, default=None
        Learning rate of ``A``, ``B`` and ``b`` (never scaled with depth); None
        uses ``learning_rate``.
    max_epochs : int, default=100
        Passes over the training set; 0 keeps the initialisation.
    batch_size : int or None, default=None
        Mini-batch size; None uses the whole training set (gradient descent).
        Each epoch shuffles the rows with the fit's generator.
    regularity_penalty : float, default=0.0
        ``lambda`` in the penalty ``lambda ||(Z_{k+1} - Z_k)_k||_F`` summed over
        the stacked families (NeurIPS 2023), added to the training loss.
    tol : float or None, default=None
        Early stopping of the shared training contract
        (:mod:`sktheory._training`) with an epoch as the window: stop once the
        epoch's mean training loss has improved on the best earlier epoch by
        less than ``tol`` times that best loss in ``n_iter_no_change``
        consecutive epochs. None runs all ``max_epochs``.
    n_iter_no_change : int, default=10
        Epochs without a ``tol`` improvement before the fit stops.
    warm_start : bool, default=False
        If True, a new ``fit`` continues from the previous one (network,
        optimiser state and shuffling stream) for ``max_epochs`` more epochs,
        so two warm fits of ``a`` and ``b`` epochs equal one of ``a + b``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the shuffling of mini-batches.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        If truthy, show a progress bar over epochs with the current loss, and
        skorch's table of epochs (silenced otherwise).
    on_divergence : {"raise", "warn"}, default="raise"
        What a divergence (an epoch loss that is not finite, or above 1e4 times
        the trivial predictor's) does: raise :class:`~sktheory.DivergenceError`,
        or warn :class:`~sktheory.DivergenceWarning`, stop and set ``diverged_``
        (``predict`` then refuses).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in fit.
    module_ : torch.nn.Module
        The trained network; ``module_.V`` and ``module_.W`` hold the stacked
        per-layer weights of shape ``(depth, ...)``.
    history_ : list of dict
        One entry per epoch: ``"iter"`` (updates so far), ``"epoch"``,
        ``"loss"`` (skorch's ``train_loss``: the mean over the epoch's
        mini-batches, weighted by batch size, of the weighted training
        objective, penalty included, each taken before its update) and
        ``"seconds"`` (wall time of the epoch, skorch's ``dur``), and for each
        stacked family ``Z`` in ``{"V", "W"}`` the regularity in depth after the
        epoch: ``"max_diff_Z"`` (``max_k ||Z_{k+1} - Z_k||_F``) and
        ``"max_diff_Z_times_depth"`` (``L`` times it, bounded in ``L`` for a
        discretised neural ODE).
    n_iter_ : int
        Number of parameter updates (mini-batches) done, cumulative over
        ``warm_start`` fits.
    diverged_ : bool
        Whether training diverged (possible with ``on_divergence="warn"``).
    init_ratios_, final_ratios_ : dict
        :meth:`depth_ratios` on (up to 512) training samples before and after
        training (``final_ratios_`` is NaN after a divergence).
    n_train_samples_ : int
        Number of training samples.
    net_ : skorch.NeuralNet
        The skorch net that trained ``module_`` (``net_.module_`` is
        ``module_``); ``net_.history`` holds skorch's record of every epoch,
        batch losses included. Prediction goes through ``module_``, not
        ``net_``.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in fit.
    n_outputs_ : int
        Number of logits (number of classes).

    See Also
    --------
    ResNetODERegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : A shallow network baseline.

    Notes
    -----
    The epochs are skorch's: skorch is the library made for training a torch
    module with mini-batches (optimiser set-up, the batch loop, per-batch and
    per-epoch history, timing, device handling), so the estimator keeps it
    rather than a hand-written copy, and ``net_`` exposes the fitted net.
    skorch sits behind the shared training contract of
    :class:`~sktheory.base.TorchEstimator`: each window of the driver is one
    epoch of ``net_.fit_loop``, whose ``train_loss`` and batch count become
    the window's loss and updates, so ``tol`` stopping, the divergence and
    no-progress checks, ``history_``, the progress bar and ``warm_start`` are
    the same as every other estimator's. The net therefore has no
    ``EarlyStopping`` or divergence callback; it only refuses to apply an
    update whose batch loss is not finite, which ends the epoch there.
    Sample weights reach the loss as skorch documents, through a dict input
    ``{"X": ..., "sample_weight": ...}`` and a criterion with
    ``reduction="none"``; mini-batches are sliced from the tensors and
    shuffled with the fit's generator instead of going through a DataLoader.

    Examples
    --------
    >>> import numpy as np
    >>> from sktheory import ResNetODEClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 4)
    >>> y = (X[:, 0] * X[:, 1] > 0).astype(int)
    >>> clf = ResNetODEClassifier(depth=8, width=8, max_epochs=100, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ResNetODEClassifier:
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the samples in the cross-entropy; None weighs them
            equally.

        Returns
        -------
        self : ResNetODEClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    def _validate_fit_data(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=reset)
        check_classification_targets(y)
        return X, y

    def _encode_targets(
        self, y: np.ndarray, reset: bool, sample_weight: np.ndarray | None = None
    ) -> torch.Tensor:
        if reset:
            self._encoder = LabelEncoder().fit(y)
            self.classes_ = self._encoder.classes_
            self.n_outputs_ = len(self.classes_)
        codes = self._encoder.transform(y)
        return torch.as_tensor(codes, dtype=torch.long, device=self.device_)

    def _trivial_loss(self, y: torch.Tensor, sample_weight: np.ndarray) -> float:
        return prior_predictor_loss(y.cpu().numpy(), sample_weight)

    def _criterion(self) -> nn.Module:
        return nn.CrossEntropyLoss(reduction="none")

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits of the classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` minus that of
            ``classes_[0]``; otherwise one logit per class.
        """
        logits = self._to_numpy(self._forward(X))
        if logits.shape[1] == 2:
            logits = logits[:, 1] - logits[:, 0]
        return self._finite_output(logits)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The softmax of the logits, columns in the order of ``classes_``.
        """
        proba = self._to_numpy(torch.softmax(self._forward(X), dim=1))
        return self._finite_output(proba)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,)
            The most probable class of each sample.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

"""Synthetic settings of the ResNet / neural-ODE papers."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["make_resnet_ode_random_targets", "make_resnet_ode_teacher"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_targets": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_resnet_ode_random_targets(
    n_samples: int = 100,
    n_features: int = 16,
    n_targets: int = 16,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Standard Gaussian inputs and independent standard Gaussian targets.

    The interpolation task of "Implicit regularization of deep residual
    networks towards neural ODEs" (ICLR 2024): ``n = 100`` points in
    dimension 16 with random 16-dimensional targets, which a wide enough
    residual network can fit exactly.

    Parameters
    ----------
    n_samples : int, default=100
        Number of points.
    n_features : int, default=16
        Input dimension.
    n_targets : int, default=16
        Target dimension.
    random_state : int, RandomState instance or None, default=None
        Seeds the inputs and the targets.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples, n_targets) or (n_samples,)
        Targets; 1-D when ``n_targets == 1``.

    Examples
    --------
    >>> X, y = make_resnet_ode_random_targets(random_state=0)
    >>> X.shape, y.shape
    ((100, 16), (100, 16))
    """
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    y = rng.standard_normal((n_samples, n_targets))
    return X, (y[:, 0] if n_targets == 1 else y)


def _rbf_paths(rng: np.random.RandomState, depth: int, size: int, bandwidth: float):
    """``size`` independent RBF Gaussian-process paths sampled at ``k / depth``."""
    t = np.arange(depth) / depth
    cov = np.exp(-((t[:, None] - t[None, :]) ** 2) / (2.0 * bandwidth**2))
    eigval, eigvec = np.linalg.eigh(cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    return root @ rng.standard_normal((depth, size))


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "task": [StrOptions({"regression", "classification"})],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "strength": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_resnet_ode_teacher(
    n_samples: int = 1000,
    n_features: int = 8,
    *,
    task: str = "regression",
    n_classes: int = 3,
    width: int = 16,
    depth: int = 100,
    bandwidth: float = 0.2,
    noise: float = 0.1,
    strength: float = 1.0,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels from a random residual network whose weights are smooth in depth.

    The teacher is the discretisation of a neural ODE: ``h_0 = A x / sqrt(d)``,
    ``h_{k+1} = h_k + (1/L) V_k tanh(W_k h_k / sqrt(q)) / sqrt(q)`` with ``V_k``,
    ``W_k`` drawn entrywise from an RBF Gaussian process in ``k / L`` (as the
    NeurIPS 2023 paper initialises its networks), followed by a random linear
    readout. Inputs are standard Gaussian.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    n_features : int, default=8
        Input dimension.
    task : {"regression", "classification"}, default="regression"
        Regression: the readout, scaled to unit variance, plus Gaussian noise
        of standard deviation ``noise``. Classification: the argmax of
        ``n_classes`` logits (each scaled to unit variance) perturbed by
        Gaussian noise of standard deviation ``noise``.
    n_classes : int, default=3
        Number of classes (classification only).
    width : int, default=16
        Width ``q`` of the teacher's hidden state.
    depth : int, default=100
        Number of layers ``L`` of the teacher.
    bandwidth : float, default=0.2
        RBF bandwidth of the teacher's weights in ``k / L``.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise on the standardised outputs.
    strength : float, default=1.0
        Factor ``s`` on the residual branch, ``h_{k+1} = h_k + (s/L) ...``.
        At 1 the flow moves ``h`` little and a linear model explains most of
        the labels; a few units make the map clearly non-linear (compare
        :class:`~sklearn.linear_model.LinearRegression` on it).
    random_state : int, RandomState instance or None, default=None
        Seeds the teacher, the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Floats for regression, integer labels in ``range(n_classes)`` for
        classification.

    Examples
    --------
    >>> X, y = make_resnet_ode_teacher(200, 4, task="classification", random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 4), [0, 1, 2])
    """
    rng = check_random_state(random_state)
    q = width
    A = rng.standard_normal((q, n_features))
    V = _rbf_paths(rng, depth, q * q, bandwidth).reshape(depth, q, q)
    W = _rbf_paths(rng, depth, q * q, bandwidth).reshape(depth, q, q)
    n_out = 1 if task == "regression" else n_classes
    B = rng.standard_normal((n_out, q))
    X = rng.standard_normal((n_samples, n_features))

    h = X @ A.T / np.sqrt(n_features)
    for k in range(depth):
        h = h + np.tanh(h @ W[k].T / np.sqrt(q)) @ V[k].T * (strength / (np.sqrt(q) * depth))
    out = h @ B.T
    out = (out - out.mean(axis=0)) / np.where(out.std(axis=0) > 0, out.std(axis=0), 1.0)
    out = out + noise * rng.standard_normal(out.shape)
    if task == "regression":
        return X, out[:, 0]
    return X, np.argmax(out, axis=1)

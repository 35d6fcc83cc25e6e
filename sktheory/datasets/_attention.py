"""Single-location regression data ("Attention layers provably solve single-location
regression", ICLR 2025)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_single_location"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_tokens": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "k_star": ["array-like", None],
        "v_star": ["array-like", None],
        "return_truth": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_single_location(
    n_samples: int = 1000,
    n_tokens: int = 10,
    n_features: int = 80,
    *,
    gamma: float = float(np.sqrt(0.5)),
    noise: float = 0.1,
    k_star: Any = None,
    v_star: Any = None,
    return_truth: bool = False,
    random_state: Any = None,
) -> tuple:
    """Draw sequences from the single-location regression model.

    Each sample is a sequence of ``n_tokens`` tokens in ``R^n_features``. A
    latent position ``J0`` is uniform over the tokens; the token at ``J0`` is
    ``N(sqrt(d / 2) k*, gamma^2 I_d)`` and every other token is ``N(0, I_d)``.
    The target reads the relevant token only:
    ``y = <X_J0, v*> + noise * N(0, 1)``, with ``k*`` and ``v*`` orthogonal unit
    vectors. The relevant token stands out by its mean along ``k*`` (a norm of
    order ``sqrt(d)``), which is what an attention layer can detect.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    n_tokens : int, default=10
        Sequence length ``L``.
    n_features : int, default=80
        Token dimension ``d`` (at least 2, so that ``k*`` and ``v*`` can be
        orthogonal).
    gamma : float, default=sqrt(0.5)
        Standard deviation of the relevant token around its mean.
    noise : float, default=0.1
        Standard deviation ``epsilon`` of the additive Gaussian noise on ``y``.
    k_star, v_star : array-like of shape (n_features,), default=None
        The key and value directions. When omitted, ``k*`` is uniform on the
        sphere and ``v*`` uniform on the unit sphere of the orthogonal of ``k*``.
        Pass the ones returned by a first call to draw a test set from the same
        distribution. Given vectors are normalised; they must be orthogonal.
    return_truth : bool, default=False
        Also return ``k*``, ``v*`` and the latent positions.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_tokens, n_features)
        The token sequences.
    y : ndarray of shape (n_samples,)
        The targets.
    k_star : ndarray of shape (n_features,)
        Only when ``return_truth`` is True.
    v_star : ndarray of shape (n_features,)
        Only when ``return_truth`` is True.
    positions : ndarray of shape (n_samples,)
        The latent positions ``J0`` (0-based). Only when ``return_truth`` is True.

    See Also
    --------
    sktheory.SingleLocationRegressor : The attention predictor for this task.

    Examples
    --------
    >>> from sktheory.datasets import make_single_location
    >>> X, y, k, v, pos = make_single_location(
    ...     5, n_tokens=4, n_features=6, return_truth=True, random_state=0
    ... )
    >>> X.shape, y.shape, pos.shape
    ((5, 4, 6), (5,), (5,))
    >>> round(float(k @ v), 12)
    0.0
    """
    rng = check_random_state(random_state)
    d = n_features
    if k_star is None:
        k_star = rng.standard_normal(d)
    k_star = _unit(k_star, "k_star", d)
    if v_star is None:
        v_star = rng.standard_normal(d)
        v_star = v_star - (v_star @ k_star) * k_star
    v_star = _unit(v_star, "v_star", d)
    if abs(k_star @ v_star) > 1e-8:
        raise ValueError(
            f"k_star and v_star must be orthogonal; their inner product is {k_star @ v_star:.3g}."
        )
    X = rng.standard_normal((n_samples, n_tokens, d))
    positions = rng.randint(n_tokens, size=n_samples)
    rows = np.arange(n_samples)
    X[rows, positions] = np.sqrt(d / 2) * k_star + gamma * X[rows, positions]
    y = X[rows, positions] @ v_star + noise * rng.standard_normal(n_samples)
    if return_truth:
        return X, y, k_star, v_star, positions
    return X, y


def _unit(vector: Any, name: str, d: int) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},), got {vector.shape}.")
    norm = np.linalg.norm(vector)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"{name} must be a finite non-zero vector.")
    return vector / norm

"""The hexagon Gaussian mixture of the Implicit Diffusion paper's Langevin experiment."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["HEXAGON_LOGITS", "hexagon_means", "make_hexagon_mixture"]

#: Initial mixture logits of the paper's experiment: mass on every other vertex.
HEXAGON_LOGITS = (1.5, 0.0, 1.5, 0.0, 1.5, 0.0)


def hexagon_means(radius: float = 4.0) -> np.ndarray:
    """Return the six vertices ``radius * (cos(i pi / 3), sin(i pi / 3))``.

    Parameters
    ----------
    radius : float, default=4.0
        Distance of every vertex from the origin.

    Returns
    -------
    means : ndarray of shape (6, 2)
        The vertices, counter-clockwise from ``(radius, 0)``.

    Examples
    --------
    >>> hexagon_means(1.0).round(3)[:2]
    array([[1.   , 0.   ],
           [0.5  , 0.866]])
    """
    angles = np.arange(6) * np.pi / 3
    return radius * np.c_[np.cos(angles), np.sin(angles)]


def make_hexagon_mixture(
    n_samples: int = 1000,
    *,
    weights: Sequence[float] | None = None,
    radius: float = 4.0,
    scale: float = 1.0,
    return_centers: bool = False,
    random_state=None,
):
    """Draw from a mixture of six isotropic Gaussians on the vertices of a hexagon.

    This is the law of the paper's Langevin experiment: components of variance
    ``scale ** 2`` centred at :func:`hexagon_means`, with weights
    ``softmax(HEXAGON_LOGITS)`` unless ``weights`` is given.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.
    weights : array-like of shape (6,), default=None
        Mixture weights (non-negative, summing to one). ``None`` uses
        ``softmax(HEXAGON_LOGITS)``, i.e. about 0.28 on vertices 0, 2, 4 and
        0.06 on the others.
    radius : float, default=4.0
        Distance of the centres from the origin.
    scale : float, default=1.0
        Standard deviation of every component.
    return_centers : bool, default=False
        Also return the (6, 2) array of centres.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points.
    y : ndarray of shape (n_samples,)
        The component of each point.
    centers : ndarray of shape (6, 2)
        Only when ``return_centers`` is True.

    Examples
    --------
    >>> X, y = make_hexagon_mixture(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 2), (5,))
    """
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if not (np.isfinite(radius) and np.isfinite(scale)) or scale <= 0:
        raise ValueError(
            f"radius must be finite and scale finite and positive; got radius={radius!r}, "
            f"scale={scale!r}."
        )
    if weights is None:
        logits = np.asarray(HEXAGON_LOGITS)
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
    weights = np.asarray(weights, dtype=float)
    if (
        weights.shape != (6,)
        or not np.all(np.isfinite(weights))
        or np.any(weights < 0)
        or not np.isclose(weights.sum(), 1.0)
    ):
        raise ValueError(
            f"weights must be 6 non-negative numbers summing to 1, got {weights.tolist()!r}."
        )
    rng = check_random_state(random_state)
    centers = hexagon_means(radius)
    y = rng.choice(6, size=int(n_samples), p=weights / weights.sum())
    X = centers[y] + scale * rng.standard_normal((int(n_samples), 2))
    return (X, y, centers) if return_centers else (X, y)

"""Paths for the signature-kernel paper: its spirals and random paths."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_brownian_paths", "make_spirals"]


def _check_sizes(n_samples: int, n_points: int) -> None:
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}.")


def make_spirals(
    n_samples: int = 100,
    n_points: int = 100,
    *,
    shuffle: bool = True,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's two-class spirals: clockwise vs counter-clockwise.

    With ``t = linspace(0, 4 pi, n_points)``, ``start ~ U(0, 2 pi)`` and
    ``width, speed ~ U(0, 1)`` per sample, the path is
    ``x = cos(start + speed t) / (1 + width t)`` and
    ``y = sin(start + speed t) / (1 + width t)``;
    the first half of the samples has ``x`` mirrored and label 1.

    Parameters
    ----------
    n_samples : int, default=100
        Number of paths; the first half (rounded down) is mirrored.
    n_points : int, default=100
        Points per path (the paper uses 100).
    shuffle : bool, default=True
        Shuffle the samples (otherwise label-1 samples come first).
    random_state : int, RandomState instance or None, default=None
        Seeds the paths and the shuffle.

    Returns
    -------
    X : ndarray of shape (n_samples, n_points, 2)
        The spirals' points.
    y : ndarray of shape (n_samples,)
        Integer labels: 1 for the mirrored spirals, 0 for the others.

    Examples
    --------
    >>> X, y = make_spirals(4, 10, random_state=0)
    >>> X.shape, sorted(y.tolist())
    ((4, 10, 2), [0, 0, 1, 1])
    """
    _check_sizes(n_samples, n_points)
    rng = check_random_state(random_state)
    t = np.linspace(0.0, 4 * np.pi, n_points)
    start = rng.uniform(0, 2 * np.pi, size=(n_samples, 1))
    width = rng.uniform(0, 1, size=(n_samples, 1))
    speed = rng.uniform(0, 1, size=(n_samples, 1))
    radius = 1.0 / (1.0 + width * t)
    x = np.cos(start + speed * t) * radius
    y_pos = np.sin(start + speed * t) * radius
    half = n_samples // 2
    x[:half] *= -1
    X = np.stack([x, y_pos], axis=2)
    y = np.zeros(n_samples, dtype=int)
    y[:half] = 1
    if shuffle:
        order = rng.permutation(n_samples)
        X, y = X[order], y[order]
    return X, y


def make_brownian_paths(
    n_samples: int = 100,
    n_points: int = 100,
    n_channels: int = 2,
    *,
    scale: float = 1.0,
    random_state: Any = None,
) -> np.ndarray:
    """Brownian paths on [0, 1] started at the origin.

    Parameters
    ----------
    n_samples : int, default=100
        Number of paths.
    n_points : int, default=100
        Points per path, equally spaced in time on [0, 1] (at least 2).
    n_channels : int, default=2
        Dimension of each path.
    scale : float, default=1.0
        Standard deviation of the path's value at time 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the increments.

    Returns
    -------
    ndarray of shape (n_samples, n_points, n_channels)
        The paths, each starting at the origin.

    Examples
    --------
    >>> make_brownian_paths(3, 5, 2, random_state=0)[:, 0].tolist()
    [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """
    _check_sizes(n_samples, n_points)
    if int(n_channels) != n_channels or n_channels < 1:
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}.")
    rng = check_random_state(random_state)
    steps = rng.normal(
        scale=scale / np.sqrt(n_points - 1), size=(n_samples, n_points - 1, n_channels)
    )
    paths = np.zeros((n_samples, n_points, n_channels))
    paths[:, 1:] = np.cumsum(steps, axis=1)
    return paths

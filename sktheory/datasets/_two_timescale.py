"""Piecewise-constant regression targets on [0, 1] (the two-timescale paper's task)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["PiecewiseConstant", "make_piecewise_constant"]

# The paper's target: jumps at 0.2, 0.35, 0.5, 0.65, 0.8, piece values 1, 5, 1, 3, 1, 5.
_PAPER_JUMPS = (0.2, 0.35, 0.5, 0.65, 0.8)
_PAPER_VALUES = (1.0, 5.0, 1.0, 3.0, 1.0, 5.0)


@dataclass(frozen=True)
class PiecewiseConstant:
    """A piecewise-constant function on [0, 1].

    ``f(x) = values[k]`` for ``jumps[k-1] <= x < jumps[k]`` (with ``jumps[-1] = 0``
    and ``jumps[K] = 1`` understood), so ``values`` has one more entry than
    ``jumps``.

    Parameters
    ----------
    jumps : array-like of shape (n_jumps,)
        Strictly increasing jump locations inside (0, 1).
    values : array-like of shape (n_jumps + 1,)
        The value on each piece, left to right.

    Attributes
    ----------
    heights : ndarray of shape (n_jumps,)
        The jump heights ``values[k + 1] - values[k]``.

    Examples
    --------
    >>> f = PiecewiseConstant([0.5], [1.0, 3.0])
    >>> f([0.1, 0.7]).tolist()
    [1.0, 3.0]
    >>> f.heights.tolist()
    [2.0]
    """

    jumps: np.ndarray
    values: np.ndarray
    heights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        jumps = np.asarray(self.jumps, dtype=np.float64).ravel()
        values = np.asarray(self.values, dtype=np.float64).ravel()
        if values.shape[0] != jumps.shape[0] + 1:
            raise ValueError(
                "values must have one more entry than jumps (one value per piece); got "
                f"{jumps.shape[0]} jumps and {values.shape[0]} values."
            )
        if not (np.all(np.isfinite(jumps)) and np.all(np.isfinite(values))):
            raise ValueError("jumps and values must be finite (no NaN or inf).")
        if jumps.size and (jumps[0] <= 0 or jumps[-1] >= 1):
            raise ValueError(f"jumps must lie strictly inside (0, 1); got {jumps.tolist()}.")
        if np.any(np.diff(jumps) <= 0):
            raise ValueError(f"jumps must be strictly increasing; got {jumps.tolist()}.")
        object.__setattr__(self, "jumps", jumps)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "heights", np.diff(values))

    @classmethod
    def paper(cls) -> PiecewiseConstant:
        """The paper's target: 5 jumps in [0.2, 0.8], values 1, 5, 1, 3, 1, 5.

        Returns
        -------
        PiecewiseConstant
            The target of the paper's experiments.
        """
        return cls(_PAPER_JUMPS, _PAPER_VALUES)

    def __call__(self, x: Any) -> np.ndarray:
        """Evaluate the function.

        Parameters
        ----------
        x : array-like
            Points, of any shape.

        Returns
        -------
        ndarray
            ``f(x)``, of the shape of ``x``.
        """
        return self.values[np.searchsorted(self.jumps, np.asarray(x, float), side="right")]

    def cell_means(self, edges: Any) -> np.ndarray:
        """Mean of the function on each interval ``[edges[i], edges[i + 1]]``.

        Edges are clipped to [0, 1]; an empty interval gets the value at its point.

        Parameters
        ----------
        edges : array-like of shape (n_edges,)
            Increasing interval ends.

        Returns
        -------
        ndarray of shape (n_edges - 1,)
            The mean on each interval.
        """
        edges = np.clip(np.asarray(edges, dtype=np.float64), 0.0, 1.0)
        integral = self._primitive(edges)
        width = np.diff(edges)
        point = self(edges[:-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.diff(integral) / width
        return np.where(width > 0, means, point)

    def _primitive(self, x: np.ndarray) -> np.ndarray:
        # Exact integral of f from 0 to x: sum of full pieces plus the partial one.
        knots = np.concatenate([[0.0], self.jumps])
        piece = np.searchsorted(self.jumps, x, side="right")
        full = np.concatenate([[0.0], np.cumsum(self.values[:-1] * np.diff(knots))])
        return full[piece] + self.values[piece] * (x - knots[piece])


def make_piecewise_constant(
    n_samples: int = 1000,
    *,
    jumps: Sequence[float] | None = None,
    values: Sequence[float] | None = None,
    noise: float = 1.0,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray, PiecewiseConstant]:
    """Sample the two-timescale paper's regression task.

    ``x ~ U[0, 1]`` and ``y = f*(x) + U[-noise, noise]`` with ``f*`` piecewise
    constant. Defaults give the paper's target (jumps at 0.2, 0.35, 0.5, 0.65,
    0.8 and values 1, 5, 1, 3, 1, 5) and noise.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    jumps : sequence of float or None, default=None
        Strictly increasing jump locations in (0, 1); None for the paper's.
    values : sequence of float or None, default=None
        One value per piece (``len(jumps) + 1``); None for the paper's (only
        allowed with the paper's jumps).
    noise : float, default=1.0
        Half-width of the uniform label noise.
    random_state : int, RandomState instance or None, default=None
        Seed for the draws.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        Inputs in [0, 1].
    y : ndarray of shape (n_samples,)
        Noisy labels.
    target : PiecewiseConstant
        The noiseless target ``f*``.

    See Also
    --------
    sktheory.TwoTimescaleNet : The network the paper trains on this task.

    Examples
    --------
    >>> X, y, target = make_piecewise_constant(500, random_state=0)
    >>> X.shape, y.shape, target.jumps.tolist()
    ((500, 1), (500,), [0.2, 0.35, 0.5, 0.65, 0.8])
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}.")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}.")
    if jumps is None and values is None:
        target = PiecewiseConstant.paper()
    elif values is None:
        raise ValueError("values must be given with custom jumps (one value per piece).")
    else:
        target = PiecewiseConstant(_PAPER_JUMPS if jumps is None else jumps, values)
    rng = check_random_state(random_state)
    x = rng.uniform(0.0, 1.0, size=n_samples)
    y = target(x) + rng.uniform(-noise, noise, size=n_samples)
    return x[:, None], y, target

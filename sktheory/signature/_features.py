"""Truncated path signatures: computation, path preprocessing and kernel weights.

Signatures are computed with iisignature (always available) or, optionally, with
pysiglib, a multi-threaded library that returns the same numbers. Both order the
level-``k`` coordinates by the word ``(i_1, ..., i_k)`` with ``i_1`` most
significant, the convention used throughout this subpackage.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from joblib import Parallel, delayed

__all__ = [
    "augment_time",
    "available_backends",
    "level_slices",
    "normalise_total_variation",
    "preprocess_paths",
    "signature",
    "signature_length",
    "total_variation",
    "weighted_signature_features",
]

# Below this many path points in a batch, process start-up costs more than the
# iisignature call itself, so the batch is not split over processes.
_PARALLEL_MIN_POINTS = 2_000_000


def _pysiglib() -> Any | None:
    try:
        import pysiglib
    except ImportError:  # optional dependency
        return None
    return pysiglib


def available_backends() -> list[str]:
    """Names of the signature backends importable here.

    Returns
    -------
    list of str
        ``"iisignature"`` always, ``"pysiglib"`` when it is installed.

    Examples
    --------
    >>> "iisignature" in available_backends()
    True
    """
    return ["iisignature"] + (["pysiglib"] if _pysiglib() is not None else [])


def _resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "pysiglib" if _pysiglib() is not None else "iisignature"
    if backend == "pysiglib" and _pysiglib() is None:
        raise ImportError(
            "backend='pysiglib' was requested but pysiglib is not installed; "
            "install it (pip install pysiglib) or use backend='iisignature'."
        )
    if backend not in ("iisignature", "pysiglib"):
        raise ValueError(f"backend must be 'auto', 'iisignature' or 'pysiglib', got {backend!r}.")
    return backend


def _n_workers(n_jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return max(1, int(n_jobs))


def signature_length(n_channels: int, depth: int) -> int:
    """Number of signature coordinates of levels 1 to ``depth``.

    Parameters
    ----------
    n_channels : int
        Dimension ``d`` of the path.
    depth : int
        Truncation level ``N``.

    Returns
    -------
    int
        ``d + d^2 + ... + d^N``.

    Examples
    --------
    >>> signature_length(3, 2)
    12
    """
    return sum(n_channels**k for k in range(1, depth + 1))


def level_slices(n_channels: int, depth: int, *, with_level_zero: bool = False) -> list:
    """Column slices of each signature level in a flat signature vector.

    With ``with_level_zero`` the flat vector starts with the constant level 0
    (one column) and the list has ``depth + 1`` slices.

    Parameters
    ----------
    n_channels : int
        Dimension ``d`` of the path.
    depth : int
        Truncation level ``N``.
    with_level_zero : bool, default=False
        Whether the flat vector starts with the constant level 0.

    Returns
    -------
    list of slice
        One slice per level, level ``k`` spanning ``d^k`` columns.

    Examples
    --------
    >>> level_slices(2, 2)
    [slice(0, 2, None), slice(2, 6, None)]
    """
    start = 0
    slices = []
    if with_level_zero:
        slices.append(slice(0, 1))
        start = 1
    for k in range(1, depth + 1):
        slices.append(slice(start, start + n_channels**k))
        start += n_channels**k
    return slices


def signature(
    paths: np.ndarray,
    depth: int,
    *,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> np.ndarray:
    """Truncated signatures (levels 1 to ``depth``) of a batch of paths.

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        Piecewise-linear paths through the given points.
    depth : int
        Truncation level ``N >= 1``.
    backend : {"auto", "iisignature", "pysiglib"}, default="auto"
        ``"auto"`` uses pysiglib when it is installed (multi-threaded, several
        times faster), else iisignature. Both give the same numbers (to rounding).
    n_jobs : int or None, default=None
        Cores to use; None or -1 uses all. pysiglib runs threads; iisignature
        holds Python's lock, so large batches are split over processes instead.

    Returns
    -------
    ndarray of shape (n_paths, signature_length(n_channels, depth))
        Levels 1 to ``depth``, each in word order (first letter most
        significant).

    Examples
    --------
    >>> line = np.array([[[0.0, 0.0], [1.0, 2.0]]])
    >>> signature(line, 2, backend="iisignature")  # level 2 = increment^2 / 2
    array([[1. , 2. , 0.5, 1. , 1. , 2. ]])
    """
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim != 3:
        raise ValueError(
            "paths must be 3-D (n_paths, n_points, n_channels); "
            f"got an array with {paths.ndim} dimensions."
        )
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}.")
    depth = int(depth)
    n, _, channels = paths.shape
    if n == 0:
        return np.zeros((0, signature_length(channels, depth)))
    workers = _n_workers(n_jobs)
    if _resolve_backend(backend) == "pysiglib":
        # pysiglib copies (and warns) on views; hand it an owned C array.
        owned = np.require(paths, dtype=np.float64, requirements=["C", "O"])
        return np.asarray(_pysiglib().sig(owned, depth, n_jobs=workers))
    import iisignature  # imported here so that `import sktheory` does not load it

    if workers > 1 and paths.size >= _PARALLEL_MIN_POINTS and n >= workers:
        chunks = np.array_split(paths, workers)
        parts = Parallel(n_jobs=workers, backend="loky")(
            delayed(iisignature.sig)(chunk, depth) for chunk in chunks
        )
        return np.concatenate(parts, axis=0)
    return iisignature.sig(np.ascontiguousarray(paths), depth)


def total_variation(paths: np.ndarray) -> np.ndarray:
    """Total variation (sum of Euclidean increment norms) of each path.

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        A batch of paths, each given by its points.

    Returns
    -------
    ndarray of shape (n_paths,)
        The total variation of each path.

    Examples
    --------
    >>> total_variation(np.array([[[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]]]))
    array([6.])
    """
    paths = np.asarray(paths, dtype=np.float64)
    return np.linalg.norm(np.diff(paths, axis=1), axis=2).sum(axis=1)


def normalise_total_variation(paths: np.ndarray) -> np.ndarray:
    """Divide each path by its total variation (constant paths are left alone).

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        A batch of paths, each given by its points.

    Returns
    -------
    ndarray of shape (n_paths, n_points, n_channels)
        The paths, each of total variation 1 unless constant.

    Examples
    --------
    >>> total_variation(normalise_total_variation(np.array([[[0.0], [2.0], [0.0]]])))
    array([1.])
    """
    tv = total_variation(paths)
    tv = np.where(tv > 0, tv, 1.0)
    return np.asarray(paths, dtype=np.float64) / tv[:, None, None]


def augment_time(paths: np.ndarray) -> np.ndarray:
    """Append time, running from 0 to 1 over the points, as the last channel.

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        A batch of paths, each given by its points.

    Returns
    -------
    ndarray of shape (n_paths, n_points, n_channels + 1)
        The paths with time as the last channel.

    Examples
    --------
    >>> augment_time(np.zeros((1, 3, 1)))[0, :, 1]
    array([0. , 0.5, 1. ])
    """
    paths = np.asarray(paths, dtype=np.float64)
    n, length, _ = paths.shape
    t = np.linspace(0.0, 1.0, length) if length > 1 else np.zeros(1)
    return np.concatenate([paths, np.broadcast_to(t[None, :, None], (n, length, 1))], 2)


def preprocess_paths(paths: np.ndarray, *, scaling: str | None, time_augment: bool) -> np.ndarray:
    """Translate paths to start at the origin, scale them, then add time.

    The translation changes no signature (signatures only see increments) and
    makes the RNN's Taylor expansion a fixed linear map of the signature: its
    coefficients are derivatives taken at the common starting state.

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        A batch of paths, each given by its points.
    scaling : {"total_variation"} or None
        ``"total_variation"`` divides each translated path by its total
        variation; None leaves it as is.
    time_augment : bool
        Whether to append time (0 to 1) as the last channel.

    Returns
    -------
    ndarray of shape (n_paths, n_points, n_channels + time_augment)
        The preprocessed paths.
    """
    paths = np.asarray(paths, dtype=np.float64)
    paths = paths - paths[:, :1, :]
    if scaling == "total_variation":
        paths = normalise_total_variation(paths)
    return augment_time(paths) if time_augment else paths


def weighted_signature_features(
    paths: np.ndarray,
    depth: int,
    *,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> np.ndarray:
    """Signature features ``(1, 1! S^1, 2! S^2, ..., N! S^N)`` of a batch of paths.

    The Euclidean inner product of these features is the paper's kernel
    ``K(x, x') = sum_k (k!)^2 <S^k(x), S^k(x')>`` (level 0 included).

    Parameters
    ----------
    paths : ndarray of shape (n_paths, n_points, n_channels)
        A batch of paths, each given by its points.
    depth : int
        Truncation level ``N >= 1``.
    backend : {"auto", "iisignature", "pysiglib"}, default="auto"
        Signature backend, as in :func:`signature`.
    n_jobs : int or None, default=None
        Cores to use, as in :func:`signature`.

    Returns
    -------
    ndarray of shape (n_paths, 1 + signature_length(n_channels, depth))
        The constant 1, then level ``k`` of the signature times ``k!`` for
        ``k = 1, ..., N``.

    Examples
    --------
    >>> line = np.array([[[0.0], [1.0]]])
    >>> weighted_signature_features(line, 3, backend="iisignature")
    array([[1., 1., 1., 1.]])
    """
    sig = signature(paths, depth, backend=backend, n_jobs=n_jobs)
    channels = np.shape(paths)[2]
    out = np.empty((sig.shape[0], sig.shape[1] + 1))
    out[:, 0] = 1.0
    for k, sl in enumerate(level_slices(channels, depth), start=1):
        out[:, sl.start + 1 : sl.stop + 1] = math.factorial(k) * sig[:, sl]
    return out

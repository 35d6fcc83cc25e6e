"""The synthetic regression task of the deep-linear-networks sharpness paper."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_deep_linear_regression"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "n_test": [Interval(Integral, 0, None, closed="left")],
        "unit_norm": ["boolean"],
        "return_coef": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_deep_linear_regression(
    n_samples: int = 50,
    n_features: int = 5,
    *,
    noise: float = 1.0,
    n_test: int = 0,
    unit_norm: bool = True,
    return_coef: bool = False,
    random_state: Any = None,
) -> tuple[np.ndarray, ...]:
    """Gaussian linear regression data, optionally with a unit-norm solution.

    ``X`` has i.i.d. standard normal entries, ``y = X w + noise * e`` with
    ``w`` and ``e`` standard normal. With ``unit_norm=True`` the targets are
    divided by the norm of the least-squares solution
    ``w* = pinv(X'X) X'y``, so that the least-squares solution of the returned
    data has norm one (the normalisation used in the paper's experiments,
    where ``n_samples=50``, ``n_features=5``, ``noise=1``).

    With ``n_test > 0`` a test set is drawn from the same ``w`` and noise
    level and divided by the same factor, as in the reference code. The
    paper's underdetermined experiment (``n_samples=15``, ``n_features=20``,
    ``n_test=15``) compares the test loss of networks that all interpolate
    the training data; ``w*`` is then the minimum-norm interpolator.

    Parameters
    ----------
    n_samples : int, default=50
        Number of training samples.
    n_features : int, default=5
        Number of features.
    noise : float, default=1.0
        Standard deviation of the Gaussian noise on the targets.
    n_test : int, default=0
        Size of a test set from the same model (0: none).
    unit_norm : bool, default=True
        Rescale ``y`` so that ``||w*|| = 1``.
    return_coef : bool, default=False
        Also return ``w*``, the least-squares solution of the returned data
        (without intercept).
    random_state : int, RandomState instance or None, default=None
        Seeds ``X``, ``w`` and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    y : ndarray of shape (n_samples,)
        Training targets.
    X_test : ndarray of shape (n_test, n_features)
        Only when ``n_test > 0``.
    y_test : ndarray of shape (n_test,)
        Only when ``n_test > 0``.
    coef : ndarray of shape (n_features,)
        Only when ``return_coef`` is True.

    See Also
    --------
    sktheory.DeepLinearRegressor : The deep linear network trained on it.

    Examples
    --------
    >>> import numpy as np
    >>> X, y, w_star = make_deep_linear_regression(random_state=0, return_coef=True)
    >>> X.shape, y.shape, round(float(np.linalg.norm(w_star)), 6)
    ((50, 5), (50,), 1.0)
    >>> X, y, X_test, y_test = make_deep_linear_regression(15, 20, n_test=15, random_state=0)
    >>> X.shape, X_test.shape
    ((15, 20), (15, 20))
    """
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    w = rng.standard_normal(n_features)
    y = X @ w + noise * rng.standard_normal(n_samples)
    # Drawn after the training set, so n_test leaves (X, y) unchanged.
    X_test = rng.standard_normal((n_test, n_features))
    y_test = X_test @ w + noise * rng.standard_normal(n_test)
    w_star = np.linalg.pinv(X.T @ X) @ X.T @ y
    norm = float(np.linalg.norm(w_star))
    if unit_norm and norm > 0:
        y, y_test, w_star = y / norm, y_test / norm, w_star / norm
    out: tuple[np.ndarray, ...] = (X, y)
    if n_test:
        out += (X_test, y_test)
    if return_coef:
        out += (w_star,)
    return out

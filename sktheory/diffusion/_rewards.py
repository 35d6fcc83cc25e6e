"""Rewards R: (n, d) points -> (n,) values, the presets and their validation.

A reward is any picklable callable taking an ``(n, d)`` float64 numpy array and
returning ``n`` finite values. The presets are small classes (picklable, with a
readable ``repr``) that also evaluate on torch tensors directly, so the fit
loop does not round-trip through numpy for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["REWARD_PRESETS", "ClassifierLogProbReward", "HexagonReward", "LinearReward"]


# The reward's centre as a tensor, per dtype and device (built once, not per call).
_CENTERS: dict = {}


class _TorchReward:
    """A reward written once in torch (``_torch``), callable on numpy arrays too."""

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Reward of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            The reward of each row of ``X``.
        """
        return self._torch(torch.as_tensor(np.asarray(X, dtype=float))).numpy()


class HexagonReward(_TorchReward):
    """The reward of the paper's Langevin experiment.

    ``R(x) = g(x_0) exp(-((x_0 - 4)^2 + (x_1 - 3.8)^2) / 20) / alpha`` with
    ``g`` the indicator of ``x_0 >= 0`` and ``alpha = 2.5`` (plain), or
    ``g(x_0) = sigmoid(x_0 / 0.5)`` and ``alpha = 0.7`` (smooth).

    Parameters
    ----------
    smooth : bool, default=False
        Use the sigmoid gate instead of the indicator.

    Examples
    --------
    >>> r = HexagonReward()
    >>> r(np.array([[4.0, 3.8], [-1.0, 3.8]])).tolist()
    [0.4, 0.0]
    """

    center = (4.0, 3.8)
    tau = 20.0

    def __init__(self, smooth: bool = False):
        self.smooth = smooth

    def __repr__(self) -> str:
        return f"HexagonReward(smooth={self.smooth})"

    def __eq__(self, other) -> bool:
        return isinstance(other, HexagonReward) and other.smooth == self.smooth

    def __hash__(self) -> int:
        return hash((HexagonReward, self.smooth))

    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 2:
            raise ValueError(
                f"The hexagon reward is defined on 2-D points; got {x.shape[1]} features."
            )
        # Few tensor operations: this runs once per iteration of the fit loop.
        key = (self.center, x.dtype, x.device)
        if key not in _CENTERS:
            _CENTERS[key] = torch.tensor(self.center, dtype=x.dtype, device=x.device)
        diff = x - _CENTERS[key]
        expo = (diff * diff).sum(1) * (-1 / self.tau)
        # Out of place: pathwise fine-tuning differentiates through this.
        if self.smooth:
            return torch.sigmoid(x[:, 0] * 2.0) * expo.exp() / 0.7
        return (expo - math.log(2.5)).exp() * (x[:, 0] >= 0)


class LinearReward(_TorchReward):
    """An affine reward ``R(x) = x @ coef + intercept``.

    Under a Gaussian mixture its mean is ``sum_i w_i R(c_i)`` in closed form,
    which makes it the reference case for checking gradient estimators.

    Parameters
    ----------
    coef : array-like of shape (d,) or None, default=None
        ``None`` means the first coordinate, ``R(x) = x_0``, in any dimension.
    intercept : float, default=0.0
        The constant added to ``x @ coef``.

    Examples
    --------
    >>> LinearReward([1.0, -1.0], 0.5)(np.array([[2.0, 1.0]])).tolist()
    [1.5]
    """

    def __init__(self, coef: Sequence[float] | None = None, intercept: float = 0.0):
        self.coef = coef
        self.intercept = intercept

    def __repr__(self) -> str:
        return f"LinearReward(coef={self.coef!r}, intercept={self.intercept!r})"

    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        if self.coef is None:
            return x[:, 0] + self.intercept
        coef = torch.as_tensor(np.asarray(self.coef, dtype=float), dtype=x.dtype)
        if coef.shape != (x.shape[1],):
            raise ValueError(
                f"LinearReward has {coef.numel()} coefficients but the points have "
                f"{x.shape[1]} features."
            )
        return x @ coef.to(x.device) + self.intercept


class ClassifierLogProbReward(_TorchReward):
    """``R(x) = log p(target | x)`` under a fitted linear classifier, in torch.

    The classifier's ``coef_`` and ``intercept_`` are copied into a linear map
    ``z = x @ coef_.T + intercept_`` and its class probabilities are
    ``softmax(z)`` (several classes, as scikit-learn's multinomial
    :class:`~sklearn.linear_model.LogisticRegression`) or ``sigmoid(z)`` for
    the second class of a binary problem. The reward is thus differentiable in
    torch (``reward_gradient="pathwise"`` can use it) and does not change
    when the classifier is refitted. At construction the copy is checked against the
    classifier's own ``predict_proba`` on a few random points; a classifier
    whose probabilities are not of this form (a one-vs-rest model, a
    non-linear one) is refused.

    Parameters
    ----------
    classifier : fitted estimator
        A linear classifier with ``coef_``, ``intercept_``, ``classes_`` and
        ``predict_proba``, e.g. a fitted ``LogisticRegression``.
    target : int or str
        The class whose log-probability is the reward, a label of
        ``classifier.classes_``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> reward = ClassifierLogProbReward(clf, target=1)
    >>> np.allclose(reward(X), clf.predict_log_proba(X)[:, 1])
    True
    """

    def __init__(self, classifier, target):
        for name in ("coef_", "intercept_", "classes_"):
            if not hasattr(classifier, name):
                raise ValueError(
                    f"ClassifierLogProbReward needs a fitted linear classifier with {name}; "
                    f"{type(classifier).__name__} has none (is it fitted?)."
                )
        classes = list(np.asarray(classifier.classes_).tolist())
        if target not in classes:
            raise ValueError(f"target={target!r} is not one of the classifier's classes {classes}.")
        self.classifier_name = type(classifier).__name__
        self.target = target
        self.coef = np.asarray(classifier.coef_, dtype=np.float64)
        self.intercept = np.broadcast_to(
            np.asarray(classifier.intercept_, dtype=np.float64), self.coef.shape[:1]
        ).copy()
        self.index = classes.index(target)
        self.binary = len(classes) == 2 and self.coef.shape[0] == 1
        if not self.binary and self.coef.shape[0] != len(classes):
            raise ValueError(
                f"coef_ has {self.coef.shape[0]} rows for {len(classes)} classes; expected "
                "one row per class (or one for a binary problem)."
            )
        self._cache: dict = {}
        # The copy must reproduce the classifier's probabilities (softmax or
        # sigmoid of the linear map), else the reward is not what it claims.
        probe = np.random.default_rng(0).normal(size=(16, self.coef.shape[1]))
        expected = np.asarray(classifier.predict_proba(probe))[:, self.index]
        if not np.allclose(np.exp(self(probe)), expected, rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"{type(classifier).__name__}.predict_proba is not the softmax (or binary "
                "sigmoid) of x @ coef_.T + intercept_ (a one-vs-rest or non-linear model?); "
                "ClassifierLogProbReward handles multinomial and binary linear models only."
            )

    def __repr__(self) -> str:
        return f"ClassifierLogProbReward({self.classifier_name}(...), target={self.target!r})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}

    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.coef.shape[1]:
            raise ValueError(
                f"The classifier has {self.coef.shape[1]} features; the points have {x.shape[1]}."
            )
        key = (x.dtype, x.device)
        if key not in self._cache:
            self._cache[key] = (
                torch.as_tensor(self.coef, dtype=x.dtype, device=x.device),
                torch.as_tensor(self.intercept, dtype=x.dtype, device=x.device),
            )
        coef, intercept = self._cache[key]
        z = x @ coef.T + intercept
        if self.binary:
            # log sigmoid(z) for the second class, log sigmoid(-z) for the first.
            sign = 1.0 if self.index == 1 else -1.0
            return torch.nn.functional.logsigmoid(sign * z[:, 0])
        return torch.log_softmax(z, 1)[:, self.index]


#: Named rewards accepted by ``DiffusionOptimizer(reward=...)``.
REWARD_PRESETS: dict[str, Callable[[], object]] = {
    "hexagon": lambda: HexagonReward(smooth=False),
    "hexagon_smooth": lambda: HexagonReward(smooth=True),
    "first_coordinate": lambda: LinearReward(None, 0.0),
}


def _resolve_reward(reward) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Turn the ``reward`` parameter into a checked tensor -> tensor function."""
    if reward is None:
        return None
    if isinstance(reward, str):
        reward = REWARD_PRESETS[reward]()
    if hasattr(reward, "_torch"):
        return _Checked(reward._torch, repr(reward), native=True)
    return _Checked(reward, getattr(reward, "__name__", repr(reward)), native=False)


class _Checked:
    """Evaluate a reward and refuse outputs that would silently poison the fit."""

    def __init__(self, func, name: str, native: bool):
        self.func, self.name, self.native = func, name, native

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.native:
            out = self.func(x)
        else:
            arr = np.asarray(self.func(x.detach().cpu().to(torch.float64).numpy()))
            if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
                raise ValueError(
                    f"The reward {self.name} must return numbers, got dtype {arr.dtype}."
                )
            out = torch.as_tensor(arr.astype(float), dtype=x.dtype, device=x.device)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if tuple(out.shape) != (n,):
            raise ValueError(
                f"The reward {self.name} must map an ({n}, {x.shape[1]}) array of points "
                f"to {n} values (shape ({n},)); it returned shape {tuple(out.shape)}."
            )
        return out

    def check_finite(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """Raise if the reward is non-finite on finite points (called when the mean is)."""
        bad = ~torch.isfinite(out) & torch.isfinite(x).all(1)
        if bool(bad.any()):
            raise ValueError(
                f"The reward {self.name} returned non-finite values (NaN or inf) on "
                f"{int(bad.sum())} finite points; rewards must be finite."
            )

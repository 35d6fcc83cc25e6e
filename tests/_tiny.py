"""A minimal estimator built on :class:`sktheory.base.TorchEstimator`.

It exercises the base class alone (validation, generator, loop, divergence,
pickling) so the base is tested before and apart from the paper estimators.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from sktheory._training import mean_predictor_loss
from sktheory.base import TorchEstimator, TrainState, Window


@dataclass
class _Data:
    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    lr: float
    baseline: float


@dataclass
class _State(TrainState):
    w: torch.Tensor = None


class TinyLinearRegressor(RegressorMixin, TorchEstimator):
    """Linear regression by normalised full-batch gradient descent from a random init."""

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        learning_rate=0.1,
        max_iter=200,
        tol=None,
        warm_start=False,
        random_state=None,
        device="cpu",
        dtype="float64",
        verbose=0,
        on_divergence="raise",
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        return self._fit(X, y, sample_weight=sample_weight)

    # Training hooks of the contract (see sktheory/_training.py).
    def _check_fit_data(self, X, y, reset, sample_weight=None):
        X, y = validate_data(self, X, y, y_numeric=True, reset=reset)
        y = self._check_numeric_target(y)
        sw = _check_sample_weight(sample_weight, X)
        Xt, yt, wt = self._to_tensor(X), self._to_tensor(y), self._to_tensor(sw / sw.mean())
        # Normalised step so sklearn's unscaled check data cannot diverge.
        lr = self.learning_rate / max(1.0, float(((Xt**2).sum(1) * wt).mean()))
        return _Data(Xt, yt, wt, lr, mean_predictor_loss(y, sw))

    def _init_state(self, data, generator):
        w = torch.randn(data.X.shape[1] + 1, generator=generator, dtype=self._torch_dtype)
        return _State(generator=generator, w=w.to(self.device_))

    def _baseline_loss(self, data):
        return data.baseline

    def _run_window(self, state, data, n_updates):
        total = 0.0
        for _ in range(n_updates):
            resid = data.X @ state.w[1:] + state.w[0] - data.y
            loss = (data.w * resid**2).mean().item()
            grad = torch.cat(
                [(data.w * resid).mean()[None], data.X.T @ (data.w * resid) / len(resid)]
            )
            state.w.sub_(2 * data.lr * grad)
            total += loss
        return Window(total / n_updates, n_updates)

    def _finalize(self, state, data):
        self.coef_, self.intercept_ = self._to_numpy(state.w[1:]), float(state.w[0])

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._finite_output(X @ self.coef_ + self.intercept_)

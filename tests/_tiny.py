"""A minimal estimator built on :class:`sktheory.base.TorchEstimator`.

It exercises the base class alone (validation, generator, loop, divergence,
pickling) so the base is tested before and apart from the paper estimators.
"""

from numbers import Integral, Real

import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from sktheory.base import TorchEstimator


class TinyLinearRegressor(RegressorMixin, TorchEstimator):
    """Linear regression by normalised full-batch gradient descent from a random init."""

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        learning_rate=0.1,
        max_iter=200,
        tol=None,
        random_state=None,
        device="cpu",
        dtype="float64",
        verbose=0,
        on_divergence="raise",
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        X, y = validate_data(self, X, y, y_numeric=True)
        gen = self._init_torch()
        Xt, yt = self._to_tensor(X), self._to_tensor(y)
        w = torch.randn(X.shape[1] + 1, generator=gen, dtype=self._torch_dtype)
        w = w.to(self.device_)

        # Normalised step so sklearn's unscaled check data cannot diverge.
        lr = self.learning_rate / max(1.0, float((Xt**2).sum(1).mean()))

        def step(i):
            pred = Xt @ w[1:] + w[0]
            resid = pred - yt
            grad = torch.cat([resid.mean()[None], Xt.T @ resid / len(yt)]) * 2
            w.sub_(lr * grad)
            return (resid**2).mean().item()

        self._run_loop(step, self.max_iter, tol=self.tol)
        self.coef_, self.intercept_ = self._to_numpy(w[1:]), float(w[0])
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._finite_output(X @ self.coef_ + self.intercept_)

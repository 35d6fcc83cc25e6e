"""Deep linear networks for regression and their implicit bias towards flat minima.

A deep linear network predicts ``f(x) = W_L ... W_1 x`` (or, in the residual
variant, ``f(x) = u' W_L ... W_1 x`` with a fixed unit vector ``u``) and is
trained by full-batch gradient descent on the mean squared error
``R = mean_i (f(x_i) - y_i)^2`` (no 1/2 factor). Every minimiser of ``R`` has
sharpness (top Hessian eigenvalue) at least

    S_min = 2 L a ||w*||^(2 - 2/L),   a = w*' Sigma w* / ||w*||^2,

where ``w*`` is the least-squares solution and ``Sigma = X'X / n``, so gradient
descent converges only for learning rates below ``2 / S_min``; from a small
initialisation it ends at a minimiser whose sharpness stays within a constant
factor of ``S_min`` and below about ``2 / learning_rate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sktheory.base import TorchEstimator
from sktheory.diagnostics import top_hessian_eigenvalue

__all__ = ["DeepLinearRegressor", "sharpness_lower_bound"]

# Lanczos accuracy: tight for the reported sharpness, looser during training
# where it is only plotted.
_FINAL_TOL = 1e-10
_TRAIN_TOL = 1e-6


def sharpness_lower_bound(X: Any, y: Any, depth: int) -> float:
    """The paper's lower bound ``S_min`` on the sharpness of any minimiser.

    ``S_min = 2 L a ||w*||^(2 - 2/L)`` with ``a = w*' Sigma w* / ||w*||^2``,
    ``Sigma = X'X / n`` and ``w*`` the minimum-norm least-squares solution of
    ``X w = y`` (no intercept: centre the data first to match a model with
    ``fit_intercept=True``). It is 0 when ``w* = 0``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    depth : int
        Number of layers ``L``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> sharpness_lower_bound(X, X @ np.array([2.0, 0.0]), depth=2)  # 2*2*0.5*2
    4.0
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}.")
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    norm2 = float(w_star @ w_star)
    if norm2 == 0.0:
        return 0.0
    a = float(w_star @ (X.T @ (X @ w_star))) / (len(X) * norm2)
    return 2.0 * depth * a * norm2 ** (1.0 - 1.0 / depth)


def _end_to_end(weights: Sequence[torch.Tensor], head: torch.Tensor | None) -> torch.Tensor:
    """The linear map ``head' W_L ... W_1`` as a vector of length n_features."""
    v = weights[-1][0] if head is None else head @ weights[-1]
    for W in reversed(weights[:-1]):
        v = v @ W
    return v


def _mse_loss(
    X: torch.Tensor, y: torch.Tensor, head: torch.Tensor | None
) -> Callable[[Sequence[torch.Tensor]], torch.Tensor]:
    """The training objective R(W_1..W_L) = mean (f(x_i) - y_i)^2 on (X, y)."""

    def loss_fn(weights: Sequence[torch.Tensor]) -> torch.Tensor:
        # Forming the end-to-end vector first costs O(L m^2 + n d), cheaper than
        # pushing all n samples through the layers when n exceeds the width.
        return ((X @ _end_to_end(weights, head) - y) ** 2).mean()

    return loss_fn


def _as64(array: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def _loss_and_gradients(
    weights: Sequence[torch.Tensor],
    head: torch.Tensor | None,
    X: torch.Tensor,
    y: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """R and its gradients in closed form (what autograd of ``_mse_loss`` gives).

    With ``w' = A_k W_k B_k`` (``A_k`` the layers above ``W_k`` and the head,
    ``B_k`` those below) and ``g = 2 X'(X w - y) / n``, the gradient with
    respect to ``W_k`` is the outer product ``A_k' (B_k g)'``: L matrix-vector
    products each way, far cheaper than autograd's bookkeeping on tiny layers.
    """
    w = _end_to_end(weights, head)
    residual = X @ w - y
    loss = (residual**2).mean()
    below = [2.0 * (X.T @ residual) / len(y)]  # B_k g, k = 1..L
    for W in weights[:-1]:
        below.append(W @ below[-1])
    above = head if head is not None else torch.ones(1, dtype=w.dtype, device=w.device)
    grads = [torch.empty(0)] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        grads[k] = torch.outer(above, below[k])
        above = above @ weights[k]
    return loss, grads


class DeepLinearRegressor(RegressorMixin, TorchEstimator):
    """Deep linear network regressor trained by full-batch gradient descent.

    The model is ``f(x) = W_L ... W_1 x`` with ``W_1`` of shape
    ``(width, n_features)``, ``W_k`` of shape ``(width, width)`` and ``W_L`` of
    shape ``(1, width)`` (``init="small"``), or the residual variant
    ``f(x) = u' W_L ... W_1 x`` with ``L`` square matrices of size
    ``n_features`` and a fixed random unit vector ``u`` (``init="residual"``).
    Training minimises ``R = mean_i (f(x_i) - y_i)^2`` (no 1/2 factor) by
    gradient descent with a constant step, as in the paper. After training the
    estimator reports the sharpness of ``R`` (largest Hessian eigenvalue, by
    Lanczos on Hessian-vector products) and the paper's lower bound ``S_min``
    on the sharpness of any minimiser.

    With ``fit_intercept=True`` the network has no bias: ``X`` and ``y`` are
    centred by their training means, the network is trained on the centred
    data, and ``intercept_ = mean(y) - mean(X) @ coef_``. ``S_min`` and the
    sharpness then refer to the centred problem.

    Parameters
    ----------
    depth : int, default=5
        Number of layers ``L``.
    width : int or None, default=None
        Hidden width (``init="small"``); None uses ``n_features``. The
        residual variant requires ``width`` None or equal to ``n_features``.
    init : {"small", "residual"}, default="small"
        ``"small"``: every entry is ``init_scale * N(0, 1)``. ``"residual"``:
        ``W_k = I + init_scale / sqrt(L d) * N(0, 1)``.
    init_scale : float, default=0.3
        Scale of the initialisation (the paper uses 0.25 to 0.6 for
        ``"small"``, 0 to 1.7 for ``"residual"``). With ``"small"`` each layer
        has a gain of about ``init_scale * sqrt(width)``.
    learning_rate : float or "auto", default="auto"
        Constant step size ``eta``. ``"auto"`` uses ``1 / S``, where ``S`` is
        the larger of ``S_min`` and the sharpness at initialisation, i.e.
        half the critical learning rate ``2 / S_min`` when the
        initialisation is flat.
    max_iter : int, default=2000
        Number of gradient steps.
    tol : float or None, default=None
        Stop when the relative change of the loss between two steps falls
        below ``tol``. None (default) runs ``max_iter`` steps: from a small
        initialisation the loss has long plateaus near the saddle at zero, on
        which a tolerance would stop training early.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` (see above).
    sharpness_every : int or None, default=None
        Compute the sharpness every ``sharpness_every`` steps and record it in
        ``history_`` (one Lanczos solve each). None records only the loss.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, ``u`` and the Lanczos starting vectors.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    dtype : {"float64", "float32"}, default="float64"
    verbose : int, default=0
        Show a progress bar.
    on_divergence : {"raise", "warn"}, default="raise"
        What to do when training diverges: raise
        :class:`~sktheory.DivergenceError`, or warn
        :class:`~sktheory.DivergenceWarning` and set ``diverged_``. Training
        diverges when the loss becomes non-finite (training then stops), or
        when the learning rate exceeds ``critical_learning_rate_``: no
        minimiser is then stable under gradient descent, so the run cannot
        converge even if its loss stays finite (reported after ``max_iter``
        steps).

    Attributes
    ----------
    coefs_ : list of ndarray
        The layer matrices ``W_1, ..., W_L``, input side first.
    coef_ : ndarray of shape (n_features,)
        End-to-end linear map ``W_L ... W_1`` (times ``u'`` if residual).
    intercept_ : float
    projection_ : ndarray of shape (n_features,) or None
        The fixed unit vector ``u`` of the residual variant.
    sharpness_ : float
        Top Hessian eigenvalue of the training loss at the end of training
        (NaN if training diverged).
    sharpness_lower_bound_ : float
        ``S_min`` for the (centred) training data.
    critical_learning_rate_ : float
        ``2 / S_min`` (inf when ``S_min = 0``).
    learning_rate_ : float
        The step size used.
    history_ : list of dict
        ``{"iter", "loss"}`` for every step, with ``"sharpness"`` every
        ``sharpness_every`` steps (loss and sharpness at the iterate before
        the update).
    n_iter_ : int
    diverged_ : bool
        True if training diverged (see ``on_divergence``); such a model
        refuses to predict.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.

    See Also
    --------
    sktheory.diagnostics.sharpness : sharpness of a fitted model on any data.
    sktheory.datasets.make_deep_linear_regression : the paper's data.
    sklearn.linear_model.LinearRegression : the least-squares solution.

    Examples
    --------
    >>> from sktheory import DeepLinearRegressor
    >>> from sktheory.datasets import make_deep_linear_regression
    >>> X, y = make_deep_linear_regression(random_state=0)
    >>> model = DeepLinearRegressor(depth=4, learning_rate=0.05, random_state=0)
    >>> model = model.fit(X, y)
    >>> bool(model.sharpness_lower_bound_ <= model.sharpness_ <= 2 / 0.05)
    True
    """

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"small", "residual"})],
        "init_scale": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "fit_intercept": ["boolean"],
        "sharpness_every": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        depth: int = 5,
        width: int | None = None,
        init: str = "small",
        init_scale: float = 0.3,
        learning_rate: float | str = "auto",
        max_iter: int = 2000,
        tol: float | None = None,
        fit_intercept: bool = True,
        sharpness_every: int | None = None,
        random_state: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
        verbose: int = 0,
        on_divergence: str = "raise",
    ) -> None:
        self.depth = depth
        self.width = width
        self.init = init
        self.init_scale = init_scale
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.sharpness_every = sharpness_every
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> DeepLinearRegressor:
        """Train the network by full-batch gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        n_features = X.shape[1]
        width = n_features if self.width is None else self.width
        if self.init == "residual" and width != n_features:
            raise ValueError(
                f"init='residual' uses square layers of size n_features={n_features}; "
                f"got width={self.width}. Leave width=None."
            )
        gen = self._init_torch()

        if self.fit_intercept:
            self._X_offset, self._y_offset = X.mean(axis=0), float(y.mean())
        else:
            self._X_offset, self._y_offset = np.zeros(n_features), 0.0
        Xc, yc = X - self._X_offset, y - self._y_offset
        self.sharpness_lower_bound_ = sharpness_lower_bound(Xc, yc, self.depth)
        s_min = self.sharpness_lower_bound_
        self.critical_learning_rate_ = 2.0 / s_min if s_min > 0 else math.inf

        weights, head = self._initial_weights(n_features, width, gen)
        self.projection_ = None if head is None else self._to_numpy(head)
        Xt, yt = self._to_tensor(Xc), self._to_tensor(yc)
        # Sharpness is always measured in float64, also for float32 training.
        as64 = {"dtype": torch.float64, "device": self.device_}
        loss_fn = _mse_loss(
            torch.tensor(Xc, **as64),
            torch.tensor(yc, **as64),
            None if head is None else head.to(**as64),
        )
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        self.learning_rate_ = self._step_size(loss_fn, weights, Xc, seed)

        pending: dict[str, float] = {}
        every = self.sharpness_every

        def step(i: int) -> float:
            if every is not None and i % every == 0:
                pending["sharpness"] = self._safe_sharpness(
                    loss_fn, weights, _TRAIN_TOL, seed + 2 + i
                )
            loss, grads = _loss_and_gradients(weights, head, Xt, yt)
            for W, g in zip(weights, grads, strict=True):
                W.sub_(self.learning_rate_ * g)
            return loss.item()

        def extra(i: int) -> dict:
            return {"sharpness": pending.pop("sharpness")} if "sharpness" in pending else {}

        self._run_loop(step, self.max_iter, tol=self.tol, extra=extra, desc="DeepLinear")

        weights = [W.detach() for W in weights]
        self.coefs_ = [self._to_numpy(W) for W in weights]
        self.coef_ = self._to_numpy(_end_to_end(weights, head))
        self.intercept_ = float(self._y_offset - self._X_offset @ self.coef_)
        self.sharpness_ = (
            math.nan if self.diverged_ else self._safe_sharpness(loss_fn, weights, _FINAL_TOL, seed)
        )
        if not self.diverged_ and self.learning_rate_ > self.critical_learning_rate_:
            self._unstable(float(self.history_[-1]["loss"]), Xc, yc)
        return self

    def _unstable(self, loss: float, Xc: np.ndarray, yc: np.ndarray) -> None:
        """Report a run whose step is above the critical learning rate.

        Every minimiser has sharpness >= S_min > 2 / eta, so none is stable
        under gradient descent: the run oscillates or blows up but cannot
        converge, even when the loss stays finite.
        """
        residual = Xc @ np.linalg.lstsq(Xc, yc, rcond=None)[0] - yc
        self._report_divergence(
            f"{type(self).__name__} cannot converge: learning_rate="
            f"{self.learning_rate_:.4g} exceeds the critical learning rate 2 / S_min = "
            f"{self.critical_learning_rate_:.4g}, above which no minimiser is stable "
            f"under gradient descent (final loss {loss:.6g}, least-squares loss "
            f"{float(np.mean(residual**2)):.6g}). Use a learning rate below "
            "critical_learning_rate_ or learning_rate='auto'."
        )

    def _initial_weights(
        self, n_features: int, width: int, gen: torch.Generator
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        L, dtype, device = self.depth, self._torch_dtype, self.device_

        def normal(*shape: int) -> torch.Tensor:
            # Drawn on the CPU generator so CPU and GPU fits agree.
            return torch.randn(*shape, generator=gen, dtype=torch.float64)

        if self.init == "small":
            shapes = [(width, n_features)] + [(width, width)] * (L - 2) + [(1, width)]
            if L == 1:
                shapes = [(1, n_features)]
            weights = [self.init_scale * normal(*s) for s in shapes]
            head = None
        else:
            d = n_features
            scale = self.init_scale / math.sqrt(L * d)
            weights = [torch.eye(d, dtype=torch.float64) + scale * normal(d, d) for _ in range(L)]
            u = normal(d)
            head = (u / torch.linalg.norm(u)).to(device=device, dtype=dtype)
        return [W.to(device=device, dtype=dtype) for W in weights], head

    def _step_size(
        self,
        loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor],
        weights: list[torch.Tensor],
        Xc: np.ndarray,
        seed: int,
    ) -> float:
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        init_sharpness = self._safe_sharpness(loss_fn, weights, _TRAIN_TOL, seed + 1)
        scale = max(self.sharpness_lower_bound_, init_sharpness)
        if not scale > 0:
            # w* = 0 and a flat start: fall back on the curvature of the data.
            scale = 2.0 * self.depth * float(np.linalg.norm(Xc, ord=2) ** 2) / len(Xc)
        return 1.0 / scale if scale > 0 else 1.0

    def _safe_sharpness(
        self,
        loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor],
        weights: Sequence[torch.Tensor],
        tol: float,
        seed: int,
    ) -> float:
        # The Hessian of a diverging run is not finite; ARPACK would fail.
        if not all(bool(torch.isfinite(W).all()) for W in weights):
            return math.nan
        return top_hessian_eigenvalue(
            loss_fn,
            [W.detach().to(torch.float64) for W in weights],
            tol=tol,
            random_state=seed,
        )

    # -------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        """Predict with the end-to-end linear map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._finite_output(X @ self.coef_ + self.intercept_)

    # ---------------------------------------------------- sharpness protocol
    def _sharpness_problem(
        self, X: Any, y: Any
    ) -> tuple[Callable[[Sequence[torch.Tensor]], torch.Tensor], list[torch.Tensor]]:
        """Training loss on (X, y) as a function of the layers, and the layers.

        ``X`` and ``y`` are centred by the training means (as in training),
        so on the training data this is exactly the training objective.
        """
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, y_numeric=True, dtype=np.float64)
        head = None if self.projection_ is None else _as64(self.projection_)
        loss_fn = _mse_loss(_as64(X - self._X_offset), _as64(y - self._y_offset), head)
        return loss_fn, [_as64(W) for W in self.coefs_]

    # ------------------------------------------------------------------ demo
    @classmethod
    def _demo(cls, random_state: int = 0) -> dict:
        """Fit on the paper's data (n=50, d=5, L=5); held-out R^2 vs least squares."""
        from sklearn.linear_model import LinearRegression

        from sktheory.datasets import make_deep_linear_regression

        X, y = make_deep_linear_regression(n_samples=100, random_state=random_state)
        X_train, y_train, X_test, y_test = X[:50], y[:50], X[50:], y[50:]
        model = cls(depth=5, learning_rate=0.05, max_iter=3000, random_state=random_state)
        model.fit(X_train, y_train)
        baseline = LinearRegression().fit(X_train, y_train)
        return {
            "task": "Gaussian linear regression, n=50, d=5, depth 5, small init",
            "metric": "test R^2",
            "score": float(model.score(X_test, y_test)),
            "baseline": "LinearRegression",
            "baseline_score": float(baseline.score(X_test, y_test)),
        }

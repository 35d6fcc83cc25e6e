"""SignatureKernelRNN and SignatureKernelRNNClassifier: both sides of the paper.

``solver="kernel"`` fits a linear model on the weighted signature features,
which is a kernel method with the paper's kernel
``K(x, x') = sum_k (k!)^2 <S^k(x), S^k(x')>``; ``solver="rnn"`` trains the
paper's residual RNN, optionally penalised by its norm in that kernel's RKHS.
Both expose the fitted function as a linear functional on the signature
(``signature_coef_``) and its RKHS norm (``rkhs_norm_``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from scipy import linalg
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from sktheory._training import TrainState, Window, mean_predictor_loss, prior_predictor_loss
from sktheory.base import TorchEstimator, resolve_device, single_thread
from sktheory.signature._features import (
    level_slices,
    preprocess_paths,
    signature,
    weighted_signature_features,
)
from sktheory.signature._rnn import ResidualRNN

__all__ = ["SignatureKernelRNN", "SignatureKernelRNNClassifier"]


@dataclass
class _RNNData:
    """What the RNN solver trains on, built anew by every fit."""

    inputs: torch.Tensor  # (n, T, d): the paths without their time channel
    targets: torch.Tensor
    weights: torch.Tensor  # sample weights scaled to mean 1
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # per-sample data-fit loss
    n_outputs: int
    baseline: float  # data-fit loss of the trivial predictor


@dataclass
class _RNNState(TrainState):
    """The RNN and its optimiser: all a warm start needs besides the generator."""

    module: ResidualRNN | None = None
    optimiser: torch.optim.Optimizer | None = None


class _SignatureKernelRNNBase(TorchEstimator):
    """Shared parameters, preprocessing, kernel features and RNN training."""

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"kernel", "rnn"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "time_augment": ["boolean"],
        "basepoint": ["boolean"],
        "scaling": [StrOptions({"total_variation"}), None],
        "backend": [StrOptions({"auto", "iisignature", "pysiglib"})],
        "n_jobs": [Integral, None],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"tanh", "sigmoid"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "warm_start": ["boolean"],
    }

    # Training contract (RNN solver): the budget counts epochs over minibatches.
    _budget = "max_epochs"
    _divergence_hint = (
        "Lower learning_rate (Adam's step size, default 0.01), or keep "
        "scaling='total_variation' so that the input paths have unit length."
    )
    _no_progress_hint = (
        "Raise learning_rate or max_epochs, or lower alpha (a strong RKHS penalty "
        "holds the RNN near a constant function)."
    )

    def __init__(
        self,
        depth: int = 3,
        *,
        solver: str = "kernel",
        alpha: float = 1e-3,
        time_augment: bool = True,
        basepoint: bool = True,
        scaling: str | None = "total_variation",
        backend: str = "auto",
        n_jobs: int | None = None,
        hidden_size: int = 32,
        activation: str = "tanh",
        learning_rate: float = 0.01,
        max_epochs: int = 200,
        batch_size: int | None = None,
        tol: float | None = None,
        warm_start: bool = False,
        random_state: Any = None,
        device: str = "cpu",
        dtype: str = "float64",
        verbose: int = 0,
        on_divergence: str = "raise",
    ) -> None:
        self.depth = depth
        self.solver = solver
        self.alpha = alpha
        self.time_augment = time_augment
        self.basepoint = basepoint
        self.scaling = scaling
        self.backend = backend
        self.n_jobs = n_jobs
        self.hidden_size = hidden_size
        self.activation = activation
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # transform() returns the signature features, so the transformer checks apply.
        tags.transformer_tags = TransformerTags()
        return tags

    # ----------------------------------------------------------- preprocessing
    def _check_solver_params(self) -> None:
        if self.solver == "rnn" and not self.time_augment:
            raise ValueError(
                "solver='rnn' needs time_augment=True: the RNN's vector field has a "
                "time (dt) term, so its signature expansion is on the time-augmented path."
            )

    def _paths(self, X: np.ndarray) -> np.ndarray:
        """Preprocessed paths: optional origin point, translation, scaling, time."""
        X = np.asarray(X, dtype=np.float64)
        if self.basepoint:
            X = np.concatenate([np.zeros_like(X[:, :1]), X], axis=1)
        return preprocess_paths(X, scaling=self.scaling, time_augment=self.time_augment)

    def _features(self, X: np.ndarray) -> np.ndarray:
        return weighted_signature_features(
            self._paths(X), self.depth, backend=self.backend, n_jobs=self.n_jobs
        )

    def _weights(self, n_channels: int) -> np.ndarray:
        """``k!`` for every column of the flat signature with level 0 first."""
        slices = level_slices(n_channels, self.depth, with_level_zero=True)
        w = np.empty(slices[-1].stop)
        for k, sl in enumerate(slices):
            w[sl] = math.factorial(k)
        return w

    def _validate(self, X: Any, y: Any = None, *, reset: bool, y_numeric: bool = True):
        if reset and y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        out = self._validate_sequences(X, y, reset=reset, y_numeric=y_numeric)
        X = out if y is None else out[0]
        if X.shape[0] == 0:
            raise ValueError("X has 0 samples; at least one sequence is required.")
        return out

    # ------------------------------------------------------------ public extras
    def transform(self, X: Any) -> np.ndarray:
        """Weighted signature features ``(1, 1! S^1, ..., N! S^N)`` of the paths.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            A 2-D array (n_samples, n_timesteps) holds univariate series.

        Returns
        -------
        ndarray of shape (n_samples, n_signature_features_)
            The first column is the constant level 0. Inner products of these
            rows are the kernel of :meth:`kernel`.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._features(X)

    def fit_transform(self, X: Any, y: Any, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return :meth:`transform` of the training sequences."""
        return self.fit(X, y, sample_weight=sample_weight).transform(X)

    def kernel(self, X: Any, Y: Any = None) -> np.ndarray:
        """Gram matrix ``K(x, y) = sum_k (k!)^2 <S^k(x), S^k(y)>`` (truncated at ``depth``).

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_timesteps, n_channels)
        Y : array-like of shape (n_samples_Y, n_timesteps, n_channels), default=None
            None means ``Y = X``.

        Returns
        -------
        ndarray of shape (n_samples_X, n_samples_Y)
        """
        fx = self.transform(X)
        fy = fx if Y is None else self.transform(Y)
        return fx @ fy.T

    def taylor_error(self, X: Any, *, target: str = "rnn") -> np.ndarray:
        """How well the truncated signature expansion reproduces the fitted RNN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
        target : {"rnn", "cde"}, default="rnn"
            ``"rnn"`` compares with the RNN's own output (the discrete scheme);
            ``"cde"`` with the continuous-time model it discretises (RK4 solve),
            which is what the expansion converges to as the depth grows.

        Returns
        -------
        ndarray of shape (depth, n_samples)
            Row ``k - 1`` holds the Euclidean distance between the outputs
            (before any link function) of the depth-``k`` expansion and of the
            target.
        """
        check_is_fitted(self)
        if "module_" not in self.__dict__:
            raise ValueError(
                "taylor_error needs a model fitted with solver='rnn' (the kernel solver is exact)."
            )
        if target not in ("rnn", "cde"):
            raise ValueError(f"target must be 'rnn' or 'cde', got {target!r}.")
        X = self._validate(X, reset=False)
        paths = self._paths(X)
        module = self.module_
        sig = self._to_tensor(signature(paths, self.depth, backend=self.backend))
        data = self._to_tensor(paths[:, :, :-1])
        with torch.no_grad(), single_thread(self.device_):
            h_target = module.solve_cde(data) if target == "cde" else module.hidden(data)
            approx = module.readout(module.taylor_hidden(sig, self.depth))
            exact = module.readout(h_target)
        return self._to_numpy((approx - exact[None]).norm(dim=-1))

    # ------------------------------------------------------------- the kernel
    def _store_signature_coef(self, coef_weighted: np.ndarray, n_channels: int) -> None:
        """From coefficients on weighted features to coefficients on the signature."""
        weights = self._weights(n_channels)
        self.coef_ = coef_weighted
        self.signature_coef_ = coef_weighted * weights
        self.rkhs_norm_ = float(np.sqrt((coef_weighted**2).sum()))

    def _sample_weight(self, sample_weight: Any, X: np.ndarray) -> np.ndarray:
        """Validated non-negative weights, scaled to mean 1 (all ones: the unweighted fit)."""
        sw = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        return sw / sw.mean()  # sklearn refuses all-zero weights

    def _finish_kernel_fit(self, coef: np.ndarray, n_channels: int, n_iter: int, loss: float):
        """Fitted attributes of the closed-form solver, in the RNN solver's format."""
        self._store_signature_coef(coef, n_channels)
        self.n_signature_features_ = self.coef_.shape[1]
        self.n_iter_ = n_iter
        self.history_ = [{"iter": n_iter, "loss": float(loss)}]
        self.diverged_ = False
        # A later warm RNN fit must not resume an RNN that this fit replaced.
        self.__dict__.pop("_train_state_", None)
        self.__dict__.pop("module_", None)

    # ---------------------------------------------------------------- the RNN
    # Hooks of the training contract (sktheory/_training.py); the subclasses'
    # _check_fit_data turn targets into what _rnn_data needs.
    def _rnn_data(
        self,
        X: np.ndarray,
        targets: np.ndarray,
        sw: np.ndarray,
        loss: Callable,
        n_outputs: int,
        baseline: float,
        reset: bool,
    ) -> _RNNData:
        if reset:  # tensors go where the module will live
            self.device_ = resolve_device(self.device)
            self.dtype_ = self.dtype
        paths = self._paths(X)
        targets_t = self._to_tensor(targets)
        if loss is _cross_entropy:
            targets_t = targets_t.long()
        return _RNNData(
            inputs=self._to_tensor(paths[:, :, :-1]),  # the RNN's step is the time channel
            targets=targets_t,
            weights=self._to_tensor(sw),
            loss=loss,
            n_outputs=n_outputs,
            baseline=baseline,
        )

    def _init_state(self, data: _RNNData, generator: torch.Generator) -> _RNNState:
        module = ResidualRNN(
            data.inputs.shape[2],
            self.hidden_size,
            data.n_outputs,
            self.activation,
            generator=generator,
            dtype=self._torch_dtype,
        ).to(self.device_)
        optimiser = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        return _RNNState(generator=generator, module=module, optimiser=optimiser)

    def _objective(self, module: ResidualRNN, data: _RNNData, idx: Any) -> torch.Tensor:
        """Weighted mean data-fit loss on rows ``idx`` plus ``alpha * ||f||_H^2``."""
        per_sample = data.loss(module(data.inputs[idx]), data.targets[idx])
        loss = (per_sample * data.weights[idx]).mean()
        if self.alpha > 0:
            loss = loss + self.alpha * module.rkhs_norm_squared(self.depth)
        return loss

    def _run_window(self, state: _RNNState, data: _RNNData, n_updates: int | None) -> Window:
        """One epoch: a shuffled pass in minibatches of ``batch_size``, one Adam step each."""
        n = data.inputs.shape[0]
        batch = n if self.batch_size is None else min(self.batch_size, n)
        order = torch.randperm(n, generator=state.generator).to(self.device_)
        total, done = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            state.optimiser.zero_grad()
            loss = self._objective(state.module, data, idx)
            value = float(loss.detach())
            if not math.isfinite(value):  # stop before the step spreads it
                return Window(value, done)
            loss.backward()
            state.optimiser.step()
            done += 1
            total += value * len(idx)
        return Window(total / n, done)

    def _initial_loss(self, state: _RNNState, data: _RNNData) -> float:
        with torch.no_grad():
            return float(self._objective(state.module, data, slice(None)))

    def _baseline_loss(self, data: _RNNData) -> float:
        # The trivial predictor's data-fit loss; its RKHS norm is (near) zero on
        # standardised targets, so the penalised objective compares with it.
        return data.baseline

    def _finalize(self, state: _RNNState, data: _RNNData) -> None:
        self.module_ = state.module
        with torch.no_grad(), single_thread(self.device_):
            coefs = self.module_.signature_coefficients(self.depth)
        flat = np.concatenate([self._to_numpy(c) for c in coefs], axis=1)
        flat = self._rnn_signature_coef(flat)
        channels = self.n_channels_in_ + 1
        self._store_signature_coef(flat / self._weights(channels), channels)
        self.n_signature_features_ = self.coef_.shape[1]

    def _rnn_signature_coef(self, coef: np.ndarray) -> np.ndarray:
        """The RNN's signature coefficients on the scale of the outputs."""
        return coef

    def _rnn_output(self, X: np.ndarray) -> np.ndarray:
        paths = self._paths(X)
        with torch.no_grad(), single_thread(self.device_):
            out = self.module_(self._to_tensor(paths[:, :, :-1]))
        return self._to_numpy(out)


def _squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).sum(dim=1)


def _cross_entropy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(pred, target, reduction="none")


def _binary_logistic(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(
        pred[:, 0], target, reduction="none"
    )


_COMMON_DOC = """
    Parameters
    ----------
    depth : int, default=3
        Truncation level ``N`` of the signature (kernel solver) and of the
        Taylor expansion behind the RKHS norm (RNN solver).
    solver : {"kernel", "rnn"}, default="kernel"
        ``"kernel"``: a linear model on the weighted signature features, i.e. a
        kernel method with ``K(x, x') = sum_k (k!)^2 <S^k(x), S^k(x')>``.
        ``"rnn"``: the residual RNN ``h_{j+1} = h_j + sigma(W h_j + U x_{j+1} + b) / T``
        trained with Adam, penalised by ``alpha`` times its squared RKHS norm.
    alpha : float, default=1e-3
        Strength of the RKHS-norm penalty; the objective is the mean loss plus
        ``alpha * ||f||_H^2``. 0 fits without penalty.
    time_augment : bool, default=True
        Add time (0 to 1) as the last channel, as in the paper (required by the
        RNN solver, whose step is that time).
    basepoint : bool, default=True
        Start every path at the origin by prepending a zero point, so that the
        signature also sees where the series starts. Without it paths are
        translated to start at the origin (signatures only see increments).
        Either way the RNN's expansion is taken at the common state ``(h_0, 0)``.
    scaling : {"total_variation"} or None, default="total_variation"
        Divide each path by its total variation (before adding time), the
        setting in which the paper's expansion error is small at low depth.
    backend : {"auto", "iisignature", "pysiglib"}, default="auto"
        Signature library; ``"auto"`` uses pysiglib when installed.
    n_jobs : int or None, default=None
        Cores for signature computation; None uses all of them.
    hidden_size : int, default=32
        RNN hidden size (RNN solver).
    activation : {"tanh", "sigmoid"}, default="tanh"
        RNN activation (RNN solver).
    learning_rate : float, default=0.01
        Adam step size (RNN solver).
    max_epochs : int, default=200
        Training epochs of the RNN solver, each a shuffled pass over the
        training set in minibatches of ``batch_size`` (one Adam update per
        minibatch, so one update per epoch with the full batch). Replaces
        ``max_iter``, which counted these epochs.
    batch_size : int or None, default=None
        Mini-batch size; None trains on the full batch (RNN solver).
    tol : float or None, default=None
        RNN solver: stop once the epoch loss has improved on the best earlier
        epoch by less than ``tol`` times that loss in two consecutive epochs
        (the training contract's rule, see :mod:`sktheory._training`); None
        runs all ``max_epochs``. No effect on the kernel solver (closed form).
    warm_start : bool, default=False
        RNN solver: a second ``fit`` continues training the previous RNN, its
        Adam state and random stream for ``max_epochs`` more epochs, so that
        ``a`` then ``b`` epochs equal ``a + b`` epochs in one fit. No effect on
        the kernel solver, whose fit is a closed-form solve.
    random_state : int, RandomState instance or None, default=None
        Seeds the RNN's initialisation and batch order.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    dtype : {"float64", "float32"}, default="float64"
    verbose : int, default=0
        Show a progress bar while training the RNN.
    on_divergence : {"raise", "warn"}, default="raise"
        What an RNN fit does when the loss becomes non-finite or exceeds 1e4
        times the data-fit loss of the trivial predictor (the mean target, the
        class prior): raise :class:`~sktheory.base.DivergenceError`, or warn
        :class:`~sktheory.base.DivergenceWarning`, stop and refuse to predict.
"""

_COMMON_ATTRS = """
    coef_ : ndarray of shape (n_outputs, n_signature_features_)
        Coefficients on the weighted features returned by :meth:`transform`.
    signature_coef_ : ndarray of shape (n_outputs, n_signature_features_)
        The fitted function as a linear functional on the signature
        ``(1, S^1, ..., S^N)`` of the preprocessed path: for the RNN solver,
        ``psi(h_0)`` then ``psi(D^k)`` with ``D^k`` the iterated derivatives of
        the RNN's vector field.
    rkhs_norm_ : float
        ``sqrt(sum_k ||signature_coef_^k||^2 / (k!)^2)`` over all outputs.
    n_features_in_ : int
        Flattened features seen in fit (``n_timesteps * n_channels``).
    n_tokens_in_, n_channels_in_ : int
        Sequence length and channels seen in fit.
    n_signature_features_ : int
    module_ : ResidualRNN
        The fitted RNN (RNN solver only); predictions use its forward pass.
    history_ : list of dict
        RNN solver: one dict per epoch with ``"iter"`` (updates so far),
        ``"epoch"`` and ``"loss"`` (the epoch's mean penalised objective: the
        weighted data-fit loss plus ``alpha * ||f||_H^2``, on standardised
        targets for the regressor). Kernel solver: a single dict with
        ``"iter"`` equal to ``n_iter_`` and the ``"loss"`` of the final
        objective.
    n_iter_ : int
        RNN solver: Adam updates done (``max_epochs`` times the minibatches per
        epoch), cumulative over ``warm_start`` fits. Kernel solver: 1 for the
        regressor (one linear solve), the logistic solver's iterations for the
        classifier (0 with a single class).
    diverged_ : bool
        Whether the RNN fit diverged (possible with ``on_divergence="warn"``);
        a diverged model refuses to predict. Always False for the kernel solver.
"""


class SignatureKernelRNN(RegressorMixin, _SignatureKernelRNNBase):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A tabular row read as one short univariate path keeps only a few of its
        # iterated integrals at low depth, so generic regression data fit poorly.
        tags.regressor_tags.poor_score = True
        return tags

    __doc__ = (
        """Regression on time series with the paper's signature kernel or its RNN.

    "Framing RNN as a kernel method: a neural ODE approach" (NeurIPS 2021) shows
    that a residual RNN's output is, up to a fast-decaying truncation error, a
    linear function of the signature of the time-augmented input path, so the
    RNN is a kernel method. This estimator fits either side: kernel ridge on
    the weighted signature features (``solver="kernel"``, closed form, primal or
    dual by size) or the RNN itself with its RKHS-norm penalty (``solver="rnn"``;
    targets are standardised internally and the penalty applies to the
    standardised problem).

    Input: ``(n_samples, n_timesteps, n_channels)``; a 2-D ``(n, T)`` array is read
    as univariate series.
"""
        + _COMMON_DOC
        + """
    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """
    See Also
    --------
    SignatureKernelRNNClassifier : the classifier.
    sktheory.datasets.make_spirals : the paper's spirals.

    Examples
    --------
    >>> import numpy as np
    >>> from sktheory import SignatureKernelRNN
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 20, 2)).cumsum(axis=1)
    >>> y = X[:, -1, 0] - X[:, 0, 0]
    >>> model = SignatureKernelRNN(depth=2, alpha=1e-6, scaling=None, basepoint=False)
    >>> bool(model.fit(X, y).score(X, y) > 0.99)  # y is a level-1 signature term
    True
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignatureKernelRNN:
        """Fit on sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the squared errors in the mean (and in the mean and
            scale used to standardise ``y`` for the RNN solver); None weighs
            every sample equally.

        Returns
        -------
        self : SignatureKernelRNN
        """
        self._check_solver_params()
        if self.solver == "rnn":
            return self._fit(X, y, sample_weight=sample_weight)
        X, y2, sw = self._regression_data(X, y, sample_weight, reset=True)
        self._init_torch()
        phi = self._features(X)
        coef = _ridge(phi, y2, self.alpha, sw).T
        resid = phi @ coef.T - y2
        loss = np.mean(sw * (resid**2).sum(axis=1)) + self.alpha * (coef**2).sum()
        self._finish_kernel_fit(coef, self._paths(X[:1]).shape[2], 1, loss)
        return self

    def _regression_data(self, X: Any, y: Any, sample_weight: Any, reset: bool):
        X, y = self._validate(X, y, reset=reset)
        y = self._check_numeric_target(y)
        sw = self._sample_weight(sample_weight, X)
        if reset:
            self._y_1d = y.ndim == 1
        return X, y.reshape(len(y), -1).astype(np.float64), sw

    def _check_fit_data(self, X: Any, y: Any, reset: bool, sample_weight: Any = None) -> _RNNData:
        X, y2, sw = self._regression_data(X, y, sample_weight, reset)
        if reset:  # a warm start keeps the scale the RNN was trained on
            self.y_mean_ = np.average(y2, axis=0, weights=sw)
            self.y_scale_ = np.sqrt(np.average((y2 - self.y_mean_) ** 2, axis=0, weights=sw))
            self.y_scale_[self.y_scale_ == 0] = 1.0
        targets = (y2 - self.y_mean_) / self.y_scale_
        n_outputs = targets.shape[1]
        baseline = mean_predictor_loss(targets, sw) * n_outputs  # the loss sums over outputs
        return self._rnn_data(X, targets, sw, _squared_error, n_outputs, baseline, reset)

    def _rnn_signature_coef(self, coef: np.ndarray) -> np.ndarray:
        # Back on the original scale: psi -> psi * scale + mean.
        coef = coef * self.y_scale_[:, None]
        coef[:, 0] += self.y_mean_
        return coef

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if "module_" in self.__dict__:
            out = self._rnn_output(X) * self.y_scale_ + self.y_mean_
        else:
            out = self._features(X) @ self.coef_.T
        out = out[:, 0] if self._y_1d else out
        return self._finite_output(out)


class SignatureKernelRNNClassifier(ClassifierMixin, _SignatureKernelRNNBase):
    __doc__ = (
        """Time-series classification with the paper's signature kernel or its RNN.

    The kernel solver fits L2-penalised logistic regression (multinomial for
    three or more classes) on the weighted signature features, the penalty
    being ``alpha`` times the squared RKHS norm; the RNN solver trains the
    paper's residual RNN with cross-entropy (one logit for two classes) plus
    the same penalty, computed from the iterated derivatives of its vector
    field, as in the paper's spirals experiment.

    Input: ``(n_samples, n_timesteps, n_channels)``; a 2-D ``(n, T)`` array is read
    as univariate series.
"""
        + _COMMON_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)"""
        + _COMMON_ATTRS
        + """
    See Also
    --------
    SignatureKernelRNN : the regressor.
    sktheory.datasets.make_spirals : the paper's spirals.

    Examples
    --------
    >>> from sktheory import SignatureKernelRNNClassifier
    >>> from sktheory.datasets import make_spirals
    >>> X, y = make_spirals(200, random_state=0)
    >>> clf = SignatureKernelRNNClassifier(depth=3).fit(X[:100], y[:100])
    >>> bool(clf.score(X[100:], y[100:]) > 0.9)
    True
    """
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignatureKernelRNNClassifier:
        """Fit on sequences ``X`` and class labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the per-sample log-losses in the mean; None weighs
            every sample equally.

        Returns
        -------
        self : SignatureKernelRNNClassifier
        """
        self._check_solver_params()
        if self.solver == "rnn":
            return self._fit(X, y, sample_weight=sample_weight)
        X, codes, sw = self._classification_data(X, y, sample_weight, reset=True)
        self._init_torch()
        phi = self._features(X)
        if len(self.classes_) == 1:
            coef, n_iter, loss = np.zeros((1, phi.shape[1])), 0, 0.0
        else:
            # mean log-loss + alpha ||w||^2  <=>  C = 1 / (2 alpha n) (weights of mean 1).
            c = np.inf if self.alpha == 0 else 1.0 / (2 * self.alpha * len(codes))
            # Newton steps converge in a few iterations while the Hessian
            # (features x classes, squared) stays small; L-BFGS beyond that.
            k = 1 if len(self.classes_) == 2 else len(self.classes_)
            solver = "newton-cholesky" if phi.shape[1] * k <= 2000 else "lbfgs"
            lr = LogisticRegression(
                C=c, fit_intercept=False, solver=solver, max_iter=1000, tol=1e-8
            )
            lr.fit(phi, codes, sample_weight=sw)
            coef, n_iter = lr.coef_, int(np.max(lr.n_iter_))
            proba = lr.predict_proba(phi)[np.arange(len(codes)), codes]
            log_loss = -np.mean(sw * np.log(np.maximum(proba, 1e-300)))
            loss = log_loss + self.alpha * (coef**2).sum()
        self._finish_kernel_fit(coef, self._paths(X[:1]).shape[2], n_iter, loss)
        return self

    def _classification_data(self, X: Any, y: Any, sample_weight: Any, reset: bool):
        X, y = self._validate(X, y, reset=reset, y_numeric=False)
        check_classification_targets(y)
        sw = self._sample_weight(sample_weight, X)
        encoder = LabelEncoder()
        if reset:
            encoder.fit(y)
            self.classes_ = encoder.classes_
        else:  # a warm start keeps the classes the RNN's outputs stand for
            encoder.classes_ = self.classes_
        return X, encoder.transform(y), sw

    def _check_fit_data(self, X: Any, y: Any, reset: bool, sample_weight: Any = None) -> _RNNData:
        X, codes, sw = self._classification_data(X, y, sample_weight, reset)
        baseline = prior_predictor_loss(codes, sw)
        if len(self.classes_) <= 2:  # one logit
            return self._rnn_data(
                X, codes.astype(np.float64), sw, _binary_logistic, 1, baseline, reset
            )
        return self._rnn_data(X, codes, sw, _cross_entropy, len(self.classes_), baseline, reset)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: shape (n_samples,) for two classes, else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if "module_" in self.__dict__:
            out = self._rnn_output(X)
        else:
            out = self._features(X) @ self.coef_.T
        return self._finite_output(out[:, 0] if out.shape[1] == 1 else out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes)."""
        scores = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.ones((len(scores), 1))
        if scores.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-scores))
            return np.column_stack([1.0 - p1, p1])
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels."""
        scores = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, len(scores))
        idx = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]


def _ridge(
    phi: np.ndarray, y: np.ndarray, alpha: float, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Minimiser of ``mean_i w_i ||phi_i w - y_i||^2 + alpha ||w||^2``, shape (p, n_outputs).

    Weights ``w_i`` (of mean 1; None for all ones) scale the rows by
    ``sqrt(w_i)``. The primal system is solved when features are fewer than
    samples, the dual (kernel ridge) one otherwise; both give the same minimiser.
    """
    if sample_weight is not None:
        root = np.sqrt(sample_weight)[:, None]
        phi, y = phi * root, y * root
    n, p = phi.shape
    if alpha == 0:
        return np.linalg.lstsq(phi, y, rcond=None)[0]
    if p <= n:
        gram = phi.T @ phi
        gram.flat[:: p + 1] += n * alpha
        return linalg.solve(gram, phi.T @ y, assume_a="pos")
    gram = phi @ phi.T
    gram.flat[:: n + 1] += n * alpha
    return phi.T @ linalg.solve(gram, y, assume_a="pos")

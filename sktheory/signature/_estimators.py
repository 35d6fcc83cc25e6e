"""SignatureKernelRNN and SignatureKernelRNNClassifier: both sides of the paper.

``solver="kernel"`` fits a linear model on the weighted signature features,
which is a kernel method with the paper's kernel
``K(x, x') = sum_k (k!)^2 <S^k(x), S^k(x')>``; ``solver="rnn"`` trains the
paper's residual RNN, optionally penalised by its norm in that kernel's RKHS.
Both expose the fitted function as a linear functional on the signature
(``signature_coef_``) and its RKHS norm (``rkhs_norm_``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from scipy import linalg
from sklearn.base import ClassifierMixin, RegressorMixin, TransformerMixin, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import TransformerTags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, _check_y, check_is_fitted

from sktheory._training import TrainState, Window, mean_predictor_loss, prior_predictor_loss
from sktheory.base import TorchEstimator
from sktheory.signature._features import (
    augment_time,
    level_slices,
    preprocess_paths,
    signature,
    weighted_signature_features,
)
from sktheory.signature._rnn import ResidualRNN

__all__ = [
    "SignatureKernelRNN",
    "SignatureKernelRNNClassifier",
    "StabilityBound",
    "TaylorExpansionWarning",
    "stability_bound",
]

#: Relative Taylor error (see ``taylor_error_``) above which a fitted RNN is no
#: longer described by its signature coefficients and RKHS norm.
TAYLOR_ERROR_WARNING = 0.1

#: With ``batch_size="auto"``, the most minibatches in one epoch of the RNN solver.
_AUTO_UPDATES_PER_EPOCH = 50

#: Training paths on which ``taylor_error_`` is measured (evenly spaced rows).
_TAYLOR_SAMPLE = 500


class TaylorExpansionWarning(UserWarning):
    """The fitted RNN has left the regime its depth-N signature expansion describes.

    ``rkhs_norm_`` and ``signature_coef_`` are then the expansion's, not the
    network's: the paper's norm-based statements (generalisation, stability)
    no longer apply to the network's predictions.
    """


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


class _SignatureKernelRNNBase(TransformerMixin, TorchEstimator):
    """Shared parameters, preprocessing, kernel features and RNN training."""

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"kernel", "rnn"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "time_augment": ["boolean"],
        "basepoint": ["boolean"],
        "scaling": [StrOptions({"auto", "total_variation"}), None],
        "backend": [StrOptions({"auto", "iisignature", "pysiglib"})],
        "n_jobs": [Integral, None],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"tanh", "sigmoid"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_halving_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "warm_start": ["boolean"],
        "memory_limit_gb": [Interval(Real, 0, None, closed="neither"), None],
    }

    # Training contract (RNN solver): the budget counts epochs over minibatches.
    _budget = "max_epochs"
    _divergence_hint = (
        "Lower learning_rate (Adam's step size, default 0.1, the paper's), or set "
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
        scaling: str | None = "auto",
        backend: str = "auto",
        n_jobs: int | None = None,
        hidden_size: int = 32,
        activation: str = "tanh",
        learning_rate: float = 0.1,
        lr_halving_epochs: int | None = 40,
        max_epochs: int = 200,
        batch_size: int | str | None = "auto",
        tol: float | None = None,
        warm_start: bool = False,
        memory_limit_gb: float | None = 4.0,
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
        self.lr_halving_epochs = lr_halving_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.tol = tol
        self.warm_start = warm_start
        self.memory_limit_gb = memory_limit_gb
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

    def _scaling(self) -> str | None:
        """``scaling="auto"``: unit total variation for the kernel, raw paths for the RNN."""
        if self.scaling == "auto":
            return "total_variation" if self.solver == "kernel" else None
        return self.scaling

    def _paths(self, X: np.ndarray) -> np.ndarray:
        """Preprocessed paths: optional origin point, translation, scaling, time."""
        X = np.asarray(X, dtype=np.float64)
        if self.basepoint:
            X = np.concatenate([np.zeros_like(X[:, :1]), X], axis=1)
        return preprocess_paths(X, scaling=self._scaling(), time_augment=self.time_augment)

    def _check_memory(self, n_samples: int, n_channels: int, extra: int = 0) -> None:
        """Refuse, before computing anything, feature arrays beyond ``memory_limit_gb``.

        The estimate counts the signature and its weighted copy (float64),
        plus ``extra`` bytes (the kernel solver's Gram matrix).
        """
        if self.memory_limit_gb is None:
            return
        p = 1 + sum(n_channels**k for k in range(1, self.depth + 1))
        need = 2 * 8 * n_samples * p + extra
        if need <= self.memory_limit_gb * 2**30:
            return
        raise ValueError(
            f"Signature features of depth {self.depth} on {n_channels} channels "
            f"(time included) have {p:,} coordinates; for {n_samples:,} paths they "
            f"would take about {need / 2**30:.3g} GiB, above memory_limit_gb="
            f"{self.memory_limit_gb:g}. Lower depth (features grow as channels**depth), "
            "use fewer channels (select or project them first; time_augment adds one), "
            "transform fewer paths at a time, use solver='rnn' (its training computes no "
            "signatures), or raise memory_limit_gb if the memory is there."
        )

    def _n_path_channels(self) -> int:
        return self.n_channels_in_ + int(self.time_augment)

    def _features(self, X: np.ndarray) -> np.ndarray:
        self._check_memory(len(X), self._n_path_channels())
        return weighted_signature_features(
            self._paths(X), self.depth, backend=self.backend, n_jobs=self.n_jobs
        )

    def _word_names(self, channels: list[str]) -> list[str]:
        names = ["S()"]
        for k in range(1, self.depth + 1):
            names += [f"S({','.join(w)})" for w in itertools.product(channels, repeat=k)]
        return names

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
        ndarray of shape (n_samples, `n_signature_features_`)
            The first column is the constant level 0. Inner products of these
            rows are the kernel of :meth:`kernel`.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._features(X)

    def fit_transform(self, X: Any, y: Any, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return :meth:`transform` of the training sequences."""
        return self.fit(X, y, sample_weight=sample_weight).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns of :meth:`transform`: the signature words.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Names of the ``n_channels_in_`` channels; None names them
            ``x0, x1, ...``. Time, when added, is ``t``.

        Returns
        -------
        ndarray of str, shape (`n_signature_features_`,)
            ``"S()"`` for the constant level 0, then ``"S(i_1,...,i_k)"`` for the
            word ``(i_1, ..., i_k)`` (column value ``k! S^{i_1...i_k}``), level
            by level, ``i_1`` most significant, as in :meth:`transform`.
        """
        check_is_fitted(self)
        if input_features is None:
            channels = [f"x{i}" for i in range(self.n_channels_in_)]
        else:
            channels = [str(c) for c in input_features]
            if len(channels) != self.n_channels_in_:
                raise ValueError(
                    f"input_features names the channels and must have "
                    f"{self.n_channels_in_} entries, got {len(channels)}."
                )
        if self.time_augment:
            channels.append("t")
        return np.asarray(self._word_names(channels), dtype=object)

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
            (before any link function: standardised targets, the logits of
            :meth:`decision_function`) of the depth-``k`` expansion and of the
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
        with torch.no_grad(), self._torch_context():
            h_target = module.solve_cde(data) if target == "cde" else module.hidden(data)
            approx = self._decision_rows(module.readout(module.taylor_hidden(sig, self.depth)))
            exact = self._decision_rows(module.readout(h_target))
        return self._to_numpy((approx - exact[None]).norm(dim=-1))

    # ------------------------------------------------------------- the kernel
    def _store_signature_coef(
        self, coef_weighted: np.ndarray, n_channels: int, norm_squared: float | None = None
    ) -> None:
        """From coefficients on weighted features to coefficients on the signature.

        ``norm_squared`` is the mean squared RKHS norm over the model's outputs
        when they are not the rows of ``coef_`` (two-class models); by default
        the mean over the rows.
        """
        weights = self._weights(n_channels)
        self.coef_ = coef_weighted
        self.signature_coef_ = coef_weighted * weights
        if norm_squared is None:
            norm_squared = float((coef_weighted**2).sum(axis=1).mean())
        self.rkhs_norm_ = float(np.sqrt(norm_squared))

    def _sample_weight(self, sample_weight: Any, X: np.ndarray) -> np.ndarray:
        """Validated non-negative weights, scaled to mean 1 (all ones: the unweighted fit)."""
        sw = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        return sw / sw.mean()  # sklearn refuses all-zero weights

    def _finish_kernel_fit(
        self,
        coef: np.ndarray,
        n_channels: int,
        n_iter: int,
        loss: float,
        norm_squared: float | None = None,
    ):
        """Fitted attributes of the closed-form solver, in the RNN solver's format."""
        self._store_signature_coef(coef, n_channels, norm_squared)
        self.n_signature_features_ = self.coef_.shape[1]
        self.__dict__.pop("taylor_error_", None)
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
        # The paper's schedule, a function of the epoch so that warm starts resume it.
        lr = self.learning_rate
        if self.lr_halving_epochs is not None:
            lr *= 0.5 ** (state.n_epochs // self.lr_halving_epochs)
        for group in state.optimiser.param_groups:
            group["lr"] = lr
        n = data.inputs.shape[0]
        if self.batch_size == "auto":
            # The paper's 64, but at most _AUTO_UPDATES_PER_EPOCH sequential
            # updates per epoch: each costs a T-step loop plus the penalty, so
            # large n would otherwise make an epoch hundreds of them.
            batch = max(64, math.ceil(n / _AUTO_UPDATES_PER_EPOCH))
        else:
            batch = n if self.batch_size is None else self.batch_size
        batch = min(batch, n)
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
        with torch.no_grad(), self._torch_context():
            coefs = self.module_.signature_coefficients(self.depth)
        flat = np.concatenate([self._to_numpy(c) for c in coefs], axis=1)
        channels = self.n_channels_in_ + 1
        weighted = self._rnn_signature_coef(flat) / self._weights(channels)
        norm_squared = float((weighted**2).sum(axis=1).mean())  # over the network's outputs
        self._store_signature_coef(self._rnn_rows(weighted), channels, norm_squared)
        self.n_signature_features_ = self.coef_.shape[1]
        if self.diverged_:
            self.taylor_error_ = math.nan
            return
        self.taylor_error_ = self._relative_taylor_error(data.inputs)
        if self.taylor_error_ > TAYLOR_ERROR_WARNING:
            warnings.warn(
                f"The depth-{self.depth} signature expansion misses the fitted RNN by "
                f"{self.taylor_error_:.0%} of its output on the training paths "
                f"(taylor_error_ > {TAYLOR_ERROR_WARNING:g}), so rkhs_norm_ and "
                "signature_coef_ do not describe the network. Raise alpha (the penalty "
                "keeps the RNN near its expansion), raise depth, or set "
                "scaling='total_variation' (shorter paths).",
                TaylorExpansionWarning,
                stacklevel=5,  # _finalize, _fit, fit, sklearn's _fit_context, the caller
            )

    def _relative_taylor_error(self, inputs: torch.Tensor) -> float:
        """RMS gap between the depth-N expansion and the network over RMS output.

        Measured on up to ``_TAYLOR_SAMPLE`` evenly spaced training paths, on the
        network's raw outputs (standardised targets, the decision function's logits).
        """
        n = inputs.shape[0]
        idx = np.unique(np.linspace(0, n - 1, min(n, _TAYLOR_SAMPLE)).astype(int))
        try:
            self._check_memory(len(idx), self.n_channels_in_ + 1)
        except ValueError:  # too many signature features to check: say so with NaN
            return math.nan
        data = inputs[torch.as_tensor(idx, device=inputs.device)]
        paths = augment_time(self._to_numpy(data))
        sig = self._to_tensor(signature(paths, self.depth, backend=self.backend))
        module = self.module_
        with torch.no_grad(), self._torch_context():
            exact = self._decision_rows(module(data))
            approx = self._decision_rows(module.readout(module.taylor_hidden(sig, self.depth)[-1]))
        gap = float(((approx - exact) ** 2).mean().sqrt())
        size = float((exact**2).mean().sqrt())
        return gap / size if size > 0 else (0.0 if gap == 0 else math.inf)

    def _rnn_signature_coef(self, coef: np.ndarray) -> np.ndarray:
        """The RNN's signature coefficients on the scale of the outputs."""
        return coef

    def _rnn_rows(self, weighted: np.ndarray) -> np.ndarray:
        """Rows of ``coef_`` from the network's outputs (the decision function's)."""
        return weighted

    def _decision_rows(self, out: torch.Tensor) -> torch.Tensor:
        """The network's outputs (last axis) as the decision function's rows."""
        return out

    def _rnn_output(self, X: np.ndarray) -> np.ndarray:
        paths = self._paths(X)
        with torch.no_grad(), self._torch_context():
            out = self.module_(self._to_tensor(paths[:, :, :-1]))
        return self._to_numpy(out)


def _squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).sum(dim=1)


def _cross_entropy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(pred, target, reduction="none")


class SignatureKernelRNN(RegressorMixin, _SignatureKernelRNNBase):
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
        ``alpha`` times the squared RKHS norm averaged over the outputs, as in
        the paper's reference code: one output per target for the regressor,
        one per class for the classifier (two for binary tasks; for the kernel
        solver, whose binary model has one logit ``g``, that is ``||g||^2 / 4``).
        The kernel solver leaves the level-0 term (the intercept) unpenalised.
        0 fits without penalty. The paper's penalised RNN uses 0.1.
    time_augment : bool, default=True
        Add time (0 to 1) as the last channel, as in the paper (required by the
        RNN solver, whose step is that time).
    basepoint : bool, default=True
        Start every path at the origin by prepending a zero point, so that the
        signature also sees where the series starts. Without it paths are
        translated to start at the origin (signatures only see increments).
        Either way the RNN's expansion is taken at the common state ``(h_0, 0)``.
    scaling : {"auto", "total_variation"} or None, default="auto"
        ``"total_variation"`` divides each path by its total variation (before
        adding time), the setting in which the paper's expansion error is small
        at low depth; None keeps raw paths. ``"auto"`` is ``"total_variation"``
        for the kernel solver and None for the RNN solver, which the paper
        trains on raw spirals.
    backend : {"auto", "iisignature", "pysiglib"}, default="auto"
        Signature library; ``"auto"`` uses pysiglib when installed.
    n_jobs : int or None, default=None
        Cores for signature computation; None uses all of them.
    hidden_size : int, default=32
        RNN hidden size (RNN solver).
    activation : {"tanh", "sigmoid"}, default="tanh"
        RNN activation (RNN solver).
    learning_rate : float, default=0.1
        Adam step size (RNN solver), the paper's.
    lr_halving_epochs : int or None, default=40
        RNN solver: halve the step size every this many epochs, the paper's
        schedule; None keeps it constant.
    max_epochs : int, default=200
        Training epochs of the RNN solver, each a shuffled pass over the
        training set in minibatches of ``batch_size`` (one Adam update per
        minibatch, so one update per epoch with the full batch). Replaces
        ``max_iter``, which counted these epochs.
    batch_size : int, "auto" or None, default="auto"
        Mini-batch size of the RNN solver. ``"auto"`` is the paper's 64 (its 50
        training spirals are then one batch) up to 3200 samples, then
        ``ceil(n / 50)``, so that an epoch is at most 50 updates (each update
        is a sequential loop over the time steps plus the penalty, whose cost
        does not shrink with the batch). None trains on the full batch.
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
    memory_limit_gb : float or None, default=4.0
        Budget for signature features: before computing them, the memory of
        the features (``n_samples * (1 + sum_k c**k)`` float64 values, twice,
        with ``c`` the channels including time) and of the kernel solver's Gram
        matrix is estimated, and a larger need raises a ValueError that says
        what to change. None disables the check.
    random_state : int, RandomState instance or None, default=None
        Seeds the RNN's initialisation and batch order.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        Show a progress bar while training the RNN.
    on_divergence : {"raise", "warn"}, default="raise"
        What an RNN fit does when the loss becomes non-finite or exceeds 1e4
        times the data-fit loss of the trivial predictor (the mean target, the
        class prior): raise :class:`~sktheory.base.DivergenceError`, or warn
        :class:`~sktheory.base.DivergenceWarning`, stop and refuse to predict.

    Attributes
    ----------
    coef_ : ndarray of shape (n_outputs, `n_signature_features_`)
        Coefficients on the weighted features returned by :meth:`transform`.
    signature_coef_ : ndarray of shape (n_outputs, `n_signature_features_`)
        The fitted function as a linear functional on the signature
        ``(1, S^1, ..., S^N)`` of the preprocessed path: for the RNN solver,
        ``psi(h_0)`` then ``psi(D^k)`` with ``D^k`` the iterated derivatives of
        the RNN's vector field. One row per row of :meth:`decision_function`
        (the logit difference for two classes) or per target.
    rkhs_norm_ : float
        RKHS norm of the fitted function, ``||f||^2 = sum_k ||f^k||^2 / (k!)^2``
        over the levels of ``signature_coef_``, as a root mean square over the
        model's outputs (the quantity ``alpha`` penalises, intercept included).
    taylor_error_ : float
        RNN solver only: relative error of the depth-``N`` expansion on (up to
        500 of) the training paths, RMS of expansion minus network over RMS of
        the network's outputs. Above 0.1 a :class:`TaylorExpansionWarning` says
        that ``rkhs_norm_`` and ``signature_coef_`` do not describe the network.
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

    See Also
    --------
    SignatureKernelRNNClassifier : The classifier.
    sktheory.datasets.make_spirals : The paper's spirals.

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # A tabular row read as one short univariate path keeps only a few of its
        # iterated integrals at low depth, so generic regression data fit poorly.
        tags.regressor_tags.poor_score = True
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignatureKernelRNN:
        """Fit on sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Training sequences, one row of channels per time step.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the squared errors in the mean (and in the mean and
            scale used to standardise ``y`` for the RNN solver); None weighs
            every sample equally.

        Returns
        -------
        self : SignatureKernelRNN
            The fitted estimator.
        """
        self._check_solver_params()
        if self.solver == "rnn":
            return self._fit(X, y, sample_weight=sample_weight)
        X, y2, sw = self._regression_data(X, y, sample_weight, reset=True)
        self._init_torch()
        channels = self._n_path_channels()
        p = 1 + sum(channels**k for k in range(1, self.depth + 1))
        self._check_memory(len(X), channels, extra=8 * min(len(X), p) ** 2)
        phi = self._features(X)
        # Level 0 is the intercept, left unpenalised: centre, solve, then add it back.
        x_mean = np.average(phi[:, 1:], axis=0, weights=sw)
        y_mean = np.average(y2, axis=0, weights=sw)
        n_outputs = y2.shape[1]
        # The penalty is averaged over outputs (as the RNN's), so each output's
        # ridge problem has alpha / n_outputs.
        w = _ridge(phi[:, 1:] - x_mean, y2 - y_mean, self.alpha / n_outputs, sw).T
        coef = np.hstack([(y_mean - w @ x_mean)[:, None], w])
        resid = phi @ coef.T - y2
        loss = np.mean(sw * (resid**2).sum(axis=1)) + self.alpha * (w**2).sum() / n_outputs
        self._finish_kernel_fit(coef, channels, 1, loss)
        return self

    def _regression_data(self, X: Any, y: Any, sample_weight: Any, reset: bool):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = self._validate_sequences(X, reset=reset)
        if X.shape[0] == 0:
            raise ValueError("X has 0 samples; at least one sequence is required.")
        # Multi-output targets are allowed, which the shared validation refuses.
        y = _check_y(y, multi_output=True, y_numeric=True, estimator=self)
        y = self._check_numeric_target(y)
        if len(y) != len(X):
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {len(X)} and {len(y)}."
            )
        if y.ndim == 2 and y.shape[1] == 0:
            raise ValueError("y has 0 outputs; at least one is required.")
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
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Sequences with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions, shaped as ``y`` in fit.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if "module_" in self.__dict__:
            out = self._rnn_output(X) * self.y_scale_ + self.y_mean_
        else:
            out = self._features(X) @ self.coef_.T
        out = out[:, 0] if self._y_1d else out
        return self._finite_output(out)


class SignatureKernelRNNClassifier(ClassifierMixin, _SignatureKernelRNNBase):
    """Time-series classification with the paper's signature kernel or its RNN.

    The kernel solver fits L2-penalised logistic regression (multinomial for
    three or more classes) on the weighted signature features, the penalty
    being ``alpha`` times the squared RKHS norm; the RNN solver trains the
    paper's residual RNN with cross-entropy (one logit for two classes) plus
    the same penalty, computed from the iterated derivatives of its vector
    field, as in the paper's spirals experiment.

    Input: ``(n_samples, n_timesteps, n_channels)``; a 2-D ``(n, T)`` array is read
    as univariate series.

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
        ``alpha`` times the squared RKHS norm averaged over the outputs, as in
        the paper's reference code: one output per target for the regressor,
        one per class for the classifier (two for binary tasks; for the kernel
        solver, whose binary model has one logit ``g``, that is ``||g||^2 / 4``).
        The kernel solver leaves the level-0 term (the intercept) unpenalised.
        0 fits without penalty. The paper's penalised RNN uses 0.1.
    time_augment : bool, default=True
        Add time (0 to 1) as the last channel, as in the paper (required by the
        RNN solver, whose step is that time).
    basepoint : bool, default=True
        Start every path at the origin by prepending a zero point, so that the
        signature also sees where the series starts. Without it paths are
        translated to start at the origin (signatures only see increments).
        Either way the RNN's expansion is taken at the common state ``(h_0, 0)``.
    scaling : {"auto", "total_variation"} or None, default="auto"
        ``"total_variation"`` divides each path by its total variation (before
        adding time), the setting in which the paper's expansion error is small
        at low depth; None keeps raw paths. ``"auto"`` is ``"total_variation"``
        for the kernel solver and None for the RNN solver, which the paper
        trains on raw spirals.
    backend : {"auto", "iisignature", "pysiglib"}, default="auto"
        Signature library; ``"auto"`` uses pysiglib when installed.
    n_jobs : int or None, default=None
        Cores for signature computation; None uses all of them.
    hidden_size : int, default=32
        RNN hidden size (RNN solver).
    activation : {"tanh", "sigmoid"}, default="tanh"
        RNN activation (RNN solver).
    learning_rate : float, default=0.1
        Adam step size (RNN solver), the paper's.
    lr_halving_epochs : int or None, default=40
        RNN solver: halve the step size every this many epochs, the paper's
        schedule; None keeps it constant.
    max_epochs : int, default=200
        Training epochs of the RNN solver, each a shuffled pass over the
        training set in minibatches of ``batch_size`` (one Adam update per
        minibatch, so one update per epoch with the full batch). Replaces
        ``max_iter``, which counted these epochs.
    batch_size : int, "auto" or None, default="auto"
        Mini-batch size of the RNN solver. ``"auto"`` is the paper's 64 (its 50
        training spirals are then one batch) up to 3200 samples, then
        ``ceil(n / 50)``, so that an epoch is at most 50 updates (each update
        is a sequential loop over the time steps plus the penalty, whose cost
        does not shrink with the batch). None trains on the full batch.
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
    memory_limit_gb : float or None, default=4.0
        Budget for signature features: before computing them, the memory of
        the features (``n_samples * (1 + sum_k c**k)`` float64 values, twice,
        with ``c`` the channels including time) and of the kernel solver's Gram
        matrix is estimated, and a larger need raises a ValueError that says
        what to change. None disables the check.
    random_state : int, RandomState instance or None, default=None
        Seeds the RNN's initialisation and batch order.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network's parameters and computations.
    verbose : int, default=0
        Show a progress bar while training the RNN.
    on_divergence : {"raise", "warn"}, default="raise"
        What an RNN fit does when the loss becomes non-finite or exceeds 1e4
        times the data-fit loss of the trivial predictor (the mean target, the
        class prior): raise :class:`~sktheory.base.DivergenceError`, or warn
        :class:`~sktheory.base.DivergenceWarning`, stop and refuse to predict.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_outputs, `n_signature_features_`)
        Coefficients on the weighted features returned by :meth:`transform`.
    signature_coef_ : ndarray of shape (n_outputs, `n_signature_features_`)
        The fitted function as a linear functional on the signature
        ``(1, S^1, ..., S^N)`` of the preprocessed path: for the RNN solver,
        ``psi(h_0)`` then ``psi(D^k)`` with ``D^k`` the iterated derivatives of
        the RNN's vector field. One row per row of :meth:`decision_function`
        (the logit difference for two classes) or per target.
    rkhs_norm_ : float
        RKHS norm of the fitted function, ``||f||^2 = sum_k ||f^k||^2 / (k!)^2``
        over the levels of ``signature_coef_``, as a root mean square over the
        model's outputs (the quantity ``alpha`` penalises, intercept included).
    taylor_error_ : float
        RNN solver only: relative error of the depth-``N`` expansion on (up to
        500 of) the training paths, RMS of expansion minus network over RMS of
        the network's outputs. Above 0.1 a :class:`TaylorExpansionWarning` says
        that ``rkhs_norm_`` and ``signature_coef_`` do not describe the network.
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

    See Also
    --------
    SignatureKernelRNN : The regressor.
    sktheory.datasets.make_spirals : The paper's spirals.

    Examples
    --------
    >>> from sktheory import SignatureKernelRNNClassifier
    >>> from sktheory.datasets import make_spirals
    >>> X, y = make_spirals(200, random_state=0)
    >>> clf = SignatureKernelRNNClassifier(depth=3).fit(X[:100], y[:100])
    >>> bool(clf.score(X[100:], y[100:]) > 0.9)
    True
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignatureKernelRNNClassifier:
        """Fit on sequences ``X`` and class labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Training sequences, one row of channels per time step.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the per-sample log-losses in the mean; None weighs
            every sample equally.

        Returns
        -------
        self : SignatureKernelRNNClassifier
            The fitted estimator.
        """
        self._check_solver_params()
        if self.solver == "rnn":
            return self._fit(X, y, sample_weight=sample_weight)
        X, codes, sw = self._classification_data(X, y, sample_weight, reset=True)
        self._init_torch()
        channels = self._n_path_channels()
        phi = self._features(X)
        norm_squared = None
        if len(self.classes_) == 1:
            coef, n_iter, loss = np.zeros((1, phi.shape[1])), 0, 0.0
        else:
            # The RNN's convention: one output per class, the penalty alpha times
            # the mean over outputs of ||f_c||^2 (level 0, the intercept, free).
            # Multinomial: alpha / K * sum_c ||w_c||^2. Two classes: the optimal
            # outputs are (-g/2, g/2) for the logit g, so the penalty is
            # alpha / 4 * ||g||^2. With mean log-loss and weights of mean 1,
            # penalty beta ||w||^2 is sklearn's C = 1 / (2 beta n).
            k = len(self.classes_)
            beta = self.alpha / (4 if k == 2 else k)
            c = np.inf if self.alpha == 0 else 1.0 / (2 * beta * len(codes))
            # Newton steps converge in a few iterations while the Hessian
            # (features x classes, squared) stays small; L-BFGS beyond that.
            solver = "newton-cholesky" if phi.shape[1] * (1 if k == 2 else k) <= 2000 else "lbfgs"
            lr = LogisticRegression(C=c, solver=solver, max_iter=1000, tol=1e-8)
            lr.fit(phi[:, 1:], codes, sample_weight=sw)
            coef = np.hstack([lr.intercept_[:, None], lr.coef_])
            n_iter = int(np.max(lr.n_iter_))
            proba = lr.predict_proba(phi[:, 1:])[np.arange(len(codes)), codes]
            log_loss = -np.mean(sw * np.log(np.maximum(proba, 1e-300)))
            loss = log_loss + beta * (lr.coef_**2).sum()
            if k == 2:  # the two symmetric outputs +-coef / 2
                norm_squared = float((coef**2).sum()) / 4
        self._finish_kernel_fit(coef, channels, n_iter, loss, norm_squared)
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
        # One output per class, two for binary tasks, as in the paper's reference
        # code, so that alpha weighs the penalty as there.
        n_outputs = max(len(self.classes_), 2)
        return self._rnn_data(X, codes, sw, _cross_entropy, n_outputs, baseline, reset)

    def _rnn_rows(self, weighted: np.ndarray) -> np.ndarray:
        # Two classes: decision_function is the logit difference.
        return weighted[1:] - weighted[:1] if weighted.shape[0] == 2 else weighted

    def _decision_rows(self, out: torch.Tensor) -> torch.Tensor:
        return out[..., 1:] - out[..., :1] if out.shape[-1] == 2 else out

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits of the classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Sequences with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` against ``classes_[0]``;
            otherwise one logit per class.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if "module_" in self.__dict__:
            out = self._rnn_output(X)
            if out.shape[1] == 2:  # the logit of class 1 against class 0
                out = out[:, 1:] - out[:, :1]
        else:
            out = self._features(X) @ self.coef_.T
        return self._finite_output(out[:, 0] if out.shape[1] == 1 else out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Sequences with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The softmax of the logits, columns in the order of ``classes_``.
        """
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
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_channels)
            Sequences with the channels seen in fit.

        Returns
        -------
        ndarray of shape (n_samples,)
            The most probable class of each sequence.
        """
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


@dataclass
class StabilityBound:
    """The paper's stability bound evaluated on pairs of paths.

    Attributes
    ----------
    change : ndarray of shape (n_pairs,)
        ``||f(x) - f(x')||``: the change of the fitted model's output (the
        regressor's prediction, the classifier's decision function).
    bound : ndarray of shape (n_pairs,)
        ``||f||_H ||Phi(x) - Phi(x')||`` with ``Phi`` the weighted signature
        features and ``||f||_H`` the norm of ``signature_coef_`` (Frobenius
        over its rows).
    holds : float
        Fraction of pairs with ``change <= bound`` (up to rounding).
    median_ratio : float
        Median of ``change / bound``: above 1, the norm does not control the model.
    """

    change: np.ndarray
    bound: np.ndarray
    holds: float
    median_ratio: float


def stability_bound(estimator: _SignatureKernelRNNBase, X: Any, X_other: Any) -> StabilityBound:
    """Check ``|f(x) - f(x')| <= ||f||_H ||Phi(x) - Phi(x')||`` on pairs ``(X[i], X_other[i])``.

    The bound holds exactly for a linear function of the features (the kernel
    solver); for a fitted RNN it holds only while the network stays close to
    its depth-N signature expansion (see ``taylor_error_``).

    Parameters
    ----------
    estimator : SignatureKernelRNN or SignatureKernelRNNClassifier
        A fitted model.
    X, X_other : array-like of shape (n_pairs, n_timesteps, n_channels)
        The pairs of paths, row by row.

    Returns
    -------
    StabilityBound
        The change, the bound and their summaries, one entry per pair.

    Examples
    --------
    >>> from sktheory import SignatureKernelRNN
    >>> from sktheory.datasets import make_brownian_paths
    >>> X = make_brownian_paths(30, 10, 2, random_state=0)
    >>> model = SignatureKernelRNN(depth=2).fit(X, X[:, -1, 0])
    >>> stability_bound(model, X[:15], X[15:]).holds  # exact for the kernel solver
    1.0
    """
    check_is_fitted(estimator)
    X = estimator._validate(X, reset=False)
    X_other = estimator._validate(X_other, reset=False)
    if len(X) != len(X_other):
        raise ValueError(
            f"X and X_other must hold the same number of paths (pairs), got {len(X)} "
            f"and {len(X_other)}."
        )
    if isinstance(estimator, ClassifierMixin):
        f, f_other = estimator.decision_function(X), estimator.decision_function(X_other)
    else:
        f, f_other = estimator.predict(X), estimator.predict(X_other)
    change = np.abs(f - f_other) if f.ndim == 1 else np.linalg.norm(f - f_other, axis=1)
    gap = np.linalg.norm(estimator._features(X) - estimator._features(X_other), axis=1)
    bound = np.linalg.norm(estimator.coef_) * gap
    # Rounding: a pair of equal paths has change ~1e-16 against a bound of 0.
    slack = 1e-9 * (1 + np.abs(f).reshape(len(f), -1).max(axis=1))
    ratio = change / np.maximum(bound, np.finfo(float).tiny)
    return StabilityBound(
        change=change,
        bound=bound,
        holds=float(np.mean(change <= bound * (1 + 1e-9) + slack)),
        median_ratio=float(np.median(ratio)),
    )

"""Shared machinery for sktheory's torch-backed estimators.

Every estimator in the package derives from :class:`TorchEstimator`, which gives

* parameter validation through scikit-learn's ``_parameter_constraints``;
* a per-fit :class:`torch.Generator` seeded from ``random_state`` (never the
  process-wide torch seed, so fits stay reproducible under joblib's threading
  backend);
* ``device`` resolution (``"cpu"``, ``"cuda"``, ``"auto"``) and ``dtype``
  (``"float64"`` by default, ``"float32"`` for speed);
* the training contract (:meth:`TorchEstimator._fit` and its hooks, with the
  vocabulary and the divergence and convergence rules documented in
  :mod:`sktheory._training`): a tqdm progress bar, ``history_``, ``n_iter_``,
  ``tol`` stopping, ``warm_start``, :class:`DivergenceError` on a non-finite or
  blown-up loss and :class:`~sklearn.exceptions.ConvergenceWarning` on a fit
  that did not converge;
* input validation for 2-D tables and 3-D sequences;
* pickles that record the package version and refuse an incompatible one.

Paper modules import from here; this module imports none of them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data
from tqdm.auto import tqdm

from sktheory._training import BLOWUP_FACTOR, N_ITER_NO_CHANGE, Monitor, TrainState, Window
from sktheory._version import __version__

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "TorchEstimator",
    "TrainState",
    "Window",
    "make_generator",
    "resolve_device",
    "single_thread",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DivergenceError(RuntimeError):
    """Raised when a fit diverges: a non-finite loss, or a finite blow-up.

    The rule is documented in :mod:`sktheory._training`: a window loss that is
    NaN or infinite, or larger than ``BLOWUP_FACTOR`` (1e4) times the loss of
    the trivial predictor (or, without one, the loss at initialisation).
    """


class DivergenceWarning(UserWarning):
    """Warned instead of :class:`DivergenceError` when ``on_divergence="warn"``.

    The fit stops, ``diverged_`` is True, and the model refuses to predict.
    """


class IncompatibleVersionError(RuntimeError):
    """Raised when unpickling a model saved by an incompatible sktheory version."""


def resolve_device(device: str) -> torch.device:
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
        ``"auto"`` picks CUDA when available and falls back to the CPU.
        ``"cuda"`` without a usable GPU raises.

    Returns
    -------
    torch.device
        The device to train on.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was requested but no CUDA device is available "
            "(torch.cuda.is_available() is False); use device='cpu' or "
            "device='auto' to fall back to the CPU."
        )
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}.")
    return torch.device(device)


def make_generator(random_state: Any) -> torch.Generator:
    """Build a CPU :class:`torch.Generator` seeded from ``random_state``.

    Random draws are made on the CPU generator and then moved to the target
    device, so that the same ``random_state`` gives the same model on CPU and
    GPU.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As in scikit-learn. ``None`` draws a fresh seed.

    Returns
    -------
    torch.Generator
        A CPU generator, seeded from one draw of ``random_state``.

    Examples
    --------
    >>> g1, g2 = make_generator(0), make_generator(0)
    >>> bool(torch.equal(torch.randn(3, generator=g1), torch.randn(3, generator=g2)))
    True
    """
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def single_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the setting.

    Loops of many small tensor operations (one-sample SGD, recurrent steps,
    particle clouds of a few thousand points) gain nothing from intra-op
    threads and lose much to their synchronisation: on a loaded 2-core machine
    such fits ran 10 to 100 times slower on two threads than on one. The
    setting is process-wide, so the block restores it on exit. Does nothing
    for a GPU device.

    Parameters
    ----------
    device : torch.device or str, default="cpu"
        The device the block computes on; nothing changes unless it is the CPU.

    Yields
    ------
    None
        Control to the block, with one torch thread.

    Examples
    --------
    >>> with single_thread():
    ...     torch.get_num_threads()
    1
    """
    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TorchEstimator(BaseEstimator):
    """Base class for sktheory's torch-backed estimators.

    Subclasses define ``__init__`` (storing parameters only), ``fit`` decorated
    with ``@_fit_context(prefer_skip_nested_validation=True)`` and their own
    ``_parameter_constraints``, merged with this class's::

        _parameter_constraints = {**TorchEstimator._parameter_constraints, ...}

    Parameters handled here (each subclass exposes those it uses):
    ``device``, ``dtype``, ``random_state``, ``verbose``, ``on_divergence``.

    Iterative estimators implement ``fit`` as ``return self._fit(X, y, ...)``
    and define the training hooks listed at :meth:`_fit`; the driver sets
    ``history_`` (list of dicts, one per window, with at least ``"iter"`` and
    ``"loss"``), ``n_iter_`` (updates done, cumulative over ``warm_start``
    fits) and ``diverged_``.
    """

    _parameter_constraints: dict = {
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "on_divergence": [StrOptions({"raise", "warn"})],
    }

    # ------------------------------------------------------------------ set-up
    def _init_torch(self) -> torch.Generator:
        """Resolve device and dtype for this fit and return its generator.

        Sets ``device_`` and ``dtype_`` (a string, so models pickle cleanly).
        """
        self.device_ = resolve_device(getattr(self, "device", "cpu"))
        self.dtype_ = getattr(self, "dtype", "float64")
        return make_generator(getattr(self, "random_state", None))

    @property
    def _torch_dtype(self) -> torch.dtype:
        return _DTYPES[getattr(self, "dtype_", getattr(self, "dtype", "float64"))]

    def _to_tensor(self, array: Any) -> torch.Tensor:
        """Copy a numpy array into a tensor of the fitted dtype and device.

        Always copies: inputs may be read-only (memory maps), which torch
        cannot wrap safely.
        """
        device = getattr(self, "device_", torch.device("cpu"))
        return torch.tensor(np.asarray(array), dtype=self._torch_dtype, device=device)

    def _check_numeric_target(self, y: Any) -> Any:
        """Refuse a regression target that is not numeric, naming the problem."""
        kind = getattr(getattr(y, "dtype", None), "kind", "f")
        if kind in "USO":
            raise ValueError(
                f"{type(self).__name__} is a regressor and needs a numeric y, but y "
                f"has dtype {y.dtype} (strings or objects). Convert it first, for "
                "example with y.astype(float)."
            )
        return y

    @staticmethod
    def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
        """Return a float64 numpy copy of a tensor from any device."""
        return tensor.detach().cpu().to(torch.float64).numpy()

    # -------------------------------------------------------------- validation
    def _validate_sequences(
        self,
        X: Any,
        y: Any = None,
        *,
        reset: bool,
        n_tokens: int | None = None,
        y_numeric: bool = True,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Validate sequence input of shape ``(n_samples, n_tokens, n_channels)``.

        A 2-D array ``(n_samples, p)`` is read as ``n_tokens`` tokens of
        ``p // n_tokens`` channels, or as ``p`` tokens of one channel when
        ``n_tokens`` is None. ``n_features_in_`` counts the flattened features
        (``n_tokens * n_channels``) so that 2-D and 3-D inputs of the same data
        agree; ``n_channels_in_`` and ``n_tokens_in_`` record the sequence shape.
        """
        dtype = [np.float64, np.float32]
        # np.ndim would call __array_function__, which some array-likes refuse.
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        if ndim >= 3:
            X = check_array(X, allow_nd=True, dtype=dtype, estimator=self, input_name="X")
            if X.ndim != 3:
                raise ValueError(
                    "X must be 2-D (n_samples, n_features) or 3-D (n_samples, "
                    f"n_tokens, n_channels); got an array with {X.ndim} dimensions."
                )
            X = self._reshape_sequences(X, n_tokens)
            flat = X.reshape(X.shape[0], -1)
            if y is None:
                validate_data(self, flat, reset=reset, skip_check_array=True)
            else:
                _, y = validate_data(self, flat, y, reset=reset, dtype=dtype, y_numeric=y_numeric)
        else:
            if y is None:
                X = validate_data(self, X, reset=reset, dtype=dtype)
            else:
                X, y = validate_data(self, X, y, reset=reset, dtype=dtype, y_numeric=y_numeric)
            X = self._reshape_sequences(X, n_tokens)
        if reset:
            self.n_tokens_in_, self.n_channels_in_ = X.shape[1], X.shape[2]
        elif (X.shape[1], X.shape[2]) != (self.n_tokens_in_, self.n_channels_in_):
            raise ValueError(
                f"X has sequences of shape {X.shape[1:]} (tokens, channels) but "
                f"{type(self).__name__} was fitted on "
                f"{(self.n_tokens_in_, self.n_channels_in_)}."
            )
        return X if y is None else (X, y)

    @staticmethod
    def _reshape_sequences(X: np.ndarray, n_tokens: int | None) -> np.ndarray:
        if X.ndim == 3:
            if n_tokens is not None and X.shape[1] != n_tokens:
                raise ValueError(f"X has {X.shape[1]} tokens per sequence but n_tokens={n_tokens}.")
            return X
        if n_tokens is None:
            return X[:, :, None]
        if X.shape[1] % n_tokens:
            raise ValueError(
                f"X has {X.shape[1]} features, which cannot be split into "
                f"n_tokens={n_tokens} tokens of equal size."
            )
        return X.reshape(X.shape[0], n_tokens, X.shape[1] // n_tokens)

    # --------------------------------------------------------- training contract
    # Hooks an estimator defines (see sktheory/_training.py for the vocabulary):
    #   _check_fit_data(X, y, reset, **fit_params) -> data     (required)
    #   _init_state(data, generator) -> TrainState              (required)
    #   _run_window(state, data, n_updates) -> Window           (required)
    #   _initial_loss(state, data), _baseline_loss(data)        (optional)
    #   _record(state, data) -> dict of extra history entries   (optional)
    #   _finalize(state, data): set the fitted attributes       (required)
    # and the class attributes _budget ("max_iter" or "max_epochs"),
    # _divergence_hint and _no_progress_hint (what the user should change).

    _budget: str = "max_iter"
    _divergence_hint: str = "Lower the learning rate (or the initialisation scale)."
    _no_progress_hint: str = "Standardise X and y, or raise the learning rate or max_iter."

    def _fit(self, X: Any, y: Any = None, **fit_params: Any) -> TorchEstimator:
        """Template of every iterative fit: validate, build or resume, train, finalise.

        With ``warm_start=True`` and a previous fit, training continues from the
        stored :class:`~sktheory._training.TrainState` (parameters, optimiser
        and random stream), so ``fit`` with ``max_iter=a`` then, warm, with
        ``max_iter=b`` equals one fit with ``max_iter=a + b`` where the loop
        is deterministic.
        """
        warm = bool(getattr(self, "warm_start", False)) and hasattr(self, "_train_state_")
        # device_ and dtype_ are set before the data hook, which makes tensors.
        generator = None if warm else self._init_torch()
        data = self._check_fit_data(X, y, reset=not warm, **fit_params)
        if warm:
            state = self._train_state_
        else:
            state = self._init_state(data, generator)
            self.history_ = []
        self._drive(state, data)
        self._train_state_ = state
        self._finalize(state, data)
        return self

    def _drive(
        self,
        state: TrainState,
        data: Any,
        *,
        run_window: Callable[[TrainState, Any, int | None], Window] | None = None,
        budget: tuple[str, int] | None = None,
        window: int | None = None,
        history: str = "history_",
        desc: str | None = None,
    ) -> None:
        """Run one training phase through windows, checking and recording each.

        Parameters
        ----------
        state : TrainState
            The fit's state; its counters advance.
        data : object
            What :meth:`_check_fit_data` returned.
        run_window : callable, default=self._run_window
            ``run_window(state, data, n_updates)`` trains one window: at most
            ``n_updates`` updates, or one epoch when ``n_updates`` is None.
        budget : (str, int), default=(self._budget, getattr(self, self._budget))
            ``("max_iter", n)`` for ``n`` updates, ``("max_epochs", n)`` for
            ``n`` epochs.
        window : int or None, default=self._window_updates(budget)
            Updates per window for update budgets.
        history : str, default="history_"
            Attribute that collects this phase's records.
        desc : str or None
            Progress-bar label; the bar shows when ``verbose`` is truthy.

        Sets ``n_iter_`` and ``diverged_`` and appends to ``history``. A
        divergence raises :class:`DivergenceError`, or warns
        :class:`DivergenceWarning` and stops with ``on_divergence="warn"``.
        The end of a phase that did not converge warns
        :class:`~sklearn.exceptions.ConvergenceWarning`.
        """
        run_window = run_window or self._run_window
        kind, total = budget or (self._budget, int(getattr(self, self._budget)))
        per_epoch = kind == "max_epochs"
        if window is None:
            window = self._window_updates(total)
        tol = getattr(self, "tol", None)
        records = getattr(self, history, None)
        if records is None:
            records = []
            setattr(self, history, records)
        monitor = state.monitors.get(history)
        fresh = monitor is None
        if fresh:
            monitor = state.monitors[history] = Monitor()
        self.diverged_ = False
        bar = tqdm(
            total=total,
            desc=desc or type(self).__name__,
            disable=not getattr(self, "verbose", 0),
            leave=False,
            mininterval=0.5,
            unit="epoch" if per_epoch else "it",
        )
        done, stopped = 0, False
        try:
            with self._torch_context():
                if fresh:
                    monitor.start(self._initial_loss(state, data), self._baseline_loss(data))
                while done < total:
                    result = run_window(
                        state, data, None if per_epoch else min(window, total - done)
                    )
                    state.n_iter += result.n_updates
                    state.n_epochs += per_epoch
                    done += 1 if per_epoch else max(result.n_updates, 1)
                    loss = float(result.loss)
                    entry = {"iter": state.n_iter, "loss": loss}
                    if per_epoch:
                        entry["epoch"] = state.n_epochs
                    if math.isfinite(loss):
                        entry.update(self._record(state, data))
                    records.append(entry)
                    bar.update(1 if per_epoch else result.n_updates)
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                    self.n_iter_ = state.n_iter
                    if monitor.blown_up(loss):
                        self._diverge(state.n_iter, loss, monitor.reference)
                        return
                    stopped = monitor.update(loss, tol, self._patience())
                    if stopped:
                        break
        finally:
            bar.close()
        self.n_iter_ = state.n_iter
        problems = monitor.problems(tol, stopped) if done else []
        if problems:
            unit = "epochs" if per_epoch else "updates"
            warnings.warn(
                f"{type(self).__name__} did not converge after {done} {unit}: "
                + "; ".join(problems)
                + f". {self._no_progress_hint}",
                ConvergenceWarning,
                stacklevel=5,  # _drive, _fit, fit, sklearn's _fit_context, the caller
            )

    def _patience(self) -> int:
        return int(getattr(self, "n_iter_no_change", N_ITER_NO_CHANGE))

    def _window_updates(self, total: int) -> int:
        """Updates per window for an update budget: about 100 windows a fit."""
        return max(1, total // 100)

    def _initial_loss(self, state: TrainState, data: Any) -> float | None:
        """Training loss at initialisation, or None to use the first window's."""
        return None

    def _baseline_loss(self, data: Any) -> float | None:
        """Training loss of the trivial predictor, or None when there is none."""
        return None

    def _record(self, state: TrainState, data: Any) -> dict:
        """Estimator-specific quantities stored with each window's record."""
        return {}

    def _torch_context(self) -> contextlib.AbstractContextManager:
        """Context for training and prediction: one torch thread on the CPU."""
        return single_thread(getattr(self, "device_", "cpu"))

    def _diverge(self, i: int, loss: float, reference: float | None = None) -> None:
        if math.isfinite(loss) and reference is not None:
            what = (
                f"reached {loss:.4g} after {i} updates, more than {BLOWUP_FACTOR:g} "
                f"times the reference loss {reference:.4g}"
            )
        else:
            what = f"became {loss} after {i} updates"
        self._report_divergence(
            f"{type(self).__name__} diverged: the training loss {what}. "
            f"{self._divergence_hint} Training stopped early."
        )

    def _report_divergence(self, message: str, stacklevel: int = 7) -> None:
        """Set ``diverged_``; raise :class:`DivergenceError`, or warn when
        ``on_divergence="warn"``."""
        self.diverged_ = True
        if getattr(self, "on_divergence", "raise") == "warn":
            warnings.warn(message, DivergenceWarning, stacklevel=stacklevel)
        else:
            raise DivergenceError(message)

    def _check_not_diverged(self) -> None:
        """Raise if the fit diverged (``diverged_`` is True, possible with
        ``on_divergence="warn"``): its parameters are meaningless even where
        they are still finite, so the model refuses to predict."""
        if getattr(self, "diverged_", False):
            raise ValueError(
                f"This {type(self).__name__} diverged during fit (diverged_ is True), so "
                "its predictions are not meaningful; refit with a lower learning rate."
            )

    def _finite_output(self, output: np.ndarray) -> np.ndarray:
        """Return ``output`` if the model did not diverge and it is finite, else raise."""
        self._check_not_diverged()
        if not np.all(np.isfinite(output)):
            raise ValueError(f"{type(self).__name__} produced non-finite predictions.")
        return output

    # ------------------------------------------------------------- persistence
    def __getstate__(self) -> dict:
        # Pickles hold CPU tensors only, so a model fitted on a GPU loads on a
        # machine without one.
        state = {key: _to_cpu(value) for key, value in super().__getstate__().items()}
        if "_train_state_" in state:
            # The training state nests modules, optimisers and generators that
            # share tensors; torch's serialiser keeps those links and maps the
            # tensors to the CPU in one go.
            buffer = io.BytesIO()
            torch.save(state["_train_state_"], buffer)
            state["_train_state_"] = _SavedTrainState(buffer.getvalue())
        state["_sktheory_version"] = __version__
        return state

    def __setstate__(self, state: dict) -> None:
        saved = state.pop("_sktheory_version", None)
        if saved is not None and _major_minor(saved) != _major_minor(__version__):
            raise IncompatibleVersionError(
                f"This {type(self).__name__} was pickled with sktheory {saved}, "
                f"which is incompatible with the installed sktheory {__version__}; "
                "refit the model or install the matching version."
            )
        device = state.get("device_")
        saved_state = state.get("_train_state_")
        if isinstance(saved_state, _SavedTrainState):
            target = device if isinstance(device, torch.device) else torch.device("cpu")
            if target.type == "cuda" and not torch.cuda.is_available():
                target = torch.device("cpu")
            state["_train_state_"] = torch.load(
                io.BytesIO(saved_state.payload), map_location=target, weights_only=False
            )
        if isinstance(device, torch.device) and device.type == "cuda":
            if torch.cuda.is_available():
                state = {key: _to_device(value, device) for key, value in state.items()}
            else:
                warnings.warn(
                    f"This {type(self).__name__} was fitted on {device} but no CUDA "
                    "device is available; it was loaded on the CPU.",
                    UserWarning,
                    stacklevel=2,
                )
                state["device_"] = torch.device("cpu")
        super().__setstate__(state)


@dataclass(frozen=True)
class _SavedTrainState:
    """A pickled ``_train_state_``: the bytes of ``torch.save`` of the state."""

    payload: bytes


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.device.type != "cpu":
        return value.detach().cpu()
    if isinstance(value, torch.nn.Module) and any(
        t.device.type != "cpu" for t in [*value.parameters(), *value.buffers()]
    ):
        return copy.deepcopy(value).cpu()
    return value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor | torch.nn.Module):
        return value.to(device)
    return value


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])

"""Shared machinery for sktheory's torch-backed estimators.

Every estimator in the package derives from :class:`TorchEstimator`, which gives

* parameter validation through scikit-learn's ``_parameter_constraints``;
* a per-fit :class:`torch.Generator` seeded from ``random_state`` (never the
  process-wide torch seed, so fits stay reproducible under joblib's threading
  backend);
* ``device`` resolution (``"cpu"``, ``"cuda"``, ``"auto"``) and ``dtype``
  (``"float64"`` by default, ``"float32"`` for speed);
* a training loop driver (:meth:`TorchEstimator._run_loop`) with a tqdm progress
  bar, ``history_``, ``n_iter_``, tolerance-based stopping and divergence
  detection;
* input validation for 2-D tables and 3-D sequences;
* pickles that record the package version and refuse an incompatible one.

Paper modules import from here; this module imports none of them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data
from tqdm.auto import tqdm

from sktheory._version import __version__

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "TorchEstimator",
    "make_generator",
    "resolve_device",
    "single_thread",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DivergenceError(RuntimeError):
    """Raised when a fit produces a non-finite loss (NaN or inf)."""


class DivergenceWarning(UserWarning):
    """Warned when a fit produces a non-finite loss and ``on_divergence="warn"``."""


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

    Fitted attributes set by :meth:`_run_loop`: ``history_`` (list of dicts,
    one per recorded step, with at least ``"iter"`` and ``"loss"``),
    ``n_iter_`` and ``diverged_``.
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

    # ------------------------------------------------------------ training loop
    def _run_loop(
        self,
        step: Callable[[int], float],
        max_iter: int,
        *,
        tol: float | None = None,
        record_every: int = 1,
        desc: str | None = None,
        extra: Callable[[int], dict] | None = None,
    ) -> None:
        """Drive a training loop and record its history.

        Parameters
        ----------
        step : callable
            ``step(i)`` performs update ``i`` and returns the training loss as a
            float (usually the loss evaluated before the update).
        max_iter : int
            Number of calls to ``step``.
        tol : float or None
            Stop when the relative change of the loss between two consecutive
            steps falls below ``tol``.
        record_every : int
            Record every ``record_every``-th loss in ``history_`` (the first and
            last steps are always recorded).
        desc : str or None
            Progress bar label; the bar shows when ``verbose`` is truthy.
        extra : callable or None
            ``extra(i)`` returns more quantities to store with a recorded step.

        Sets ``history_``, ``n_iter_`` and ``diverged_``. A non-finite loss
        raises :class:`DivergenceError`, or with ``on_divergence="warn"`` warns
        :class:`DivergenceWarning` and stops.
        """
        self.history_ = []
        self.diverged_ = False
        previous = math.inf
        bar = tqdm(
            total=max_iter,
            desc=desc or type(self).__name__,
            disable=not getattr(self, "verbose", 0),
            leave=False,
            mininterval=0.5,
        )
        i = -1
        try:
            for i in range(max_iter):
                loss = float(step(i))
                last = i == max_iter - 1
                if not math.isfinite(loss):
                    self._record(i, loss, extra)
                    self.n_iter_ = i + 1
                    self._diverge(i, loss)
                    return
                converged = tol is not None and abs(previous - loss) <= tol * max(1.0, abs(loss))
                if i % record_every == 0 or last or converged:
                    self._record(i, loss, extra)
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                bar.update(1)
                previous = loss
                if converged:
                    break
        finally:
            bar.close()
        self.n_iter_ = i + 1

    def _record(self, i: int, loss: float, extra: Callable[[int], dict] | None) -> None:
        entry = {"iter": i, "loss": loss}
        if extra is not None:
            entry.update(extra(i))
        self.history_.append(entry)

    def _diverge(self, i: int, loss: float) -> None:
        self._report_divergence(
            f"{type(self).__name__} diverged: the training loss became {loss} at "
            f"iteration {i}. Lower the learning rate (or the initialisation scale). "
            "Training stopped early."
        )

    def _report_divergence(self, message: str) -> None:
        """Set ``diverged_``; raise :class:`DivergenceError`, or warn when
        ``on_divergence="warn"``."""
        self.diverged_ = True
        if getattr(self, "on_divergence", "raise") == "warn":
            warnings.warn(message, DivergenceWarning, stacklevel=3)
        else:
            raise DivergenceError(message)

    def _finite_output(self, output: np.ndarray) -> np.ndarray:
        """Return ``output`` if the model converged and it is finite, else raise.

        A model that diverged (``diverged_`` is True, possible with
        ``on_divergence="warn"``) refuses to predict: its parameters are
        meaningless even where they are still finite.
        """
        name = type(self).__name__
        if getattr(self, "diverged_", False):
            raise ValueError(
                f"This {name} diverged during fit (diverged_ is True), so its "
                "predictions are not meaningful; refit with a lower learning rate."
            )
        if not np.all(np.isfinite(output)):
            raise ValueError(f"{name} produced non-finite predictions.")
        return output

    # ------------------------------------------------------------- persistence
    def __getstate__(self) -> dict:
        # Pickles hold CPU tensors only, so a model fitted on a GPU loads on a
        # machine without one.
        state = {key: _to_cpu(value) for key, value in super().__getstate__().items()}
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

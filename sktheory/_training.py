"""The training contract shared by every iterative estimator.

:meth:`sktheory.base.TorchEstimator._fit` drives every fit through the same
named hooks (as scikit-learn's ``mixture/_base.py`` does), and this module
holds the small pieces it needs: the per-fit :class:`TrainState`, the
:class:`Window` a hook returns, the :class:`Monitor` that applies the
divergence and convergence rules, and the rules' constants.

Vocabulary, the same for every estimator:

* an **update** is one parameter update (one SGD or GD step, one minibatch);
  ``max_iter`` counts updates, ``n_iter_`` is the number of updates done
  (cumulative over ``warm_start`` fits);
* an **epoch** is one pass over the training set, for estimators whose budget
  is ``max_epochs``;
* a **window** is the unit in which the driver checks and records: one epoch,
  or a fixed number of updates for estimators that count updates. ``history_``
  holds one dict per window with at least ``"iter"`` (updates done so far) and
  ``"loss"`` (the mean training loss over the window's updates), plus
  ``"epoch"`` for epoch budgets and the estimator's own quantities;
* ``tol``: the fit stops early once the window loss has improved on the best
  earlier window by less than ``tol`` times that best loss, in
  ``n_iter_no_change`` consecutive windows (the estimator's parameter where it
  has one, else :data:`N_ITER_NO_CHANGE`). ``tol=None`` runs the whole budget.

Divergence (:class:`~sktheory.base.DivergenceError`, or
:class:`~sktheory.base.DivergenceWarning` with ``on_divergence="warn"``) is a
window loss that is not finite, or whose magnitude exceeds
:data:`BLOWUP_FACTOR` times the reference loss: the loss of the trivial
predictor (the mean target, the class prior) when the estimator defines one,
otherwise the loss at initialisation. A finite blow-up is thus caught long
before it overflows, and a forward pass that explodes at initialisation (a
trivial predictor ten thousand times better than the model) is caught at the
first window.

Non-convergence (:class:`~sklearn.exceptions.ConvergenceWarning`) is warned at
the end of a fit that did not diverge when

* ``tol`` is set and the budget ran out while the loss was still improving by
  more than ``tol``;
* the final window loss is not below :data:`NO_PROGRESS_FRACTION` of the loss
  at initialisation (a saddle start, or a step far too small for the data's
  scale);
* the estimator defines a trivial predictor and the final loss is not below
  :data:`NO_PROGRESS_FRACTION` of its loss: the model learned nothing the
  mean (or the class prior) does not already give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "BLOWUP_FACTOR",
    "N_ITER_NO_CHANGE",
    "NO_PROGRESS_FRACTION",
    "Monitor",
    "TrainState",
    "Window",
    "mean_predictor_loss",
    "prior_predictor_loss",
]

#: A window loss larger than this multiple of the reference loss is a divergence.
BLOWUP_FACTOR = 1e4

#: Windows in a row without a ``tol`` improvement before the fit stops.
N_ITER_NO_CHANGE = 2

#: A final loss above this fraction of the initial (or trivial) loss is no progress.
NO_PROGRESS_FRACTION = 0.999


@dataclass
class Window:
    """What one window of training reports to the driver.

    Parameters
    ----------
    loss : float
        Mean training loss over the window's updates (each usually evaluated
        before its update). Not finite when training blew up inside the window;
        the hook then stops the window early.
    n_updates : int
        Parameter updates done in the window.
    """

    loss: float
    n_updates: int


@dataclass
class Monitor:
    """Divergence and convergence bookkeeping of one training phase.

    Parameters
    ----------
    reference : float or None
        Loss that defines a blow-up (see the module docstring); None until the
        first window when the estimator has no trivial predictor and no loss at
        initialisation.
    initial : float or None
        Loss at initialisation (or of the first window).
    baseline : float or None
        Loss of the trivial predictor, when the estimator defines one.
    """

    reference: float | None = None
    initial: float | None = None
    baseline: float | None = None
    best: float = math.inf
    stalled: int = 0
    last: float = math.nan
    last_improvement: float = math.inf
    patience: int = N_ITER_NO_CHANGE

    def start(self, initial: float | None, baseline: float | None) -> None:
        """Set the reference losses at the start of a fresh fit."""
        self.initial = _finite_or_none(initial)
        self.baseline = _finite_or_none(baseline)
        positive = [v for v in (self.baseline, self.initial) if v is not None and v != 0.0]
        self.reference = abs(positive[0]) if positive else None

    def blown_up(self, loss: float) -> bool:
        """Whether ``loss`` is a divergence."""
        if not math.isfinite(loss):
            return True
        if self.reference is None:
            if self.initial is None:  # the first window sets the reference
                self.initial = loss
                self.reference = abs(loss) or None
            return False
        return abs(loss) > BLOWUP_FACTOR * self.reference

    def update(self, loss: float, tol: float | None, patience: int = N_ITER_NO_CHANGE) -> bool:
        """Record a finite window loss; return whether ``tol`` says stop."""
        self.patience = patience
        self.last = loss
        if self.initial is None:
            self.initial = loss
        if not math.isfinite(self.best):
            self.best, self.last_improvement = loss, math.inf
            return False
        self.last_improvement = (self.best - loss) / max(abs(self.best), 1e-300)
        improved = self.last_improvement > (tol if tol is not None else 0.0)
        self.stalled = 0 if improved else self.stalled + 1
        self.best = min(self.best, loss)
        return tol is not None and self.stalled >= patience

    def problems(self, tol: float | None, stopped_by_tol: bool) -> list[str]:
        """Sentences describing why the finished phase did not converge."""
        found = []
        if tol is not None and not stopped_by_tol and self.stalled < self.patience:
            found.append(
                f"the budget ran out while the loss was still improving by "
                f"{self.last_improvement:.3g} (relative, per window) > tol={tol:g}"
            )
        if not math.isfinite(self.last):
            return found
        if self.initial is not None and self.initial > 0:
            if self.last > NO_PROGRESS_FRACTION * self.initial:
                found.append(
                    f"the training loss did not decrease (from {self.initial:.4g} at "
                    f"initialisation to {self.last:.4g}): a saddle start, or a step "
                    "too small for the scale of the data"
                )
                return found
        if self.baseline is not None and self.baseline > 0:
            if self.last > NO_PROGRESS_FRACTION * self.baseline:
                found.append(
                    f"the training loss {self.last:.4g} is no better than the "
                    f"{self.baseline:.4g} of the trivial predictor (the mean target "
                    "or the class prior): the model learned nothing beyond it"
                )
        return found


@dataclass
class TrainState:
    """Everything a fit needs to continue: the base of each estimator's state.

    Estimators subclass it with their own fields (parameters, optimiser,
    minibatch order); the driver keeps it as ``_train_state_`` so that
    ``warm_start=True`` continues the same run, random stream included.

    Parameters
    ----------
    generator : torch.Generator
        The fit's random stream (from ``random_state``).
    n_iter : int
        Updates done so far.
    n_epochs : int
        Epochs done so far (estimators with an epoch budget).
    monitors : dict
        One :class:`Monitor` per training phase, by history attribute name.
    """

    generator: torch.Generator
    n_iter: int = 0
    n_epochs: int = 0
    monitors: dict[str, Monitor] = field(default_factory=dict)


def mean_predictor_loss(y: Any, sample_weight: Any = None) -> float:
    """Mean squared error of predicting the (weighted) mean of ``y``, averaged over outputs."""
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(y, axis=0, weights=w)
    return float(np.average(((y - mean) ** 2).mean(axis=1), weights=w))


def prior_predictor_loss(codes: Any, sample_weight: Any = None) -> float:
    """Cross-entropy of predicting the (weighted) class frequencies for labels ``codes``."""
    codes = np.asarray(codes).ravel()
    w = np.ones(len(codes)) if sample_weight is None else np.asarray(sample_weight, float)
    _, inverse = np.unique(codes, return_inverse=True)
    prior = np.bincount(inverse, weights=w) / w.sum()
    return float(-np.average(np.log(np.maximum(prior[inverse], 1e-300)), weights=w))


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None

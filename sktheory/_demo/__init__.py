"""The demo table of ``python -m sktheory demo``: one paper task per estimator.

Each module here fits one paper's estimator at small size on the paper's
synthetic task, beside the baseline the paper contrasts, and registers a
function returning a :class:`DemoRow` with :func:`register`. Demo code lives
here rather than on the estimator classes, which hold estimators only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypedDict

__all__ = ["DemoRow", "demos", "register"]

# One module per paper, imported on first use of :func:`demos`.
_MODULES = (
    "attention",
    "deep_linear",
    "two_timescale",
    "resnet_ode",
    "signature",
    "diffusion",
    "logical_form",
)


class _DemoRowRequired(TypedDict):
    task: str
    metric: str
    score: float
    baseline: str
    baseline_score: float


class DemoRow(_DemoRowRequired, total=False):
    """One line of the demo table; ``linear_score`` is the score of a linear
    model on the same task, where the paper's comparison calls for one."""

    linear_score: float
    learning_rate: float
    baseline_learning_rate: float


_REGISTRY: dict[str, Callable[..., DemoRow]] = {}


def register(estimator: str) -> Callable[[Callable[..., DemoRow]], Callable[..., DemoRow]]:
    """Register ``func(random_state=0) -> DemoRow`` as the demo of ``estimator``."""

    def decorate(func: Callable[..., DemoRow]) -> Callable[..., DemoRow]:
        _REGISTRY[estimator] = func
        return func

    return decorate


def demos() -> dict[str, Callable[..., DemoRow]]:
    """Every registered demo, by estimator name."""
    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return dict(sorted(_REGISTRY.items()))

"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)
from sktheory.deep_linear import DeepLinearRegressor
from sktheory.logical_form import LogicalFormParser
from sktheory.two_timescale import (
    TwoTimescaleNet,
    fast_outer_weights,
    simulate_two_timescale_limit,
)

__all__ = [
    "DeepLinearRegressor",
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "LogicalFormParser",
    "TwoTimescaleNet",
    "fast_outer_weights",
    "simulate_two_timescale_limit",
    "__version__",
]

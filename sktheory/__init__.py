"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)
from sktheory.deep_linear import DeepLinearRegressor

__all__ = [
    "DeepLinearRegressor",
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "__version__",
]

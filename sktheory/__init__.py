"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)
from sktheory.diffusion import DiffusionOptimizer

__all__ = [
    "DivergenceError",
    "DiffusionOptimizer",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "__version__",
]

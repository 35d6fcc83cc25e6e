"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)
from sktheory.resnet_ode import ResNetODEClassifier, ResNetODERegressor

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "ResNetODEClassifier",
    "ResNetODERegressor",
    "__version__",
]

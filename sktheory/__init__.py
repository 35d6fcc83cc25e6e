"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)
from sktheory.signature import SignatureKernelRNN, SignatureKernelRNNClassifier

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "SignatureKernelRNN",
    "SignatureKernelRNNClassifier",
    "__version__",
]

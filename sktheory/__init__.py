"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.attention import (
    SingleLocationRegressor,
    bayes_oracle_attention,
    bayes_oracle_predict,
    linear_baseline_risk,
    population_risk,
)
from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
)

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "SingleLocationRegressor",
    "__version__",
    "bayes_oracle_attention",
    "bayes_oracle_predict",
    "linear_baseline_risk",
    "population_risk",
]

"""sktheory: deep-learning-theory papers as scikit-learn estimators."""

from sktheory._version import __version__
from sktheory.attention import (
    SingleLocationRegressor,
    bayes_oracle_attention,
    bayes_oracle_predict,
    linear_baseline_risk,
    population_risk,
)
from sktheory.base import DivergenceError, DivergenceWarning, IncompatibleVersionError
from sktheory.deep_linear import DeepLinearRegressor
from sktheory.diagnostics import (
    curvature_operator,
    hutchinson_trace,
    sharpness,
    spectral_density,
    top_eigenvalues,
    top_hessian_eigenvalue,
)
from sktheory.diffusion import DiffusionOptimizer
from sktheory.logical_form import LogicalFormParser
from sktheory.resnet_ode import ResNetODEClassifier, ResNetODERegressor
from sktheory.signature import SignatureKernelRNN, SignatureKernelRNNClassifier
from sktheory.two_timescale import (
    TwoTimescaleNet,
    fast_outer_weights,
    simulate_two_timescale_limit,
)

__all__ = [
    # estimators
    "DeepLinearRegressor",
    "DiffusionOptimizer",
    "LogicalFormParser",
    "ResNetODEClassifier",
    "ResNetODERegressor",
    "SignatureKernelRNN",
    "SignatureKernelRNNClassifier",
    "SingleLocationRegressor",
    "TwoTimescaleNet",
    # the papers' closed forms, oracles and limit dynamics
    "bayes_oracle_attention",
    "bayes_oracle_predict",
    "fast_outer_weights",
    "linear_baseline_risk",
    "population_risk",
    "simulate_two_timescale_limit",
    # Hessian diagnostics for estimators and any torch model
    "curvature_operator",
    "hutchinson_trace",
    "sharpness",
    "spectral_density",
    "top_eigenvalues",
    "top_hessian_eigenvalue",
    # errors
    "DivergenceError",
    "DivergenceWarning",
    "IncompatibleVersionError",
    "__version__",
]

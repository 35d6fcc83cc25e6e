"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._attention import make_single_location
from sktheory.datasets._deep_linear import make_deep_linear_regression
from sktheory.datasets._diffusion import make_hexagon_mixture
from sktheory.datasets._resnet_ode import make_resnet_ode_random_targets, make_resnet_ode_teacher
from sktheory.datasets._signature import make_brownian_paths, make_spirals
from sktheory.datasets._two_timescale import PiecewiseConstant, make_piecewise_constant

__all__ = [
    "PiecewiseConstant",
    "make_brownian_paths",
    "make_deep_linear_regression",
    "make_hexagon_mixture",
    "make_piecewise_constant",
    "make_resnet_ode_random_targets",
    "make_resnet_ode_teacher",
    "make_single_location",
    "make_spirals",
]

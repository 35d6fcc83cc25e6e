"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._deep_linear import make_deep_linear_regression
from sktheory.datasets._two_timescale import PiecewiseConstant, make_piecewise_constant

__all__ = [
    "PiecewiseConstant",
    "make_deep_linear_regression",
    "make_piecewise_constant",
]

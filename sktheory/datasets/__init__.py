"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._two_timescale import PiecewiseConstant, make_piecewise_constant

__all__: list[str] = ["PiecewiseConstant", "make_piecewise_constant"]

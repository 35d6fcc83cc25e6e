"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._deep_linear import make_deep_linear_regression

__all__: list[str] = ["make_deep_linear_regression"]

"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._signature import make_brownian_paths, make_spirals

__all__: list[str] = ["make_brownian_paths", "make_spirals"]

"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._attention import make_single_location

__all__: list[str] = ["make_single_location"]

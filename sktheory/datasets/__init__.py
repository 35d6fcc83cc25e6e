"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

from sktheory.datasets._diffusion import make_hexagon_mixture

__all__: list[str] = ["make_hexagon_mixture"]

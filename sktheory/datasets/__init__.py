"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

__all__: list[str] = []

"""Data generators for the papers' synthetic settings, one ``make_*`` per paper."""

__all__: list[str] = []

from sktheory.datasets._resnet_ode import (
    make_resnet_ode_random_targets,
    make_resnet_ode_teacher,
)

__all__ += ["make_resnet_ode_random_targets", "make_resnet_ode_teacher"]

"""Find the package's public estimators, as :func:`sklearn.utils.all_estimators` does."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]


def all_estimators() -> list[tuple[str, type]]:
    """List every public estimator class defined in sktheory.

    The package's modules are imported and searched for concrete subclasses
    of :class:`sklearn.base.BaseEstimator` with a public name. Private modules
    (``_name``) and abstract bases are skipped.

    Returns
    -------
    list of (name, class) tuples, sorted by name.

    Examples
    --------
    >>> from sktheory.discovery import all_estimators
    >>> all(isinstance(name, str) for name, _ in all_estimators())
    True
    """
    import sktheory
    from sktheory.base import TorchEstimator

    found: dict[str, type] = {}
    modules = [sktheory]
    for info in pkgutil.walk_packages(sktheory.__path__, prefix="sktheory."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts[1:]) or parts[-1] == "tests":
            continue
        modules.append(importlib.import_module(info.name))
    for module in modules:
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseEstimator)
                and obj is not TorchEstimator
                and obj.__module__.startswith("sktheory")
                and not name.startswith("_")
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items())

"""Public docstrings follow numpydoc (as scikit-learn's test_docstring_parameters).

Every public class, function and method reachable from a module's ``__all__``
is run through :func:`numpydoc.validate.validate`; a check fails on any error
code outside the two commented sets below.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate").validate

MODULES = [
    "sktheory",
    "sktheory.attention",
    "sktheory.deep_linear",
    "sktheory.two_timescale",
    "sktheory.resnet_ode",
    "sktheory.signature",
    "sktheory.diffusion",
    "sktheory.logical_form",
    "sktheory.datasets",
    "sktheory.diagnostics",
]

# Style choices of this project, never enforced (scikit-learn skips most too).
STYLE = {
    "ES01",  # no extended summary required
    "SA01",  # no See Also required
    "EX01",  # examples are in the user guide and README where not in the docstring
    "GL01",  # summary may start on the first line of the docstring
    "GL02",
    "GL03",
    "SS03",  # summary may end without a period when it is a phrase
    "SS05",  # summary may start "Returns"
    "SS06",  # summary may take two lines
    "PR06",  # "ndarray of shape", "int or None" are the types we write
    "PR09",  # parameter description may end without a period
    "RT02",  # a return value may be named
    "RT05",
}

# Not yet enforced: about 170 public objects document parameters and returns in
# prose (not Parameters/Returns sections) or give types without descriptions.
# Remove a code here once the package passes it. sktheory/resnet_ode.py is
# being edited separately; its objects fail only these codes.
NOT_YET = {
    "PR01",  # a parameter not in the Parameters section
    "PR07",  # a parameter without a description
    "RT01",  # no Returns section
    "RT03",  # a return value without a description
    "SA03",  # See Also descriptions without a capital / period
    "SA04",  # See Also entries without a description
    "PR03",  # Parameters section out of signature order
    "GL07",  # sections out of numpydoc order
    "YD01",  # no Yields section
}


def _public_objects():
    seen, paths = set(), []
    for modname in MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            path = f"{obj.__module__}.{obj.__qualname__}"
            paths.append(path)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__call__":
                        continue
                    if inspect.isfunction(value) or isinstance(value, property):
                        paths.append(f"{path}.{attr}")
    return paths


PUBLIC = _public_objects()


def test_every_estimator_is_checked():
    from sklearn.base import BaseEstimator

    import sktheory

    names = {p.rsplit(".", 1)[-1] for p in PUBLIC}
    estimators = {
        n
        for n in sktheory.__all__
        if inspect.isclass(getattr(sktheory, n)) and issubclass(getattr(sktheory, n), BaseEstimator)
    }
    assert len(estimators) == 9 and estimators <= names


@pytest.mark.parametrize("path", PUBLIC)
def test_docstring(path):
    errors = [
        f"{code}: {message}"
        for code, message in validate(path)["errors"]
        if code not in STYLE | NOT_YET
    ]
    assert not errors, f"{path}:\n" + "\n".join(errors)

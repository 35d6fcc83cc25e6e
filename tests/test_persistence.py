"""Every fitted estimator round-trips through pickle and joblib unchanged."""

import pickle

import joblib
import numpy as np
import pytest

from sktheory.base import IncompatibleVersionError
from sktheory.discovery import all_estimators

from ._data import fit, fit_data, outputs
from ._tiny import TinyLinearRegressor
from .test_common import fast_instance

ESTIMATORS = [("TinyLinearRegressor", TinyLinearRegressor), *all_estimators()]


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_pickle_and_joblib_round_trip(name, cls, tmp_path):
    estimator = fast_instance(name, cls).set_params(random_state=0)
    X, y = fit_data(estimator)
    fit(estimator, X, y)
    expected = outputs(estimator, X)
    assert expected, f"{name} exposes no prediction method"

    restored = {
        "pickle": pickle.loads(pickle.dumps(estimator)),
        "joblib": joblib.load(joblib.dump(estimator, tmp_path / f"{name}.joblib")[0]),
    }
    for how, clone in restored.items():
        for method, values in outputs(clone, X).items():
            np.testing.assert_array_equal(
                values, expected[method], err_msg=f"{name}.{method} after {how}"
            )


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_pickle_from_incompatible_version_is_refused(name, cls, monkeypatch):
    estimator = fast_instance(name, cls).set_params(random_state=0)
    fit(estimator, *fit_data(estimator))
    with monkeypatch.context() as patch:  # as if saved by an old release
        patch.setattr("sktheory.base.__version__", "0.0.1")
        payload = pickle.dumps(estimator)
    with pytest.raises(IncompatibleVersionError, match="sktheory 0.0.1"):
        pickle.loads(payload)

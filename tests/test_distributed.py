"""Grid search over sktheory estimators on a real dask.distributed cluster."""

import logging

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from sktheory.discovery import all_estimators

from ._data import fit_data, numeric_estimators
from ._tiny import TinyLinearRegressor
from .test_common import fast_instance

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

ESTIMATORS = [("TinyLinearRegressor", TinyLinearRegressor)] + numeric_estimators(all_estimators())


def _set_one_torch_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(_set_one_torch_thread)
        yield client


@pytest.mark.parametrize("name, cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_dask_grid_search_matches_sequential(client, name, cls):
    estimator = fast_instance(name, cls)
    X, y = fit_data(estimator, n_samples=60)
    cv = KFold(3, shuffle=True, random_state=0)
    grid = {"random_state": [0, 1]}

    sequential = GridSearchCV(estimator, grid, cv=cv).fit(X, y)
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(estimator, grid, cv=cv, n_jobs=-1).fit(X, y)

    # the fits really ran on the cluster's worker processes
    assert {task["worker"] for task in stream.data} <= set(client.scheduler_info()["workers"])
    assert len(stream.data) >= 6
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == sequential.best_params_

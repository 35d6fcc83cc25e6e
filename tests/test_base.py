"""Tests of the shared estimator base, through a minimal estimator."""

import pickle

import numpy as np
import pytest
import torch
from joblib import parallel_config
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktheory.base import (
    DivergenceError,
    DivergenceWarning,
    IncompatibleVersionError,
    TorchEstimator,
    make_generator,
    resolve_device,
)

from ._tiny import TinyLinearRegressor


def _data(n=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.arange(1.0, d + 1) + 0.5 + 0.1 * rng.normal(size=n)
    return X, y


@parametrize_with_checks([TinyLinearRegressor(learning_rate=0.5, max_iter=300)])
def test_base_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_fit_solves_least_squares():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=2000, random_state=0).fit(X, y)
    A = np.c_[np.ones(len(X)), X]
    exact = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(model.intercept_, exact[0], atol=1e-8)
    np.testing.assert_allclose(model.coef_, exact[1:], atol=1e-8)


def test_same_random_state_same_model_and_different_seed_differs():
    X, y = _data()
    a = TinyLinearRegressor(max_iter=3, random_state=1).fit(X, y)
    b = TinyLinearRegressor(max_iter=3, random_state=1).fit(X, y)
    c = TinyLinearRegressor(max_iter=3, random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.coef_, c.coef_)


def test_process_seed_does_not_leak_into_fits():
    X, y = _data()
    torch.manual_seed(123)
    a = TinyLinearRegressor(max_iter=3, random_state=0).fit(X, y).coef_
    torch.manual_seed(456)
    b = TinyLinearRegressor(max_iter=3, random_state=0).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)


def test_reproducible_under_threading_backend():
    X, y = _data(n=90)
    model = TinyLinearRegressor(max_iter=5, random_state=0)
    cv = KFold(5, shuffle=True, random_state=0)
    sequential = cross_val_score(model, X, y, cv=cv)
    runs = []
    for _ in range(3):
        with parallel_config(backend="threading", n_jobs=4):
            runs.append(cross_val_score(model, X, y, cv=cv))
    for scores in runs:
        np.testing.assert_array_equal(scores, sequential)


def test_history_and_n_iter():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=40, random_state=0).fit(X, y)
    assert model.n_iter_ == 40
    assert [h["iter"] for h in model.history_] == list(range(40))
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]


def test_tol_stops_early():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=10_000, tol=1e-10, random_state=0).fit(X, y)
    assert model.n_iter_ < 10_000
    assert model.history_[-1]["iter"] == model.n_iter_ - 1


@pytest.mark.parametrize(
    "params, match",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"max_iter": 0}, "max_iter"),
        ({"device": "tpu"}, "device"),
        ({"dtype": "float16"}, "dtype"),
        ({"on_divergence": "ignore"}, "on_divergence"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, match):
    X, y = _data()
    with pytest.raises(InvalidParameterError, match=match):
        TinyLinearRegressor(**params).fit(X, y)


def test_divergence_raises_by_default():
    X, y = _data()
    with pytest.raises(DivergenceError, match="diverged.*iteration"):
        TinyLinearRegressor(learning_rate=50.0, max_iter=2000, random_state=0).fit(X, y)


def test_divergence_warns_stops_and_predict_refuses_nan():
    X, y = _data()
    model = TinyLinearRegressor(
        learning_rate=50.0, max_iter=2000, random_state=0, on_divergence="warn"
    )
    with pytest.warns(DivergenceWarning, match="stopped early"):
        model.fit(X, y)
    assert model.diverged_
    assert model.n_iter_ < 2000
    assert not np.isfinite(model.history_[-1]["loss"])
    with pytest.raises(ValueError, match="diverged during fit"):
        model.predict(X)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            TinyLinearRegressor(device="cuda").fit(*_data())


def test_float32_dtype_is_used_and_close_to_float64():
    X, y = _data()
    m64 = TinyLinearRegressor(max_iter=100, random_state=0).fit(X, y)
    m32 = TinyLinearRegressor(max_iter=100, random_state=0, dtype="float32").fit(X, y)
    assert m32.dtype_ == "float32"
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-4)


def test_generator_is_seeded_from_random_state():
    a = torch.rand(4, generator=make_generator(np.random.RandomState(3)))
    b = torch.rand(4, generator=make_generator(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_pickle_round_trip_and_version_guard():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=20, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))

    state = model.__getstate__()
    state["_sktheory_version"] = "0.0.1"
    fresh = TinyLinearRegressor.__new__(TinyLinearRegressor)
    with pytest.raises(IncompatibleVersionError, match="0.0.1"):
        fresh.__setstate__(state)


class _SequenceEcho(TorchEstimator):
    """Minimal holder to test sequence validation."""

    def __init__(self, n_tokens=None):
        self.n_tokens = n_tokens


def test_sequence_validation_shapes_and_errors():
    est = _SequenceEcho()
    X3 = np.arange(24.0).reshape(2, 4, 3)
    out, y = est._validate_sequences(X3, np.ones(2), reset=True)
    assert out.shape == (2, 4, 3) and est.n_features_in_ == 12
    flat = X3.reshape(2, 12)
    np.testing.assert_array_equal(est._validate_sequences(flat, reset=False, n_tokens=4), X3)
    with pytest.raises(ValueError, match="cannot be split into n_tokens=5"):
        est._validate_sequences(flat, reset=False, n_tokens=5)
    with pytest.raises(ValueError, match="4 dimensions"):
        est._validate_sequences(np.zeros((2, 2, 2, 2)), np.ones(2), reset=True)
    X_nan = X3.copy()
    X_nan[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est._validate_sequences(X_nan, np.ones(2), reset=True)
    with pytest.raises(ValueError, match="0 sample"):
        est._validate_sequences(np.zeros((0, 4, 3)), np.ones(0), reset=True)
    est._validate_sequences(X3, np.ones(2), reset=True)
    with pytest.raises(ValueError, match=r"fitted on \(4, 3\)"):
        est._validate_sequences(np.zeros((2, 3, 4)), reset=False)


class _HoldsTorch(TorchEstimator):
    def __init__(self):
        pass


def test_pickle_keeps_tensors_and_modules_on_cpu():
    est = _HoldsTorch()
    est.device_ = torch.device("cpu")
    est.weight_ = torch.arange(3.0)
    est.module_ = torch.nn.Linear(2, 1)
    clone = pickle.loads(pickle.dumps(est))
    assert torch.equal(clone.weight_, est.weight_)
    assert torch.equal(clone.module_.weight, est.module_.weight)
    assert clone.device_ == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the CPU-only fallback")
def test_cuda_pickle_loads_on_cpu_only_machine_with_warning():
    est = _HoldsTorch()
    est.weight_ = torch.arange(3.0)
    state = est.__getstate__()
    state["device_"] = torch.device("cuda", 0)  # as saved by a GPU fit
    fresh = _HoldsTorch.__new__(_HoldsTorch)
    with pytest.warns(UserWarning, match="fitted on cuda:0.*loaded on the CPU"):
        fresh.__setstate__(state)
    assert fresh.device_ == torch.device("cpu")

"""Tests of the shared estimator base, through a minimal estimator."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktheory._training import BLOWUP_FACTOR, Monitor
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
    assert [h["iter"] for h in model.history_] == list(range(1, 41))
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]


def test_tol_stops_early():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=10_000, tol=1e-10, random_state=0).fit(X, y)
    assert model.n_iter_ < 10_000
    assert model.history_[-1]["iter"] == model.n_iter_


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
    with pytest.raises(DivergenceError, match="diverged.*updates"):
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
    assert model.history_[-1]["loss"] > BLOWUP_FACTOR * np.var(y)
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


# ----------------------------------------------------------- training contract
def test_warm_start_continues_exactly_like_one_longer_fit():
    X, y = _data()
    one = TinyLinearRegressor(max_iter=150, random_state=0).fit(X, y)
    two = TinyLinearRegressor(max_iter=90, random_state=0, warm_start=True).fit(X, y)
    two.set_params(max_iter=60).fit(X, y)
    np.testing.assert_array_equal(two.coef_, one.coef_)
    assert two.n_iter_ == one.n_iter_ == 150
    assert [h["loss"] for h in two.history_] == [h["loss"] for h in one.history_]


def test_warm_start_survives_pickling():
    X, y = _data()
    one = TinyLinearRegressor(max_iter=100, random_state=0).fit(X, y)
    two = TinyLinearRegressor(max_iter=50, random_state=0, warm_start=True).fit(X, y)
    two = pickle.loads(pickle.dumps(two))
    two.fit(X, y)
    np.testing.assert_array_equal(two.coef_, one.coef_)


def test_refit_without_warm_start_starts_over():
    X, y = _data()
    model = TinyLinearRegressor(max_iter=30, random_state=0).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    np.testing.assert_array_equal(model.coef_, first)
    assert model.n_iter_ == 30 and len(model.history_) == 30


def test_finite_blow_up_is_a_divergence():
    # A step just above the stability limit grows the loss geometrically: it is
    # caught at 1e4 times the trivial loss, long before it would overflow.
    X, y = _data()
    model = TinyLinearRegressor(learning_rate=2.5, max_iter=2000, random_state=0)
    with pytest.raises(DivergenceError, match="more than 10000 times the reference loss"):
        model.fit(X, y)
    model.set_params(on_divergence="warn")
    with pytest.warns(DivergenceWarning):
        model.fit(X, y)
    loss = model.history_[-1]["loss"]
    assert np.isfinite(loss) and loss < 1e10
    with pytest.raises(ValueError, match="diverged during fit"):
        model.predict(X)


def test_no_progress_warns_convergence():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        TinyLinearRegressor(learning_rate=1e-12, max_iter=20, random_state=0).fit(X, y)


def test_budget_exhausted_with_tol_warns_convergence():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="still improving"):
        TinyLinearRegressor(max_iter=15, tol=1e-8, random_state=0).fit(X, y)


def test_no_better_than_the_mean_warns_convergence():
    # Features unrelated to y: the fit cannot beat predicting the mean.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 2)), rng.normal(size=200)
    y -= y.mean()
    with pytest.warns(ConvergenceWarning, match="no better than"):
        TinyLinearRegressor(max_iter=300, random_state=0).fit(1e-3 * X, y)


def test_converged_fit_is_silent():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TinyLinearRegressor(max_iter=3000, tol=1e-6, random_state=0).fit(X, y)


def test_monitor_rules():
    monitor = Monitor()
    monitor.start(initial=4.0, baseline=2.0)
    assert monitor.reference == 2.0
    assert not monitor.blown_up(2.0 * BLOWUP_FACTOR)
    assert monitor.blown_up(2.0 * BLOWUP_FACTOR * 1.01)
    assert monitor.blown_up(float("nan")) and monitor.blown_up(float("inf"))
    # Without a trivial predictor nor an initial loss, the first window is the reference.
    monitor = Monitor()
    monitor.start(initial=None, baseline=None)
    assert not monitor.blown_up(-3.0)
    assert monitor.reference == 3.0 and monitor.blown_up(-3.0 * BLOWUP_FACTOR * 1.01)
    # tol: stop after N_ITER_NO_CHANGE windows in a row below a relative improvement.
    monitor = Monitor()
    stops = [monitor.update(v, tol=0.1) for v in (10.0, 5.0, 4.8, 4.7, 4.6)]
    assert stops == [False, False, False, True, True]


def test_numeric_string_target_is_a_clear_error():
    X, y = _data()
    with pytest.raises(ValueError, match="needs a numeric y"):
        TinyLinearRegressor(max_iter=3).fit(X, y.astype(str))


def test_sample_weight_integer_weights_equal_repeated_rows():
    X, y = _data(n=30)
    w = np.arange(30) % 3
    weighted = TinyLinearRegressor(max_iter=500, random_state=0).fit(X, y, sample_weight=w)
    repeated = TinyLinearRegressor(max_iter=500, random_state=0).fit(
        np.repeat(X, w, axis=0), np.repeat(y, w)
    )
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6)

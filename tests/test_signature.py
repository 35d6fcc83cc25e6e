"""Tests for sktheory.signature: signatures, the RNN's expansion, the estimators."""

import importlib.util
import math
import pickle

import iisignature
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktheory import SignatureKernelRNN, SignatureKernelRNNClassifier
from sktheory.base import single_thread
from sktheory.datasets import make_brownian_paths, make_spirals
from sktheory.signature import (
    ResidualRNN,
    _features,
    augment_time,
    iterated_derivatives,
    level_slices,
    normalise_total_variation,
    preprocess_paths,
    random_rnn,
    signature,
    total_variation,
    weighted_signature_features,
)

HAS_PYSIGLIB = importlib.util.find_spec("pysiglib") is not None


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Direct module tests run tiny torch ops, as the estimators do (see single_thread).
    with single_thread():
        yield


# ---------------------------------------------------------------- signatures
def test_signature_of_a_straight_line_is_the_tensor_exponential():
    inc = np.array([0.3, -1.2, 2.0])
    line = np.stack([np.zeros(3), inc, 2 * inc])[None] * 0.5  # two collinear steps
    sig = signature(line, 4, backend="iisignature")[0]
    total = inc  # 0.5 * 2 * inc
    for k, sl in enumerate(level_slices(3, 4), start=1):
        expected = total
        for _ in range(k - 1):
            expected = np.multiply.outer(expected, total)
        np.testing.assert_allclose(sig[sl], expected.ravel() / math.factorial(k), atol=1e-14)


def test_level_one_is_the_increment_and_level_two_antisymmetric_part_is_the_area():
    # Unit square traversed anticlockwise: Levy area = enclosed area = 1.
    square = np.array([[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0.0]]])
    sig = signature(square, 2, backend="iisignature")[0]
    np.testing.assert_allclose(sig[:2], [0.0, 0.0], atol=1e-15)
    s12, s21 = sig[2 + 1], sig[2 + 2]
    assert 0.5 * (s12 - s21) == pytest.approx(1.0)
    paths = make_brownian_paths(5, 30, 3, random_state=0)
    sig = signature(paths, 2)
    np.testing.assert_allclose(sig[:, :3], paths[:, -1] - paths[:, 0], atol=1e-12)
    # The symmetric part of level 2 is increment (x) increment / 2.
    inc = paths[:, -1] - paths[:, 0]
    lvl2 = sig[:, 3:].reshape(5, 3, 3)
    np.testing.assert_allclose(
        lvl2 + lvl2.transpose(0, 2, 1), np.einsum("ni,nj->nij", inc, inc), atol=1e-12
    )


def test_signature_equals_iisignature_and_parallel_chunks(monkeypatch):
    paths = make_brownian_paths(12, 40, 3, random_state=1)
    direct = iisignature.sig(paths, 4)
    np.testing.assert_array_equal(signature(paths, 4, backend="iisignature"), direct)
    # Force the process-parallel path on a small batch: same numbers, same order.
    monkeypatch.setattr(_features, "_PARALLEL_MIN_POINTS", 0)
    chunked = signature(paths, 4, backend="iisignature", n_jobs=2)
    np.testing.assert_array_equal(chunked, direct)


@pytest.mark.skipif(not HAS_PYSIGLIB, reason="pysiglib is not installed")
def test_pysiglib_backend_matches_iisignature():
    paths = make_brownian_paths(20, 50, 3, random_state=2)[:, ::2]  # a view
    a = signature(paths, 5, backend="iisignature")
    b = signature(paths, 5, backend="pysiglib")
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)
    assert "pysiglib" in _features.available_backends()


def test_backend_errors(monkeypatch):
    monkeypatch.setattr(_features, "_pysiglib", lambda: None)
    with pytest.raises(ImportError, match="pysiglib is not installed"):
        signature(np.zeros((1, 3, 2)), 2, backend="pysiglib")
    assert _features._resolve_backend("auto") == "iisignature"
    with pytest.raises(ValueError, match="backend must be"):
        signature(np.zeros((1, 3, 2)), 2, backend="esig")
    with pytest.raises(ValueError, match="3-D"):
        signature(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="depth"):
        signature(np.zeros((1, 3, 2)), 0)
    assert signature(np.zeros((0, 3, 2)), 2).shape == (0, 6)


def test_preprocessing_and_weighted_kernel():
    paths = make_brownian_paths(6, 25, 2, random_state=3) + 5.0
    np.testing.assert_allclose(total_variation(normalise_total_variation(paths)), 1.0)
    pre = preprocess_paths(paths, scaling="total_variation", time_augment=True)
    np.testing.assert_allclose(pre[:, 0, :2], 0.0)
    np.testing.assert_allclose(pre[:, :, 2], np.broadcast_to(np.linspace(0, 1, 25), (6, 25)))
    np.testing.assert_allclose(augment_time(paths)[:, :, :2], paths)
    # <Phi(x), Phi(y)> = 1 + sum_k (k!)^2 <S^k(x), S^k(y)>.
    phi = weighted_signature_features(pre, 3)
    sig = signature(pre, 3)
    expected = np.ones((6, 6))
    for k, sl in enumerate(level_slices(3, 3), start=1):
        expected += math.factorial(k) ** 2 * sig[:, sl] @ sig[:, sl].T
    np.testing.assert_allclose(phi @ phi.T, expected, rtol=1e-12)


# ---------------------------------------------------- the RNN and its expansion
def test_iterated_derivatives_of_a_linear_field_are_matrix_powers():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    B = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    z0 = torch.randn(3, generator=gen, dtype=torch.float64)
    # Two linear fields: D^2_{ij} = F_i * F_j = J_{F_j} F_i = M_j M_i z0.
    mats = [A, B]

    def field(z):
        return torch.stack([m @ z for m in mats], dim=1)

    d1, d2, d3 = iterated_derivatives(field, z0, 3)
    torch.testing.assert_close(d1, field(z0))
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(d2[:, 2 * i + j], mats[j] @ mats[i] @ z0)
            for k in range(2):
                torch.testing.assert_close(
                    d3[:, 4 * i + 2 * j + k], mats[k] @ mats[j] @ mats[i] @ z0
                )


def test_rnn_second_derivative_matches_dense_jacobian():
    rnn = random_rnn(2, 3, "sigmoid", random_state=0)
    z0 = rnn.initial_state().detach()
    jac = torch.autograd.functional.jacobian(rnn.vector_field, z0)  # (m, p, m)
    expected = torch.einsum("ora,ai->oir", jac, rnn.vector_field(z0)).reshape(5, 9)
    _, d2 = rnn.iterated_derivatives(2)
    torch.testing.assert_close(d2, expected)


def _spiral_errors(n_paths=8, depth=5):
    X, _ = make_spirals(n_paths, 100, random_state=0)
    paths = preprocess_paths(X, scaling="total_variation", time_augment=True)
    sig = torch.tensor(signature(paths, depth, backend="iisignature"))
    data = torch.tensor(paths[:, :, :2])
    errs = []
    for seed in range(n_paths):
        rnn = random_rnn(2, 2, "tanh", random_state=seed)
        with torch.no_grad():
            exact = rnn.solve_cde(data[seed : seed + 1])
            approx = rnn.taylor_hidden(sig[seed : seed + 1], depth)
            euler = rnn.hidden(data[seed : seed + 1])
        errs.append(
            [float((approx[k] - exact).norm()) for k in range(depth)]
            + [float((euler - exact).norm())]
        )
    return np.array(errs)


def test_taylor_error_decreases_with_depth_on_random_rnns():
    errs = _spiral_errors()
    median = np.median(errs[:, :5], axis=0)
    assert np.all(np.diff(median) < 0), median
    # Same order as the paper's reference run (2.8e-1 ... 1.5e-3 for N = 1..5).
    assert 5e-2 < median[0] < 1.0 and median[4] < 1e-2, median
    assert median[4] < median[0] / 30
    # The RNN is the Euler scheme of that CDE: close at T = 100.
    assert np.median(errs[:, 5]) < 1e-2


def test_rkhs_norm_and_signature_coefficients_agree():
    rnn = random_rnn(2, 4, "tanh", random_state=1)
    coefs = rnn.signature_coefficients(3)
    assert [c.shape for c in coefs] == [(1, 1), (1, 3), (1, 9), (1, 27)]
    expected = sum(
        float((c.detach() ** 2).sum()) / math.factorial(k) ** 2 for k, c in enumerate(coefs)
    )
    assert float(rnn.rkhs_norm_squared(3).detach()) == pytest.approx(expected)
    # F_i for a data channel is (0, e_i): the readout sees none of it at level 1,
    # and the time channel gives psi's linear part on sigma(W h_0 + b).
    np.testing.assert_allclose(coefs[1][0, :2].detach().numpy(), 0.0)
    drift = torch.tanh(rnn.weight_hh @ rnn.h0 + rnn.bias)
    assert float(coefs[1][0, 2]) == pytest.approx(float(rnn.readout_weight @ drift))


def test_residual_rnn_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        ResidualRNN(2, 3, 1, "relu")


# ----------------------------------------------------------------- estimators
@pytest.fixture(scope="module")
def spirals():
    X, y = make_spirals(300, 60, random_state=0)
    return X[:100], y[:100], X[100:], y[100:]


def test_kernel_classifier_separates_spirals(spirals):
    X, y, Xt, yt = spirals
    clf = SignatureKernelRNNClassifier(depth=3).fit(X, y)
    assert clf.score(Xt, yt) > 0.9
    # Raw points carry no usable signal for a linear model (start angle is random).
    flat = SignatureKernelRNNClassifier(depth=1, time_augment=False).fit(X, y)
    assert flat.score(Xt, yt) < 0.75
    proba = clf.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(Xt))


def test_kernel_regressor_is_linear_in_signature_and_kernel_matches_transform():
    X = make_brownian_paths(80, 30, 2, random_state=4)
    pre = preprocess_paths(X, scaling=None, time_augment=True)
    y = signature(pre, 2)[:, 3 + 1] - signature(pre, 2)[:, 3 + 3]  # Levy area
    model = SignatureKernelRNN(depth=2, alpha=0.0, scaling=None, basepoint=False)
    model.fit(X, y)
    assert model.score(X, y) > 1 - 1e-10
    sig = np.hstack([np.ones((80, 1)), signature(pre, 2)])
    np.testing.assert_allclose(sig @ model.signature_coef_[0], model.predict(X), atol=1e-8)
    K = model.kernel(X[:5], X[:7])
    np.testing.assert_allclose(K, model.transform(X[:5]) @ model.transform(X[:7]).T)
    np.testing.assert_allclose(model.kernel(X[:5]), K[:, :5])
    coef = model.signature_coef_[0]
    weights = [math.factorial(k) for k in (0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2)]
    assert model.rkhs_norm_ == pytest.approx(np.linalg.norm(coef / weights))


def test_ridge_primal_and_dual_agree():
    from sktheory.signature._estimators import _ridge

    rng = np.random.default_rng(0)
    phi, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    wide = np.hstack([phi, rng.normal(size=(10, 20))])
    for features in (phi, wide):
        p = features.shape[1]
        expected = np.linalg.solve(features.T @ features + 10 * 0.1 * np.eye(p), features.T @ y)
        np.testing.assert_allclose(_ridge(features, y, 0.1), expected, atol=1e-10)


def test_univariate_2d_input_equals_3d(spirals):
    X, _, _, _ = spirals
    uni = X[:, :, 0]
    y = uni[:, -1] - uni.mean(1)
    a = SignatureKernelRNN(depth=3).fit(uni, y)
    b = SignatureKernelRNN(depth=3).fit(uni[:, :, None], y)
    np.testing.assert_allclose(a.predict(uni), b.predict(uni[:, :, None]))
    assert a.n_channels_in_ == 1 and a.n_tokens_in_ == 60


def test_rnn_solver_fits_and_exposes_its_expansion(spirals):
    X, y, Xt, yt = spirals
    params = dict(
        solver="rnn",
        depth=3,
        hidden_size=8,
        max_epochs=25,
        learning_rate=0.1,
        batch_size=25,
        scaling=None,
        random_state=0,
    )
    plain = SignatureKernelRNNClassifier(alpha=0.0, **params).fit(X, y)
    pen = SignatureKernelRNNClassifier(alpha=0.1, **params).fit(X, y)
    assert plain.score(Xt, yt) > 0.8 and pen.score(Xt, yt) > 0.6
    # The penalty shrinks the RKHS norm and keeps the RNN nearer its expansion.
    assert pen.rkhs_norm_ < plain.rkhs_norm_ / 10
    cde_error = [np.median(m.taylor_error(Xt[:10], target="cde")[-1]) for m in (pen, plain)]
    assert cde_error[0] < cde_error[1]
    # Two outputs, as in the reference code: rkhs_norm_ is the root mean square of
    # their norms, and signature_coef_ is the logit difference's functional.
    assert pen.module_.output_size == 2 and pen.signature_coef_.shape == (1, 1 + 3 + 9 + 27)
    norms = pen.module_.rkhs_norms_squared(3).detach().numpy()
    assert pen.rkhs_norm_ == pytest.approx(np.sqrt(norms.mean()))
    # The expansion at the full depth is <signature_coef_, (1, S)> of the paths.
    errors = pen.taylor_error(Xt[:10])
    assert errors.shape == (3, 10)
    paths = pen._paths(Xt[:10])
    sig = np.hstack([np.ones((10, 1)), signature(paths, 3)])
    approx = sig @ pen.signature_coef_[0]
    np.testing.assert_allclose(
        np.abs(approx - pen.decision_function(Xt[:10])), errors[-1], atol=1e-10
    )
    # 25 epochs of 4 minibatches: one record per epoch, n_iter_ counts updates.
    assert len(pen.history_) == 25 and pen.n_iter_ == 100
    assert [h["epoch"] for h in pen.history_] == list(range(1, 26))


def test_rnn_regressor_is_reproducible_and_standardises_targets():
    X = make_brownian_paths(30, 12, 2, random_state=5)
    y = 100 + 10 * X[:, -1, 0]
    params = dict(solver="rnn", depth=2, hidden_size=4, max_epochs=30, random_state=3)
    a = SignatureKernelRNN(**params).fit(X, y)
    b = SignatureKernelRNN(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert abs(a.predict(X).mean() - 100) < 5
    # signature_coef_ level 0 is psi(h_0) on the original target scale.
    assert a.signature_coef_.shape == (1, 1 + 3 + 9)
    c = SignatureKernelRNN(**{**params, "random_state": 4}).fit(X, y)
    assert not torch.equal(a.module_.weight_hh, c.module_.weight_hh)


@pytest.mark.parametrize(
    "model",
    [
        SignatureKernelRNNClassifier(depth=3),
        SignatureKernelRNNClassifier(
            solver="rnn", depth=2, hidden_size=4, max_epochs=5, random_state=0
        ),
        SignatureKernelRNN(depth=3),
    ],
    ids=["kernel-classifier", "rnn-classifier", "kernel-regressor"],
)
def test_pickle_round_trip_gives_identical_predictions(model, spirals):
    X, y, Xt, _ = spirals
    model = clone(model).fit(X[:40], y[:40])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(Xt), model.predict(Xt))
    if hasattr(model, "decision_function"):
        np.testing.assert_array_equal(restored.decision_function(Xt), model.decision_function(Xt))


def test_multiclass_and_string_labels():
    X, y = make_spirals(120, 30, random_state=1)
    X[:40] *= 3.0
    labels = np.where(y == 1, "cw", "ccw").astype(object)
    labels[:40] = "big"
    clf = SignatureKernelRNNClassifier(depth=3, scaling=None).fit(X, labels)
    assert set(clf.classes_) == {"big", "ccw", "cw"}
    assert clf.decision_function(X).shape == (120, 3)
    assert clf.score(X, labels) > 0.9


def test_bad_input_is_refused_with_clear_errors(spirals):
    X, y, _, _ = spirals
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[0, 0, 0] = np.nan
        SignatureKernelRNN().fit(bad, y)
    with pytest.raises(ValueError, match="3 dimensions|dimensions"):
        SignatureKernelRNN().fit(X[:, :, :, None], y)
    with pytest.raises(ValueError, match="0 sample"):
        SignatureKernelRNN().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="requires y"):
        SignatureKernelRNN().fit(X, None)
    with pytest.raises(ValueError, match="time_augment=True"):
        SignatureKernelRNN(solver="rnn", time_augment=False).fit(X, y)
    with pytest.raises(ValueError, match="depth"):
        SignatureKernelRNN(depth=0).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        SignatureKernelRNN(solver="svm").fit(X, y)
    model = SignatureKernelRNN(depth=2).fit(X, y)
    with pytest.raises(ValueError, match="expecting 120 features"):
        model.predict(X[:, :30])
    with pytest.raises(ValueError, match="solver='rnn'"):
        model.taylor_error(X)
    rnn = SignatureKernelRNN(solver="rnn", depth=2, hidden_size=2, max_epochs=2).fit(X, y)
    with pytest.raises(ValueError, match="target must be"):
        rnn.taylor_error(X, target="ode")


def test_make_spirals_follows_the_paper():
    X, y = make_spirals(10, 50, shuffle=False, random_state=0)
    assert X.shape == (10, 50, 2) and y.tolist() == [1] * 5 + [0] * 5
    radius = np.linalg.norm(X, axis=2)
    assert np.all(radius <= 1 + 1e-12) and np.all(np.diff(radius, axis=1) <= 1e-12)
    # Mirrored spirals turn clockwise: the Levy area of label 1 is negative.
    area = signature(X, 2)[:, 3] - signature(X, 2)[:, 4]
    assert np.all(area[y == 1] <= 0) and np.all(area[y == 0] >= 0)
    with pytest.raises(ValueError, match="n_points"):
        make_spirals(5, 1)
    with pytest.raises(ValueError, match="n_samples"):
        make_spirals(0)
    with pytest.raises(ValueError, match="n_channels"):
        make_brownian_paths(2, 5, 0)


# The RNN solver through scikit-learn's checks (the kernel solver runs in
# tests/test_common.py with default solver).
@parametrize_with_checks(
    [
        SignatureKernelRNN(solver="rnn", depth=2, hidden_size=3, max_epochs=3),
        SignatureKernelRNNClassifier(solver="rnn", depth=2, hidden_size=3, max_epochs=3),
    ],
    expected_failed_checks=lambda est: (
        {"check_classifiers_train": "3 epochs of a tiny RNN do not reach 83% accuracy"}
        if isinstance(est, SignatureKernelRNNClassifier)
        else {}
    ),
)
def test_rnn_solver_passes_sklearn_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------- the training contract
def _small(n=40, length=20, seed=0):
    X, y = make_spirals(n, length, random_state=seed)
    return X, y


RNN = dict(solver="rnn", depth=2, hidden_size=4, learning_rate=0.05, random_state=0)
# A few epochs of a tiny RNN need not converge: tests of other behaviour ignore that.
short_fit = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@short_fit
@pytest.mark.parametrize("cls", [SignatureKernelRNN, SignatureKernelRNNClassifier])
def test_rnn_warm_start_continues_exactly(cls):
    X, y = _small()
    y = y.astype(float) if cls is SignatureKernelRNN else y
    params = {**RNN, "batch_size": 16}  # three minibatches: the shuffles must continue too
    full = cls(max_epochs=5, **params).fit(X, y)
    warm = cls(max_epochs=3, warm_start=True, **params).fit(X, y)
    module = warm.module_
    warm.set_params(max_epochs=2).fit(X, y)
    assert warm.module_ is module  # trained on, not rebuilt
    assert warm.n_iter_ == full.n_iter_ == 15
    np.testing.assert_array_equal(
        [h["loss"] for h in warm.history_], [h["loss"] for h in full.history_]
    )
    assert [h["epoch"] for h in warm.history_] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(warm.signature_coef_, full.signature_coef_)
    np.testing.assert_array_equal(warm.predict(X), full.predict(X))
    # Without warm_start a second fit starts over.
    cold = cls(max_epochs=3, **params).fit(X, y)
    first = cold.predict(X)
    np.testing.assert_array_equal(cold.fit(X, y).predict(X), first)


@short_fit
def test_kernel_solver_ignores_warm_start_and_reports_one_solve():
    X, y = _small()
    reg = SignatureKernelRNN(depth=2, warm_start=True).fit(X, y.astype(float))
    first = reg.predict(X)
    np.testing.assert_array_equal(reg.fit(X, y.astype(float)).predict(X), first)
    assert reg.n_iter_ == 1 and len(reg.history_) == 1 and not reg.diverged_
    # The record is the ridge objective: mean squared error + alpha ||coef||^2,
    # the intercept (level 0) left out of the penalty.
    mse = np.mean((first - y) ** 2)
    expected = mse + reg.alpha * (reg.coef_[:, 1:] ** 2).sum()
    assert reg.history_[0] == {"iter": 1, "loss": pytest.approx(expected, rel=1e-10)}
    clf = SignatureKernelRNNClassifier(depth=2).fit(X, y)
    assert clf.history_[0]["iter"] == clf.n_iter_ >= 1
    # A kernel fit after an RNN fit drops the RNN: a warm RNN fit then starts afresh.
    both = SignatureKernelRNN(max_epochs=2, warm_start=True, **RNN).fit(X, y.astype(float))
    both.set_params(solver="kernel").fit(X, y.astype(float))
    assert not hasattr(both, "module_") and not hasattr(both, "_train_state_")
    np.testing.assert_array_equal(both.predict(X), first)
    both.set_params(solver="rnn").fit(X, y.astype(float))
    assert both.n_iter_ == 2


@short_fit
@pytest.mark.parametrize(
    "model",
    [
        SignatureKernelRNN(depth=2),
        SignatureKernelRNNClassifier(depth=2),
        SignatureKernelRNN(max_epochs=10, **RNN),
        SignatureKernelRNNClassifier(max_epochs=10, **RNN),
    ],
    ids=["kernel-regressor", "kernel-classifier", "rnn-regressor", "rnn-classifier"],
)
def test_sample_weight_equals_repeating_and_dropping_rows(model):
    X, y = _small(30)
    if isinstance(model, SignatureKernelRNN):
        y = X[:, -1, 0] + 0.5 * y  # a non-constant real target
    out = "predict" if isinstance(model, SignatureKernelRNN) else "decision_function"
    # Full batch: the objective is the same weighted mean either way, so only
    # summation order differs (the kernel classifier's solver stops at tol).
    rtol = 1e-6 if isinstance(model, SignatureKernelRNNClassifier) else 1e-9
    w = np.tile([0, 1, 2], 10)
    weighted = clone(model).fit(X, y, sample_weight=w)
    repeated = clone(model).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(
        getattr(weighted, out)(X), getattr(repeated, out)(X), rtol=rtol, atol=1e-9
    )
    ones = clone(model).fit(X, y, sample_weight=np.full(30, 3.0))
    plain = clone(model).fit(X, y)
    np.testing.assert_allclose(getattr(ones, out)(X), getattr(plain, out)(X), rtol=rtol)
    assert not np.allclose(getattr(weighted, out)(X), getattr(plain, out)(X), rtol=1e-3)


def test_weights_must_be_non_negative_and_not_all_zero():
    X, y = _small(10)
    with pytest.raises(ValueError, match="[Nn]egative"):
        SignatureKernelRNN(depth=2).fit(X, y, sample_weight=-np.ones(10))
    with pytest.raises(ValueError, match="non-zero"):
        SignatureKernelRNN(depth=2).fit(X, y, sample_weight=np.zeros(10))


@pytest.mark.parametrize("cls", [SignatureKernelRNN, SignatureKernelRNNClassifier])
def test_huge_learning_rate_raises_divergence_error(cls):
    from sktheory.base import DivergenceError

    X, y = _small(60, 30)
    model = cls(max_epochs=5, **{**RNN, "learning_rate": 1e6})
    with pytest.raises(DivergenceError, match="learning_rate") as info:
        model.fit(X, y)
    # Caught at the second epoch, long before the 1e24 the unchecked loop reached.
    assert "after 2 updates" in str(info.value)
    assert model.diverged_


def test_divergence_warn_stops_and_refuses_to_predict():
    from sktheory.base import DivergenceWarning

    X, y = _small(60, 30)
    model = SignatureKernelRNNClassifier(
        max_epochs=5, on_divergence="warn", **{**RNN, "learning_rate": 1e6}
    )
    with pytest.warns(DivergenceWarning, match="diverged"):
        model.fit(X, y)
    assert model.diverged_ and model.n_iter_ == 2 and len(model.history_) == 2
    with pytest.raises(ValueError, match="diverged"):
        model.predict(X)


def test_tiny_learning_rate_warns_convergence():
    from sklearn.exceptions import ConvergenceWarning

    X, y = _small(30)
    model = SignatureKernelRNN(max_epochs=3, **{**RNN, "learning_rate": 1e-7})
    with pytest.warns(ConvergenceWarning, match="did not decrease.*learning_rate"):
        model.fit(X, y.astype(float))
    assert not model.diverged_ and np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("cls", [SignatureKernelRNN, SignatureKernelRNNClassifier])
def test_default_rnn_fit_with_penalty_is_not_flagged(cls):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = _small(40, 20)
    y = X[:, -1, 0] if cls is SignatureKernelRNN else y
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # divergence would raise anyway
        model = cls(solver="rnn", depth=2, hidden_size=8, max_epochs=60, random_state=0)
        model.fit(X, y)
    history = [h["loss"] for h in model.history_]
    assert history[-1] < 0.95 * history[0] and not model.diverged_


@short_fit
def test_numeric_string_targets_and_unseen_warm_labels_are_refused():
    X, y = _small(20)
    for solver in ("kernel", "rnn"):
        with pytest.raises(ValueError, match="needs a numeric y"):
            SignatureKernelRNN(solver=solver, depth=2, max_epochs=1).fit(X, y.astype(str))
    clf = SignatureKernelRNNClassifier(max_epochs=1, warm_start=True, **RNN).fit(X, y)
    with pytest.raises(ValueError, match="previously unseen labels"):
        clf.fit(X, np.where(y == 1, 2, 0))


@pytest.mark.parametrize("name", ["SignatureKernelRNN", "SignatureKernelRNNClassifier"])
def test_demo_beats_its_baseline(name):
    from sktheory._demo import demos

    row = demos()[name](random_state=0)
    # Regressor: R2 0.99999 against ridge's 0.91; classifier: well above chance.
    assert row["score"] > 0.99 and row["score"] > row["baseline_score"] + 0.05


# ------------------------------------------------- issue 17: the paper's conventions
def _reference_penalty(rnn: ResidualRNN, depth: int) -> float:
    """The reference code's formula, computed directly with dense nested Jacobians.

    For each output o: psi_o(h_0)^2 + sum_k (||A_o D^k|| / k!)^2, with
    D^k_{i_1..i_k} = J_{D^{k-1}_{i_2..i_k}} F_{i_1} at z_0 = (h_0, 0); then the
    mean over outputs (one per class in the reference's classifiers).
    """
    from torch.autograd.functional import jacobian

    e, d = rnn.hidden_size, rnn.input_size
    m, p = e + d, d + 1
    z0 = rnn.initial_state().detach()

    def field(z):  # written out again: (0, e_i) for data channels, (sigma(Wh+Ux+b), 0) for time
        h, x = z[:e], z[e:]
        drift = torch.tanh(rnn.weight_hh @ h + rnn.weight_ih @ x + rnn.bias)
        out = torch.zeros(m, p, dtype=z.dtype)
        out[e:, :d] = torch.eye(d, dtype=z.dtype)
        out[:e, d] = drift
        return out

    levels = [field]
    for _ in range(1, depth):
        prev = levels[-1]

        def nxt(z, prev=prev):
            jac = jacobian(prev, z, create_graph=True).reshape(m, -1, m)  # (m, words, m)
            return torch.einsum("mwn,ni->miw", jac, field(z)).reshape(m, -1)

        levels.append(nxt)
    A, c = rnn.readout_weight.detach(), rnn.readout_bias.detach()
    norm = (A @ z0[:e] + c) ** 2
    for k, g in enumerate(levels, start=1):
        norm = norm + ((A @ g(z0)[:e]) ** 2).sum(dim=1) / math.factorial(k) ** 2
    return float(norm.mean())


def test_rkhs_penalty_is_the_reference_formula_averaged_over_outputs():
    gen = torch.Generator().manual_seed(3)
    rnn = ResidualRNN(2, 3, 2, "tanh", generator=gen)
    with torch.no_grad():
        rnn.h0.copy_(torch.randn(3, generator=gen, dtype=torch.float64))
    expected = _reference_penalty(rnn, 3)
    assert float(rnn.rkhs_norm_squared(3)) == pytest.approx(expected, rel=1e-10)
    per_output = rnn.rkhs_norms_squared(3).detach().numpy()
    assert per_output.shape == (2,) and per_output.mean() == pytest.approx(expected)
    # The estimator trains on exactly this penalty: objective = data loss + alpha * it.
    X, y = _small(20)
    clf = SignatureKernelRNNClassifier(max_epochs=1, alpha=0.1, **RNN)
    with pytest.warns(UserWarning):  # one epoch: at most a Taylor warning
        clf.fit(X, y)
    module = clf.module_
    assert module.output_size == 2  # one output per class, as in the reference code
    data = clf._check_fit_data(X, y, reset=False)
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(module(data.inputs), data.targets)
        objective = clf._objective(module, data, slice(None))
    assert float(objective) == pytest.approx(float(ce) + 0.1 * _reference_penalty(module, 2))
    assert clf.rkhs_norm_**2 == pytest.approx(_reference_penalty(module, 2))


def test_rnn_defaults_follow_the_paper_and_halve_the_step_every_40_epochs():
    model = SignatureKernelRNNClassifier(solver="rnn")
    assert (model.learning_rate, model.lr_halving_epochs, model.batch_size) == (0.1, 40, "auto")
    assert (model.hidden_size, model.max_epochs, model.alpha) == (32, 200, 1e-3)
    X, _ = _small(5)
    assert model._scaling() is None  # raw paths for the RNN, as in the reference
    np.testing.assert_allclose(model._paths(X)[:, 1:, :2], X)
    assert SignatureKernelRNNClassifier()._scaling() == "total_variation"
    X, y = _small(20)
    fitted = SignatureKernelRNNClassifier(max_epochs=5, lr_halving_epochs=2, **RNN)
    with pytest.warns(UserWarning):
        fitted.fit(X, y)
    # Epochs 0-1 at lr, 2-3 at lr/2, the fifth (index 4) at lr/4.
    assert fitted._train_state_.optimiser.param_groups[0]["lr"] == pytest.approx(0.05 / 4)


def test_signature_of_the_reference_example_path():
    path = np.array([[[1.0, 1.0], [3.0, 4.0], [5.0, 2.0], [8.0, 6.0]]])
    np.testing.assert_allclose(signature(path, 2)[0], [7, 5, 24.5, 19, 16, 12.5])
    model = SignatureKernelRNN(depth=2, time_augment=False, basepoint=False, scaling=None)
    feats = model.fit(np.repeat(path, 3, 0), [0.0, 1.0, 2.0]).transform(path)[0]
    np.testing.assert_allclose(feats, [1, 7, 5, 2 * 24.5, 2 * 19, 2 * 16, 2 * 12.5])


def test_tree_like_excursion_leaves_the_signature_unchanged():
    rng = np.random.default_rng(0)
    a, b, c, d = rng.normal(size=(4, 3))
    straight = np.array([[a, b, d]])
    excursion = np.array([[a, b, c, b, d]])  # goes to c and retraces its steps
    np.testing.assert_allclose(signature(excursion, 4), signature(straight, 4), atol=1e-12)
    assert not np.allclose(signature(np.array([[a, b, c, d]]), 4), signature(straight, 4))


def test_kernel_regressor_intercept_is_not_penalised():
    X, labels = make_spirals(200, 30, random_state=2)
    y = X[:, -1, 0] * X[:, -1, 1] + labels
    reg = SignatureKernelRNN(depth=3, alpha=1e-2)
    train, test = slice(0, 150), slice(150, None)
    plain = clone(reg).fit(X[train], y[train]).score(X[test], y[test])
    shifted = clone(reg).fit(X[train], y[train] + 1e4).score(X[test], y[test] + 1e4)
    assert plain > 0.5 and abs(shifted - plain) < 0.01
    # Same story for the classifier's intercept: labels need no centring.
    clf = SignatureKernelRNNClassifier(depth=3, alpha=1.0).fit(X, labels)
    assert clf.coef_[0, 0] != 0 and clf.score(X, labels) > 0.9


def test_multi_output_regression_for_both_solvers():
    X = make_brownian_paths(60, 15, 2, random_state=1)
    Y = np.column_stack([X[:, -1, 0], X[:, -1, 1] - X[:, 0, 1]])
    kern = SignatureKernelRNN(depth=2, alpha=1e-2).fit(X, Y)
    assert kern.predict(X).shape == (60, 2) and kern.coef_.shape == (2, 1 + 3 + 9)
    # The penalty averages over outputs: each column is a 1-D fit with alpha / 2.
    for j in range(2):
        single = SignatureKernelRNN(depth=2, alpha=5e-3).fit(X, Y[:, j])
        np.testing.assert_allclose(kern.predict(X)[:, j], single.predict(X), rtol=1e-8)
    rnn = SignatureKernelRNN(max_epochs=20, **RNN)
    with pytest.warns(UserWarning):
        rnn.fit(X, Y)
    assert rnn.predict(X).shape == (60, 2) and rnn.signature_coef_.shape == (2, 13)
    assert rnn.score(X, Y) > 0.5


def test_taylor_error_attribute_and_warning():
    from sktheory.signature import TaylorExpansionWarning

    X, y = _small(40, 30)
    # Unpenalised, raw spirals: the network leaves its depth-2 expansion far behind.
    with pytest.warns(TaylorExpansionWarning, match="rkhs_norm_"):
        loose = SignatureKernelRNNClassifier(max_epochs=30, alpha=0.0, **RNN).fit(X, y)
    assert loose.taylor_error_ > 0.1
    # The attribute is RMS(expansion - network) / RMS(network) on the training paths.
    gap = loose.taylor_error(X)[-1]
    size = loose.decision_function(X)
    assert loose.taylor_error_ == pytest.approx(
        np.sqrt(np.mean(gap**2)) / np.sqrt(np.mean(size**2)), rel=1e-8
    )
    # Unit-length paths and a strong penalty keep the RNN inside: no warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TaylorExpansionWarning)
        tight = SignatureKernelRNN(
            max_epochs=3, scaling="total_variation", alpha=1.0, **{**RNN, "depth": 3}
        ).fit(X, X[:, -1, 0])
    assert tight.taylor_error_ < 0.1
    assert not hasattr(SignatureKernelRNN(depth=2).fit(X, X[:, -1, 0]), "taylor_error_")


def test_stability_bound_holds_for_the_kernel_and_fails_outside_the_expansion():
    from sktheory.signature import TaylorExpansionWarning, stability_bound

    X, y = _small(60, 30)
    kern = SignatureKernelRNNClassifier(depth=2, scaling=None).fit(X[:40], y[:40])
    res = stability_bound(kern, X[40:50], X[50:])
    assert res.holds == 1.0 and res.median_ratio <= 1
    np.testing.assert_allclose(
        res.change, np.abs(kern.decision_function(X[40:50]) - kern.decision_function(X[50:]))
    )
    # A penalised RNN on raw spirals: a small norm, but logits its expansion misses.
    params = {**RNN, "learning_rate": 0.1, "hidden_size": 8}
    with pytest.warns(TaylorExpansionWarning):
        rnn = SignatureKernelRNNClassifier(max_epochs=60, alpha=0.1, **params).fit(X[:40], y[:40])
    res = stability_bound(rnn, X[40:50], X[50:])
    assert rnn.taylor_error_ > 0.5 and res.holds < 0.9 and res.median_ratio > 1
    with pytest.raises(ValueError, match="same number"):
        stability_bound(kern, X[:3], X[:4])


def test_memory_guard_refuses_before_computing():
    X = np.zeros((3, 4, 30))  # 31 channels with time: 954k features at depth 4
    model = SignatureKernelRNN(depth=4, memory_limit_gb=0.01)
    with pytest.raises(ValueError, match=r"954,305 coordinates.*Lower depth.*channels"):
        model.fit(X, np.arange(3.0))
    # The estimate scales with n: 20000 such paths would need about 284 GiB.
    with pytest.raises(ValueError, match=r"about 284 GiB"):
        SignatureKernelRNN(depth=4)._check_memory(20000, 31)
    SignatureKernelRNN(depth=4, memory_limit_gb=None)._check_memory(20000, 31)  # disabled


def test_feature_names_and_pandas_output():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    X = make_brownian_paths(20, 8, 2, random_state=0)
    y = X[:, -1, 0]
    model = SignatureKernelRNN(depth=2).fit(X, y)
    names = model.get_feature_names_out()
    assert list(names[:5]) == ["S()", "S(x0)", "S(x1)", "S(t)", "S(x0,x0)"]
    assert names[-1] == "S(t,t)" and len(names) == model.n_signature_features_
    assert model.get_feature_names_out(["a", "b"])[4] == "S(a,a)"
    with pytest.raises(ValueError, match="2 entries"):
        model.get_feature_names_out(["a"])
    assert isinstance(model.set_output(transform="default").transform(X), np.ndarray)
    pytest.importorskip("pandas")
    frame = clone(model).set_output(transform="pandas").fit(X, y).transform(X)
    assert list(frame.columns) == list(names)
    pipe = make_pipeline(SignatureKernelRNN(depth=2), Ridge()).set_output(transform="pandas")
    assert pipe.fit(X, y).score(X, y) > 0.9


def test_float32_rnn_fits_in_float32():
    X, y = _small(30)
    with pytest.warns(UserWarning):
        clf = SignatureKernelRNNClassifier(max_epochs=5, dtype="float32", **RNN).fit(X, y)
    assert clf.module_.weight_hh.dtype == torch.float32
    assert np.isfinite(clf.rkhs_norm_) and np.isfinite(clf.taylor_error_)
    assert clf.decision_function(X).dtype == np.float64

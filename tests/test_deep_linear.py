"""DeepLinearRegressor against the paper's mathematics."""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from sktheory import DeepLinearRegressor, DivergenceError, DivergenceWarning
from sktheory.datasets import make_deep_linear_regression
from sktheory.deep_linear import (
    _end_to_end,
    _gelu_network,
    _loss_and_gradients,
    _mse_loss,
    sharpness_lower_bound,
)
from sktheory.diagnostics import dense_hessian

f64 = torch.float64


@pytest.fixture(scope="module")
def data():
    return make_deep_linear_regression(random_state=0)


@pytest.fixture(scope="module")
def trained(data):
    """Depth 3 from a small init, at a learning rate near the critical one."""
    X, y = data
    probe = DeepLinearRegressor(depth=3, max_iter=1, random_state=0).fit(X, y)
    lr = 0.8 * probe.critical_learning_rate_
    model = DeepLinearRegressor(
        depth=3,
        init_scale=0.02,
        learning_rate=lr,
        max_iter=1000,
        sharpness_every=100,
        random_state=0,
    )
    return model.fit(X, y)


def _centred(X, y):
    return X - X.mean(0), y - y.mean()


# ------------------------------------------------------------------ the data
def test_generator_normalises_the_least_squares_solution():
    X, y, w_star = make_deep_linear_regression(
        n_samples=40, n_features=3, random_state=1, return_coef=True
    )
    assert X.shape == (40, 3) and y.shape == (40,)
    np.testing.assert_allclose(w_star, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    assert np.linalg.norm(w_star) == pytest.approx(1.0)
    _, y_raw = make_deep_linear_regression(
        n_samples=40, n_features=3, random_state=1, unit_norm=False
    )
    assert np.linalg.norm(y_raw) != pytest.approx(np.linalg.norm(y))
    X0, y0, w0 = make_deep_linear_regression(
        noise=0.0, unit_norm=False, random_state=2, return_coef=True
    )
    np.testing.assert_allclose(X0 @ w0, y0, atol=1e-10)
    with pytest.raises(ValueError, match="n_samples"):
        make_deep_linear_regression(n_samples=0)
    with pytest.raises(ValueError, match="noise"):
        make_deep_linear_regression(noise=-1.0)


def test_sharpness_lower_bound_formula():
    X, y = make_deep_linear_regression(random_state=3)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    a = w @ (X.T @ X / len(X)) @ w / (w @ w)
    for depth in (1, 2, 7):
        expected = 2 * depth * a * np.linalg.norm(w) ** (2 - 2 / depth)
        assert sharpness_lower_bound(X, y, depth) == pytest.approx(expected, rel=1e-12)
    assert sharpness_lower_bound(X, np.zeros(len(X)), 3) == 0.0


# ------------------------------------------------------------- the objective
@pytest.mark.parametrize(
    "init, depth, width",
    [("small", 1, None), ("small", 2, 7), ("small", 4, 3), ("residual", 3, None)],
)
def test_closed_form_gradients_equal_autograd(data, init, depth, width):
    X, y = data
    model = DeepLinearRegressor(
        depth=depth, width=width, init=init, init_scale=0.7, max_iter=3, random_state=0
    ).fit(X, y)
    loss_fn, params = model._sharpness_problem(X, y)
    head = None if model.projection_ is None else torch.tensor(model.projection_)
    Xc, yc = _centred(X, y)
    loss, grads = _loss_and_gradients(params, head, torch.tensor(Xc), torch.tensor(yc))
    leaves = [p.clone().requires_grad_(True) for p in params]
    auto_loss = loss_fn(leaves)
    auto = torch.autograd.grad(auto_loss, leaves)
    torch.testing.assert_close(loss, auto_loss.detach())
    for g, h in zip(grads, auto, strict=True):
        torch.testing.assert_close(g, h)


def test_layer_shapes_and_end_to_end_map(data):
    X, y = data
    small = DeepLinearRegressor(depth=3, width=6, max_iter=2, random_state=0).fit(X, y)
    assert [W.shape for W in small.coefs_] == [(6, 5), (6, 6), (1, 6)]
    np.testing.assert_allclose(
        small.coef_, (small.coefs_[2] @ small.coefs_[1] @ small.coefs_[0])[0]
    )
    assert small.projection_ is None

    res = DeepLinearRegressor(depth=3, init="residual", max_iter=2, random_state=0).fit(X, y)
    assert [W.shape for W in res.coefs_] == [(5, 5)] * 3
    assert np.linalg.norm(res.projection_) == pytest.approx(1.0)
    product = res.coefs_[2] @ res.coefs_[1] @ res.coefs_[0]
    np.testing.assert_allclose(res.coef_, res.projection_ @ product)


def test_residual_init_is_near_identity(data):
    X, y = data
    model = DeepLinearRegressor(depth=4, init="residual", init_scale=0.0, max_iter=1)
    # With scale 0 and one step, each layer is the identity minus one gradient
    # step, in standardised units: times (s_y / s_X)^(1/L) in the data's.
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        model.set_params(learning_rate=1e-12).fit(X, y)
    Xc, yc = _centred(X, y)
    gain = (np.sqrt(np.mean(yc**2)) / np.sqrt(np.mean(Xc**2))) ** (1 / 4)
    assert gain != pytest.approx(1.0, abs=1e-3)
    for W in model.coefs_:
        np.testing.assert_allclose(W, gain * np.eye(5), atol=1e-10)


# ----------------------------------------------------------- the paper's claims
def test_trained_model_reaches_least_squares(trained, data):
    X, y = data
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(trained.coef_, reference.coef_, atol=1e-5)
    assert trained.intercept_ == pytest.approx(reference.intercept_, abs=1e-5)
    np.testing.assert_allclose(trained.predict(X), reference.predict(X), atol=1e-5)
    assert not trained.diverged_


def test_trained_sharpness_between_lower_bound_and_two_over_eta(trained, data):
    X, y = data
    s_min = trained.sharpness_lower_bound_
    assert s_min == pytest.approx(sharpness_lower_bound(*_centred(X, y), 3))
    assert trained.critical_learning_rate_ == pytest.approx(2 / s_min)
    assert s_min * (1 - 1e-6) <= trained.sharpness_ <= 2 / trained.learning_rate_ * 1.01


@pytest.mark.parametrize("init, scale", [("small", 0.5), ("residual", 1.5)])
def test_larger_inits_end_sharper_but_below_two_over_eta(trained, data, init, scale):
    # The paper's Figure 1: sharpness grows with the init scale, within [S_min, 2/eta].
    X, y = data
    lr = 0.1
    model = DeepLinearRegressor(
        depth=3, init=init, init_scale=scale, learning_rate=lr, max_iter=600, random_state=0
    ).fit(X, y)
    assert model.history_[-1]["loss"] == pytest.approx(trained.history_[-1]["loss"], rel=1e-6)
    assert trained.sharpness_ * 1.05 < model.sharpness_ <= 2 / lr * 1.01


def test_large_learning_rate_caps_the_sharpness(data):
    # Same init: at eta = 0.05 GD settles on a minimiser sharper than 2 / 0.1;
    # at eta = 0.1 it cannot, and ends flatter, below 2 / 0.1 (edge of stability).
    X, y = data
    params = dict(depth=3, init_scale=0.5, max_iter=600, random_state=0)
    slow = DeepLinearRegressor(learning_rate=0.05, **params).fit(X, y)
    fast = DeepLinearRegressor(learning_rate=0.1, **params).fit(X, y)
    assert slow.sharpness_ > 2 / 0.1 > fast.sharpness_ > fast.sharpness_lower_bound_


def test_reported_sharpness_matches_dense_hessian(trained, data):
    loss_fn, params = trained._sharpness_problem(*data)
    dense = torch.linalg.eigvalsh(dense_hessian(loss_fn, params))[-1].item()
    assert trained.sharpness_ == pytest.approx(dense, rel=1e-6)


def test_small_init_gives_rank_one_aligned_layers(trained, data):
    # Second singular value of every matrix layer is small against the first.
    for W in trained.coefs_[:-1]:
        sv = np.linalg.svd(W, compute_uv=False)
        assert sv[1] / sv[0] < 0.1
    # Singular vectors align: W_{k+1}'s top right vector is W_k's top left one.
    for lower, upper in zip(trained.coefs_[:-1], trained.coefs_[1:], strict=True):
        left = np.linalg.svd(lower)[0][:, 0]
        right = np.linalg.svd(upper)[2][0]
        assert abs(left @ right) > 0.99
    # The leftover rank shrinks with the scale: five times larger, far from rank one.
    X, y = data
    larger = DeepLinearRegressor(
        depth=3,
        init_scale=0.1,
        learning_rate=trained.learning_rate_,
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    sv = np.linalg.svd(larger.coefs_[0], compute_uv=False)
    assert sv[1] / sv[0] > 0.3


def test_residual_init_is_not_rank_one(data):
    # The contrast that keeps the rank-one test honest.
    X, y = data
    model = DeepLinearRegressor(
        depth=4,
        init="residual",
        init_scale=0.5,
        learning_rate=0.05,
        max_iter=300,
        random_state=0,
    ).fit(X, y)
    sv = np.linalg.svd(model.coefs_[0], compute_uv=False)
    assert sv[1] / sv[0] > 0.5


def test_history_records_loss_and_sharpness(trained):
    # Windows of gcd(1000 // 100, 100) = 10 steps; the sharpness after every 100.
    history = trained.history_
    assert trained.n_iter_ == 1000 and len(history) == 100
    assert [h["iter"] for h in history] == list(range(10, 1001, 10))
    with_sharpness = [h for h in history if "sharpness" in h]
    assert [h["iter"] for h in with_sharpness] == list(range(100, 1001, 100))
    assert history[-1]["loss"] < history[0]["loss"]
    # Late in training the recorded sharpness approaches the final one.
    assert with_sharpness[-1]["sharpness"] == pytest.approx(trained.sharpness_, rel=1e-3)


def test_history_records_distance_and_singular_values_at_each_sharpness_check(trained, data):
    X, y = data
    checks = [h for h in trained.history_ if "sharpness" in h]
    assert len(checks) == 10
    assert all("squared_distance" not in h for h in trained.history_ if "sharpness" not in h)
    # The last check is the final iterate: against sklearn's least squares and numpy's SVD.
    w_star = LinearRegression().fit(X, y).coef_
    last = checks[-1]
    assert last["squared_distance"] == pytest.approx(np.mean((trained.coef_ - w_star) ** 2))
    assert last["singular_values"].shape == (3, 2)
    for k, W in enumerate(trained.coefs_):
        sv = np.linalg.svd(W, compute_uv=False)
        np.testing.assert_allclose(last["singular_values"][k, : len(sv)], sv[:2], rtol=1e-10)
    assert last["singular_values"][-1, 1] == 0.0  # the (1, width) output layer
    # Trained to least squares: the distance ends at round-off.
    distances = [h["squared_distance"] for h in checks]
    assert distances[-1] <= distances[0] and distances[-1] < 1e-20


def test_depth_one_sharpness_is_twice_the_top_covariance_eigenvalue(data):
    X, y = data
    model = DeepLinearRegressor(depth=1, max_iter=5, random_state=0).fit(X, y)
    Xc, _ = _centred(X, y)
    top = np.linalg.eigvalsh(Xc.T @ Xc / len(X))[-1]
    assert model.sharpness_ == pytest.approx(2 * top, rel=1e-8)


def test_above_critical_cannot_settle_and_blow_up_are_reported_apart(data):
    X, y = data
    probe = DeepLinearRegressor(depth=3, max_iter=1, random_state=0).fit(X, y)
    ls_loss = np.mean((LinearRegression().fit(X, y).predict(X) - y) ** 2)
    # At 1.2 times critical the loss spikes past 1e4 times the trivial loss
    # (the blow-up rule) after 10 steps: a divergence, the model is lost.
    spike = dict(depth=3, learning_rate=1.2 * probe.critical_learning_rate_, random_state=0)
    with pytest.raises(DivergenceError, match="reached .* after 10 updates"):
        DeepLinearRegressor(max_iter=500, **spike).fit(X, y)
    # Just above critical the loss stays bounded but cannot settle at any
    # minimiser (all are sharper than 2 / eta): a ConvergenceWarning, not a
    # divergence, whatever on_divergence says, and the model is kept.
    lr = 1.1 * probe.critical_learning_rate_
    for on_divergence in ("raise", "warn"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DivergenceWarning)
            with pytest.warns(ConvergenceWarning, match="cannot converge.*critical learning"):
                model = DeepLinearRegressor(
                    depth=3,
                    learning_rate=lr,
                    max_iter=500,
                    random_state=0,
                    on_divergence=on_divergence,
                ).fit(X, y)
        assert model.unstable_ and not model.diverged_
    # Finite, oscillating above the least-squares loss, and usable.
    losses = [h["loss"] for h in model.history_[-20:]]
    assert all(ls_loss * 1.01 < v < 10 * np.var(y) for v in losses)
    assert np.all(np.isfinite(model.predict(X)))
    assert math.isfinite(model.sharpness_)
    # The blow-up with on_divergence="warn" is the other report.
    with pytest.warns(DivergenceWarning, match="diverged"):
        lost = DeepLinearRegressor(max_iter=500, on_divergence="warn", **spike).fit(X, y)
    assert lost.diverged_ and not lost.unstable_
    with pytest.raises(ValueError, match="diverged"):
        lost.predict(X)


def test_blow_up_is_reported_not_silent(data):
    X, y = data
    params = dict(depth=3, learning_rate=2.0, max_iter=200, random_state=0)
    with pytest.raises(DivergenceError, match="diverged: the training loss"):
        DeepLinearRegressor(**params).fit(X, y)
    with pytest.warns(DivergenceWarning):
        model = DeepLinearRegressor(on_divergence="warn", **params).fit(X, y)
    assert model.diverged_ and np.isnan(model.sharpness_) and model.n_iter_ < 200


def test_learning_rate_below_critical_converges(data):
    X, y = data
    probe = DeepLinearRegressor(depth=3, max_iter=1, random_state=0).fit(X, y)
    model = DeepLinearRegressor(
        depth=3,
        learning_rate=0.9 * probe.critical_learning_rate_,
        max_iter=1500,
        random_state=0,
    ).fit(X, y)
    assert not model.diverged_ and not model.unstable_
    assert model.sharpness_ <= 2 / model.learning_rate_ * 1.01


def test_auto_learning_rate_is_below_critical(data):
    X, y = data
    # A flat start (sharpness below S_min): the step is 1 / S_min.
    model = DeepLinearRegressor(depth=3, init_scale=0.1, max_iter=1, random_state=0).fit(X, y)
    assert model.learning_rate_ == pytest.approx(1 / model.sharpness_lower_bound_)
    big = DeepLinearRegressor(depth=3, init_scale=1.0, max_iter=1, random_state=0).fit(X, y)
    assert big.learning_rate_ < 1 / big.sharpness_lower_bound_


# ------------------------------------------------------------------- intercept
def test_fit_intercept_centres_the_data(data):
    X, y = data
    shifted = DeepLinearRegressor(depth=2, learning_rate=0.1, max_iter=400, random_state=0)
    shifted.fit(X + 3.0, y - 7.0)
    plain = DeepLinearRegressor(depth=2, learning_rate=0.1, max_iter=400, random_state=0)
    plain.fit(X, y)
    np.testing.assert_allclose(shifted.coef_, plain.coef_, rtol=1e-10)
    assert shifted.sharpness_ == pytest.approx(plain.sharpness_, rel=1e-8)
    assert shifted.intercept_ == pytest.approx(plain.intercept_ - 7.0 - 3.0 * plain.coef_.sum())

    no_icpt = DeepLinearRegressor(
        depth=2, learning_rate=0.1, max_iter=400, fit_intercept=False, random_state=0
    ).fit(X, y)
    assert no_icpt.intercept_ == 0.0
    np.testing.assert_allclose(no_icpt.predict(X), X @ no_icpt.coef_)


# --------------------------------------------------------------- conventions
def test_reproducible_and_picklable(data):
    X, y = data
    params = dict(depth=3, learning_rate=0.05, max_iter=50, random_state=4)
    a = DeepLinearRegressor(**params).fit(X, y)
    b = DeepLinearRegressor(**params).fit(X, y)
    for Wa, Wb in zip(a.coefs_, b.coefs_, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict(X), a.predict(X))
    assert c.sharpness_ == a.sharpness_


def test_float32_fit_is_close_to_float64(data):
    X, y = data
    params = dict(depth=3, learning_rate=0.05, max_iter=200, random_state=0)
    a = DeepLinearRegressor(**params).fit(X, y)
    b = DeepLinearRegressor(dtype="float32", **params).fit(X, y)
    np.testing.assert_allclose(b.coef_, a.coef_, atol=1e-4)


def test_bad_input_is_named(data):
    X, y = data
    model = DeepLinearRegressor(max_iter=2)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X_nan, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="1d array"):
        model.fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="0 sample"):
        model.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="could not convert|dtype"):
        model.fit(np.full(X.shape, "a"), y)
    with pytest.raises(ValueError, match="width"):
        DeepLinearRegressor(init="residual", width=3).fit(X, y)
    for bad in (
        dict(depth=0),
        dict(init="big"),
        dict(learning_rate=-1.0),
        dict(init_scale=-1),
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            DeepLinearRegressor(**bad).fit(X, y)
    fitted = DeepLinearRegressor(depth=2, max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :3])


def test_end_to_end_map_and_loss_at_depth_one():
    W = torch.arange(3.0, dtype=f64)[None, :]
    torch.testing.assert_close(_end_to_end([W], None), W[0])
    loss = _mse_loss(torch.eye(3, dtype=f64), torch.zeros(3, dtype=f64), None)
    assert loss([W]).item() == pytest.approx((0 + 1 + 4) / 3)


def test_demo_matches_least_squares():
    from sktheory._demo import demos

    row = demos()["DeepLinearRegressor"](random_state=0)
    assert set(row) == {"task", "metric", "score", "baseline", "baseline_score"}
    assert row["score"] == pytest.approx(row["baseline_score"], abs=1e-3)


# ------------------------------------------------------- the training contract
def test_warm_start_equals_one_long_fit(data):
    X, y = data
    params = dict(depth=3, init_scale=0.2, random_state=0)
    once = DeepLinearRegressor(max_iter=150, **params).fit(X, y)
    warm = DeepLinearRegressor(max_iter=100, warm_start=True, **params).fit(X, y)
    warm.set_params(max_iter=50).fit(X, y)
    assert warm.n_iter_ == 150 and warm.learning_rate_ == once.learning_rate_
    for a, b in zip(warm.coefs_, once.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert warm.sharpness_ == pytest.approx(once.sharpness_, rel=1e-9)
    assert [h["iter"] for h in warm.history_][-1] == 150


def test_sample_weight_is_repeated_rows_and_zero_weight_is_dropping(data):
    X, y = data
    params = dict(depth=3, max_iter=300, random_state=0)
    w = np.ones(len(X))
    w[:10] = 3
    weighted = DeepLinearRegressor(**params).fit(X, y, sample_weight=w)
    repeated = DeepLinearRegressor(**params).fit(
        np.concatenate([X] + 2 * [X[:10]]), np.concatenate([y] + 2 * [y[:10]])
    )
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-8)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=1e-8)
    for name in ("sharpness_lower_bound_", "sharpness_", "learning_rate_"):
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), rel=1e-7)
    w = np.ones(len(X))
    w[-12:] = 0
    zero = DeepLinearRegressor(**params).fit(X, y, sample_weight=w)
    dropped = DeepLinearRegressor(**params).fit(X[:-12], y[:-12])
    np.testing.assert_allclose(zero.coef_, dropped.coef_, rtol=1e-8)
    assert zero.sharpness_lower_bound_ == pytest.approx(dropped.sharpness_lower_bound_)
    # Converged, the network is weighted least squares.
    ls = LinearRegression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(zero.coef_, ls.coef_, atol=1e-4)


@pytest.mark.parametrize("init_scale", [0.0, 0.01])
def test_saddle_start_warns_what_to_do(init_scale):
    X, y = make_deep_linear_regression(n_samples=50, random_state=0)
    model = DeepLinearRegressor(init_scale=init_scale, max_iter=300, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not decrease.*raise init_scale"):
        model.fit(X, y)
    assert model.history_[-1]["loss"] > 0.999 * np.var(y)


@pytest.mark.parametrize("x_scale, y_scale", [(1, 1e-4), (1, 1e4), (1e-3, 1), (1e3, 1)])
def test_default_fit_is_equivariant_under_the_data_units(x_scale, y_scale):
    # Training runs in standardised units, so rescaling X or y rescales the
    # fit and the paper's quantities exactly, and the default still learns.
    X, y = make_deep_linear_regression(n_samples=100, random_state=0)
    Xtr, ytr, Xte, yte = X[:50], y[:50], X[50:], y[50:]
    base = DeepLinearRegressor(random_state=0, max_iter=500).fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        scaled = DeepLinearRegressor(random_state=0, max_iter=500).fit(x_scale * Xtr, y_scale * ytr)
    c, L = y_scale / x_scale, base.depth
    np.testing.assert_allclose(scaled.coef_, c * base.coef_, rtol=1e-6)
    units = y_scale**2 * (x_scale / y_scale) ** (2 / L)  # of the sharpness
    for name in ("sharpness_lower_bound_", "sharpness_"):
        assert getattr(scaled, name) == pytest.approx(units * getattr(base, name), rel=1e-6)
    assert scaled.learning_rate_ == pytest.approx(base.learning_rate_ / units, rel=1e-6)
    r2 = LinearRegression().fit(Xtr, ytr).score(Xte, yte)
    assert scaled.score(x_scale * Xte, y_scale * yte) == pytest.approx(r2, abs=1e-3)


def test_tol_stops_on_the_window_improvement(data):
    X, y = data
    model = DeepLinearRegressor(depth=3, tol=1e-4, max_iter=5000, random_state=0).fit(X, y)
    assert model.n_iter_ < 5000
    losses = [h["loss"] for h in model.history_]
    # The last two windows improved on the best by less than tol (relative).
    for i in (-2, -1):
        best = min(losses[:i])
        assert best - losses[i] < 1e-4 * best
    with pytest.warns(ConvergenceWarning, match="still improving"):
        DeepLinearRegressor(depth=3, init_scale=0.5, tol=1e-4, max_iter=20, random_state=0).fit(
            X, y
        )


def test_numeric_string_target_is_refused_clearly(data):
    X, y = data
    with pytest.raises(ValueError, match="needs a numeric y"):
        DeepLinearRegressor(max_iter=2).fit(X, y.astype(str))


def test_default_fits_a_large_target_scale():
    X, y = make_deep_linear_regression(n_samples=100, random_state=0)
    model = DeepLinearRegressor(random_state=0).fit(X[:50], 1e4 * y[:50])
    assert model.score(X[50:], 1e4 * y[50:]) > 0.6 and math.isfinite(model.sharpness_)


# ------------------------------------------------- the paper's other settings
def _tanh_gelu(z):
    # jax.nn.gelu's default (approximate=True), the reference code's activation.
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))


def test_gelu_network_is_the_reference_mlp(data):
    X, y = data
    model = DeepLinearRegressor(
        depth=4, activation="gelu", init_scale=0.5, max_iter=300, random_state=0
    ).fit(X, y)
    h = X - X.mean(0)
    for W in model.coefs_[:-1]:
        h = _tanh_gelu(h @ W.T)
    np.testing.assert_allclose(model.predict(X), h @ model.coefs_[-1][0] + y.mean(), rtol=1e-10)
    # It learns (the linear part of the target) and its sharpness is the dense Hessian's.
    assert model.history_[-1]["loss"] < 0.5 * model.history_[0]["loss"]
    loss_fn, params = model._sharpness_problem(X, y)
    dense = torch.linalg.eigvalsh(dense_hessian(loss_fn, params))[-1].item()
    assert model.sharpness_ == pytest.approx(dense, rel=1e-6)
    assert not model.unstable_  # S_min bounds linear networks only
    params = [torch.tensor(W) for W in model.coefs_]
    out = _gelu_network(params, torch.tensor(X)).numpy()
    assert out.shape == (len(X),)
    with pytest.raises(ValueError, match="init='small'"):
        DeepLinearRegressor(activation="gelu", init="residual").fit(X, y)


def test_underdetermined_case_interpolates_and_sharper_generalises_worse():
    # The paper's n < d experiment (n=15, d=20, depth 5, no intercept): every
    # run interpolates the training data, the test loss grows with the
    # sharpness reached, and the smallest init is near the min-norm solution.
    X, y, X_test, y_test, w_star = make_deep_linear_regression(
        15, 20, n_test=15, return_coef=True, random_state=0
    )
    models = [
        DeepLinearRegressor(
            depth=5,
            init_scale=scale,
            learning_rate=0.01,
            max_iter=3000,
            fit_intercept=False,
            random_state=0,
        ).fit(X, y)
        for scale in (0.1, 0.3)
    ]
    train = [np.mean((m.predict(X) - y) ** 2) for m in models]
    test = [np.mean((m.predict(X_test) - y_test) ** 2) for m in models]
    assert max(train) < 1e-4
    assert models[0].sharpness_lower_bound_ <= models[0].sharpness_ < models[1].sharpness_
    assert models[1].sharpness_ <= 2 / 0.01
    assert test[0] < test[1]
    min_norm_test = np.mean((X_test @ w_star - y_test) ** 2)
    assert test[0] == pytest.approx(min_norm_test, rel=0.1)


def test_generator_test_set_shares_the_model_and_normalisation():
    X, y, X_test, y_test, w_star = make_deep_linear_regression(
        40, 5, noise=0.0, n_test=30, return_coef=True, random_state=0
    )
    np.testing.assert_allclose(y_test, X_test @ w_star, atol=1e-10)
    X0, y0 = make_deep_linear_regression(40, 5, noise=0.0, random_state=0)
    np.testing.assert_array_equal(X0, X) and np.testing.assert_array_equal(y0, y)

"""Tests for sktheory.attention (single-location regression)."""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.special import erf
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import InvalidParameterError

from sktheory import (
    DivergenceError,
    DivergenceWarning,
    SingleLocationRegressor,
    bayes_oracle_attention,
    bayes_oracle_predict,
    linear_baseline_risk,
    population_risk,
)
from sktheory.attention import (
    _FAST_ALIGN,
    _risk_torch,
    manifold_init,
    overlaps,
    population_gradient_descent,
    zeta,
)
from sktheory.datasets import make_single_location

GAMMA = math.sqrt(0.5)


def _T(X, k, v, lam):
    return np.einsum("nl,nl->n", erf(lam * (X @ k)), X @ v)


# ------------------------------------------------------------------ closed forms
def test_zeta_matches_arcsin_at_zero_and_gauss_hermite_elsewhere():
    s = np.array([0.1, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(
        zeta(0.0, s), 2 / np.pi * np.arcsin(2 * s**2 / (1 + 2 * s**2)), rtol=1e-13
    )
    # Independent check: E[erf(t + sZ)^2] by 200-point Gauss-Hermite quadrature.
    x, w = np.polynomial.hermite_e.hermegauss(200)
    for t, sc in [(0.3, 0.2), (2.0, 0.7), (-3.0, 1.4), (6.0, 0.5), (25.0, 1.0)]:
        expected = np.sum(w * erf(t + sc * x) ** 2) / np.sqrt(2 * np.pi)
        assert zeta(t, sc) == pytest.approx(expected, abs=1e-11)


def test_population_risk_matches_monte_carlo():
    # 1e6 sequences in chunks; d, L small so that every overlap is far from 0.
    d, L, gamma, lam, noise = 8, 4, 0.6, 0.7, 0.1
    rng = np.random.default_rng(0)
    _, _, ks, vs, _ = make_single_location(1, L, d, return_truth=True, random_state=0)
    pairs = []
    for a, b in [(0.5, 0.3), (2.0, 1.0), (-1.0, 0.6)]:
        k = rng.standard_normal(d) + a * ks + b * vs
        v = rng.standard_normal(d) + b * ks - a * vs + 0.5 * k
        pairs.append((k / np.linalg.norm(k), v / np.linalg.norm(v)))
    scales = (1.0, 0.6)
    sums = np.zeros((len(pairs), len(scales)))
    sq = np.zeros_like(sums)
    n_total = 0
    for chunk in range(10):
        X, y = make_single_location(
            100_000,
            L,
            d,
            gamma=gamma,
            noise=noise,
            k_star=ks,
            v_star=vs,
            random_state=chunk,
        )
        n_total += len(y)
        for i, (k, v) in enumerate(pairs):
            t = _T(X, k, v, lam)
            for j, c in enumerate(scales):
                loss = (c * t - y) ** 2
                sums[i, j] += loss.sum()
                sq[i, j] += (loss**2).sum()
    for i, (k, v) in enumerate(pairs):
        o = overlaps(k, v, ks, vs)
        assert min(abs(o[name]) for name in ("kappa", "nu", "theta", "eta", "rho")) > 0.05
        for j, c in enumerate(scales):
            mc = sums[i, j] / n_total
            se = math.sqrt((sq[i, j] / n_total - mc**2) / n_total)
            kw = {"n_features": d, "n_tokens": L, "gamma": gamma, "noise": noise}
            formula = population_risk(
                o["kappa"],
                o["nu"],
                o["theta"],
                o["eta"],
                o["rho"],
                temperature=lam,
                **kw,
                scale=c,
            )
            # 4 standard errors: a false alarm has probability ~6e-5 per comparison.
            assert abs(mc - formula) < 4 * se, (i, c, mc, float(formula), se)
            assert se / mc < 5e-3  # the check is sharp: MC error below 0.5%


def test_population_risk_optimal_scale_is_the_minimum_over_scales():
    args = (0.9, 0.8, 0.1, -0.2, 0.05)
    kw = {"temperature": 0.3, "n_features": 40, "n_tokens": 6}
    best = population_risk(*args, **kw, scale="optimal")
    grid = np.linspace(-1, 3, 4001)
    risks = np.array([population_risk(*args, **kw, scale=c) for c in grid])
    assert best <= risks.min() + 1e-12
    assert best == pytest.approx(risks.min(), abs=1e-6)


def test_population_risk_at_truth_is_background_plus_gain_error():
    # At k = k*, v = v* (rho = theta = eta = 0): (L-1) zeta(0, lam) from the
    # background tokens plus gamma^2 E[(erf(lam <X_J0, k*>) - 1)^2].
    d, L, lam = 80, 10, 0.4
    mu = math.sqrt(d / 2)
    gain = (
        1 - 2 * erf(lam * mu / math.sqrt(1 + 2 * lam**2 * GAMMA**2)) + zeta(lam * mu, lam * GAMMA)
    )
    expected = (L - 1) * zeta(0, lam) + GAMMA**2 * gain
    r = population_risk(1, 1, 0, 0, 0, temperature=lam, n_features=d, n_tokens=L)
    assert r == pytest.approx(expected, rel=1e-12)


def test_population_risk_has_the_sign_symmetry():
    # T(k, v) = T(-k, -v) flips kappa, nu, theta, eta and keeps rho.
    kw = {"temperature": 0.7, "n_features": 10, "n_tokens": 4, "noise": 0.1}
    r = population_risk(0.3, -0.5, 0.2, 0.4, -0.1, **kw)
    assert population_risk(-0.3, 0.5, -0.2, -0.4, -0.1, **kw) == pytest.approx(r, rel=1e-12)
    assert population_risk(0.3, 0.5, 0.2, 0.4, -0.1, **kw) != pytest.approx(r, rel=1e-3)


def test_population_risk_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        population_risk(1, 1, 0, 0, 0, temperature=0.0, n_features=4, n_tokens=2)
    with pytest.raises(ValueError, match="scale"):
        population_risk(1, 1, 0, 0, 0, temperature=1.0, n_features=4, n_tokens=2, scale="best")


def test_linear_baseline_matches_least_squares_on_a_large_sample():
    d, L, noise = 6, 5, 0.1
    X, y, ks, vs, _ = make_single_location(
        200_000, L, d, noise=noise, return_truth=True, random_state=1
    )
    Xte, yte = make_single_location(
        200_000, L, d, noise=noise, k_star=ks, v_star=vs, random_state=2
    )
    lin = LinearRegression().fit(X.reshape(len(X), -1), y)
    loss = (lin.predict(Xte.reshape(len(Xte), -1)) - yte) ** 2
    se = loss.std() / math.sqrt(len(loss))
    expected = linear_baseline_risk(L, GAMMA, noise)
    assert expected == pytest.approx(GAMMA**2 - GAMMA**4 / (GAMMA**2 + L - 1) + noise**2)
    # Estimation error of 31 coefficients adds ~31/2e5 relative; 4 SE covers both.
    assert abs(loss.mean() - expected) < 4 * se + 31 / 200_000
    # The fitted weights are the predicted c * v* on every token.
    coef = lin.coef_.reshape(L, d)
    np.testing.assert_allclose(coef, np.tile(GAMMA**2 / (GAMMA**2 + L - 1) * vs, (L, 1)), atol=0.01)


def test_bayes_attention_is_the_exact_posterior():
    # Posterior from the Gaussian log-densities, the gamma^-d factors kept.
    d, L, gamma = 3, 4, 0.8
    X, _, ks, _, _ = make_single_location(20, L, d, gamma=gamma, return_truth=True, random_state=3)
    mean = math.sqrt(d / 2) * ks
    log_rel = -np.sum((X - mean) ** 2, -1) / (2 * gamma**2) - d * math.log(gamma)
    log_bg = -np.sum(X**2, -1) / 2
    # P(J0 = l | X) is proportional to p_rel(X_l) prod_{m != l} p_bg(X_m).
    joint = log_rel + log_bg.sum(1, keepdims=True) - log_bg
    post = np.exp(joint - joint.max(1, keepdims=True))
    post /= post.sum(1, keepdims=True)
    np.testing.assert_allclose(bayes_oracle_attention(X, ks, gamma), post, rtol=1e-10)


def test_bayes_oracle_beats_the_paper_predictor_and_the_linear_baseline():
    noise = 0.1
    X, y, ks, vs, pos = make_single_location(20_000, noise=noise, return_truth=True, random_state=4)
    bayes = np.mean((bayes_oracle_predict(X, ks, vs) - y) ** 2) - noise**2
    assert abs(bayes) < 0.01
    assert (bayes_oracle_attention(X, ks).argmax(1) == pos).mean() > 0.999
    best_T = population_risk(
        1, 1, 0, 0, 0, temperature=0.05, n_features=80, n_tokens=10, scale="optimal"
    )
    assert bayes < best_T < linear_baseline_risk(10)


# --------------------------------------------------------------------- dataset
def test_make_single_location_follows_the_model():
    d, L = 30, 6
    X, y, ks, vs, pos = make_single_location(
        40_000, L, d, noise=0.0, return_truth=True, random_state=5
    )
    assert X.shape == (40_000, L, d) and y.shape == pos.shape == (40_000,)
    assert np.linalg.norm(ks) == pytest.approx(1) and np.linalg.norm(vs) == pytest.approx(1)
    assert abs(ks @ vs) < 1e-12
    rel = X[np.arange(len(X)), pos]
    np.testing.assert_allclose(y, rel @ vs, atol=1e-12)
    np.testing.assert_allclose(rel.mean(0), math.sqrt(d / 2) * ks, atol=0.03)
    assert np.var(rel - math.sqrt(d / 2) * ks) == pytest.approx(0.5, rel=0.02)
    counts = np.bincount(pos, minlength=L) / len(pos)
    np.testing.assert_allclose(counts, 1 / L, atol=0.01)
    bg = np.ones(X.shape[:2], bool)
    bg[np.arange(len(X)), pos] = False
    assert np.var(X[bg]) == pytest.approx(1, rel=0.01)


def test_make_single_location_reuses_truth_and_checks_it():
    X, y, ks, vs, _ = make_single_location(10, 3, 5, return_truth=True, random_state=0)
    _, _, ks2, vs2, _ = make_single_location(
        10, 3, 5, k_star=2 * ks, v_star=vs, return_truth=True, random_state=1
    )
    np.testing.assert_allclose(ks2, ks)
    np.testing.assert_allclose(vs2, vs)
    with pytest.raises(ValueError, match="orthogonal"):
        make_single_location(10, 3, 5, k_star=ks, v_star=ks)
    with pytest.raises(ValueError, match="shape"):
        make_single_location(10, 3, 5, k_star=np.ones(4))
    with pytest.raises(InvalidParameterError, match="n_features"):
        make_single_location(10, 3, 1)


# ------------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def aligned():
    """The issue's run: d = 80, L = 10, sphere init, seeded (about 2 s)."""
    noise = 0.1
    X, y, ks, vs, _ = make_single_location(6000, noise=noise, return_truth=True, random_state=0)
    Xte, yte, _, _, pte = make_single_location(
        4000, noise=noise, k_star=ks, v_star=vs, return_truth=True, random_state=1
    )
    model = SingleLocationRegressor(**_FAST_ALIGN, random_state=0).fit(X, y)
    return model, ks, vs, Xte, yte, pte, noise


def test_fit_aligns_with_the_truth_and_reaches_the_oracle_risk(aligned):
    model, ks, vs, Xte, yte, pte, noise = aligned
    o = model.overlaps(ks, vs)
    assert abs(o["kappa"]) > 0.99 and abs(o["nu"]) > 0.99
    assert o["distance_to_manifold"] < 0.05
    assert (model.locate(Xte) == pte).mean() > 0.99
    excess = np.mean((model.predict(Xte) - yte) ** 2) - noise**2
    kw = {"temperature": model.temperature_, "n_features": 80, "n_tokens": 10}
    oracle = population_risk(1, 1, 0, 0, 0, **kw, scale="optimal")
    # T(k*, v*) with its best output scale at the final temperature; the test
    # set's standard error on the excess risk is about 0.005.
    assert excess < oracle + 0.02
    assert excess < 0.5 * linear_baseline_risk(10)
    # The closed form at the fitted overlaps and scale predicts the test risk.
    names = ("kappa", "nu", "theta", "eta", "rho")
    fitted = population_risk(*(o[k] for k in names), **kw, scale=model.scale_)
    assert excess == pytest.approx(fitted, abs=0.02)


def test_history_tracks_the_schedule_and_the_sphere(aligned):
    model = aligned[0]
    assert model.n_iter_ == _FAST_ALIGN["max_iter"] and not model.diverged_
    # One record per window of 2000 // 100 = 20 steps, after the window.
    iters = [h["iter"] for h in model.history_]
    assert iters == list(range(20, model.n_iter_ + 1, 20))
    lam0, decay = _FAST_ALIGN["temperature"], _FAST_ALIGN["temperature_decay"]
    for h in model.history_:
        # The temperature of the window's last step, step iter - 1 from 0.
        assert h["temperature"] == pytest.approx(lam0 / (1 + decay * (h["iter"] - 1)))
        assert np.linalg.norm(h["key"]) == pytest.approx(1)
        assert np.linalg.norm(h["value"]) == pytest.approx(1)
    assert model.temperature_ == pytest.approx(lam0 / (1 + decay * (model.n_iter_ - 1)))
    assert model.history_[-1]["loss"] < 0.2 * model.history_[0]["loss"]


def test_predict_attention_locate_follow_their_formulas(aligned):
    model, _, _, Xte, _, _, _ = aligned
    X = Xte[:50]
    t = _T(X, model.key_, model.value_, model.temperature_)
    np.testing.assert_allclose(model.predict(X), model.scale_ * t + model.intercept_, rtol=1e-12)
    np.testing.assert_allclose(model.attention(X), erf(model.temperature_ * (X @ model.key_)))
    np.testing.assert_array_equal(model.locate(X), np.abs(X @ model.key_).argmax(1))
    # 2-D input flattened token by token reads the same with n_tokens set.
    flat = SingleLocationRegressor(n_tokens=10).set_params(**{})
    flat.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    np.testing.assert_allclose(flat.predict(X.reshape(50, -1)), model.predict(X))


def test_one_step_is_the_projected_gradient_step():
    # Full batch, so the minibatch order does not matter; compare the second
    # step (from the recorded first iterate) with autograd.
    X, y = make_single_location(40, 3, 5, random_state=0)
    kw = {"temperature": 0.8, "temperature_decay": 0.5, "learning_rate": 0.05}
    model = SingleLocationRegressor(**kw, batch_size=40, max_iter=2, random_state=0)
    model.fit(X, y)
    k1, v1 = model.history_[0]["key"], model.history_[0]["value"]
    lam = 0.8 / (1 + 0.5)
    Xt, yt = torch.tensor(X), torch.tensor(y - y.mean())
    k, v = torch.tensor(k1, requires_grad=True), torch.tensor(v1, requires_grad=True)
    loss = ((torch.erf(lam * Xt @ k) * (Xt @ v)).sum(1) - yt).pow(2).mean()
    loss.backward()
    assert model.history_[1]["loss"] == pytest.approx(loss.item(), rel=1e-12)
    for w, g, got in [(k1, k.grad.numpy(), model.key_), (v1, v.grad.numpy(), model.value_)]:
        new = w - 0.05 * (g - (g @ w) * w)
        np.testing.assert_allclose(got, new / np.linalg.norm(new), rtol=1e-10)


def test_output_scale_and_intercept_are_least_squares():
    X, y = make_single_location(300, 4, 6, random_state=0)
    y = 3.0 * y + 5.0
    model = SingleLocationRegressor(max_iter=30, batch_size=16, random_state=0).fit(X, y)
    t = _T(X, model.key_, model.value_, model.temperature_)
    coef = np.linalg.lstsq(np.column_stack([t, np.ones_like(t)]), y, rcond=None)[0]
    assert (model.scale_, model.intercept_) == pytest.approx(tuple(coef), rel=1e-10)
    fixed = SingleLocationRegressor(
        max_iter=30, batch_size=16, random_state=0, fit_output_scale=False
    ).fit(X, y)
    assert fixed.scale_ == 1.0
    assert fixed.intercept_ == pytest.approx(np.mean(y - fixed.predict(X) + fixed.intercept_))
    none = SingleLocationRegressor(
        max_iter=30,
        batch_size=16,
        random_state=0,
        fit_output_scale=False,
        fit_intercept=False,
    ).fit(X, y)
    assert (none.scale_, none.intercept_) == (1.0, 0.0)


def test_2d_and_3d_inputs_give_the_same_model_and_pickle():
    X, y = make_single_location(100, 4, 6, random_state=0)
    params = {"max_iter": 50, "batch_size": 8, "random_state": 3}
    threads = torch.get_num_threads()
    m3 = SingleLocationRegressor(**params).fit(X, y)
    assert torch.get_num_threads() == threads  # the one-thread fit restores it
    m2 = SingleLocationRegressor(n_tokens=4, **params).fit(X.reshape(100, -1), y)
    np.testing.assert_allclose(m2.key_, m3.key_)
    assert m2.n_features_in_ == m3.n_features_in_ == 24
    assert (m3.n_tokens_in_, m3.n_channels_in_) == (4, 6)
    again = pickle.loads(pickle.dumps(m3))
    np.testing.assert_array_equal(again.predict(X), m3.predict(X))
    other = SingleLocationRegressor(**{**params, "random_state": 4}).fit(X, y)
    assert not np.allclose(other.key_, m3.key_)


def test_bad_input_raises_clear_errors():
    X, y = make_single_location(20, 3, 4, random_state=0)
    model = SingleLocationRegressor(max_iter=5)
    with pytest.raises(ValueError, match="dimensions"):
        model.fit(X[..., None], y)
    with pytest.raises(ValueError, match="n_tokens=5"):
        SingleLocationRegressor(n_tokens=5, max_iter=5).fit(X.reshape(20, -1), y)
    with pytest.raises(ValueError, match="n_tokens=4"):
        SingleLocationRegressor(n_tokens=4, max_iter=5).fit(X, y)
    bad = X.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y)
    bad[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.fit(bad, y)
    with pytest.raises(ValueError, match="requires y"):
        model.fit(X, None)
    with pytest.raises(ValueError, match="0 sample"):
        model.fit(X[:0], y[:0])
    for lam in (0.0, -1.0):
        with pytest.raises(InvalidParameterError, match="temperature"):
            SingleLocationRegressor(temperature=lam).fit(X, y)
    fitted = SingleLocationRegressor(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="expecting 12 features"):
        fitted.predict(X[:, :2])
    with pytest.raises(ValueError, match="sequences of shape"):
        fitted.predict(X.reshape(20, 4, 3))


def test_divergence_is_reported():
    X, y = make_single_location(20, 3, 4, random_state=0)
    huge = X * 1e160  # T(X)^2 overflows to inf
    with pytest.raises(DivergenceError, match="diverged"):
        SingleLocationRegressor(max_iter=5).fit(huge, y)
    with pytest.warns(DivergenceWarning):
        model = SingleLocationRegressor(max_iter=5, on_divergence="warn").fit(huge, y)
    assert model.diverged_ and model.n_iter_ == 1
    with pytest.raises(ValueError, match="diverged"):
        model.predict(X)


def test_warm_start_continues_the_same_run():
    X, y = make_single_location(100, 4, 6, random_state=0)
    params = {"batch_size": 16, "temperature_decay": 0.05, "random_state": 3}
    once = SingleLocationRegressor(max_iter=50, **params).fit(X, y)
    warm = SingleLocationRegressor(max_iter=30, warm_start=True, **params).fit(X, y)
    # 100 = 6 batches of 16 + 4 skipped: the second fit starts mid-epoch.
    warm.set_params(max_iter=20).fit(X, y)
    assert warm.n_iter_ == once.n_iter_ == 50
    np.testing.assert_array_equal(warm.key_, once.key_)
    np.testing.assert_array_equal(warm.value_, once.value_)
    assert (warm.temperature_, warm.scale_) == (once.temperature_, once.scale_)
    assert [h["iter"] for h in warm.history_] == list(range(1, 51))


def test_sample_weight_is_repeated_rows_and_zero_weight_is_dropping():
    # Full batches, so that the minibatch loss is the weighted mean exactly.
    X, y = make_single_location(30, 3, 4, random_state=0)
    y = y + 2.0
    params = {"batch_size": 100, "max_iter": 25, "random_state": 0}
    w = np.ones(30)
    w[:5] = 3
    weighted = SingleLocationRegressor(**params).fit(X, y, sample_weight=w)
    Xr, yr = np.concatenate([X] + 2 * [X[:5]]), np.concatenate([y] + 2 * [y[:5]])
    repeated = SingleLocationRegressor(**params).fit(Xr, yr)
    np.testing.assert_allclose(weighted.key_, repeated.key_, rtol=1e-10, atol=1e-12)
    assert weighted.scale_ == pytest.approx(repeated.scale_, rel=1e-9)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=1e-9)
    w = np.ones(30)
    w[-7:] = 0
    zero = SingleLocationRegressor(**params).fit(X, y, sample_weight=w)
    dropped = SingleLocationRegressor(**params).fit(X[:-7], y[:-7])
    np.testing.assert_allclose(zero.key_, dropped.key_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(zero.predict(X), dropped.predict(X), rtol=1e-9)
    unweighted = SingleLocationRegressor(**params).fit(X, y)
    assert not np.allclose(unweighted.key_, zero.key_)


def test_numeric_string_target_is_refused_clearly():
    X, y = make_single_location(20, 3, 4, random_state=0)
    with pytest.raises(ValueError, match="needs a numeric y"):
        SingleLocationRegressor(max_iter=5).fit(X, y.astype(str))


def test_a_step_too_small_to_learn_is_warned():
    X, y = make_single_location(200, 4, 6, random_state=0)
    model = SingleLocationRegressor(
        learning_rate=1e-9, temperature_decay=0.0, max_iter=50, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="no better than .* trivial.*learning_rate"):
        model.fit(X, y)
    assert model.history_[-1]["loss"] > np.var(y)


def test_finite_blow_up_warn_variant_refuses_to_predict():
    X, y = make_single_location(20, 3, 4, random_state=0)
    with pytest.warns(DivergenceWarning, match="10000 times the reference loss"):
        model = SingleLocationRegressor(max_iter=5, on_divergence="warn").fit(X * 1e3, y)
    assert model.diverged_
    with pytest.raises(ValueError, match="diverged"):
        model.attention(X)


# ------------------------------------------------- defaults, swap check, init
@pytest.mark.parametrize("d, L, seed", [(20, 4, 0), (20, 4, 1), (40, 6, 2)])
def test_defaults_recover_the_location(d, L, seed):
    # The criterion at fast sizes: n = 60 d, default parameters.
    X, y, ks, vs, _ = make_single_location(60 * d, L, d, return_truth=True, random_state=seed)
    Xte, _, _, _, pte = make_single_location(
        2000, L, d, k_star=ks, v_star=vs, return_truth=True, random_state=seed + 100
    )
    model = SingleLocationRegressor(random_state=seed).fit(X, y)
    o = model.overlaps(ks, vs)
    assert abs(o["kappa"]) >= 0.95 and abs(o["nu"]) >= 0.95, o
    assert (model.locate(Xte) == pte).mean() >= 0.95
    assert model.learning_rate_ == pytest.approx(2.0 / (d + 2 * L))


def _swapped_start(d, L, seed):
    X, y, ks, vs, _ = make_single_location(60 * d, L, d, return_truth=True, random_state=seed)
    # The swapped point k = v*, v = k*, slightly off so that SGD has to move.
    rng = np.random.default_rng(seed)
    init = np.column_stack([vs, ks]) + 0.05 * rng.standard_normal((d, 2))
    return X, y, ks, vs, init


def test_swap_check_leaves_the_swapped_point_and_plain_sgd_stays():
    d, L = 20, 4
    X, y, ks, vs, init = _swapped_start(d, L, 0)
    params = {"init": init, "max_iter": 2000, "temperature_decay": 2e-2, "random_state": 0}
    plain = SingleLocationRegressor(**params, correct_swap=False).fit(X, y)
    o = plain.overlaps(ks, vs)
    # Without the check the schedule stays at the swapped point: the key reads v*.
    assert abs(o["eta"]) > 0.9 and abs(o["theta"]) > 0.9 and plain.n_swaps_ == 0
    fixed = SingleLocationRegressor(**params).fit(X, y)
    o = fixed.overlaps(ks, vs)
    assert abs(o["kappa"]) > 0.95 and abs(o["nu"]) > 0.95
    assert fixed.n_swaps_ % 2 == 1  # an odd number of exchanges
    # The check's criterion: at the initial temperature (output scale 1) the
    # swapped pair fits worse; the closed form says so too.
    kw = {"temperature": 2.0, "n_features": d, "n_tokens": L}
    assert population_risk(0, 0, 1, 1, 0, **kw) > 2 * population_risk(1, 1, 0, 0, 0, **kw)


def test_init_array_and_manifold_init():
    d = 12
    _, _, ks, vs, _ = make_single_location(1, 3, d, return_truth=True, random_state=0)
    kv = manifold_init(ks, vs, random_state=5)
    o = overlaps(kv[:, 0], kv[:, 1], ks, vs)
    assert o["distance_to_manifold"] < 1e-12 and abs(o["kappa"]) < 0.9
    np.testing.assert_allclose(np.linalg.norm(kv, axis=0), 1.0)
    X, y = make_single_location(64, 3, d, k_star=ks, v_star=vs, random_state=1)
    model = SingleLocationRegressor(init=3 * kv, max_iter=1, batch_size=64, random_state=0)
    # One step from the given point, normalised: the same as from kv itself.
    start = SingleLocationRegressor(init=kv, max_iter=1, batch_size=64, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one step is not convergence
        model.fit(X, y)
        np.testing.assert_allclose(start.fit(X, y).key_, model.key_)
    assert abs(model.key_ @ kv[:, 0]) > 0.9
    with pytest.raises(ValueError, match="shape"):
        SingleLocationRegressor(init=kv[:-1], max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="non-zero"):
        SingleLocationRegressor(init=np.zeros((d, 2)), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="orthogonal"):
        manifold_init(ks, ks)


# --------------------------------------------------------- population dynamics
def test_torch_risk_matches_the_closed_form_and_its_gradient():
    rng = np.random.default_rng(0)
    for _ in range(5):
        o = rng.uniform(-1, 1, 5)
        lam = rng.uniform(0.05, 2.0)
        kw = {"temperature": lam, "n_features": 80, "n_tokens": 10}
        ot = torch.tensor(o, requires_grad=True)
        r = _risk_torch(ot, lam, 80, 10, GAMMA)
        assert r.item() == pytest.approx(float(population_risk(*o, **kw)), rel=1e-12)
        (g,) = torch.autograd.grad(r, ot)
        # Central differences of the numpy closed form (independently coded).
        h = 1e-6
        for i in range(5):
            e = np.eye(5)[i] * h
            fd = (population_risk(*(o + e), **kw) - population_risk(*(o - e), **kw)) / (2 * h)
            assert g[i].item() == pytest.approx(float(fd), rel=1e-5, abs=1e-7)


def test_population_gradient_descent_aligns_and_reaches_the_ideal_risk():
    # From the sphere with a temperature schedule (the paper's run, shortened).
    run = population_gradient_descent(
        100, 5, temperature=1.0, temperature_decay=5e-3, learning_rate=0.03,
        max_iter=2000, record_every=200, random_state=0,
    )  # fmt: skip
    assert run.iter[0] == 0 and run.iter[-1] == 2000 and len(run.iter) == 11
    assert abs(run.kappa[-1]) > 0.99 and abs(run.nu[-1]) > 0.99
    assert run.distance_to_manifold[-1] < 0.01
    # At the end the excess risk is that of T(k*, v*) at the same temperature.
    assert run.excess_risk[-1] == pytest.approx(run.ideal_risk[-1], rel=0.01)
    assert run.excess_risk[-1] < 0.05 * run.excess_risk[0]
    np.testing.assert_allclose(run.temperature, 1.0 / (1 + 5e-3 * run.iter))
    # The records are the closed form at the recorded overlaps.
    kw = {"n_features": 100, "n_tokens": 5}
    i = 5
    args = (run.kappa[i], run.nu[i], run.theta[i], run.eta[i], run.rho[i])
    expected = population_risk(*args, temperature=run.temperature[i], **kw)
    assert run.excess_risk[i] == pytest.approx(float(expected), rel=1e-10)


def test_population_gradient_descent_from_the_manifold_stays_on_it():
    # The paper's second run: start on the manifold, fixed small temperature.
    d = 60
    _, _, ks, vs, _ = make_single_location(1, 5, d, return_truth=True, random_state=0)
    run = population_gradient_descent(
        d, 5, temperature=0.1, temperature_decay=0.0, learning_rate=0.05, max_iter=800,
        init=manifold_init(ks, vs, random_state=1), k_star=ks, v_star=vs, record_every=100,
    )  # fmt: skip
    assert run.distance_to_manifold.max() < 1e-10
    assert abs(run.kappa[-1]) > 0.99 and abs(run.nu[-1]) > 0.99
    with pytest.raises(ValueError, match="temperature"):
        population_gradient_descent(d, 5, temperature=0.0)
    with pytest.raises(ValueError, match="shape"):
        population_gradient_descent(d, 5, init=np.ones((d, 3)))

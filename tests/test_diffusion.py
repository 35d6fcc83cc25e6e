"""Tests of DiffusionOptimizer (Implicit Diffusion) and its hexagon data set."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktheory import DiffusionOptimizer
from sktheory.base import DivergenceError, DivergenceWarning
from sktheory.datasets import make_hexagon_mixture
from sktheory.diffusion import (
    HEXAGON_WEIGHTS,
    ClassifierLogProbReward,
    HexagonReward,
    LinearReward,
    hexagon_means,
)
from sktheory.diffusion import _potentials as pot


def _hexagon(**params):
    """The paper's Langevin set-up (reward only), at test size."""
    base = dict(
        reward="hexagon",
        kl_weight=0.0,
        means_init=hexagon_means(),
        weights_init=HEXAGON_WEIGHTS,
        n_particles=200,
        random_state=0,
    )
    return DiffusionOptimizer(**{**base, **params})


def _exact_reward(model, reward, n=100_000):
    """E_pi[R] of the fitted law, by exact sampling of the mixture."""
    Z, _ = model.sample(n)
    return float(reward(Z).mean())


def _flip_reward(X):
    """A module-level (hence picklable) reward: the second coordinate."""
    return X[:, 1]


def _nan_reward(X):
    return np.full(len(X), np.nan)


def _wrong_shape_reward(X):
    return np.ones((len(X), 2))


# ---------------------------------------------------------------- data set
def test_make_hexagon_mixture_law():
    X, y, centers = make_hexagon_mixture(20_000, return_centers=True, random_state=0)
    assert X.shape == (20_000, 2) and y.shape == (20_000,)
    np.testing.assert_allclose(centers, hexagon_means())
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 4.0)
    np.testing.assert_allclose(np.bincount(y) / len(y), HEXAGON_WEIGHTS, atol=0.01)
    # Unit-variance components around their centres.
    np.testing.assert_allclose((X - centers[y]).std(0), 1.0, atol=0.02)
    X2, _ = make_hexagon_mixture(5, random_state=0)
    np.testing.assert_array_equal(X2, make_hexagon_mixture(5, random_state=0)[0])


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_samples=0), dict(weights=[1.0, 0.0]), dict(weights=[0.5] * 6), dict(scale=0.0)],
)
def test_make_hexagon_mixture_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_hexagon_mixture(**{"n_samples": 10, **kwargs})


def test_hexagon_reward_constants():
    plain, smooth = HexagonReward(), HexagonReward(smooth=True)
    pts = np.array([[4.0, 3.8], [0.0, 0.0], [-0.1, 3.8], [2.0, 1.0]])
    bump = np.exp(-((pts[:, 0] - 4) ** 2 + (pts[:, 1] - 3.8) ** 2) / 20)
    np.testing.assert_allclose(plain(pts), (pts[:, 0] >= 0) * bump / 2.5)
    np.testing.assert_allclose(smooth(pts), bump / (1 + np.exp(-pts[:, 0] / 0.5)) / 0.7)
    assert pickle.loads(pickle.dumps(smooth)) == smooth


# --------------------------------------------------------- gradient formulas
def test_covariance_formula_matches_exact_gradient_of_linear_reward():
    # R(x) = a.x + b under the mixture: E[R] = sum_i w_i R(c_i), so
    # dE/dtheta_j = w_j (R(c_j) - E[R]) and dE/dc_j = w_j a.
    gen = torch.Generator().manual_seed(0)
    means = torch.tensor(hexagon_means(), dtype=torch.float64)
    w = torch.tensor(HEXAGON_WEIGHTS, dtype=torch.float64)
    a, b = np.array([0.7, -1.3]), 0.4
    x, _ = pot.sample_mixture(400_000, w, means, 1.0, gen, torch.float64)
    r = LinearReward(a, b)._torch(x)
    resp = pot.Kernel(x, means, 1.0).responsibilities(w)
    g_logits, g_means = pot.reward_gradient(x, r, resp, means, 1.0, learn_means=True)
    rc = hexagon_means() @ a + b
    exact_logits = HEXAGON_WEIGHTS * (rc - HEXAGON_WEIGHTS @ rc)
    exact_means = HEXAGON_WEIGHTS[:, None] * a[None, :]
    np.testing.assert_allclose(g_logits.numpy(), exact_logits, atol=0.01)
    np.testing.assert_allclose(g_means.numpy(), exact_means, atol=0.01)
    # The estimator is a covariance: the constant b plays no part.
    r_shift = LinearReward(a, b + 10.0)._torch(x)
    g2, _ = pot.reward_gradient(x, r_shift, resp, means, 1.0, learn_means=False)
    np.testing.assert_allclose(g2.numpy(), g_logits.numpy(), atol=1e-9)


def test_kl_gradient_matches_finite_differences_of_the_data_likelihood():
    # With exact model expectations (E_pi[r] = w), E_ref[grad V] - E_pi[grad V]
    # is the gradient of the data's average negative log-likelihood.
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(500, 2)) * 2.0 + 1.0)
    means = torch.tensor(hexagon_means() * 0.5)
    logits = torch.tensor(rng.normal(size=6))
    w = torch.softmax(logits, 0)

    def nll(lg, mu):
        return -pot.log_density(X, torch.softmax(lg, 0), mu, 1.5).mean().item()

    resp_ref = pot.Kernel(X, means, 1.5).responsibilities(w)
    # A "model cloud" whose responsibilities average exactly to w.
    resp_model = w[None, :].expand(3, 6)
    g_logits, _ = pot.kl_gradient(None, resp_model, X, resp_ref, means, 1.5, False)
    eps = 1e-6
    fd = [
        (nll(logits + eps * e, means) - nll(logits - eps * e, means)) / (2 * eps)
        for e in torch.eye(6, dtype=torch.float64)
    ]
    np.testing.assert_allclose(g_logits.numpy(), fd, atol=1e-7)
    # Means: the data part of the gradient is grad of the NLL (Z is constant).
    g_means_data = -(resp_ref.T @ X - resp_ref.sum(0)[:, None] * means) / (1.5 * len(X))
    fd_means = np.zeros((6, 2))
    for i in range(6):
        for j in range(2):
            e = torch.zeros(6, 2, dtype=torch.float64)
            e[i, j] = eps
            fd_means[i, j] = (nll(logits, means + e) - nll(logits, means - e)) / (2 * eps)
    np.testing.assert_allclose(g_means_data.numpy(), fd_means, atol=1e-7)


def test_langevin_leaves_the_mixture_invariant():
    # Started at the target law, unadjusted Langevin stays close to it
    # (its bias is O(step size)), and reaches it from N(0, I).
    X, _ = make_hexagon_mixture(100, random_state=0)
    model = _hexagon(reward=None, n_particles=4000, max_iter=300, learning_rate=1e-12).fit(X)
    counts = np.bincount(model.predict(model.particles_), minlength=6) / 4000
    np.testing.assert_allclose(counts, HEXAGON_WEIGHTS, atol=0.03)


# ------------------------------------------------------------ the paper's task
def test_implicit_raises_reward_and_beats_nested_at_equal_sampling_budget():
    X, _ = make_hexagon_mixture(200, random_state=0)
    reward = HexagonReward()
    start = _exact_reward(_hexagon(max_iter=1, learning_rate=1e-12).fit(X), reward)
    implicit = _hexagon(max_iter=800).fit(X)
    nested = _hexagon(method="nested", inner_steps=10, max_iter=80).fit(X)
    assert implicit.history_[-1]["sampling_steps"] == nested.history_[-1]["sampling_steps"]
    assert implicit.history_[-1]["sampling_steps"] == 800
    r_imp, r_nest = _exact_reward(implicit, reward), _exact_reward(nested, reward)
    assert r_imp > 2.0 * start
    assert r_imp > r_nest + 0.03
    # The mass leaves the vertices the reward ignores (x_0 < 0: 2, 3, 4).
    assert implicit.weights_[[0, 1, 5]].sum() > 0.8 > nested.weights_[[0, 1, 5]].sum()
    # The particles' running reward tracks the law's.
    tail = np.mean([h["reward"] for h in implicit.history_[-13:]])  # last ~100 updates
    assert abs(tail - r_imp) < 0.05


def test_kl_alone_pulls_weights_to_the_data_weights():
    target = np.array([0.05, 0.4, 0.05, 0.3, 0.1, 0.1])
    X, _ = make_hexagon_mixture(2000, weights=target, random_state=1)
    model = DiffusionOptimizer(
        reward=None,
        kl_weight=1.0,
        means_init=hexagon_means(),
        weights_init=HEXAGON_WEIGHTS,
        n_particles=500,
        learning_rate=0.2,
        max_iter=600,
        batch_size=2000,
        random_state=0,
    ).fit(X)
    # The particles' mode masses lag behind theta (mode hopping is slow), so the
    # weights oscillate around the data's: their running mean settles on them.
    running = np.mean([h["weights"] for h in model.history_[-33:]], 0)  # last ~200 updates
    np.testing.assert_allclose(running, target, atol=0.04)
    np.testing.assert_allclose(model.weights_, target, atol=0.12)
    # ... and the recorded KL (data NLL) went down.
    assert model.history_[-1]["kl"] < model.history_[0]["kl"] - 0.1


def test_kl_weight_trades_reward_for_likelihood():
    X, _ = make_hexagon_mixture(1000, random_state=0)
    reward = HexagonReward()
    free = _hexagon(max_iter=500).fit(X)
    tied = _hexagon(max_iter=500, kl_weight=0.3).fit(X)
    dist = np.abs(tied.weights_ - HEXAGON_WEIGHTS).sum()
    assert dist < np.abs(free.weights_ - HEXAGON_WEIGHTS).sum()
    assert tied.score(X) > free.score(X)
    assert _exact_reward(free, reward) > _exact_reward(tied, reward)


def test_learned_means_move_to_the_reward():
    X, _ = make_hexagon_mixture(200, random_state=0)
    model = DiffusionOptimizer(
        n_components=2,
        reward=LinearReward([1.0, 0.0]),
        kl_weight=0.0,
        means_init=[[0.0, 0.0], [0.0, 3.0]],
        weights_init=[0.5, 0.5],
        learn_means=True,
        n_particles=300,
        max_iter=200,
        random_state=0,
    ).fit(X)
    # dE[R]/dc_j = w_j e_0: both means drift right, y-coordinates stay put.
    assert np.all(model.means_[:, 0] > 2.0)
    np.testing.assert_allclose(model.means_[:, 1], [0.0, 3.0], atol=0.5)
    assert "means" in model.history_[-1]


# ------------------------------------------------------ GaussianMixture-like API
def test_density_predict_and_sample_match_the_mixture():
    X, _ = make_hexagon_mixture(300, random_state=0)
    model = _hexagon(max_iter=50).fit(X)
    w, mu = model.weights_, model.means_
    dens = [w[i] * multivariate_normal(mu[i], np.eye(2)).pdf(X) for i in range(6)]
    np.testing.assert_allclose(model.score_samples(X), np.log(np.sum(dens, 0)), rtol=1e-10)
    np.testing.assert_allclose(model.score(X), np.log(np.sum(dens, 0)).mean(), rtol=1e-10)
    log_dens = np.log(np.array(dens)).T
    np.testing.assert_allclose(
        model.predict_proba(X), np.exp(log_dens - logsumexp(log_dens, 1, keepdims=True))
    )
    np.testing.assert_array_equal(model.predict(X), log_dens.argmax(1))
    Z, labels = model.sample(50_000)
    np.testing.assert_allclose(np.bincount(labels, minlength=6) / 50_000, w, atol=0.01)
    np.testing.assert_allclose(Z.mean(0), w @ mu, atol=0.05)
    np.testing.assert_array_equal(Z, model.sample(50_000)[0])


def test_reproducible_and_picklable_with_a_custom_reward():
    X, _ = make_hexagon_mixture(100, random_state=0)
    a = _hexagon(reward=_flip_reward, max_iter=30).fit(X)
    b = _hexagon(reward=_flip_reward, max_iter=30).fit(X)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.score_samples(X), a.score_samples(X))
    # R = x_1 is best served by the two top vertices (1 and 2).
    assert a.weights_[1] + a.weights_[2] > HEXAGON_WEIGHTS[1] + HEXAGON_WEIGHTS[2] + 0.1
    assert _hexagon(reward=_flip_reward, max_iter=30, random_state=1).fit(X).weights_[
        0
    ] != pytest.approx(a.weights_[0], abs=1e-12)


def test_history_records_reward_kl_weights_and_steps():
    X, _ = make_hexagon_mixture(100, random_state=0)
    model = _hexagon(method="nested", inner_steps=5, max_iter=7).fit(X)
    assert model.n_iter_ == 7 and len(model.history_) == 7
    assert [h["sampling_steps"] for h in model.history_] == [5 * (k + 1) for k in range(7)]
    for h in model.history_:
        assert set(h) >= {"loss", "reward", "kl", "weights", "sampling_steps"}
        assert h["loss"] == pytest.approx(-h["reward"])
        assert sum(h["weights"]) == pytest.approx(1.0)
    assert model.particles_.shape == (200, 2)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "reward, match",
    [(_nan_reward, "non-finite"), (_wrong_shape_reward, r"shape \(50,\)")],
)
def test_bad_reward_output_is_refused(reward, match):
    X, _ = make_hexagon_mixture(50, random_state=0)
    with pytest.raises(ValueError, match=match):
        _hexagon(reward=reward, max_iter=3).fit(X)


def test_preset_reward_refuses_wrong_dimension():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="2-D points"):
        DiffusionOptimizer(n_components=2, reward="hexagon", max_iter=2).fit(X)


def test_non_finite_X_is_refused():
    X, _ = make_hexagon_mixture(50, random_state=0)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _hexagon(max_iter=2).fit(X)


def test_exploding_particles_raise_or_warn():
    X, _ = make_hexagon_mixture(50, random_state=0)
    with pytest.raises(DivergenceError, match="diverged"):
        _hexagon(step_size=5.0, max_iter=2000).fit(X)
    with pytest.warns(DivergenceWarning):
        model = _hexagon(step_size=5.0, max_iter=2000, on_divergence="warn").fit(X)
    assert model.diverged_ and model.n_iter_ < 2000
    with pytest.raises(ValueError, match="diverged"):
        model.score_samples(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(means_init=np.zeros((5, 2))), "means_init must have shape"),
        (dict(means_init=np.full((6, 2), np.nan)), "means_init contains NaN"),
        (dict(weights_init=np.full(6, 0.2)), "sum to 1"),
        (dict(weights_init=np.r_[1.0, np.zeros(5)]), "positive"),
        (dict(weights_init=np.ones(3) / 3), "weights_init must have shape"),
    ],
)
def test_bad_initialisation_is_refused(params, match):
    X, _ = make_hexagon_mixture(50, random_state=0)
    with pytest.raises(ValueError, match=match):
        _hexagon(max_iter=2, **params).fit(X)


def test_too_few_samples_for_kmeans():
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_components=6"):
        DiffusionOptimizer(max_iter=2).fit(np.zeros((3, 2)))


def test_absurd_parameters_are_refused():
    from sklearn.utils._param_validation import InvalidParameterError

    X, _ = make_hexagon_mixture(50, random_state=0)
    for params in [dict(step_size=-1.0), dict(reward="nope"), dict(method="loop")]:
        with pytest.raises(InvalidParameterError):
            DiffusionOptimizer(**params).fit(X)
    with pytest.raises(ValueError, match="positive integer"):
        _hexagon(max_iter=2).fit(X).sample(0)


# ---------------------------------------------------------------- denoising
def _toy_denoiser(**params):
    base = dict(
        sampler="denoising",
        reward="hexagon",
        kl_weight=1.0,
        n_diffusion_steps=10,
        n_particles=128,
        batch_size=128,
        hidden_size=32,
        pretrain_max_iter=250,
        random_state=0,
    )
    return DiffusionOptimizer(**{**base, **params})


def test_denoising_pretrains_then_fine_tunes_for_the_reward():
    X, _ = make_hexagon_mixture(300, weights=np.ones(6) / 6, random_state=0)
    reward = HexagonReward()
    pre = _toy_denoiser(max_iter=1).fit(X)
    # Pretraining learned the data: the loss fell and samples sit near vertices.
    losses = [h["loss"] for h in pre.pretrain_history_]
    assert len(losses) == 125 and pre.pretrain_history_[-1]["iter"] == 250
    assert np.mean(losses[-12:]) < 0.8 * np.mean(losses[:12])
    Z, labels = pre.sample(1000)
    assert Z.shape == (1000, 2) and not labels.any()
    near = np.linalg.norm(Z[:, None] - hexagon_means()[None], axis=2).min(1) < 2.0
    assert near.mean() > 0.4
    r_pre = float(reward(Z).mean())
    tuned = _toy_denoiser(max_iter=80).fit(X)
    r_tuned = float(reward(tuned.sample(1000)[0]).mean())
    assert r_tuned > r_pre + 0.05
    assert tuned.history_[-1]["sampling_steps"] == 80 * 10
    # The ELBO is a finite, deterministic lower bound on the log density.
    s = tuned.score_samples(X[:20])
    np.testing.assert_array_equal(s, tuned.score_samples(X[:20]))
    assert np.all(np.isfinite(s))
    assert not hasattr(tuned, "predict")
    # Fitted denoisers pickle and sample the same after a round trip.
    clone = pickle.loads(pickle.dumps(tuned))
    np.testing.assert_array_equal(clone.sample(5)[0], tuned.sample(5)[0])


def test_denoising_nested_also_raises_the_reward():
    X, _ = make_hexagon_mixture(300, weights=np.ones(6) / 6, random_state=0)
    model = _toy_denoiser(method="nested", max_iter=40, pretrain_max_iter=100).fit(X)
    rewards = [h["reward"] for h in model.history_]
    assert np.mean(rewards[-10:]) > np.mean(rewards[:5]) + 0.05


def test_example_smoke_run(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "plot_implicit_diffusion.py"
    spec = importlib.util.spec_from_file_location("plot_implicit_diffusion", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--smoke", "--output", str(tmp_path)])
    assert out.exists() and out.stat().st_size > 0


def _string_reward(X):
    return np.array(["a"] * len(X))


def test_reward_returning_non_numbers_is_refused():
    X, _ = make_hexagon_mixture(50, random_state=0)
    with pytest.raises(ValueError, match="must return numbers"):
        _hexagon(reward=_string_reward, max_iter=2).fit(X)


def test_learning_rate_schedule_and_particles_from_data():
    X, _ = make_hexagon_mixture(500, random_state=0)
    const = _hexagon(max_iter=200).fit(X)
    decay = _hexagon(max_iter=200, learning_rate_schedule="invsqrt").fit(X)
    moved = np.abs(const.weights_ - HEXAGON_WEIGHTS).sum()
    assert np.abs(decay.weights_ - HEXAGON_WEIGHTS).sum() < moved
    # Particles started on the data and barely moved keep the data's law.
    frozen = _hexagon(init_particles="data", max_iter=1, learning_rate=1e-12, n_particles=2000).fit(
        X
    )
    np.testing.assert_allclose(frozen.particles_.mean(0), X.mean(0), atol=0.3)
    np.testing.assert_allclose(frozen.particles_.std(0), X.std(0), rtol=0.1)


def test_denoising_without_reward_keeps_fitting_the_data():
    X, _ = make_hexagon_mixture(200, random_state=0)
    model = _toy_denoiser(reward=None, max_iter=5, pretrain_max_iter=20).fit(X)
    assert [h["iter"] for h in model.pretrain_history_] == list(range(1, 21))
    for h in model.history_:
        assert np.isnan(h["reward"]) and h["loss"] == pytest.approx(h["kl"])
    assert model.particles_.shape == (128, 2)


@parametrize_with_checks(
    [
        DiffusionOptimizer(
            sampler="denoising",
            reward="first_coordinate",
            n_particles=16,
            batch_size=32,
            hidden_size=8,
            n_diffusion_steps=4,
            pretrain_max_iter=5,
            max_iter=3,
        )
    ]
)
def test_denoising_sampler_passes_sklearn_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------- training contract
@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(method="nested", inner_steps=3, learn_means=True, kl_weight=0.5, batch_size=40),
    ],
)
def test_langevin_warm_start_continues_the_same_run(params):
    X, _ = make_hexagon_mixture(100, random_state=0)
    one = _hexagon(max_iter=70, **params).fit(X)
    warm = _hexagon(max_iter=30, warm_start=True, **params).fit(X)
    warm.set_params(max_iter=40).fit(X)
    assert warm.n_iter_ == one.n_iter_ == 70
    np.testing.assert_array_equal(warm.weights_, one.weights_)
    np.testing.assert_array_equal(warm.means_, one.means_)
    np.testing.assert_array_equal(warm.particles_, one.particles_)
    assert warm.history_[-1]["sampling_steps"] == one.history_[-1]["sampling_steps"]


def test_denoising_warm_start_continues_without_pretraining_again():
    X, _ = make_hexagon_mixture(60, random_state=0)
    params = dict(n_diffusion_steps=4, n_particles=16, batch_size=32, hidden_size=8)
    one = _toy_denoiser(max_iter=6, pretrain_max_iter=10, **params).fit(X)
    warm = _toy_denoiser(max_iter=2, pretrain_max_iter=10, warm_start=True, **params).fit(X)
    warm.set_params(max_iter=4).fit(X)
    assert warm.n_iter_ == 6 and len(warm.pretrain_history_) == 10
    for p, q in zip(warm.module_.parameters(), one.module_.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    np.testing.assert_allclose(warm.particles_, one.particles_, rtol=0, atol=1e-12)


def test_sample_weight_acts_as_repeated_or_dropped_rows():
    # Full-batch data term and the k-means start: integer weights are repeats,
    # zero weights are dropped rows.
    X, _ = make_hexagon_mixture(40, random_state=0)
    sw = np.random.default_rng(0).integers(0, 4, size=40)
    params = dict(n_particles=50, max_iter=20, kl_weight=1.0, reward="first_coordinate")
    weighted = DiffusionOptimizer(random_state=0, **params).fit(X, sample_weight=sw)
    repeated = DiffusionOptimizer(random_state=0, **params).fit(np.repeat(X, sw, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, atol=1e-12)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, atol=1e-12)
    ones = DiffusionOptimizer(random_state=0, **params).fit(X, sample_weight=np.ones(40))
    plain = DiffusionOptimizer(random_state=0, **params).fit(X)
    np.testing.assert_array_equal(ones.weights_, plain.weights_)
    # The denoising sampler standardises X with the same weights.
    den = _toy_denoiser(max_iter=1, pretrain_max_iter=1, n_particles=8, hidden_size=4)
    a = den.fit(X, sample_weight=sw)
    center, scale = a.center_, a.scale_
    b = den.fit(np.repeat(X, sw, axis=0))
    np.testing.assert_allclose(center, b.center_, atol=1e-12)
    assert scale == pytest.approx(b.scale_, abs=1e-12)


def test_zero_weight_rows_never_seed_the_particles():
    X = np.r_[np.full((30, 2), -100.0), np.full((30, 2), 100.0)]
    sw = np.r_[np.zeros(30), np.ones(30)]
    model = DiffusionOptimizer(
        n_components=1,
        means_init=[[0.0, 0.0]],
        variance=1e6,
        init_particles="data",
        step_size=1e-8,
        n_particles=100,
        batch_size=8,
        max_iter=2,
        random_state=0,
    ).fit(X, sample_weight=sw)
    assert np.all(model.particles_ > 99)


def test_bad_sample_weight_is_refused():
    X, _ = make_hexagon_mixture(30, random_state=0)
    with pytest.raises(ValueError, match="non-zero"):
        _hexagon(max_iter=2).fit(X, sample_weight=np.zeros(30))
    with pytest.raises(ValueError, match="Negative values"):
        _hexagon(max_iter=2).fit(X, sample_weight=-np.ones(30))


def _diverging_denoiser(**params):
    return _toy_denoiser(
        learning_rate=1e3,
        n_diffusion_steps=4,
        n_particles=32,
        batch_size=32,
        hidden_size=16,
        pretrain_max_iter=20,
        max_iter=40,
        **params,
    )


def test_denoising_with_a_huge_step_raises_divergence():
    X, _ = make_hexagon_mixture(100, random_state=0)
    with pytest.raises(DivergenceError, match="more than 10000 times the reference"):
        _diverging_denoiser().fit(X)
    with pytest.warns(DivergenceWarning, match="learning_rate"):
        model = _diverging_denoiser(on_divergence="warn").fit(X)
    assert model.diverged_ and model.n_iter_ < 40
    assert abs(model.history_[-1]["loss"]) > 1e4
    for method in (model.sample, lambda: model.score_samples(X)):
        with pytest.raises(ValueError, match="diverged"):
            method()


def test_objective_near_zero_at_initialisation_is_no_divergence():
    # R(x) = x_0 on data centred at 0: the loss starts near 0 and ends near -3,
    # far beyond 1e4 times its initial value but not beyond the reward's scale.
    X = np.random.default_rng(0).normal(size=(200, 2))
    X[:, 0] -= X[:, 0].mean()
    model = DiffusionOptimizer(
        n_components=2,
        reward="first_coordinate",
        kl_weight=0.0,
        means_init=[[-3.0, 0.0], [3.0, 0.0]],
        weights_init=[0.5, 0.5],
        n_particles=200,
        learning_rate=1.0,
        max_iter=100,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X)
    assert abs(model.history_[0]["loss"]) < 1.0
    assert model.history_[-1]["loss"] < -2.0 and model.weights_[1] > 0.9


def test_no_progress_warns_convergence():
    X, _ = make_hexagon_mixture(100, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        _hexagon(reward=None, kl_weight=1.0, learning_rate=1e-12, max_iter=20).fit(X)


def test_tol_stops_a_fit_that_stopped_improving():
    X, _ = make_hexagon_mixture(100, random_state=0)
    model = _hexagon(reward=None, kl_weight=1.0, learning_rate=1e-12, max_iter=400, tol=1e-3)
    with pytest.warns(ConvergenceWarning):
        model.fit(X)
    assert model.n_iter_ < 400


@pytest.mark.slow
def test_demo_row():
    from sktheory._demo import demos

    row = demos()["DiffusionOptimizer"](random_state=0)
    assert row["score"] > row["baseline_score"]


def test_warm_start_refuses_a_change_of_sampler():
    X, _ = make_hexagon_mixture(50, random_state=0)
    model = _hexagon(max_iter=2, warm_start=True).fit(X)
    with pytest.raises(ValueError, match="another sampler"):
        model.set_params(sampler="denoising").fit(X)


# ------------------------------------------------- torch potentials (issue 18)
def _quadratic(x, params):
    """V(x, mu) = |x - mu|^2 / 2: its Gibbs law is N(mu, I)."""
    return 0.5 * ((x - params["mu"]) ** 2).sum(1)


def test_custom_potential_moves_to_its_closed_form_optimum():
    # J(mu) = a.mu - lam KL(N(m0, I) || N(mu, I)) is maximised at m0 + a / lam; the
    # Langevin chain with step g has stationary covariance I / (1 - g / 2), which
    # scales the reward's covariance gradient by the same factor.
    rng = np.random.default_rng(0)
    m0, a, lam, g = np.array([1.0, -2.0]), np.array([1.0, 0.5]), 2.0, 0.1
    X = rng.normal(size=(2000, 2)) + m0
    model = DiffusionOptimizer(
        potential=_quadratic,
        potential_params={"mu": np.zeros(2)},
        reward=LinearReward(a.tolist()),
        kl_weight=lam,
        n_particles=500,
        step_size=g,
        learning_rate=0.02,
        max_iter=800,
        random_state=0,
    ).fit(X)
    mu = model.module_.params["mu"].detach().numpy()
    np.testing.assert_allclose(mu, m0 + a / lam / (1 - g / 2), atol=0.06)
    # score_samples is -V (unnormalised) and sample runs Langevin on V.
    np.testing.assert_allclose(
        model.score_samples(X[:3]), -0.5 * ((X[:3] - mu) ** 2).sum(1), rtol=1e-10
    )
    Z, _ = model.sample(2000)
    np.testing.assert_allclose(Z.mean(0), mu, atol=0.1)
    assert not hasattr(model, "predict")


class _QuadraticModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * ((x - self.mu) ** 2).sum(1)


def test_module_potential_is_copied_and_kl_alone_fits_the_data_mean():
    X = np.random.default_rng(1).normal(size=(500, 2)) + [3.0, -1.0]
    user = _QuadraticModule()
    model = DiffusionOptimizer(
        potential=user,
        reward=None,
        n_particles=200,
        learning_rate=0.05,
        max_iter=300,
        random_state=0,
    ).fit(X)
    assert float(user.mu.abs().sum()) == 0.0  # the user's module is untouched
    np.testing.assert_allclose(model.module_.mu.detach().numpy(), X.mean(0), atol=0.15)


def _bad_potential(x, params):
    return x.sum()


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(potential=_quadratic), "potential_params"),
        (
            dict(potential=_quadratic, potential_params={"mu": np.zeros(2)}, variance=2.0),
            "built-in mixture",
        ),
        (dict(potential_params={"mu": np.zeros(2)}), "needs a potential"),
        (dict(covariance_type="diag", variance=2.0), "learns its variances"),
        (dict(hidden_size=8), "do.* not apply to sampler='langevin'"),
        (dict(sampler="denoising", means_init=np.zeros((6, 2))), "not apply"),
        (dict(sampler="denoising", step_size=0.1, inner_steps=3), "step_size, inner_steps"),
        (
            dict(sampler="denoising", reward_gradient="pathwise", reward=_flip_reward),
            "differentiates the reward",
        ),
        (dict(potential=_bad_potential, potential_params={"mu": np.zeros(2)}), "energies"),
    ],
)
def test_parameters_that_do_not_apply_are_refused(params, match):
    X, _ = make_hexagon_mixture(50, random_state=0)
    model = DiffusionOptimizer(max_iter=2, n_particles=10, **params)
    with pytest.raises(ValueError, match=match):
        model.fit(X)


def test_learned_diagonal_variances_match_gaussian_mixture_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.mixture import GaussianMixture

    # Dequantised digits (uniform noise on the integer pixels): without it the
    # always-zero pixels make every diagonal likelihood unbounded.
    X = load_digits().data
    X = X + np.random.default_rng(0).uniform(size=X.shape)
    gm = GaussianMixture(5, covariance_type="diag", random_state=0).fit(X)
    fixed = DiffusionOptimizer(5, reward=None, n_particles=20, max_iter=5, random_state=0).fit(X)
    diag = DiffusionOptimizer(
        5,
        covariance_type="diag",
        learn_means=True,
        reward=None,
        n_particles=20,
        step_size=0.01,
        max_iter=100,
        batch_size=2000,
        random_state=0,
    ).fit(X)
    ours, theirs = diag.score(X), gm.score(X)
    assert abs(ours - theirs) < 0.05 * abs(theirs)
    assert fixed.score(X) < theirs - 100  # a fixed unit variance cannot get close
    assert diag.covariances_.shape == (5, 64) and diag.weights_.sum() == pytest.approx(1)
    # The normalised potential's density, posteriors and exact samples agree.
    log_joint = (
        np.log(diag.weights_)[None]
        - 0.5 * (((X[:5, None] - diag.means_[None]) ** 2) / diag.covariances_[None]).sum(2)
        - 0.5 * np.log(2 * np.pi * diag.covariances_).sum(1)[None]
    )
    np.testing.assert_allclose(diag.score_samples(X[:5]), logsumexp(log_joint, 1), rtol=1e-8)
    np.testing.assert_allclose(
        diag.predict_proba(X[:5]),
        np.exp(log_joint - logsumexp(log_joint, 1)[:, None]),
        atol=1e-8,
    )
    Z, labels = diag.sample(20_000)
    np.testing.assert_allclose(np.bincount(labels, minlength=5) / 20_000, diag.weights_, atol=0.01)


# ------------------------------------------------- user score model (issue 18)
class _TinyEps(torch.nn.Module):
    """A user's noise predictor eps(x, t): x (n, d), t (n,) in (0, 1]."""

    def __init__(self, d=2, hidden=32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(d + 1, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, d)
        )

    def forward(self, x, t):
        return self.net(torch.cat([x, t[:, None]], 1))


class _WrongEps(_TinyEps):
    def forward(self, x, t):
        return super().forward(x, t)[:, :1]


@pytest.fixture(scope="module")
def pretrained_denoiser():
    X, _ = make_hexagon_mixture(300, weights=np.ones(6) / 6, random_state=0)
    pre = _toy_denoiser(reward=None, max_iter=1, pretrain_max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pre.fit(X)
    return X, pre


def test_user_score_model_is_trained_or_taken_as_pretrained(pretrained_denoiser):
    X, pre = pretrained_denoiser
    user = _TinyEps()
    before = [p.detach().clone() for p in user.parameters()]
    model = _toy_denoiser(score_model=user, pretrain_max_iter=150, max_iter=2).fit(X)
    assert isinstance(model.module_, _TinyEps)
    assert all(torch.equal(a, b) for a, b in zip(before, user.parameters(), strict=True))
    losses = [h["loss"] for h in model.pretrain_history_]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    # A pretrained network (a previous fit's module_), fine-tuned with a tiny step,
    # keeps the pretrained ELBO.
    kept = _toy_denoiser(
        score_model=pre.module_, pretrain_max_iter=0, max_iter=1, learning_rate=1e-12
    ).fit(X)
    np.testing.assert_allclose(kept.score_samples(X[:50]), pre.score_samples(X[:50]), rtol=1e-6)
    with pytest.raises(ValueError, match="shaped like x"):
        _toy_denoiser(score_model=_WrongEps(), max_iter=1).fit(X)


def test_higher_kl_weight_keeps_the_elbo_closer_to_the_pretrained_one(pretrained_denoiser):
    X, pre = pretrained_denoiser
    elbo0 = pre.score_samples(X)
    gaps, rewards = {}, {}
    for kl in (0.0, 30.0):
        model = _toy_denoiser(
            score_model=pre.module_,
            pretrain_max_iter=0,
            method="nested",
            max_iter=40,
            kl_weight=kl,
            reward="hexagon_smooth",
            learning_rate=1e-3,
        ).fit(X)
        gaps[kl] = np.abs(model.score_samples(X) - elbo0).mean()
        rewards[kl] = float(HexagonReward(smooth=True)(model.sample(1000)[0]).mean())
    assert gaps[30.0] < 0.5 * gaps[0.0]
    assert rewards[0.0] > rewards[30.0]


@pytest.mark.parametrize("gradient", ["likelihood_ratio", "pathwise"])
def test_denoising_implicit_vs_nested_at_equal_sampling_steps(pretrained_denoiser, gradient):
    X, pre = pretrained_denoiser
    reward = HexagonReward(smooth=True)
    r_pre = float(reward(pre.sample(1000)[0]).mean())
    out = {}
    for method in ("implicit", "nested"):
        model = _toy_denoiser(
            score_model=pre.module_,
            pretrain_max_iter=0,
            method=method,
            max_iter=40,
            kl_weight=0.0,
            reward="hexagon_smooth",
            reward_gradient=gradient,
        ).fit(X)
        assert model.history_[-1]["sampling_steps"] == 40 * 10
        out[method] = float(reward(model.sample(1000)[0]).mean())
    # Both raise the reward; at equal sampling steps the implicit queue's
    # gradients are up to T updates stale and it does not beat the nested loop.
    assert out["implicit"] > r_pre + 0.03 and out["nested"] > r_pre + 0.2
    assert out["nested"] > out["implicit"]


# ---------------------------------------------------------- classifier reward
@pytest.fixture(scope="module")
def digits_classifier():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X, y, LogisticRegression(max_iter=2000).fit(X, y)


def test_classifier_log_prob_reward_matches_predict_log_proba(digits_classifier):
    from sklearn.linear_model import LogisticRegression

    X, y, clf = digits_classifier
    for target in (0, 3, 9):
        reward = ClassifierLogProbReward(clf, target)
        np.testing.assert_allclose(reward(X), clf.predict_log_proba(X)[:, target], atol=1e-8)
    # Binary: the second class is sigmoid(z), the first sigmoid(-z); string labels.
    labels = np.where(y == 3, "three", "other")
    binary = LogisticRegression(max_iter=2000).fit(X, labels)
    for target in ("other", "three"):
        col = list(binary.classes_).index(target)
        np.testing.assert_allclose(
            ClassifierLogProbReward(binary, target)(X),
            binary.predict_log_proba(X)[:, col],
            atol=1e-8,
        )
    # Its torch gradient is the softmax one: W[target] - sum_k p_k W_k.
    reward = ClassifierLogProbReward(clf, 3)
    x = torch.tensor(X[:5], requires_grad=True)
    reward._torch(x).sum().backward()
    expected = clf.coef_[3] - clf.predict_proba(X[:5]) @ clf.coef_
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-8)
    clone = pickle.loads(pickle.dumps(reward))
    np.testing.assert_array_equal(clone(X[:7]), reward(X[:7]))
    assert "LogisticRegression" in repr(reward) and "target=3" in repr(reward)


def test_classifier_log_prob_reward_refuses_what_it_cannot_represent(digits_classifier):
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    X, y, clf = digits_classifier
    with pytest.raises(ValueError, match="not one of the classifier's classes"):
        ClassifierLogProbReward(clf, 10)
    with pytest.raises(ValueError, match="is it fitted"):
        ClassifierLogProbReward(LogisticRegression(), 0)
    # One-vs-rest probabilities are not a softmax of the linear map.
    ovr = SGDClassifier(loss="log_loss", max_iter=50, tol=None, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="one-vs-rest"):
        ClassifierLogProbReward(ovr, 3)
    with pytest.raises(ValueError, match="64 features"):
        ClassifierLogProbReward(clf, 3)(X[:, :10])


class _GatedEps(torch.nn.Module):
    """``g(t) x + mlp(x, t)``: the example's digits network, smaller."""

    def __init__(self, d, hidden=64):
        super().__init__()
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(d + 2, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, d)
        )
        self.gate = torch.nn.Linear(2, 1)

    def forward(self, x, t):
        emb = torch.stack([torch.sin(torch.pi * t), torch.cos(torch.pi * t)], 1)
        return torch.sigmoid(self.gate(emb)) * x + self.mlp(torch.cat([x, emb], 1))


# A fit held by a large kl_weight may end above its loss scale (a warning).
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_digits_fine_tuning_raises_the_class_log_prob_and_kl_weight_holds_the_model(
    digits_classifier,
):
    # The example's experiment at test size: pretrain on the digits, then
    # fine-tune by backpropagation through the sampler at two KL weights.
    X, y, clf = digits_classifier
    reward = ClassifierLogProbReward(clf, 3)
    base = dict(
        sampler="denoising",
        n_diffusion_steps=10,
        n_particles=64,
        batch_size=128,
        dtype="float32",
        random_state=0,
    )
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pre = DiffusionOptimizer(
            **base,
            reward=None,
            score_model=_GatedEps(64),
            pretrain_max_iter=1000,
            max_iter=1,
            learning_rate=1e-12,
        ).fit(X)
    elbo0 = pre.score_samples(X[:300])
    r_pre = float(reward(pre.sample(500)[0]).mean())
    out = {}
    for kl in (0.0, 100.0):
        model = DiffusionOptimizer(
            **base,
            reward=reward,
            kl_weight=kl,
            score_model=pre.module_,
            pretrain_max_iter=0,
            method="nested",
            reward_gradient="pathwise",
            max_iter=40,
        ).fit(X)
        Z = model.sample(500)[0]
        out[kl] = (
            float(reward(Z).mean()),
            float(np.abs(model.score_samples(X[:300]) - elbo0).mean()),
        )
    assert out[0.0][0] > r_pre + 2.0
    assert out[0.0][0] > out[100.0][0]
    assert out[100.0][1] < 0.5 * out[0.0][1]

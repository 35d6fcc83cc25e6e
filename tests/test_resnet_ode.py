"""Tests of the ResNet / neural-ODE estimators against the papers' math."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.utils._param_validation import InvalidParameterError

from sktheory import (
    DivergenceError,
    DivergenceWarning,
    ResNetODEClassifier,
    ResNetODERegressor,
)
from sktheory.datasets import make_resnet_ode_random_targets, make_resnet_ode_teacher
from sktheory.resnet_ode import depth_process, generalization_bound, regime_map

# Most fits below train tiny networks for a few epochs on random targets, where
# the no-progress ConvergenceWarning is expected; the tests that are about it
# catch it with pytest.warns, which sees warnings whatever the filters.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.RandomState(0)
    X = rng.randn(32, 8)
    y = rng.randn(32)
    return X, y


def _init_ratio(X, y, depth, init, beta, seeds=(0, 1)):
    """Mean ||h_L - h_0|| / ||h_0|| and gradient ratio at initialisation."""
    ratios = [
        ResNetODERegressor(
            depth=depth,
            width=16,
            hidden_width=16,
            init=init,
            scaling_exponent=beta,
            max_epochs=0,
            random_state=s,
        )
        .fit(X, y)
        .init_ratios_
        for s in seeds
    ]
    return (
        np.mean([r["output_ratio"] for r in ratios]),
        np.mean([r["gradient_ratio"] for r in ratios]),
    )


# ------------------------------------------------------------ scaling regimes
def test_iid_scaling_regimes_at_init(small_data):
    X, y = small_data
    small, large = 16, 128
    # beta = 1/4 < 1/2: explodes with depth (hidden states and gradients).
    out16, grad16 = _init_ratio(X, y, small, "iid", 0.25)
    out128, grad128 = _init_ratio(X, y, large, "iid", 0.25)
    assert out128 > 3 * out16 and out128 > 6
    assert grad128 > 3 * grad16
    # beta = 1/2: the non-trivial regime, of order one at every depth.
    out16, grad16 = _init_ratio(X, y, small, "iid", 0.5)
    out128, grad128 = _init_ratio(X, y, large, "iid", 0.5)
    assert 0.3 < out16 < 3 and 0.3 < out128 < 3
    assert 0.6 < out128 / out16 < 1.6
    assert 0.3 < grad128 < 3
    # beta = 1 > 1/2: collapses to the identity like L^(1/2 - beta) = L^-1/2.
    out16, grad16 = _init_ratio(X, y, small, "iid", 1.0)
    out128, grad128 = _init_ratio(X, y, large, "iid", 1.0)
    assert out128 < 0.1 and grad128 < 0.1
    assert 0.2 < out128 / out16 < 0.5  # 8^-1/2 = 0.35


def test_smooth_init_beta_one_is_non_trivial(small_data):
    X, y = small_data
    out16, grad16 = _init_ratio(X, y, 16, "smooth", 1.0)
    out128, grad128 = _init_ratio(X, y, 128, "smooth", 1.0)
    # A neural ODE: the ratio neither vanishes nor explodes with depth.
    assert 0.1 < out128 < 3 and 0.1 < grad128 < 3
    assert 0.6 < out128 / out16 < 1.6


def test_zero_v_start_is_the_identity(small_data):
    X, y = small_data
    est = ResNetODERegressor(depth=10, width=6, init="zero_v", max_epochs=0, random_state=0)
    est.fit(X, y)
    assert est.init_ratios_ == {"output_ratio": 0.0, "gradient_ratio": 0.0}
    states = est.hidden_states(X)
    np.testing.assert_array_equal(states[:, 0], states[:, -1])
    reg = est.weight_regularity()
    assert reg["V"]["max_diff"] == 0.0 and reg["W"]["max_diff"] == 0.0
    assert reg["V"]["max_norm"] == 0.0 and reg["W"]["max_norm"] > 0


# ------------------------------------------------------- weight processes
@pytest.mark.parametrize("hurst", [0.25, 0.8])
def test_fbm_init_is_fractional_gaussian_noise_along_depth(hurst):
    # The scaling paper's weights: unit-variance increments of fBm, whose
    # autocovariance across layers is 1/2 (|k+1|^2H - 2|k|^2H + |k-1|^2H).
    g = torch.Generator().manual_seed(0)
    L, n = 64, 4000
    z = depth_process("fbm", L, (40, 100), hurst=hurst, generator=g).reshape(L, n).numpy()
    lags = np.arange(6)
    expected = 0.5 * (
        np.abs(lags + 1) ** (2 * hurst) - 2 * lags ** (2 * hurst) + np.abs(lags - 1) ** (2 * hurst)
    )
    # Empirical autocorrelation across layers, pooled over the entries (each an
    # independent copy; the mean is known to be 0). Per-entry ratios would be
    # biased down at H = 0.8, where 64 layers see few independent values.
    acf = [np.mean(z[k:] * z[: L - k]) / np.mean(z**2) for k in lags]
    np.testing.assert_allclose(acf, expected, atol=0.03)
    assert abs(acf[1] - 0.5 * (2 ** (2 * hurst) - 2)) < 0.03
    # Unit variance at every layer (fBm path values would grow like (k/L)^H).
    assert np.all(np.abs(z.var(axis=1)[[0, L // 2, L - 1]] - 1) < 0.08)


def test_fbm_with_hurst_one_half_is_the_iid_law(small_data):
    X, y = small_data
    kwargs = dict(depth=12, width=6, max_epochs=0, random_state=0)
    half = ResNetODERegressor(init="fbm", hurst=0.5, **kwargs).fit(X, y)
    iid = ResNetODERegressor(init="iid", **kwargs).fit(X, y)
    np.testing.assert_array_equal(half.module_.V.detach(), iid.module_.V.detach())
    # Close to 1/2 the sampler gives the same law (covariance close to identity).
    g = torch.Generator().manual_seed(1)
    z = depth_process("fbm", 32, (4000,), hurst=0.5 + 1e-9, generator=g).numpy()
    np.testing.assert_allclose(np.cov(z), np.eye(32), atol=0.1)


def test_regime_map_moves_the_critical_scaling_with_hurst():
    rm = regime_map([0.25, 0.5, 0.8, 1.0], [0.5, 0.8], depths=(16, 64, 256), random_state=0)
    assert rm.output_ratio.shape == (4, 2, 3) and rm.regime.shape == (4, 2)
    # i.i.d. layers (H = 1/2): only beta = 1/2 is non-trivial; beta = 1
    # collapses like L^(1/2 - beta) = L^-1/2.
    assert rm.regime[:, 0].tolist() == ["explodes", "non-trivial", "identity", "identity"]
    assert abs(rm.slope[3, 0] + 0.5) < 0.1
    assert np.all((0.3 < rm.output_ratio[1, 0]) & (rm.output_ratio[1, 0] < 3))
    # Correlated layers (H = 0.8): beta = 1/2 now explodes, beta = H is non-trivial.
    assert rm.regime[1, 1] == "explodes" and rm.regime[2, 1] == "non-trivial"
    with pytest.raises(ValueError, match="hursts"):
        regime_map([0.5], [1.0])
    with pytest.raises(ValueError, match="two positive depths"):
        regime_map([0.5], [0.5], depths=(16,))


def test_depth_process_covariances():
    g = torch.Generator().manual_seed(0)
    L, n = 64, 4000
    smooth = depth_process("smooth", L, (n,), bandwidth=0.1, generator=g)
    assert abs(float(smooth.std(dim=1).mean()) - 1) < 0.05
    corr = float((smooth[1:] * smooth[:-1]).mean())
    assert abs(corr - np.exp(-1 / (2 * (L * 0.1) ** 2))) < 0.03
    tied = depth_process("tied", L, (3, 2), generator=g)
    assert torch.equal(tied[0], tied[-1])
    iid = depth_process("iid", L, (n,), generator=g)
    assert abs(float((iid[1:] * iid[:-1]).mean())) < 0.02


# ------------------------------------------------- training and regularity
def _iclr_estimator(depth, **params):
    """The ICLR 2024 reference's synthetic setting: no embedding or readout,
    x_{k+1} = x_k + V_k GELU(W_k x_k) / L, V = 0, W_k = one N(0, 1) matrix,
    full-batch gradient descent for 50 steps at lr 0.01 L on V and W."""
    return ResNetODERegressor(
        depth=depth,
        hidden_width=32,
        activation="gelu",
        init="zero_v",
        embedding="identity",
        fan_in_scaling=False,
        optimizer="sgd",
        learning_rate=0.01,
        scale_lr_with_depth=True,
        max_epochs=50,
        random_state=0,
    ).set_params(**params)


def test_iclr_setting_is_invariant_in_depth():
    # n = 100, 16 features, 16 Gaussian targets, width 16, hidden 32.
    X, Y = make_resnet_ode_random_targets(100, 16, 16, random_state=0)
    fits = {L: _iclr_estimator(L).fit(X, Y) for L in (16, 128)}
    losses = {L: f.history_[-1]["loss"] for L, f in fits.items()}
    lip = {L: f.weight_regularity()["V"]["max_diff_times_depth"] for L, f in fits.items()}
    # The loss is the same at every depth (within 5%) and really decreased.
    assert max(losses.values()) < 1.05 * min(losses.values())
    assert all(f.history_[-1]["loss"] < 0.8 * f.history_[0]["loss"] for f in fits.values())
    # L max_k ||V_{k+1} - V_k|| is bounded in L: the weights are a Lipschitz
    # function of k / L (a neural ODE), not jumps of order one.
    assert max(lip.values()) < 1.5 * min(lip.values())
    # The residual branch is not inert: V moved to the same size at both depths.
    norms = [f.weight_regularity()["V"]["max_norm"] for f in fits.values()]
    assert min(norms) > 0.1 and max(norms) < 1.2 * min(norms)
    # The same regularity is recorded after every epoch.
    deep = fits[128]
    assert deep.history_[-1]["max_diff_V_times_depth"] == pytest.approx(lip[128])
    # From V = 0 and tied W every layer sees the same state and the same
    # backward signal, so the first step moves all V_k alike; later ones do not.
    assert deep.history_[0]["max_diff_V"] == 0.0 and deep.history_[1]["max_diff_V"] > 0
    assert "max_diff_W_times_depth" in deep.history_[0]
    # The prediction is the state h_L, in the targets' units.
    np.testing.assert_allclose(deep.predict(X), deep.hidden_states(X)[:, -1])
    assert deep.module_.A is None and deep.module_.B is None


def test_iclr_setting_follows_the_reference_convention_step_by_step():
    # The reference's synthetic script, written out: the state is the input,
    # x <- x + GELU(x W_k) V_k / L with W_k of shape (d, m), V_k of shape
    # (m, d), the loss averaged over all n * d entries, plain SGD at lr 0.01 L
    # on V and W, V = 0 and every W_k one N(0, 1) matrix at the start.
    L, steps = 8, 10
    gen = torch.Generator().manual_seed(2)
    W0 = torch.randn(16, 32, generator=gen, dtype=torch.float64)
    X = torch.randn(100, 16, generator=gen, dtype=torch.float64)
    Y = torch.randn(100, 16, generator=gen, dtype=torch.float64)
    V = torch.zeros(L, 32, 16, dtype=torch.float64, requires_grad=True)
    W = W0.repeat(L, 1, 1).requires_grad_(True)
    opt = torch.optim.SGD([V, W], lr=0.01 * L)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        x = X
        for k in range(L):
            x = x + torch.nn.functional.gelu(x @ W[k]) @ V[k] / L
        loss = ((x - Y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        opt.step()

    est = _iclr_estimator(L, warm_start=True, max_epochs=0).fit(X.numpy(), Y.numpy())
    with torch.no_grad():  # the reference's draw of the tied W, in our (m, d) layout
        est.module_.W.copy_(W0.T.expand(L, 32, 16))
    est.set_params(max_epochs=steps).fit(X.numpy(), Y.numpy())
    assert [h["loss"] for h in est.history_] == pytest.approx(losses, rel=1e-12)
    np.testing.assert_allclose(est.module_.V.detach(), V.detach().transpose(1, 2), atol=1e-14)
    np.testing.assert_allclose(est.module_.W.detach(), W.detach().transpose(1, 2), atol=1e-14)
    assert (W.detach() != W0).any()  # W moved too: both families are trained


def test_neurips_setting_follows_the_reference_convention_step_by_step():
    # The NeurIPS 2023 reference written out: h_0 = x A^T, h <- h + relu(h) M_k^T / L,
    # logits h_L B^T, with A ~ N(0, 1/d), B ~ N(0, 1/q) frozen and M_k an RBF
    # process in k/L divided by sqrt(q); cross-entropy plus lam ||(M_{k+1} - M_k)_k||_F,
    # Adam at 0.02 on the M_k only.
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 5), rng.randint(0, 3, 60)
    L, q, lam, steps = 10, 6, 0.1, 5
    kwargs = dict(
        depth=L,
        width=q,
        residual="v_sigma",
        freeze_embedding=True,
        init="smooth",
        bandwidth=0.1,
        learning_rate=0.02,
        regularity_penalty=lam,
        batch_size=60,
        warm_start=True,
        max_epochs=0,
        random_state=0,
    )
    est = ResNetODEClassifier(fan_in_scaling="init", **kwargs).fit(X, y)
    start = est.module_
    A, B = start.A.detach().clone(), start.B.detach().clone()
    M = start.V.detach().clone().requires_grad_(True)
    # The same draws as with the factors in the forward pass, scaled by
    # 1/sqrt(fan in): the same network at initialisation, other trained units.
    forward = ResNetODEClassifier(fan_in_scaling="forward", **kwargs).fit(X, y)
    torch.testing.assert_close(A, forward.module_.A.detach() / np.sqrt(5))
    torch.testing.assert_close(B, forward.module_.B.detach() / np.sqrt(q))
    torch.testing.assert_close(M.detach(), forward.module_.V.detach() / np.sqrt(q))
    np.testing.assert_allclose(est.predict_proba(X), forward.predict_proba(X), rtol=1e-12)
    # The bound sees the same network, whichever units its weights are kept in.
    same, other = generalization_bound(est, X, y), generalization_bound(forward, X, y)
    assert same["bound"] == pytest.approx(other["bound"], rel=1e-12)
    assert same["weight_radius"] == pytest.approx(other["weight_radius"], rel=1e-12)

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    opt = torch.optim.Adam([M], lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        h = Xt @ A.T
        for k in range(L):
            h = h + torch.relu(h) @ M[k].T / L
        loss = torch.nn.functional.cross_entropy(h @ B.T, yt)
        loss = loss + lam * (M[1:] - M[:-1]).norm()
        loss.backward()
        opt.step()

    est.set_params(max_epochs=steps).fit(X, y)
    np.testing.assert_allclose(est.module_.V.detach(), M.detach(), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(est.module_.A.detach(), A)
    assert (M.detach() != start.V.detach()).any()


def test_depth_scaled_learning_rate_acts_on_residual_weights_only(teacher):
    X, y = teacher
    kwargs = dict(
        depth=6,
        width=5,
        init="iid",
        scaling_exponent=0.5,
        optimizer="sgd",
        learning_rate=0.03,
        scale_lr_with_depth=True,
        embedding_learning_rate=0.2,
        random_state=0,
    )
    start = ResNetODERegressor(**kwargs, max_epochs=0).fit(X, y).module_
    one = ResNetODERegressor(**kwargs, max_epochs=1).fit(X, y)
    # One full-batch gradient step against autograd on the initial network.
    yt = torch.tensor((y - y.mean()) / y.std())[:, None]
    params = dict(start.named_parameters())
    loss = ((start(torch.tensor(X)) - yt) ** 2).mean()
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
    rates = {"V": 0.03 * 6, "W": 0.03 * 6, "A": 0.2, "B": 0.2, "b": 0.2}
    for name, p in one.module_.named_parameters():
        expected = params[name].detach() - rates[name] * grads[name]
        torch.testing.assert_close(p.detach(), expected, rtol=1e-10, atol=1e-12)
    # Frozen embedding and readout stay put while V and W train.
    frozen = ResNetODERegressor(**kwargs, max_epochs=3, freeze_embedding=True).fit(X, y)
    for name in ("A", "B", "b"):
        torch.testing.assert_close(getattr(frozen.module_, name), getattr(start, name))
    assert not torch.equal(frozen.module_.V, start.V)
    loss_fn, flat = frozen._sharpness_problem(X, y)
    assert len(flat) == 2  # only V and W are parameters of the training problem


def test_identity_embedding_needs_matching_outputs(small_data):
    X, y = small_data
    with pytest.raises(ValueError, match="embedding='identity'"):
        ResNetODERegressor(embedding="identity", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        ResNetODEClassifier(embedding="identity", max_epochs=1).fit(X, (y > 0).astype(int))


def test_regularity_penalty_reduces_successive_differences(small_data):
    X, y = small_data
    kwargs = dict(depth=8, width=8, hidden_width=8, init="iid", max_epochs=25)
    free = ResNetODERegressor(**kwargs, random_state=0).fit(X, y)
    tamed = ResNetODERegressor(**kwargs, regularity_penalty=0.5, random_state=0).fit(X, y)
    for family in ("V", "W"):
        f, t = free.weight_regularity()[family], tamed.weight_regularity()[family]
        assert t["max_diff"] < 0.8 * f["max_diff"]
        assert t["diff_norm"] < 0.8 * f["diff_norm"]


def test_same_seed_same_fit_with_minibatches(small_data):
    X, y = small_data
    kwargs = dict(depth=6, width=6, batch_size=8, max_epochs=5)
    a = ResNetODERegressor(**kwargs, random_state=3).fit(X, y)
    b = ResNetODERegressor(**kwargs, random_state=3).fit(X, y)
    c = ResNetODERegressor(**kwargs, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.allclose(a.predict(X), c.predict(X))
    # 32 rows in batches of 8: 4 updates per epoch.
    assert a.n_iter_ == 20 and [h["iter"] for h in a.history_] == [4, 8, 12, 16, 20]
    assert [h["epoch"] for h in a.history_] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(h["loss"]) and h["seconds"] >= 0 for h in a.history_)


def test_early_stopping_with_tol(small_data):
    X, y = small_data
    est = ResNetODERegressor(
        depth=4, width=4, max_epochs=500, tol=0.5, n_iter_no_change=2, random_state=0
    ).fit(X, y)
    assert len(est.history_) < 500 and est.n_iter_ == len(est.history_)


def test_regressor_fits_teacher_and_multioutput():
    X, y = make_resnet_ode_teacher(100, 4, depth=20, noise=0.0, random_state=0)
    kwargs = dict(depth=8, width=8, max_epochs=60, learning_rate=0.03, random_state=0)
    est = ResNetODERegressor(**kwargs).fit(X, y)
    assert est.score(X, y) > 0.9
    Y = np.c_[y, -2 * y + 1]
    multi = ResNetODERegressor(**kwargs).fit(X, Y)
    assert multi.predict(X).shape == (100, 2)
    assert multi.score(X, Y) > 0.9


def test_classifier_fits_teacher():
    X, y = make_resnet_ode_teacher(150, 4, task="classification", random_state=0)
    clf = ResNetODEClassifier(
        depth=8, width=8, max_epochs=60, learning_rate=0.03, random_state=0
    ).fit(X, y)
    assert clf.score(X, y) > 0.85
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert list(clf.classes_) == [0, 1, 2]


# -------------------------------------------------------------- diagnostics
def test_hidden_states_reproduce_predictions(small_data):
    X, y = small_data
    est = ResNetODERegressor(depth=5, width=7, max_epochs=3, random_state=0).fit(X, y)
    states = est.hidden_states(X)
    assert states.shape == (32, 6, 7)
    mod = est.module_
    A, B, b = (t.detach().numpy() for t in (mod.A, mod.B, mod.b))
    np.testing.assert_allclose(states[:, 0], X @ A.T / np.sqrt(8))
    out = (states[:, -1] @ B.T / np.sqrt(7) + b)[:, 0]
    np.testing.assert_allclose(out * est.y_scale_ + est.y_mean_, est.predict(X))
    terms = est.generalization_bound_terms()
    reg = est.weight_regularity()
    assert terms["lipschitz_in_depth"] == max(r["max_diff_times_depth"] for r in reg.values())
    assert terms["depth"] == 5 and terms["n_samples"] == 32
    assert set(est.final_ratios_) == {"output_ratio", "gradient_ratio"}


def test_single_matrix_variant(small_data):
    X, y = small_data
    est = ResNetODERegressor(
        depth=5, width=6, residual="v_sigma", max_epochs=2, random_state=0
    ).fit(X, y)
    assert est.module_.W is None and tuple(est.module_.V.shape) == (5, 6, 6)
    assert set(est.weight_regularity()) == {"V"}


def _dense_hessian(loss_fn, params):
    blocks = torch.autograd.functional.hessian(lambda *p: loss_fn(list(p)), tuple(params))
    sizes = [p.numel() for p in params]
    rows = [
        torch.cat([blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(len(params))], 1)
        for i in range(len(params))
    ]
    return torch.cat(rows, 0)


def _flat_grad(loss_fn, flat, params):
    pieces, start = [], 0
    for p in params:
        pieces.append(flat[start : start + p.numel()].reshape(p.shape))
        start += p.numel()
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss_fn(pieces), pieces)])


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_sharpness_problem_matches_training_objective_and_hessian(kind):
    rng = np.random.RandomState(0)
    X = rng.randn(10, 2)
    lam = 0.1
    kwargs = dict(depth=3, width=3, hidden_width=2, activation="tanh", regularity_penalty=lam)
    if kind == "regressor":
        y = rng.randn(10)
        est = ResNetODERegressor(**kwargs, max_epochs=5, random_state=0).fit(X, y)
        data = np.mean(((est.predict(X) - y) / est.y_scale_) ** 2)
    else:
        y = np.array(["a", "b"] * 5)
        est = ResNetODEClassifier(**kwargs, max_epochs=5, random_state=0).fit(X, y)
        data = log_loss(y, est.predict_proba(X))
    loss_fn, params = est._sharpness_problem(X, y)
    assert all(p.dtype == torch.float64 and not p.requires_grad for p in params)
    reg = est.weight_regularity()
    penalty = lam * np.sqrt(reg["V"]["diff_norm"] ** 2 + reg["W"]["diff_norm"] ** 2)
    assert float(loss_fn(params)) == pytest.approx(data + penalty, rel=1e-10)

    H = _dense_hessian(loss_fn, params)
    assert H.shape[0] == sum(p.numel() for p in params)
    torch.testing.assert_close(H, H.T, rtol=1e-8, atol=1e-10)
    # Hessian-vector products against central differences of the gradient.
    flat = torch.cat([p.reshape(-1) for p in params]).requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        v = torch.randn(flat.shape, generator=gen, dtype=torch.float64)
        eps = 1e-5
        fd = (
            _flat_grad(loss_fn, (flat + eps * v).detach().requires_grad_(), params)
            - _flat_grad(loss_fn, (flat - eps * v).detach().requires_grad_(), params)
        ) / (2 * eps)
        torch.testing.assert_close(H @ v, fd, rtol=1e-5, atol=1e-6)
    # The copies are detached: changing them leaves the model alone.
    before = est.predict(X)
    params[0].add_(1.0)
    np.testing.assert_array_equal(before, est.predict(X))


# ------------------------------------------------------ training contract
@pytest.fixture(scope="module")
def teacher():
    return make_resnet_ode_teacher(100, 4, depth=20, noise=0.0, random_state=0)


@pytest.fixture(scope="module")
def teacher_classes():
    return make_resnet_ode_teacher(100, 4, task="classification", random_state=0)


@pytest.mark.parametrize("cls", [ResNetODERegressor, ResNetODEClassifier])
def test_warm_start_equals_one_longer_fit(cls, teacher, teacher_classes):
    X, y = teacher if cls is ResNetODERegressor else teacher_classes
    # 100 rows in batches of 30: a short last batch, reshuffled every epoch.
    kwargs = dict(depth=4, width=6, batch_size=30, random_state=0)
    full = cls(**kwargs, max_epochs=5).fit(X, y)
    warm = cls(**kwargs, max_epochs=2, warm_start=True).fit(X, y)
    assert warm.n_iter_ == 8
    warm.set_params(max_epochs=3).fit(X, y)
    assert warm.n_iter_ == full.n_iter_ == 20
    assert [h["loss"] for h in warm.history_] == [h["loss"] for h in full.history_]
    assert [h["epoch"] for h in warm.history_] == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(warm.module_.V.detach(), full.module_.V.detach())
    # Without warm_start a second fit starts afresh.
    cold = cls(**kwargs, max_epochs=2).fit(X, y)
    first = [h["loss"] for h in cold.history_]
    assert [h["loss"] for h in cold.fit(X, y).history_] == first


def test_first_epoch_loss_is_the_initial_loss(teacher):
    X, y = teacher
    est = ResNetODERegressor(depth=4, width=6, max_epochs=3, random_state=0).fit(X, y)
    monitor = est._train_state_.monitors["history_"]
    # Full batch: the first epoch's loss is taken before its only update.
    assert est.history_[0]["loss"] == pytest.approx(monitor.initial, rel=1e-12)
    # Standardised targets: the mean predictor's loss is 1 per output.
    assert monitor.baseline == pytest.approx(1.0)
    assert est.history_[-1]["loss"] < est.history_[0]["loss"]


def _weighted_pair(cls, X, y):
    """Fit with integer weights (zeros included) and on the repeated rows."""
    w = np.tile([0, 1, 2, 3], len(X) // 4)
    kwargs = dict(depth=3, width=5, max_epochs=8, learning_rate=0.05, random_state=0)
    weighted = cls(**kwargs).fit(X, y, sample_weight=w)
    repeated = cls(**kwargs).fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0))
    return weighted, repeated, w


def test_sample_weight_regressor(teacher):
    X, y = teacher
    weighted, repeated, w = _weighted_pair(ResNetODERegressor, X, y)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.y_mean_, [np.average(y, weights=w)])
    np.testing.assert_allclose(
        [h["loss"] for h in weighted.history_], [h["loss"] for h in repeated.history_], rtol=1e-9
    )
    # Only the ratio of the weights matters; weights all one are no weights.
    kwargs = dict(depth=3, width=5, max_epochs=3, random_state=0)
    scaled = ResNetODERegressor(**kwargs).fit(X, y, sample_weight=7.5 * (w + 1))
    plain = ResNetODERegressor(**kwargs).fit(X, y, sample_weight=w + 1)
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X), rtol=1e-12)
    ones = ResNetODERegressor(**kwargs).fit(X, y, sample_weight=np.ones(len(y)))
    none = ResNetODERegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(ones.predict(X), none.predict(X))
    with pytest.raises(ValueError, match="Negative values"):
        ResNetODERegressor(**kwargs).fit(X, y, sample_weight=w - 1)
    with pytest.raises(ValueError, match="non-zero"):
        ResNetODERegressor(**kwargs).fit(X, y, sample_weight=0 * w)


def test_sample_weight_classifier(teacher_classes):
    X, y = teacher_classes
    weighted, repeated, _ = _weighted_pair(ResNetODEClassifier, X, y)
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9, atol=1e-12
    )


# Divergence: each case used to finish silently with diverged_=False.
_DIVERGING = {
    "regressor-adam-lr1e3": (
        ResNetODERegressor,
        dict(depth=8, width=8, optimizer="adam", learning_rate=1e3, max_epochs=20),
    ),
    "classifier-adam-lr1e3": (
        ResNetODEClassifier,
        dict(depth=8, width=8, optimizer="adam", learning_rate=1e3, max_epochs=20),
    ),
    # beta = 0 at depth 64: the forward pass explodes before any update.
    "regressor-beta0-depth64": (
        ResNetODERegressor,
        dict(depth=64, width=8, scaling_exponent=0.0, max_epochs=5),
    ),
}


@pytest.mark.parametrize("case", list(_DIVERGING))
def test_divergence_raises(case, teacher, teacher_classes):
    cls, kwargs = _DIVERGING[case]
    X, y = teacher if cls is ResNetODERegressor else teacher_classes
    with pytest.raises(DivergenceError, match="diverged: the training loss reached"):
        cls(**kwargs, random_state=0).fit(X, y)
    with pytest.warns(DivergenceWarning, match="10000 times the reference loss"):
        est = cls(**kwargs, on_divergence="warn", random_state=0).fit(X, y)
    assert est.diverged_ and est.history_[-1]["loss"] > 1e4
    assert np.isnan(est.final_ratios_["output_ratio"])
    with pytest.raises(ValueError, match="diverged"):
        est.predict(X)


def test_divergence_to_nan_raises_or_warns(small_data):
    X, y = small_data
    kwargs = dict(depth=4, width=4, optimizer="sgd", learning_rate=1e12, max_epochs=20)
    with pytest.raises(DivergenceError, match="diverged"):
        ResNetODERegressor(**kwargs, random_state=0).fit(X, y * 1e6)
    with pytest.warns(DivergenceWarning):
        est = ResNetODERegressor(**kwargs, on_divergence="warn", random_state=0)
        est.fit(X, y * 1e6)
    assert est.diverged_ and est.history_[-1]["loss"] > 1e4
    with pytest.raises(ValueError, match="diverged"):
        est.predict(X)


def test_non_convergence_warns(teacher):
    X, y = teacher
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        ResNetODERegressor(
            depth=4, width=8, optimizer="sgd", learning_rate=1e-9, max_epochs=5, random_state=0
        ).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="still improving"):
        ResNetODERegressor(depth=4, width=8, tol=1e-9, max_epochs=5, random_state=0).fit(X, y)


def test_numeric_string_target_is_refused(teacher):
    X, y = teacher
    with pytest.raises(ValueError, match="needs a numeric y"):
        ResNetODERegressor(max_epochs=1).fit(X, y.astype(str))


def test_demos_are_registered():
    from sktheory._demo import demos

    table = demos()
    assert {"ResNetODERegressor", "ResNetODEClassifier"} <= set(table)


def test_bad_input_and_parameters(small_data):
    X, y = small_data
    est = ResNetODERegressor(depth=2, width=3, max_epochs=1, random_state=0)
    Xnan = X.copy()
    Xnan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(Xnan, y)
    with pytest.raises(ValueError, match="sample"):
        est.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="inconsistent"):
        est.fit(X, y[:-1])
    est.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="features"):
        est.hidden_states(X[:, :3])
    for bad in (
        {"depth": 0},
        {"init": "orthogonal"},
        {"hurst": 1.5},
        {"scaling_exponent": -1.0},
        {"activation": "swish"},
    ):
        with pytest.raises(InvalidParameterError):
            ResNetODERegressor(**bad).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        ResNetODEClassifier(max_epochs=1).fit(X, y)


def test_pickle_float32_and_large_depth(small_data):
    X, y = small_data
    est = ResNetODERegressor(
        depth=1000,
        width=4,
        hidden_width=4,
        init="iid",
        scaling_exponent=0.5,
        dtype="float32",
        max_epochs=1,
        random_state=0,
    ).fit(X[:8], y[:8])
    assert est.module_.V.dtype == torch.float32 and est.module_.V.shape[0] == 1000
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict(X), est.predict(X))
    assert clone.hidden_states(X[:2]).shape == (2, 1001, 4)


def test_datasets():
    X, y = make_resnet_ode_random_targets(50, 6, 3, random_state=1)
    assert X.shape == (50, 6) and y.shape == (50, 3)
    X2, y2 = make_resnet_ode_random_targets(50, 6, 3, random_state=1)
    np.testing.assert_array_equal(y, y2)
    assert make_resnet_ode_random_targets(5, 2, 1, random_state=0)[1].shape == (5,)
    X, y = make_resnet_ode_teacher(300, 3, noise=0.0, random_state=0)
    assert abs(y.std() - 1) < 1e-12 and abs(y.mean()) < 1e-12
    with pytest.raises(InvalidParameterError):
        make_resnet_ode_teacher(10, task="ranking")
    # Without the residual branch the teacher is linear; strengthened, it is not.
    from sklearn.linear_model import LinearRegression

    X, y = make_resnet_ode_teacher(300, 8, noise=0.0, strength=0.0, random_state=0)
    assert LinearRegression().fit(X, y).score(X, y) == pytest.approx(1.0, abs=1e-12)
    X, y = make_resnet_ode_teacher(300, 8, noise=0.0, strength=8.0, random_state=0)
    assert LinearRegression().fit(X, y).score(X, y) < 0.85


# ------------------------------------------------ skorch behind the contract
def test_skorch_net_runs_each_epoch_of_the_driver(teacher):
    from skorch import NeuralNet
    from skorch.callbacks import EarlyStopping, PrintLog

    X, y = teacher
    est = ResNetODERegressor(depth=4, width=6, batch_size=30, max_epochs=3, random_state=0)
    est.fit(X, y)
    net = est.net_
    assert isinstance(net, NeuralNet) and net.module_ is est.module_
    # One skorch epoch per driver window: the same losses, batches and times.
    assert [e["train_loss"] for e in net.history] == [h["loss"] for h in est.history_]
    assert [e["train_batch_count"] for e in net.history] == [4, 4, 4]
    assert [e["dur"] for e in net.history] == [h["seconds"] for h in est.history_]
    # Stopping and divergence are the driver's; the table only prints when verbose.
    kinds = [type(cb) for _, cb in net.callbacks_]
    assert EarlyStopping not in kinds and PrintLog not in kinds


def test_regularity_penalty_is_in_the_skorch_loss(teacher):
    X, y = teacher
    kwargs = dict(depth=5, width=6, init="iid", max_epochs=1, random_state=0)
    lam = 0.3
    plain = ResNetODERegressor(**kwargs).fit(X, y)
    penalised = ResNetODERegressor(**kwargs, regularity_penalty=lam).fit(X, y)
    # Full batch: the one epoch's loss is taken at the (shared) initialisation.
    start = ResNetODERegressor(**{**kwargs, "max_epochs": 0}).fit(X, y).weight_regularity()
    penalty = lam * np.hypot(start["V"]["diff_norm"], start["W"]["diff_norm"])
    gap = penalised.history_[0]["loss"] - plain.history_[0]["loss"]
    assert gap == pytest.approx(penalty, rel=1e-10)


def test_non_finite_batch_loss_ends_the_epoch_before_its_update(small_data):
    X, y = small_data
    # lr = 1e100: the third mini-batch of the first epoch overflows to NaN.
    kwargs = dict(depth=4, width=4, optimizer="sgd", learning_rate=1e100, batch_size=8)
    with pytest.raises(DivergenceError, match="became nan after 2 updates"):
        ResNetODERegressor(**kwargs, max_epochs=5, random_state=0).fit(X, y)
    with pytest.warns(DivergenceWarning):
        est = ResNetODERegressor(**kwargs, max_epochs=5, on_divergence="warn", random_state=0)
        est.fit(X, y)
    assert est.n_iter_ == 2 and len(est.history_) == 1
    assert np.isnan(est.history_[0]["loss"])
    # skorch recorded the two finite batches of the cut epoch, and no third.
    assert len(est.net_.history) == 1 and len(est.net_.history[-1]["batches"]) == 2


def test_warm_start_continues_exactly_after_pickling(teacher):
    X, y = teacher
    kwargs = dict(depth=4, width=6, batch_size=30, random_state=0)
    full = ResNetODERegressor(**kwargs, max_epochs=4).fit(X, y)
    warm = ResNetODERegressor(**kwargs, max_epochs=2, warm_start=True).fit(X, y)
    warm = pickle.loads(pickle.dumps(warm))
    state = warm._train_state_
    # The net's iterator shuffles with the state's generator, after unpickling too.
    assert state.net.iterator_train__generator is state.generator
    warm.set_params(max_epochs=2).fit(X, y)
    assert [h["loss"] for h in warm.history_] == [h["loss"] for h in full.history_]
    np.testing.assert_array_equal(warm.predict(X), full.predict(X))


# ------------------------------------------------- generalisation bound (NeurIPS 2023)
def _bound_net(X, y, V):
    """The NeurIPS 2023 network h_{k+1} = h_k + V_k relu(h_k) / (L sqrt(q)), given V."""
    est = ResNetODERegressor(
        depth=len(V), residual="v_sigma", embedding="identity", max_epochs=0, random_state=0
    ).fit(X, y)
    with torch.no_grad():
        est.module_.V.copy_(torch.as_tensor(V))
    return est


def test_generalization_bound_matches_a_hand_computation():
    rng = np.random.RandomState(0)
    X, y = rng.randn(20, 2), rng.randn(20, 2)
    L, n, delta = 4, 20, 0.1
    E = np.array([[0.1, 0.0], [0.0, 0.2]])
    V = np.stack([(k + 1) * E for k in range(L)])
    out = generalization_bound(_bound_net(X, y, V), X, y, delta=delta)

    # By hand: M_k = V_k / sqrt(q), A = B = I, no bias, relu (K_sigma = 1).
    M = V / np.sqrt(2)
    r_w, k_w = 4 * np.sqrt(0.05) / np.sqrt(2), L * np.sqrt(0.05) / np.sqrt(2)
    assert out["weight_radius"] == pytest.approx(r_w)
    assert out["lipschitz_in_depth"] == pytest.approx(k_w)
    h = X.copy()
    for k in range(L):
        h = h + np.maximum(h, 0) @ M[k].T / L
    risk = np.mean((h - y) ** 2)
    r_x, r_y = np.linalg.norm(X, axis=1).max(), np.linalg.norm(y, axis=1).max()
    growth = (1 + r_w / L) ** L
    r_h = r_x * growth
    c_param = r_h * (growth - 1) / r_w
    loss_bound, loss_lip = (r_h + r_y) ** 2 / 2, (r_h + r_y)
    gaps = []
    for j in range(48):
        eps = max(r_w, k_w, 1.0) / 2**j
        blocks = int(np.ceil(L / max(1, np.floor(eps * L / k_w))))
        log_n = blocks * 4 * np.log(1 + 2 * r_w / eps)
        gaps.append(
            loss_bound * np.sqrt((log_n + np.log(48 / delta)) / (2 * n))
            + 4 * loss_lip * c_param * eps
        )
    assert out["empirical_risk"] == pytest.approx(risk, rel=1e-10)
    assert out["state_radius"] == pytest.approx(r_h)
    assert out["param_lipschitz"] == pytest.approx(c_param)
    assert out["bound"] == pytest.approx(risk + min(gaps), rel=1e-10)
    # A smaller failure probability costs more.
    assert generalization_bound(_bound_net(X, y, V), X, y, delta=0.01)["bound"] > out["bound"]


def test_generalization_bound_grows_with_lipschitz_in_depth_not_depth():
    rng = np.random.RandomState(1)
    X, y = rng.randn(64, 3), rng.randn(64, 3)
    E = rng.randn(3, 3)
    E *= 2 / np.linalg.norm(E)
    bounds = {}
    for L in (256, 1024):
        # Same R_W; weights smooth in k / L (K_W bounded) or flipping sign (K_W ~ L).
        smooth = np.cos(2 * np.pi * np.arange(L) / L)[:, None, None] * E
        rough = rng.choice([-1.0, 1.0], size=L)[:, None, None] * E
        bounds[L] = [generalization_bound(_bound_net(X, y, V), X, y) for V in (smooth, rough)]
    (s256, r256), (s1024, r1024) = bounds[256], bounds[1024]
    assert s256["weight_radius"] == pytest.approx(r256["weight_radius"])
    assert s1024["lipschitz_in_depth"] == pytest.approx(s256["lipschitz_in_depth"], rel=0.01)
    # Depth-free for Lipschitz-in-depth weights; growing with L when K_W grows with L.
    assert s1024["bound"] == pytest.approx(s256["bound"], rel=0.02)
    assert r1024["bound"] > 1.5 * r256["bound"] > 1.5 * s256["bound"]
    # On one network: non-decreasing in the assumed K_W, strictly beyond the own one.
    est = _bound_net(X, y, np.cos(2 * np.pi * np.arange(256) / 256)[:, None, None] * E)
    k_w = s256["lipschitz_in_depth"]
    values = [
        generalization_bound(est, X, y, lipschitz_in_depth=k_w * f)["bound"] for f in (1, 2, 4, 8)
    ]
    assert values == sorted(values) and values[-1] > 1.5 * values[0]


def test_generalization_bound_holds_and_refuses_what_it_does_not_cover():
    X, y = make_resnet_ode_teacher(n_samples=400, n_features=4, random_state=0)
    est = ResNetODERegressor(
        depth=8,
        width=8,
        residual="v_sigma",
        freeze_embedding=True,
        max_epochs=30,
        learning_rate=0.05,
        random_state=0,
    ).fit(X[:200], y[:200])
    out = generalization_bound(est, X[:200], y[:200])
    test_risk = np.mean(((est.predict(X[200:]) - y[200:]) / est.y_scale_) ** 2)
    assert out["empirical_risk"] < out["bound"] and test_risk < out["bound"]
    with pytest.raises(ValueError, match="delta"):
        generalization_bound(est, X[:200], y[:200], delta=1.5)
    with pytest.raises(ValueError, match="below the network"):
        generalization_bound(est, X[:200], y[:200], lipschitz_in_depth=0.0)
    with pytest.raises(ValueError, match="samples"):
        generalization_bound(est, X[:200], y[:100])
    trained = ResNetODERegressor(depth=4, width=4, residual="v_sigma", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="freeze_embedding"):
        generalization_bound(trained, X, y)
    two = ResNetODERegressor(depth=4, width=4, freeze_embedding=True, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="v_sigma"):
        generalization_bound(two, X, y)
    # Cross-entropy on logits of norm <= R_F: bounded by log K + sqrt(2) R_F.
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ResNetODEClassifier(
        depth=4, width=4, residual="v_sigma", freeze_embedding=True, max_epochs=5, random_state=0
    ).fit(X, labels)
    out = generalization_bound(clf, X, labels)
    assert out["loss_bound"] == pytest.approx(np.log(3) + np.sqrt(2) * out["output_radius"])
    assert out["empirical_risk"] == pytest.approx(log_loss(labels, clf.predict_proba(X)))

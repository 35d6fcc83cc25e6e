"""Hessian-vector products and Lanczos sharpness against dense Hessians and closed forms."""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from sktheory import DeepLinearRegressor
from sktheory.datasets import make_deep_linear_regression
from sktheory.diagnostics import (
    dense_hessian,
    hessian_vector_product,
    sharpness,
    top_hessian_eigenvalue,
)

f64 = torch.float64


def _quadratic(A):
    """loss(p) = p' A p / 2 over two blocks, Hessian A (symmetric)."""

    def loss(params):
        theta = torch.cat([p.reshape(-1) for p in params])
        return 0.5 * theta @ A @ theta

    return loss


def _random_symmetric(n, seed, spectrum=None):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectrum = rng.standard_normal(n) if spectrum is None else np.asarray(spectrum)
    return torch.tensor(Q @ np.diag(spectrum) @ Q.T, dtype=f64)


def _deep_linear_problem(depth, init, seed, width=None):
    """A fitted model's sharpness problem, taken away from the minimiser."""
    X, y = make_deep_linear_regression(n_samples=30, n_features=4, random_state=seed)
    model = DeepLinearRegressor(
        depth=depth, width=width, init=init, init_scale=0.5, max_iter=20, random_state=seed
    ).fit(X, y)
    return model._sharpness_problem(X, y)


def test_hvp_equals_dense_hessian_times_vector():
    A = _random_symmetric(7, seed=0)
    params = [torch.randn(3, dtype=f64), torch.randn(2, 2, dtype=f64)]
    v = [torch.randn(3, dtype=f64), torch.randn(2, 2, dtype=f64)]
    hv = hessian_vector_product(_quadratic(A), params, v)
    expected = A @ torch.cat([t.reshape(-1) for t in v])
    assert [t.shape for t in hv] == [(3,), (2, 2)]
    torch.testing.assert_close(torch.cat([t.reshape(-1) for t in hv]), expected)


def test_dense_hessian_of_quadratic_is_its_matrix():
    A = _random_symmetric(5, seed=1)
    H = dense_hessian(_quadratic(A), [torch.zeros(2, dtype=f64), torch.ones(3, dtype=f64)])
    torch.testing.assert_close(H, A)


def test_hvp_matches_dense_hessian_on_a_deep_linear_network():
    loss_fn, params = _deep_linear_problem(depth=3, init="small", seed=0)
    H = dense_hessian(loss_fn, params)
    v = [torch.randn(p.shape, dtype=f64) for p in params]
    hv = hessian_vector_product(loss_fn, params, v)
    expected = H @ torch.cat([t.reshape(-1) for t in v])
    torch.testing.assert_close(torch.cat([t.reshape(-1) for t in hv]), expected)


def test_top_eigenvalue_is_largest_algebraic_not_largest_magnitude():
    spectrum = [-9.0, 4.0, 3.0, 1.0, 0.5, -2.0]
    A = _random_symmetric(6, seed=2, spectrum=spectrum)
    params = [torch.zeros(6, dtype=f64)]
    value = top_hessian_eigenvalue(_quadratic(A), params, random_state=0)
    assert value == pytest.approx(4.0, rel=1e-9)


@pytest.mark.parametrize(
    "depth, init, width", [(2, "small", None), (3, "small", 6), (4, "residual", None)]
)
def test_lanczos_matches_dense_eigvalsh(depth, init, width):
    loss_fn, params = _deep_linear_problem(depth, init, seed=depth, width=width)
    dense = torch.linalg.eigvalsh(dense_hessian(loss_fn, params))[-1].item()
    value = top_hessian_eigenvalue(loss_fn, params, random_state=0)
    assert value == pytest.approx(dense, rel=1e-6)


def test_eigenvector_satisfies_the_eigen_equation():
    loss_fn, params = _deep_linear_problem(depth=3, init="small", seed=5)
    value, vector = top_hessian_eigenvalue(loss_fn, params, random_state=0, return_vector=True)
    hv = hessian_vector_product(loss_fn, params, vector)
    flat = torch.cat([t.reshape(-1) for t in vector])
    assert flat.norm().item() == pytest.approx(1.0)
    torch.testing.assert_close(
        torch.cat([t.reshape(-1) for t in hv]), value * flat, atol=1e-7, rtol=1e-6
    )


def test_params_are_not_modified():
    loss_fn, params = _deep_linear_problem(depth=2, init="small", seed=0)
    before = [p.clone() for p in params]
    top_hessian_eigenvalue(loss_fn, params, random_state=0)
    for p, q in zip(params, before, strict=True):
        assert torch.equal(p, q) and not p.requires_grad


def test_zero_hessian_gives_zero():
    def loss(params):
        return params[0].sum() * 0.0 + 3.0

    assert top_hessian_eigenvalue(loss, [torch.ones(10, dtype=f64)], random_state=0) == 0.0


def test_tiny_problems_fall_back_to_dense():
    def loss(params):  # Hessian [[2, 1], [1, 2]]: eigenvalues 1 and 3
        a, b = params[0]
        return a**2 + b**2 + a * b

    assert top_hessian_eigenvalue(loss, [torch.zeros(2, dtype=f64)]) == pytest.approx(3.0)


def test_balanced_rank_one_minimiser_at_a_million_parameters():
    """Closed form at the balanced rank-one minimiser of a wide network.

    There the Hessian is 2 J' Sigma J with J J' = s^(2L-2) (I + (L-1) w w'),
    s = ||w*||^(1/L), w = w*/||w*||, so its top eigenvalue is that of the
    d x d matrix 2 s^(2L-2) Sigma^(1/2) (I + (L-1) w w') Sigma^(1/2),
    whatever the width. Width 1000, depth 3: 1,006,000 parameters, Hessian
    never formed (it would take 8 TB).
    """
    d, width, depth = 5, 1000, 3
    X, y = make_deep_linear_regression(n_samples=50, n_features=d, random_state=3)
    # The loss closure depends on the data only, so a narrow fitted model
    # provides the objective for the wide parameters.
    model = DeepLinearRegressor(depth=depth, max_iter=1, random_state=0)
    loss_fn, _ = model.fit(X, y)._sharpness_problem(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    w_star = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    norm = np.linalg.norm(w_star)
    s, w_hat = norm ** (1 / depth), w_star / norm
    rng = np.random.default_rng(0)
    v2 = rng.standard_normal(width)
    v2 /= np.linalg.norm(v2)
    v3 = rng.standard_normal(width)
    v3 /= np.linalg.norm(v3)
    params = [s * np.outer(v2, w_hat), s * np.outer(v3, v2), s * v3[None, :]]
    params = [torch.tensor(p, dtype=f64) for p in params]
    assert sum(p.numel() for p in params) == 1_006_000

    sigma = Xc.T @ Xc / len(Xc)
    root = np.linalg.cholesky(sigma)
    M = (
        2
        * s ** (2 * depth - 2)
        * root.T
        @ (np.eye(d) + (depth - 1) * np.outer(w_hat, w_hat))
        @ root
    )
    expected = np.linalg.eigvalsh(M)[-1]
    value = top_hessian_eigenvalue(loss_fn, params, random_state=0)
    assert value == pytest.approx(expected, rel=1e-6)

    # The paper's bracket for the balanced minimiser.
    a = w_hat @ sigma @ w_hat
    lower = 2 * depth * a * norm ** (2 - 2 / depth)
    upper = 2 * depth * np.linalg.eigvalsh(sigma)[-1] * norm ** (2 - 2 / depth)
    assert lower * (1 - 1e-9) <= value <= upper * (1 + 1e-9)
    assert model.sharpness_lower_bound_ == pytest.approx(lower, rel=1e-10)


def test_sharpness_calls_the_protocol():
    X, y = make_deep_linear_regression(random_state=0)
    model = DeepLinearRegressor(depth=3, learning_rate=0.05, max_iter=200, random_state=0)
    model.fit(X, y)
    assert sharpness(model, X, y, random_state=1) == pytest.approx(model.sharpness_, rel=1e-8)
    # On other data it is the Hessian of the same objective on that data.
    X2, y2 = make_deep_linear_regression(random_state=1)
    loss_fn, params = model._sharpness_problem(X2, y2)
    dense = torch.linalg.eigvalsh(dense_hessian(loss_fn, params))[-1].item()
    assert sharpness(model, X2, y2) == pytest.approx(dense, rel=1e-6)


def test_sharpness_rejects_estimators_without_the_protocol():
    class Plain(BaseEstimator):
        pass

    X, y = make_deep_linear_regression(random_state=0)
    with pytest.raises(TypeError, match="_sharpness_problem"):
        sharpness(Plain(), X, y)
    with pytest.raises(NotFittedError):
        sharpness(DeepLinearRegressor(), X, y)


def test_bad_inputs_are_named():
    loss = _quadratic(torch.eye(3, dtype=f64))
    p = [torch.zeros(3, dtype=f64)]
    with pytest.raises(ValueError, match="empty"):
        top_hessian_eigenvalue(loss, [])
    with pytest.raises(TypeError, match="torch tensors"):
        top_hessian_eigenvalue(loss, [np.zeros(3)])
    with pytest.raises(TypeError, match="floating-point"):
        top_hessian_eigenvalue(loss, [torch.zeros(3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="tol"):
        top_hessian_eigenvalue(loss, p, tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        top_hessian_eigenvalue(loss, p, max_iter=0)
    with pytest.raises(ValueError, match="scalar"):
        top_hessian_eigenvalue(lambda ps: ps[0] * 2, p)
    with pytest.raises(ValueError, match="does not match"):
        hessian_vector_product(loss, p, [torch.zeros(4, dtype=f64)])
    with pytest.raises(ValueError, match="vectors has 2"):
        hessian_vector_product(loss, p, [torch.zeros(3, dtype=f64)] * 2)


def test_non_convergence_is_an_error_not_a_guess():
    # A top eigenvalue 1e-7 away from the next one cannot be resolved in one restart.
    n = 400
    spectrum = np.linspace(0.0, 1.0, n)
    spectrum[-1] += 1e-7
    A = _random_symmetric(n, seed=0, spectrum=spectrum)
    with pytest.raises(RuntimeError, match="did not converge"):
        top_hessian_eigenvalue(
            _quadratic(A), [torch.zeros(n, dtype=f64)], tol=0, max_iter=1, random_state=0
        )


def _estimators_with_sharpness():
    from sktheory.discovery import all_estimators

    return [(n, c) for n, c in all_estimators() if hasattr(c, "_sharpness_problem")]


@pytest.mark.parametrize(
    "name, cls", _estimators_with_sharpness(), ids=[n for n, _ in _estimators_with_sharpness()]
)
def test_sharpness_of_every_estimator_matches_its_dense_hessian(name, cls):
    from sklearn.base import is_classifier

    from sktheory.diagnostics import dense_hessian

    from .test_common import fast_instance

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int) if is_classifier(cls()) else X @ [1.0, -2.0, 0.5]
    model = fast_instance(name, cls).set_params(random_state=0).fit(X, y)
    loss_fn, params = model._sharpness_problem(X, y)
    n_params = sum(p.numel() for p in params)
    assert n_params < 3000, "keep the dense reference small"
    exact = torch.linalg.eigvalsh(dense_hessian(loss_fn, params))[-1].item()
    assert sharpness(model, X, y, random_state=0) == pytest.approx(exact, rel=1e-6)


# ------------------------------------------------- model-level curvature operators
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sktheory.diagnostics import (  # noqa: E402
    CurvatureOperator,
    curvature_operator,
    hutchinson_trace,
    plot_spectral_density,
    spectral_density,
    top_eigenvalues,
)


def _half_mse(out, target):
    return 0.5 * ((out - target) ** 2).mean()


def _regression_data(n=40, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=f64) @ torch.diag(
        torch.linspace(0.5, 2.0, d, dtype=f64)
    )
    y = torch.randn(n, 1, generator=gen, dtype=f64)
    return X, y


def _small_net(seed=0, dtype=f64, batchnorm=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 6)]
    if batchnorm:
        layers += [nn.BatchNorm1d(6), nn.Dropout(0.5)]
    layers += [nn.Tanh(), nn.Linear(6, 3)]
    return nn.Sequential(*layers).to(dtype)


def _classification_data(n=30, seed=0, dtype=f64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=gen, dtype=dtype), torch.randint(0, 3, (n,), generator=gen)


def _functional_loss(model, criterion, X, y, names=None):
    """The loss as a function of a list of parameters, for a dense reference."""
    names = names or [n for n, _ in model.named_parameters()]
    params = [dict(model.named_parameters())[n].detach() for n in names]

    def loss(values):
        out = torch.func.functional_call(model, dict(zip(names, values, strict=True)), (X,))
        return criterion(out, y)

    return loss, params


def test_least_squares_hessian_ggn_and_fisher_are_the_closed_forms():
    X, y = _regression_data()
    model = nn.Linear(5, 1, bias=False).to(f64)
    gram = X.T @ X / len(X)
    for kind in ("hessian", "ggn"):
        op = curvature_operator(model, _half_mse, (X, y), kind=kind)
        torch.testing.assert_close(op.dense(), gram)
    residual = (X @ model.weight.detach().T - y).reshape(-1)
    fisher = (X * residual[:, None] ** 2).T @ X / len(X)
    op = curvature_operator(model, _half_mse, (X, y), kind="fisher")
    torch.testing.assert_close(op.dense(), fisher)


def test_least_squares_top_eigenpairs_match_eigh():
    X, y = _regression_data()
    op = curvature_operator(nn.Linear(5, 1, bias=False).to(f64), _half_mse, (X, y))
    values, vectors = torch.linalg.eigh(X.T @ X / len(X))
    res = top_eigenvalues(op, k=3, tol=1e-10, random_state=0)
    assert res.converged and res.n_products == op.n_products <= 5
    np.testing.assert_allclose(res.eigenvalues, values.flip(0)[:3].numpy(), rtol=1e-10)
    overlaps = (res.eigenvectors.T @ vectors.flip(1)[:, :3]).abs().diagonal()
    np.testing.assert_allclose(overlaps.numpy(), 1.0, atol=1e-8)
    assert res.time > 0 and res.n_restarts == 0


def test_logistic_regression_hessian_is_the_weighted_gram_matrix():
    X, _ = _regression_data(n=50, d=3, seed=1)
    y = (X[:, :1] + 0.5 * torch.randn(50, 1, dtype=f64) > 0).to(f64)
    torch.manual_seed(0)
    model = nn.Linear(3, 1).to(f64)
    p = torch.sigmoid(model(X)).detach().reshape(-1)
    Xb = torch.cat([X, torch.ones(50, 1, dtype=f64)], dim=1)  # weight then bias
    expected = (Xb * (p * (1 - p))[:, None]).T @ Xb / 50
    for kind in ("hessian", "ggn"):
        op = curvature_operator(model, nn.BCEWithLogitsLoss(), (X, y), kind=kind)
        torch.testing.assert_close(op.dense(), expected)
    op = curvature_operator(model, nn.BCEWithLogitsLoss(), (X, y))
    top = top_eigenvalues(op, tol=1e-12, random_state=0).eigenvalues[0]
    assert top == pytest.approx(torch.linalg.eigvalsh(expected)[-1].item(), rel=1e-10)


def test_small_network_hessian_and_eigenvalues_match_the_dense_hessian():
    model = _small_net()
    X, y = _classification_data()
    criterion = nn.CrossEntropyLoss()
    loss, params = _functional_loss(model, criterion, X, y)
    H = dense_hessian(loss, params)
    op = curvature_operator(model, criterion, (X, y))
    assert op.n_params == 51 and op.names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    torch.testing.assert_close(op.dense(), H)
    spectrum = torch.linalg.eigvalsh(H).numpy()
    by_magnitude = spectrum[np.argsort(-np.abs(spectrum))]
    for which, expected in (("LA", spectrum[::-1]), ("SA", spectrum), ("LM", by_magnitude)):
        res = top_eigenvalues(op, k=3, which=which, tol=1e-9, random_state=0)
        assert res.converged
        np.testing.assert_allclose(res.eigenvalues, expected[:3], rtol=1e-7, atol=1e-10)
        Hy = H @ res.eigenvectors
        torch.testing.assert_close(Hy, res.eigenvectors * torch.as_tensor(res.eigenvalues))


def test_ggn_and_fisher_of_a_small_network_match_their_definitions():
    model = _small_net(seed=1)
    X, y = _classification_data(n=12, seed=1)
    criterion = nn.CrossEntropyLoss()
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]

    def outputs(*values):
        return torch.func.functional_call(model, dict(zip(names, values, strict=True)), (X,))

    J = torch.cat(
        [j.reshape(12 * 3, -1) for j in torch.autograd.functional.jacobian(outputs, tuple(params))],
        dim=1,
    )
    out = outputs(*params).detach()
    H_out = torch.autograd.functional.hessian(
        lambda o: criterion(o.reshape(12, 3), y), out.reshape(-1)
    )
    ggn = curvature_operator(model, criterion, (X, y), kind="ggn").dense()
    torch.testing.assert_close(ggn, J.T @ H_out @ J)
    assert torch.linalg.eigvalsh(ggn)[0] > -1e-12  # positive semi-definite

    grads = []
    for i in range(12):
        loss, ps = _functional_loss(model, criterion, X[i : i + 1], y[i : i + 1])
        leaves = [p.clone().requires_grad_(True) for p in ps]
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss(leaves), leaves)]))
    G = torch.stack(grads)
    fisher = curvature_operator(model, criterion, (X, y), kind="fisher").dense()
    torch.testing.assert_close(fisher, G.T @ G / 12)


def test_eval_mode_is_used_and_the_model_is_left_as_it_was():
    model = _small_net(batchnorm=True)
    X, y = _classification_data()
    model.train()
    with torch.no_grad():
        model(X)  # running statistics away from their initial values
    state = {k: v.clone() for k, v in model.state_dict().items()}
    op = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
    H = op.dense()
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    model.eval()
    loss, params = _functional_loss(model, nn.CrossEntropyLoss(), X, y)
    torch.testing.assert_close(H, dense_hessian(loss, params))
    model.train()
    torch.manual_seed(0)
    curvature_operator(model, nn.CrossEntropyLoss(), (X, y), train=True).matvec(
        torch.ones(op.n_params, dtype=f64)
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert model.training


def test_a_data_loader_averages_its_batches_and_a_subset_is_a_block():
    model = _small_net(seed=2)
    X, y = _classification_data(n=32, seed=2)
    criterion = nn.CrossEntropyLoss()
    full = curvature_operator(model, criterion, (X, y)).dense()
    loader = DataLoader(TensorDataset(X, y), batch_size=20, shuffle=False)  # 20 + 12
    torch.testing.assert_close(curvature_operator(model, criterion, loader).dense(), full)
    ggn = curvature_operator(model, criterion, (X, y), kind="ggn").dense()
    torch.testing.assert_close(
        curvature_operator(model, criterion, loader, kind="ggn").dense(), ggn
    )
    # The last layer: by name, or as the model's own tensors.
    block = full[-21:, -21:]
    for chosen in (["2.weight", "2.bias"], list(model[2].parameters())):
        sub = curvature_operator(model, criterion, (X, y), params=chosen)
        assert sub.n_params == 21
        torch.testing.assert_close(sub.dense(), block)


def test_float32_operators_give_the_float64_eigenvalue():
    X, y = _classification_data(dtype=torch.float32)
    op32 = curvature_operator(_small_net(dtype=torch.float32), nn.CrossEntropyLoss(), (X, y))
    op64 = curvature_operator(_small_net(), nn.CrossEntropyLoss(), (X.to(f64), y))
    top32 = top_eigenvalues(op32, random_state=0)
    assert op32.dtype == torch.float32 and top32.eigenvectors.dtype == torch.float32
    top64 = top_eigenvalues(op64, tol=1e-10, random_state=0).eigenvalues[0]
    assert top32.eigenvalues[0] == pytest.approx(top64, rel=1e-4)


def test_restarted_lanczos_finds_a_clustered_top_of_the_spectrum():
    n = 300
    spectrum = np.linspace(0.0, 1.0, n)
    spectrum[-3:] = [2.0, 1.98, 1.96]  # lambda2 / lambda1 = 0.99
    A = _random_symmetric(n, seed=4, spectrum=spectrum)
    op = CurvatureOperator.from_loss(_quadratic(A), [torch.zeros(n, dtype=f64)])
    res = top_eigenvalues(op, k=3, tol=1e-8, basis_size=10, random_state=0)
    assert res.converged and res.n_restarts > 0
    np.testing.assert_allclose(res.eigenvalues, [2.0, 1.98, 1.96], rtol=1e-8)
    true_residuals = (
        A @ res.eigenvectors - res.eigenvectors * torch.as_tensor(res.eigenvalues)
    ).norm(dim=0)
    assert np.all(true_residuals.numpy() <= 1e-8 * res.eigenvalues * 1.01)
    failed = top_eigenvalues(op, k=3, tol=1e-12, basis_size=5, max_restarts=1, random_state=0)
    assert not failed.converged
    with pytest.raises(RuntimeError, match="did not converge"):
        top_eigenvalues(op, tol=0, basis_size=5, max_restarts=0, raise_on_failure=True)


def test_hutchinson_trace_is_within_its_standard_error_of_the_dense_trace():
    model = _small_net(seed=3)
    X, y = _classification_data(seed=3)
    op = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
    H = op.dense()
    res = hutchinson_trace(op, max_samples=200, tol=0.0, random_state=0)
    assert res.n_products == 200 == len(res.samples)
    assert abs(res.trace - H.trace().item()) <= 3 * res.std_error
    # The standard error is the Rademacher one: sqrt(2 sum_{i != j} H_ij^2 / m).
    off = (H**2).sum() - (H.diagonal() ** 2).sum()
    assert res.std_error == pytest.approx(float(torch.sqrt(2 * off / 200)), rel=0.25)
    early = hutchinson_trace(op, max_samples=500, tol=0.05, random_state=0)
    assert early.std_error <= 0.05 * abs(early.trace) and early.n_products < 500


def test_spectral_density_integrates_to_one_where_the_dense_spectrum_is():
    model = _small_net(seed=4)
    X, y = _classification_data(seed=4)
    op = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
    spectrum = torch.linalg.eigvalsh(op.dense()).numpy()
    density = spectral_density(op, n_steps=25, n_runs=8, random_state=0)
    assert density.n_products == 200 and density.nodes.shape == (8, 25)
    np.testing.assert_allclose(density.weights.sum(axis=1), 1.0)
    lo, hi = spectrum[0], spectrum[-1]
    assert np.all((density.nodes >= lo - 1e-9) & (density.nodes <= hi + 1e-9))
    sigma = 0.01 * (hi - lo)
    grid = np.linspace(lo - 10 * sigma, hi + 10 * sigma, 20001)
    values = density.evaluate(grid, sigma)
    assert np.trapezoid(values, grid) == pytest.approx(1.0, abs=1e-6)
    # Mass where the spectrum is: quadrature CDF vs the eigenvalue CDF.
    nodes, weights = density.nodes.reshape(-1), density.weights.reshape(-1) / 8
    for x in np.quantile(spectrum, [0.1, 0.5, 0.9]):
        assert weights[nodes <= x].sum() == pytest.approx(np.mean(spectrum <= x), abs=0.15)
    # Moments: Gauss quadrature is exact on polynomials, so only the probes' noise remains.
    mean = (weights * nodes).sum()
    assert mean == pytest.approx(spectrum.mean(), abs=0.2 * np.abs(spectrum).mean())
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_spectral_density(density)
    assert ax.get_yscale() == "log" and len(ax.lines) == 1


def test_arpack_method_agrees_with_the_torch_lanczos():
    loss_fn, params = _deep_linear_problem(depth=3, init="small", seed=1)
    ours = top_hessian_eigenvalue(loss_fn, params, random_state=0)
    arpack = top_hessian_eigenvalue(loss_fn, params, random_state=0, method="arpack")
    assert ours == pytest.approx(arpack, rel=1e-9)


def test_model_level_bad_inputs_are_named():
    model = _small_net()
    X, y = _classification_data()
    op = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
    with pytest.raises(ValueError, match="kind"):
        curvature_operator(model, nn.CrossEntropyLoss(), (X, y), kind="laplacian")
    with pytest.raises(ValueError, match="no parameter named"):
        curvature_operator(model, nn.CrossEntropyLoss(), (X, y), params=["nope"])
    with pytest.raises(ValueError, match="which"):
        top_eigenvalues(op, which="BE")
    with pytest.raises(ValueError, match="k must"):
        top_eigenvalues(op, k=0)
    with pytest.raises(TypeError, match="CurvatureOperator"):
        hutchinson_trace(np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        op.matvec(torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="per-sample"):
        curvature_operator(
            model,
            lambda o, t: nn.functional.cross_entropy(o, t, reduction="sum"),
            (X, y),
            kind="fisher",
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_operators_run_on_cuda():
    model = _small_net(dtype=torch.float32).cuda()
    X, y = _classification_data(dtype=torch.float32)
    op = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
    res = top_eigenvalues(op, k=2, random_state=0)
    assert res.eigenvectors.device.type == "cuda" and res.converged
    cpu = curvature_operator(model.cpu(), nn.CrossEntropyLoss(), (X, y))
    np.testing.assert_allclose(
        res.eigenvalues, top_eigenvalues(cpu, k=2, random_state=0).eigenvalues, rtol=1e-4
    )

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

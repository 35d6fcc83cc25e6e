"""Tests for the two-timescale network, its data and its limit dynamics."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sktheory import DivergenceError, DivergenceWarning, TwoTimescaleNet
from sktheory.datasets import PiecewiseConstant, make_piecewise_constant
from sktheory.two_timescale import (
    _PYTHON_KERNELS,
    _kernels,
    _sigma,
    _sigma_local,
    _sigma_prime,
    fast_outer_weights,
    l2_error,
    limit_final_positions,
    limit_l2_error,
    simulate_two_timescale_limit,
)

PAPER = PiecewiseConstant.paper()


@pytest.fixture(scope="module")
def paper_data():
    return make_piecewise_constant(100_000, random_state=0)


# --------------------------------------------------------------- activation
def test_sigma_matches_closed_form():
    z = np.linspace(-1.0, 1.0, 2001)
    expected = np.select(
        [z < -0.5, z <= 0.0, z <= 0.5],
        [0.0, 4 * (z + 0.5) ** 3, 1 - 4 * (0.5 - z) ** 3],
        default=1.0,
    )
    np.testing.assert_allclose(_sigma(z), expected, atol=1e-15)
    assert _sigma(0.0) == 0.5 and _sigma(-0.5) == 0.0 and _sigma(0.5) == 1.0
    # The derivative is the finite difference of sigma and integrates to one.
    h = 1e-7
    fd = (_sigma(z + h) - _sigma(z - h)) / (2 * h)
    np.testing.assert_allclose(_sigma_prime(z), fd, atol=1e-5)
    grid = np.linspace(-0.5, 0.5, 100_001)
    assert np.trapezoid(_sigma_prime(grid), grid) == pytest.approx(1.0, abs=1e-9)
    # The compiled window helper agrees with the vectorised formulas.
    for zi in np.linspace(-0.49, 0.49, 21):
        s, ds = _sigma_local(zi)
        assert s == pytest.approx(float(_sigma(zi)), abs=1e-14)
        assert ds == pytest.approx(float(_sigma_prime(zi)), abs=1e-12)


# ---------------------------------------------------------------- gradients
def _network(Z, bias, a, u, eta):
    # Reference forward pass from the vectorised formula of sigma.
    out = np.full(Z.shape[0], float(bias))
    for k in range(a.shape[0]):
        out += _sigma((Z[:, k, None] - u[k]) / eta) @ a[k]
    return out


def _loss(X, y, bias, a, u, eta):
    return np.mean((_network(X, bias, a, u, eta) - y) ** 2)


def test_forward_pass_matches_the_formula():
    rng = np.random.RandomState(0)
    Z, a = rng.uniform(size=(50, 2)), rng.normal(size=(2, 7))
    u = np.sort(rng.uniform(size=(2, 7)), axis=1)
    for kernels in (_kernels(), _PYTHON_KERNELS):
        got = kernels.forward_rows(Z, np.array([0.3]), a, u, 1 / 0.2)
        np.testing.assert_allclose(got, _network(Z, 0.3, a, u, 0.2), rtol=1e-12, atol=1e-12)


def _fd_grads(X, y, bias, a, u, eta, h=1e-7):
    base = dict(bias=bias, a=a, u=u)
    grads = {}
    for name, value in base.items():
        value = np.atleast_1d(np.asarray(value, float))
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = {**base, name: plus if name != "bias" else plus[0]}
            args_m = {**base, name: minus if name != "bias" else minus[0]}
            g[idx] = (_loss(X, y, eta=eta, **args_p) - _loss(X, y, eta=eta, **args_m)) / (2 * h)
        grads[name] = g
    return grads


@pytest.mark.parametrize("batch", [1, 3, 0])
def test_one_update_is_minus_lr_times_finite_difference_gradient(batch):
    rng = np.random.RandomState(0)
    eta, lr, ratio = 0.2, 0.01, 0.3
    X = rng.uniform(size=(5, 2))
    y = rng.normal(size=5)
    # Positions spread so that several neurons sit inside each sample's window.
    u = np.sort(rng.uniform(size=(2, 6)), axis=1)
    a = rng.normal(size=(2, 6))
    bias = np.array([0.3])
    idx = np.array([2, 0, 4]) if batch == 3 else np.array([1])
    rows = np.arange(5) if batch == 0 else idx[: max(batch, 1)]
    grads = _fd_grads(X[rows], y[rows], bias[0], a, u, eta)
    a0, u0, b0 = a.copy(), u.copy(), bias.copy()
    total, done = _kernels().sgd_steps(X, y, idx, bias, a, u, lr, ratio, 1 / eta, batch, 1)
    assert done == 1
    assert total == pytest.approx(_loss(X[rows], y[rows], b0[0], a0, u0, eta))
    np.testing.assert_allclose(b0 - bias, lr * grads["bias"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a0 - a, lr * grads["a"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(u0 - u, lr * ratio * grads["u"], rtol=1e-5, atol=1e-11)
    assert np.any(u != u0)  # the test exercises the position update


def test_pure_python_loop_matches_compiled_loop():
    compiled, plain = _kernels().sgd_steps, _PYTHON_KERNELS.sgd_steps
    X, y, _ = make_piecewise_constant(200, random_state=1)
    idx = np.random.RandomState(1).randint(200, size=300)
    states = []
    for func in (compiled, plain):
        u = np.sort(np.random.RandomState(2).uniform(size=(1, 10)), axis=1)
        a, bias = np.zeros((1, 10)), np.zeros(1)
        total, _ = func(X, y, idx, bias, a, u, 0.05, 0.5, 1 / 0.05, 1, 300)
        states.append((total, bias, a, u))
    for left, right in zip(*states, strict=True):
        np.testing.assert_allclose(left, right, rtol=1e-12)


def test_numba_is_a_core_dependency_and_the_compiled_loop_is_used():
    # A plain `pip install sktheory` brings numba: it is in [project].dependencies,
    # not only in an extra.
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    assert any(d.replace(" ", "").lower().startswith("numba") for d in deps), deps
    numba = pytest.importorskip("numba")
    # With numba present, fits run the compiled dispatchers, which compiled a
    # signature for the fit's arrays.
    from sktheory import two_timescale

    X, y, _ = make_piecewise_constant(200, random_state=0)
    TwoTimescaleNet(max_iter=1000, timescale_ratio=1.0, random_state=0).fit(X, y)
    kernels = two_timescale._kernels()
    assert isinstance(kernels.sgd_steps, numba.core.registry.CPUDispatcher)
    assert kernels.sgd_steps is not _PYTHON_KERNELS.sgd_steps
    assert kernels.sgd_steps.signatures


def test_without_numba_the_python_loop_runs_and_warns_once(monkeypatch):
    from sktheory import two_timescale

    monkeypatch.setattr(two_timescale, "HAS_NUMBA", False)
    monkeypatch.setattr(two_timescale, "_compiled", None)
    X, y, _ = make_piecewise_constant(100, random_state=0)
    net = TwoTimescaleNet(max_iter=200, timescale_ratio=1.0, random_state=0)
    with pytest.warns(RuntimeWarning, match="pure Python.*pip install numba"):
        first = net.fit(X, y).predict(X)
    assert two_timescale._kernels() is _PYTHON_KERNELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_array_equal(net.fit(X, y).predict(X), first)


# ------------------------------------------------------------- fast solution
def test_fast_outer_weights_is_least_squares_on_step_features():
    rng = np.random.RandomState(0)
    u = rng.uniform(size=12)
    x = (np.arange(400_000) + 0.5) / 400_000  # midpoint rule for x ~ U[0, 1]
    features = np.column_stack([np.ones_like(x), (x[:, None] >= u).astype(float)])
    coef = np.linalg.lstsq(features, PAPER(x), rcond=None)[0]
    bias, a = fast_outer_weights(u, PAPER)
    assert bias == pytest.approx(coef[0], abs=2e-3)
    np.testing.assert_allclose(a, coef[1:], atol=2e-3)
    # f is the mean of f* on each cell between neighbouring neurons.
    edges = np.concatenate([[0.0], np.sort(u), [1.0]])
    f_cells = bias + np.concatenate([[0.0], np.cumsum(a[np.argsort(u)])])
    for k in range(len(edges) - 1):
        grid = np.linspace(edges[k], edges[k + 1], 20_001)
        assert f_cells[k] == pytest.approx(np.trapezoid(PAPER(grid), grid) / np.ptp(grid), abs=1e-3)


def test_limit_l2_error_closed_form():
    # One jump of height D at 0.5 in the cell [0.4, 0.7]: D^2 dL dR / (dL + dR).
    target = ([0.5], [1.0, 4.0])
    value = limit_l2_error([0.4, 0.7], target)
    assert value == pytest.approx(9 * 0.1 * 0.2 / 0.3, rel=1e-12)
    assert limit_l2_error([0.2, 0.5, 0.8], target) == pytest.approx(0.0, abs=1e-15)
    # Paper target: numerical integral of (fast solution - f*)^2.
    u = np.random.RandomState(3).uniform(size=15)
    bias, a = fast_outer_weights(u, PAPER)
    x = (np.arange(1_000_000) + 0.5) / 1_000_000
    f = bias + (x[:, None] >= u).astype(float) @ a
    assert limit_l2_error(u, PAPER) == pytest.approx(np.mean((f - PAPER(x)) ** 2), rel=1e-4)


# --------------------------------------------------------------- limit ODE
def test_limit_ode_matches_conserved_quantity_and_closed_form_end():
    u0 = np.array([0.05, 0.12, 0.3, 0.42, 0.58, 0.66, 0.9, 0.95])
    target = PiecewiseConstant([0.25, 0.5, 0.75], [0.0, 2.0, -1.0, 1.0])
    path = simulate_two_timescale_limit(u0, target, 0.2, n_steps=20_000, n_records=51)
    assert path.positions.shape == (51, 8) and path.times[-1] == pytest.approx(0.2)
    # dL^3 - dR^3 is conserved for the neurons flanking each jump.
    for (left, right), jump in zip([(1, 2), (3, 4), (5, 6)], target.jumps, strict=True):
        d_left, d_right = jump - path.positions[:, left], path.positions[:, right] - jump
        invariant = d_left**3 - d_right**3
        np.testing.assert_allclose(invariant, invariant[0], atol=2e-6)
    np.testing.assert_allclose(path.positions[-1], limit_final_positions(u0, target), atol=1e-4)
    for jump in target.jumps:  # one neuron lands on each jump
        assert np.min(np.abs(path.positions[-1] - jump)) < 1e-12
    assert np.all(np.diff(path.l2_error) <= 1e-15) and path.l2_error[-1] < 1e-20
    # Neurons not flanking a jump never move.
    np.testing.assert_array_equal(path.positions[:, [0, 7]], np.tile(u0[[0, 7]], (51, 1)))


def test_limit_ode_speed_is_the_papers_formula():
    u0 = [0.1, 0.4, 0.7, 0.9]
    path = simulate_two_timescale_limit(u0, ([0.5], [0.0, 3.0]), 1e-4, n_steps=1, n_records=2)
    d_left, d_right = 0.1, 0.2
    speed = 9 * np.array([d_right**2, -(d_left**2)]) / (d_left + d_right) ** 2
    np.testing.assert_allclose((path.positions[1] - path.positions[0])[1:3] / 1e-4, speed)


def test_limit_ode_needs_two_neurons_per_piece():
    with pytest.raises(ValueError, match=r"piece 1 .* holds 1 neuron\(s\)"):
        simulate_two_timescale_limit([0.1, 0.2, 0.6, 0.8, 0.9], ([0.5, 0.7], [0, 1, 2]), 1.0)
    with pytest.raises(ValueError, match="at least two neurons"):
        limit_final_positions([0.1, 0.6, 0.7], ([0.5], [0, 1]))


def test_limit_functions_reject_bad_input():
    with pytest.raises(ValueError, match="finite"):
        fast_outer_weights([0.1, np.nan], PAPER)
    with pytest.raises(ValueError, match="1-D"):
        limit_l2_error(np.zeros((2, 2)), PAPER)
    with pytest.raises(TypeError, match="PiecewiseConstant"):
        fast_outer_weights([0.1, 0.2], [0.5, 1.0])
    with pytest.raises(ValueError, match="duration"):
        simulate_two_timescale_limit([0.1, 0.2, 0.6, 0.7], ([0.5], [0, 1]), -1.0)
    with pytest.raises(ValueError, match="n_steps"):
        simulate_two_timescale_limit([0.1, 0.2, 0.6, 0.7], ([0.5], [0, 1]), 1.0, n_steps=0)


# ------------------------------------------------------------ SGD vs theory
def test_sgd_in_two_timescale_regime_follows_the_limit_ode(paper_data):
    X, y, target = paper_data
    # Seed 4 puts at least two neurons in every piece, the theorem's hypothesis.
    net = TwoTimescaleNet(random_state=4).fit(X, y)
    tau = net.timescale_ratio * net.learning_rate * net.n_iter_
    assert tau == pytest.approx(0.035)
    path = simulate_two_timescale_limit(net.initial_positions_[0], target, tau)
    np.testing.assert_allclose(np.sort(net.positions_[0]), path.positions[-1], atol=5e-3)
    # The limit has converged by then, and SGD has a neuron within eta of each jump.
    assert path.l2_error[-1] < 1e-12
    gaps = np.abs(net.positions_[0][:, None] - target.jumps).min(axis=0)
    assert np.all(gaps < net.bandwidth)


# eps=1 with h=1e-3 learns nothing beyond the mean, and says so.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_two_timescale_beats_standard_regime_at_equal_budget(paper_data):
    X, y, target = paper_data
    steps = 1_750_000
    slow = TwoTimescaleNet(max_iter=steps, random_state=7).fit(X, y)
    err_slow = l2_error(slow, target)
    # One neuron on each jump, and the error near the noise floor of SGD.
    on_jump = np.abs(slow.positions_[0][:, None] - target.jumps) < slow.bandwidth
    assert np.all(on_jump.sum(axis=0) >= 1)
    assert err_slow < 0.05
    for lr in (1e-3, 1e-5):  # same step as the slow fit, and the paper's eps=1 step
        fast = TwoTimescaleNet(
            max_iter=steps, timescale_ratio=1.0, learning_rate=lr, random_state=7
        ).fit(X, y)
        assert l2_error(fast, target) > 10 * err_slow


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_l2_error_is_the_integral(paper_data):
    X, y, target = paper_data
    net = TwoTimescaleNet(max_iter=20_000, timescale_ratio=0.01, random_state=0).fit(X, y)
    # Midpoint rule on a grid whose cell edges contain the jumps of f*.
    x = (np.arange(200_000) + 0.5) / 200_000
    numeric = np.mean((net.predict(x[:, None]) - target(x)) ** 2)
    assert l2_error(net, target) == pytest.approx(numeric, rel=1e-5)
    # A history snapshot is evaluated like the network it records.
    assert l2_error(net, target, history_index=-1) == pytest.approx(l2_error(net, target))
    assert l2_error(net, target, history_index=0) > l2_error(net, target)
    two = TwoTimescaleNet(max_iter=10, random_state=0).fit(np.hstack([X, X]), y)
    with pytest.raises(ValueError, match="one feature"):
        l2_error(two, target)


# ------------------------------------------------------------- estimator API
def test_additive_model_fits_two_features():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(4000, 2))
    f1, f2 = PiecewiseConstant([0.5], [0.0, 2.0]), PiecewiseConstant([0.3], [1.0, -1.0])
    y = f1(X[:, 0]) + f2(X[:, 1])
    net = TwoTimescaleNet(
        n_neurons=6, bandwidth=0.02, max_iter=300_000, timescale_ratio=1e-2, random_state=0
    ).fit(X, y)
    assert net.outer_weights_.shape == net.positions_.shape == (2, 6)
    assert net.score(X, y) > 0.97
    # Each coordinate's network puts a neuron on its own jump.
    assert np.min(np.abs(net.positions_[0] - 0.5)) < 0.02
    assert np.min(np.abs(net.positions_[1] - 0.3)) < 0.02


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_input_scaling():
    X, y, _ = make_piecewise_constant(500, random_state=0)
    net = TwoTimescaleNet(max_iter=2000, random_state=0).fit(X, y)
    np.testing.assert_array_equal(net.data_min_, [0.0])  # "auto" keeps [0, 1] data
    np.testing.assert_array_equal(net.data_scale_, [1.0])
    shifted = TwoTimescaleNet(max_iter=2000, random_state=0).fit(10 * X - 3, y)
    lo, hi = (10 * X - 3).min(), (10 * X - 3).max()
    np.testing.assert_allclose(shifted.data_min_, [lo])
    np.testing.assert_allclose(shifted.data_scale_, [hi - lo])
    assert np.all((shifted.positions_ >= lo) & (shifted.positions_ <= hi))
    # Min-max scaling makes the fit invariant to affine maps of the input.
    a = TwoTimescaleNet(max_iter=2000, input_scaling="minmax", random_state=0).fit(X, y)
    b = TwoTimescaleNet(max_iter=2000, input_scaling="minmax", random_state=0)
    b.fit(10 * X - 3, y)
    np.testing.assert_allclose(a.predict(X), b.predict(10 * X - 3), atol=1e-9)
    np.testing.assert_allclose(10 * a.positions_ - 3, b.positions_, atol=1e-9)


def test_reproducible_and_history_does_not_change_the_fit():
    X, y, _ = make_piecewise_constant(1000, random_state=0)
    kw = dict(max_iter=150_000, timescale_ratio=1e-3, random_state=3)
    a = TwoTimescaleNet(**kw).fit(X, y)
    b = TwoTimescaleNet(record_every=7_777, **kw).fit(X, y)
    np.testing.assert_array_equal(a.positions_, b.positions_)
    np.testing.assert_array_equal(a.outer_weights_, b.outer_weights_)
    assert [h["iter"] for h in a.history_] == list(range(1_500, 150_001, 1_500))
    assert b.history_[-1]["iter"] == 150_000 and len(b.history_) == 20
    np.testing.assert_array_equal(a.history_[-1]["positions"], a.positions_)
    assert a.n_iter_ == 150_000 and not a.diverged_
    # Training loss decreases towards the noise variance 1/3.
    assert a.history_[0]["loss"] > a.history_[-1]["loss"] > 0.3
    c = TwoTimescaleNet(**{**kw, "random_state": 4}).fit(X, y)
    assert not np.array_equal(a.positions_, c.positions_)


def test_full_batch_gradient_descent_is_deterministic_and_descends():
    X, y, _ = make_piecewise_constant(300, random_state=0)
    kw = dict(batch_size=None, learning_rate=0.1, timescale_ratio=0.01, bandwidth=0.02)
    net = TwoTimescaleNet(max_iter=500, random_state=0, **kw).fit(X, y)
    losses = [h["loss"] for h in net.history_]
    # Well below the variance of y (the mean predictor's loss, 3.50 here).
    assert losses[-1] < 0.15 * np.var(y) < 0.2 * losses[0]
    again = TwoTimescaleNet(max_iter=500, random_state=0, **kw).fit(X, y)
    np.testing.assert_array_equal(net.predict(X), again.predict(X))


def test_pickle_roundtrip():
    X, y, _ = make_piecewise_constant(200, random_state=0)
    net = TwoTimescaleNet(max_iter=500, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))


def test_divergence_raises_or_warns():
    X, y, _ = make_piecewise_constant(200, random_state=0)
    with pytest.raises(DivergenceError, match="diverged.*Lower learning_rate"):
        TwoTimescaleNet(learning_rate=50.0, max_iter=1000, random_state=0).fit(X, y)
    # A finite blow-up of full-batch GD, caught against the variance of y.
    with pytest.raises(DivergenceError, match="more than 10000 times the reference"):
        TwoTimescaleNet(learning_rate=1.0, batch_size=None, max_iter=200).fit(X, y)
    net = TwoTimescaleNet(learning_rate=50.0, max_iter=1000, on_divergence="warn")
    with pytest.warns(DivergenceWarning):
        net.fit(X, y)
    assert net.diverged_ and net.n_iter_ < 1000
    with pytest.raises(ValueError, match="diverged"):
        net.predict(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bad_input_and_parameters():
    X, y, _ = make_piecewise_constant(50, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        TwoTimescaleNet(max_iter=5).fit(np.where(X > 0.5, np.nan, X), y)
    with pytest.raises(ValueError, match="0 sample"):
        TwoTimescaleNet(max_iter=5).fit(X[:0], y[:0])
    with pytest.raises(InvalidParameterError, match="n_neurons"):
        TwoTimescaleNet(n_neurons=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="bandwidth"):
        TwoTimescaleNet(bandwidth=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        TwoTimescaleNet(batch_size=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="input_scaling"):
        TwoTimescaleNet(input_scaling="zscore").fit(X, y)
    net = TwoTimescaleNet(max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        net.predict(np.hstack([X, X]))


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_warm_start_continues_the_same_run(batch_size):
    X, y, _ = make_piecewise_constant(300, random_state=0)
    kw = dict(n_neurons=8, bandwidth=0.05, timescale_ratio=0.05, batch_size=batch_size)
    kw.update(learning_rate=0.02 if batch_size is None else 0.01, random_state=0)
    # 3000 + 2500 updates cross the boundaries of the blocks of sample indices.
    full = TwoTimescaleNet(max_iter=5500, record_every=500, **kw).fit(X, y)
    warm = TwoTimescaleNet(max_iter=3000, record_every=500, warm_start=True, **kw).fit(X, y)
    warm.set_params(max_iter=2500).fit(X, y)
    assert warm.n_iter_ == full.n_iter_ == 5500
    for name in ("bias_", "outer_weights_", "positions_", "initial_positions_"):
        np.testing.assert_array_equal(getattr(warm, name), getattr(full, name))
    assert [h["iter"] for h in warm.history_] == list(range(500, 5501, 500))
    assert [h["loss"] for h in warm.history_] == [h["loss"] for h in full.history_]
    # A warm fit on other data (fewer samples) draws new indices within range.
    warm.set_params(max_iter=1000).fit(X[:50], y[:50])
    assert warm.n_iter_ == 6500 and np.all(np.isfinite(warm.predict(X)))


def test_target_scaling_makes_the_fit_work_at_any_scale_of_y():
    # The README's pipeline setting at test size. Without target scaling, y * 100
    # moves the positions 10^4 times faster and the fit learns nothing.
    X, y, _ = make_piecewise_constant(5000, random_state=0)
    X_test, y_test, _ = make_piecewise_constant(5000, random_state=1)
    kw = dict(max_iter=100_000, timescale_ratio=2e-3, random_state=0)
    for c in (0.01, 1.0, 100.0):
        net = TwoTimescaleNet(**kw).fit(X, c * y)
        assert net.target_scale_ == pytest.approx(c)  # the power of ten nearest std(y)
        assert net.target_offset_ == pytest.approx(c * np.mean(y))
        assert net.score(X_test, c * y_test) > 0.75
    raw = TwoTimescaleNet(target_scaling="none", **kw).fit(X, 100 * y)
    assert raw.score(X_test, 100 * y_test) < 0.05
    # Fitted weights are in units of y: full-batch GD is scale-equivariant.
    gd = dict(batch_size=None, learning_rate=0.1, timescale_ratio=0.01, bandwidth=0.02)
    gd.update(max_iter=300, random_state=0)
    Xs, ys = X[:300], y[:300]
    ref = TwoTimescaleNet(**gd).fit(Xs, ys)
    for scaling in ("auto", "standard"):
        net = TwoTimescaleNet(target_scaling=scaling, **gd).fit(Xs, 100 * ys + 7)
        shift = net.target_offset_ - 100 * ref.target_offset_
        if scaling == "auto":
            np.testing.assert_allclose(net.positions_, ref.positions_, atol=1e-9)
            np.testing.assert_allclose(net.outer_weights_, 100 * ref.outer_weights_, atol=1e-7)
            np.testing.assert_allclose(net.predict(Xs), 100 * ref.predict(Xs) + shift, atol=1e-7)
        assert net.score(Xs, 100 * ys + 7) > 0.8


def test_target_scaling_starts_at_the_mean_and_none_at_zero():
    X, y, _ = make_piecewise_constant(500, random_state=0)
    kw = dict(max_iter=1, learning_rate=1e-12, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = TwoTimescaleNet(**kw).fit(X, y)
        raw = TwoTimescaleNet(target_scaling="none", **kw).fit(X, y)
    np.testing.assert_allclose(auto.predict(X), np.mean(y), rtol=1e-9)
    assert (auto.target_scale_, raw.target_offset_, raw.target_scale_) == (1.0, 0.0, 1.0)
    np.testing.assert_allclose(raw.predict(X), 0.0, atol=1e-9)


def test_step_too_small_warns_convergence():
    X, y, _ = make_piecewise_constant(200, random_state=0)
    net = TwoTimescaleNet(learning_rate=1e-9, max_iter=1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not decrease.*Raise learning_rate"):
        net.fit(X, y)
    assert net.n_iter_ == 1000 and not net.diverged_


def test_clear_errors_and_removed_parameters():
    X, y, _ = make_piecewise_constant(50, random_state=0)
    with pytest.raises(ValueError, match="needs a numeric y"):
        TwoTimescaleNet(max_iter=5).fit(X, y.astype(str))
    # One-sample SGD draws samples uniformly: no sample_weight.
    with pytest.raises(TypeError, match="sample_weight"):
        TwoTimescaleNet(max_iter=5).fit(X, y, sample_weight=np.ones(50))
    # The loop is CPU float64: device and dtype are not parameters.
    assert not {"device", "dtype"} & set(TwoTimescaleNet().get_params())
    with pytest.raises(TypeError, match="device"):
        TwoTimescaleNet(device="cpu")


# -------------------------------------------------------------------- data
def test_make_piecewise_constant():
    X, y, target = make_piecewise_constant(5000, noise=0.5, random_state=0)
    assert X.shape == (5000, 1) and y.shape == (5000,)
    assert np.all((X >= 0) & (X <= 1))
    assert np.max(np.abs(y - target(X[:, 0]))) <= 0.5
    np.testing.assert_array_equal(target.values, [1, 5, 1, 3, 1, 5])
    np.testing.assert_array_equal(target.heights, [4, -4, 2, -2, 4])
    X2, y2, _ = make_piecewise_constant(5000, noise=0.5, random_state=0)
    np.testing.assert_array_equal(y, y2)
    _, y3, custom = make_piecewise_constant(10, jumps=[0.3], values=[0, 1], noise=0.0)
    assert set(np.unique(y3)) <= {0.0, 1.0} and custom.jumps.tolist() == [0.3]
    edges = np.array([0.0, 0.25, 0.3, 0.9, 1.0])
    # By hand: (0.2 * 1 + 0.05 * 5) / 0.25, 5, (0.25 + 0.15 + 0.45 + 0.15 + 0.5) / 0.6, 5.
    np.testing.assert_allclose(target.cell_means(edges), [1.8, 5.0, 2.5, 5.0])


def test_piecewise_constant_cell_means_are_integrals():
    edges = np.array([0.0, 0.1, 0.27, 0.5, 0.5, 0.93, 1.0])
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        got = PAPER.cell_means(edges)[k]
        if hi == lo:
            assert got == PAPER(lo)
        else:
            grid = np.linspace(lo, hi, 200_001)
            assert got == pytest.approx(np.trapezoid(PAPER(grid), grid) / (hi - lo), abs=1e-4)


def test_bad_targets_and_data_arguments():
    with pytest.raises(ValueError, match="one more entry"):
        PiecewiseConstant([0.5], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        PiecewiseConstant([0.5, 0.4], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"inside \(0, 1\)"):
        PiecewiseConstant([1.5], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        PiecewiseConstant([0.5], [1.0, np.nan])
    with pytest.raises(ValueError, match="n_samples"):
        make_piecewise_constant(0)
    with pytest.raises(ValueError, match="noise"):
        make_piecewise_constant(10, noise=-1.0)
    with pytest.raises(ValueError, match="values must be given"):
        make_piecewise_constant(10, jumps=[0.5])


def test_demo_two_timescale_beats_baseline():
    from sktheory._demo import demos

    row = demos()["TwoTimescaleNet"](random_state=0)
    assert set(row) == {"task", "metric", "score", "baseline", "baseline_score"}
    assert row["score"] < 0.1 * row["baseline_score"]

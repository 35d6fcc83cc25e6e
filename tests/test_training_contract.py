"""The training contract, applied to every iterative estimator.

Each case below is one a user met before the contract existed: a fit that blew
up while its loss stayed finite, a saddle start, a target scale the default
step could not handle. Each must now raise :class:`~sktheory.DivergenceError`
(or, with ``on_divergence="warn"``, warn and refuse to predict), warn
:class:`~sklearn.exceptions.ConvergenceWarning`, or fit well.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from sktheory import DivergenceError, DivergenceWarning
from sktheory.discovery import all_estimators

_OPTIONAL = ("skorch", "iisignature", "pysiglib", "lark", "rdflib", "numba")


def test_import_loads_no_optional_dependency():
    code = f"import sys, sktheory; print(sorted(m for m in {_OPTIONAL!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name, cls", all_estimators())
def test_every_estimator_speaks_the_contract(name, cls):
    params = inspect.signature(cls).parameters
    assert "warm_start" in params, name
    assert "on_divergence" in params, name
    budget = getattr(cls, "_budget", None)
    assert budget in ("max_iter", "max_epochs") and budget in params, name
    assert not hasattr(cls, "_demo"), f"{name}: demo code belongs in sktheory._demo"


# ----------------------------------------------------------------- the cases
# Each builder returns (estimator, X, y) at test size; the comments give the
# loss the same fit reached silently before the contract.
def _resnet_regression():
    from sktheory.datasets import make_resnet_ode_teacher

    return make_resnet_ode_teacher(100, 4, depth=20, noise=0.0, random_state=0)


def _resnet_classification():
    from sktheory.datasets import make_resnet_ode_teacher

    return make_resnet_ode_teacher(100, 4, task="classification", random_state=0)


def _spirals(n=60, points=30, regression=False):
    from sktheory.datasets import make_spirals

    X, y = make_spirals(n, points, random_state=0)
    return X, (y.astype(float) if regression else y)


def _piecewise(n=200, random_state=0):
    from sktheory.datasets import make_piecewise_constant

    X, y, _ = make_piecewise_constant(n, random_state=random_state)
    return X, y


def _hexagon(n=100):
    from sktheory.datasets import make_hexagon_mixture

    X, _ = make_hexagon_mixture(n, random_state=0)
    return X, None


def _deep_linear(n=100):
    from sktheory.datasets import make_deep_linear_regression

    return make_deep_linear_regression(n_samples=n, random_state=0)


def _single_location(n, n_tokens, n_features):
    from sktheory.datasets import make_single_location

    return make_single_location(n, n_tokens, n_features, random_state=0)


def _blowup_cases():
    from sktheory import (
        DeepLinearRegressor,
        DiffusionOptimizer,
        ResNetODEClassifier,
        ResNetODERegressor,
        SignatureKernelRNN,
        SignatureKernelRNNClassifier,
        SingleLocationRegressor,
        TwoTimescaleNet,
    )

    adam = dict(depth=8, width=8, optimizer="adam", learning_rate=1e3, max_epochs=20)
    rnn = dict(solver="rnn", depth=2, hidden_size=4, learning_rate=1e6, max_epochs=5)
    return {
        # full-batch GD far above the critical step: 6e37 after 4 updates
        "deep-linear-lr2": lambda: (
            DeepLinearRegressor(depth=3, learning_rate=2.0, max_iter=200),
            *_deep_linear(),
        ),
        # tokens of scale 1e3: 5e6 after one update
        "single-location-tokens-1e3": lambda: (
            SingleLocationRegressor(max_iter=5),
            *(lambda X, y: (1e3 * X, y))(*_single_location(20, 3, 4)),
        ),
        # 1.8e105, R^2 -6e97
        "resnet-regressor-adam-lr1e3": lambda: (ResNetODERegressor(**adam), *_resnet_regression()),
        # 7e45, accuracy 0.36
        "resnet-classifier-adam-lr1e3": lambda: (
            ResNetODEClassifier(**adam),
            *_resnet_classification(),
        ),
        # 3.6e7: the forward pass explodes at initialisation without depth scaling
        "resnet-scaling-exponent-0-depth-64": lambda: (
            ResNetODERegressor(depth=64, width=8, scaling_exponent=0.0, max_epochs=5),
            *_resnet_regression(),
        ),
        # 4e24
        "signature-rnn-regressor-lr1e6": lambda: (
            SignatureKernelRNN(**rnn),
            *_spirals(regression=True),
        ),
        # 4e21
        "signature-rnn-classifier-lr1e6": lambda: (
            SignatureKernelRNNClassifier(**rnn),
            *_spirals(),
        ),
        # one-sample SGD: 1.3e46 after 10 updates
        "two-timescale-lr50": lambda: (
            TwoTimescaleNet(learning_rate=50.0, max_iter=1000),
            *_piecewise(),
        ),
        # |loss| up to 7e22, final loss 7e14
        "diffusion-denoising-lr1e3": lambda: (
            DiffusionOptimizer(
                sampler="denoising",
                reward="hexagon",
                n_diffusion_steps=4,
                n_particles=32,
                batch_size=32,
                hidden_size=16,
                pretrain_max_iter=20,
                max_iter=40,
                learning_rate=1e3,
            ),
            *_hexagon(),
        ),
        # full batch: grows geometrically, caught at 1.6e5
        "two-timescale-full-batch-lr1": lambda: (
            TwoTimescaleNet(learning_rate=1.0, batch_size=None, max_iter=200),
            *_piecewise(),
        ),
    }


_BLOWUPS = _blowup_cases()


@pytest.mark.parametrize("case", sorted(_BLOWUPS))
def test_finite_blow_up_raises(case):
    est, X, y = _BLOWUPS[case]()
    with pytest.raises(DivergenceError, match="diverged"):
        est.set_params(random_state=0).fit(X, y)


@pytest.mark.parametrize("case", sorted(_BLOWUPS))
def test_finite_blow_up_warns_and_refuses_to_predict(case):
    est, X, y = _BLOWUPS[case]()
    with pytest.warns(DivergenceWarning, match="diverged"):
        est.set_params(random_state=0, on_divergence="warn").fit(X, y)
    assert est.diverged_
    with pytest.raises(ValueError, match="diverged"):
        est.predict(X) if y is not None else est.sample(5)


# ------------------------------------------------------------ non-convergence
def _no_progress_cases():
    from sktheory import (
        DeepLinearRegressor,
        DiffusionOptimizer,
        ResNetODERegressor,
        SignatureKernelRNN,
        TwoTimescaleNet,
    )
    from sktheory.diffusion import HEXAGON_WEIGHTS, hexagon_means

    return {
        # both sat at the saddle with R^2 ~ 0, silently
        "deep-linear-init-0": lambda: (
            DeepLinearRegressor(init_scale=0.0, max_iter=300),
            *_deep_linear(50),
        ),
        "deep-linear-init-0.01": lambda: (
            DeepLinearRegressor(init_scale=0.01, max_iter=300),
            *_deep_linear(50),
        ),
        "diffusion-lr1e-12": lambda: (
            DiffusionOptimizer(
                reward=None,
                kl_weight=1.0,
                means_init=hexagon_means(),
                weights_init=HEXAGON_WEIGHTS,
                n_particles=200,
                learning_rate=1e-12,
                max_iter=20,
            ),
            *_hexagon(),
        ),
        "resnet-sgd-lr1e-9": lambda: (
            ResNetODERegressor(depth=4, width=8, optimizer="sgd", learning_rate=1e-9, max_epochs=5),
            *_resnet_regression(),
        ),
        "signature-rnn-lr1e-7": lambda: (
            SignatureKernelRNN(
                solver="rnn", depth=2, hidden_size=4, learning_rate=1e-7, max_epochs=3
            ),
            *_spirals(30, 20, regression=True),
        ),
        "two-timescale-lr1e-9": lambda: (
            TwoTimescaleNet(learning_rate=1e-9, max_iter=1000),
            *_piecewise(),
        ),
    }


_NO_PROGRESS = _no_progress_cases()


@pytest.mark.parametrize("case", sorted(_NO_PROGRESS))
def test_no_progress_warns_convergence(case):
    est, X, y = _NO_PROGRESS[case]()
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        est.set_params(random_state=0).fit(X, y)


def test_budget_exhausted_with_tol_warns_convergence():
    from sktheory import ResNetODERegressor

    X, y = _resnet_regression()
    est = ResNetODERegressor(depth=4, width=8, tol=1e-9, max_epochs=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="still improving"):
        est.fit(X, y)


def test_step_too_small_for_single_location_warns_no_better_than_mean():
    from sktheory import SingleLocationRegressor

    X, y = _single_location(200, 4, 6)
    est = SingleLocationRegressor(
        learning_rate=1e-9, temperature_decay=0.0, max_iter=50, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="no better than"):
        est.fit(X, y)


# ------------------------------------------------------------- target scales
@pytest.mark.parametrize("y_scale, X_scale", [(1e-4, 1.0), (1e4, 1.0), (1.0, 1e-3), (1.0, 1e3)])
def test_deep_linear_fits_scaled_data_as_well_as_linear_regression(y_scale, X_scale):
    from sklearn.linear_model import LinearRegression

    from sktheory import DeepLinearRegressor

    X, y = _deep_linear()
    X, y = X_scale * X, y_scale * y
    train, test = slice(0, 50), slice(50, None)
    reference = LinearRegression().fit(X[train], y[train]).score(X[test], y[test])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = DeepLinearRegressor(random_state=0).fit(X[train], y[train])
    assert est.score(X[test], y[test]) == pytest.approx(reference, abs=0.01)


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_two_timescale_fits_scaled_targets_as_well_as_unit_ones(scale):
    from sktheory import TwoTimescaleNet

    X, y = _piecewise(5000)
    Xt, yt = _piecewise(2000, random_state=1)
    net = TwoTimescaleNet(max_iter=100_000, timescale_ratio=2e-3, random_state=0)
    unit = net.fit(X, y).score(Xt, yt)
    assert unit > 0.8
    assert net.fit(X, scale * y).score(Xt, scale * yt) > unit - 0.05


# ------------------------------------------------------------- the parser
def _parser_data():
    from sktheory.logical_form import make_dataset

    kg, turns, _, forms = make_dataset(5, n_entities=150, random_state=0)
    return kg, turns, [str(f) for f in forms]


_PARSER = dict(d_model=16, n_layers=1, n_heads=2, random_state=0)


@pytest.mark.parametrize("learning_rate, match", [(1.0, "more than 10000 times"), (1e2, "nan")])
def test_parser_blow_up_raises(learning_rate, match):
    from sktheory.logical_form import LogicalFormParser

    kg, turns, forms = _parser_data()
    est = LogicalFormParser(
        kg=kg, max_epochs=5, batch_size=8, learning_rate=learning_rate, **_PARSER
    )
    with pytest.raises(DivergenceError, match=match):
        est.fit(turns, forms)


def test_parser_no_progress_warns_convergence():
    from sktheory.logical_form import LogicalFormParser

    kg, turns, forms = _parser_data()
    est = LogicalFormParser(kg=kg, max_epochs=2, learning_rate=1e-9, dropout=0.0, **_PARSER)
    with pytest.warns(ConvergenceWarning, match="did not decrease"):
        est.fit(turns, forms)

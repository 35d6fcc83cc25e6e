"""Demos of the ResNet / neural-ODE estimators: a depth-32 network on a neural-ODE teacher."""

from __future__ import annotations

from sktheory._demo import DemoRow, register


@register("ResNetODERegressor")
def resnet_ode_regressor(random_state: int = 0) -> DemoRow:
    """Fit a depth-32 ResNet on a neural-ODE teacher task, beside an MLP."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor

    from sktheory import ResNetODERegressor
    from sktheory.datasets import make_resnet_ode_teacher

    X, y = make_resnet_ode_teacher(
        n_samples=600, n_features=8, noise=0.05, random_state=random_state
    )
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=random_state)
    est = ResNetODERegressor(depth=32, width=16, max_epochs=100, random_state=random_state)
    score = est.fit(Xtr, ytr).score(Xte, yte)
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=1000, random_state=random_state)
    base = mlp.fit(Xtr, ytr).score(Xte, yte)
    return {
        "task": "neural-ODE teacher (d=8, L=32)",
        "metric": "test R^2",
        "score": float(score),
        "baseline": "MLPRegressor(64, 64)",
        "baseline_score": float(base),
    }


@register("ResNetODEClassifier")
def resnet_ode_classifier(random_state: int = 0) -> DemoRow:
    """Fit a depth-32 ResNet on a neural-ODE teacher classification task, beside an MLP."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from sktheory import ResNetODEClassifier
    from sktheory.datasets import make_resnet_ode_teacher

    X, y = make_resnet_ode_teacher(
        n_samples=600, n_features=8, task="classification", random_state=random_state
    )
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=random_state)
    est = ResNetODEClassifier(depth=32, width=16, max_epochs=100, random_state=random_state)
    score = est.fit(Xtr, ytr).score(Xte, yte)
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=1000, random_state=random_state)
    base = mlp.fit(Xtr, ytr).score(Xte, yte)
    return {
        "task": "neural-ODE teacher, 3 classes (d=8, L=32)",
        "metric": "test accuracy",
        "score": float(score),
        "baseline": "MLPClassifier(64, 64)",
        "baseline_score": float(base),
    }

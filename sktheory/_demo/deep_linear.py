"""Demo of :class:`sktheory.DeepLinearRegressor`: the paper's regression task."""

from __future__ import annotations

from sktheory._demo import DemoRow, register


@register("DeepLinearRegressor")
def deep_linear(random_state: int = 0) -> DemoRow:
    """Fit on the paper's data (n=50, d=5, L=5); held-out R^2 vs least squares."""
    from sklearn.linear_model import LinearRegression

    from sktheory import DeepLinearRegressor
    from sktheory.datasets import make_deep_linear_regression

    X, y = make_deep_linear_regression(n_samples=100, random_state=random_state)
    X_train, y_train, X_test, y_test = X[:50], y[:50], X[50:], y[50:]
    model = DeepLinearRegressor(
        depth=5, learning_rate=0.05, max_iter=3000, random_state=random_state
    )
    model.fit(X_train, y_train)
    baseline = LinearRegression().fit(X_train, y_train)
    return {
        "task": "Gaussian linear regression, n=50, d=5, depth 5, small init",
        "metric": "test R^2",
        "score": float(model.score(X_test, y_test)),
        "baseline": "LinearRegression",
        "baseline_score": float(baseline.score(X_test, y_test)),
    }

"""Demo of :class:`sktheory.SingleLocationRegressor`: single-location regression."""

from __future__ import annotations

import numpy as np

from sktheory._demo import DemoRow, register


@register("SingleLocationRegressor")
def single_location(random_state: int = 0) -> DemoRow:
    """Fit with the defaults at d = 80, L = 10 and compare test excess risk with Ridge."""
    from sklearn.linear_model import Ridge

    from sktheory import SingleLocationRegressor
    from sktheory.datasets import make_single_location

    noise = 0.1
    X, y, ks, vs, _ = make_single_location(
        6000, noise=noise, return_truth=True, random_state=random_state
    )
    Xte, yte = make_single_location(
        4000, noise=noise, k_star=ks, v_star=vs, random_state=random_state + 1
    )
    model = SingleLocationRegressor(random_state=random_state).fit(X, y)
    ridge = Ridge(alpha=1.0).fit(X.reshape(len(X), -1), y)
    return {
        "task": "single-location regression d=80 L=10",
        "metric": "test excess risk",
        "score": float(np.mean((model.predict(Xte) - yte) ** 2) - noise**2),
        "baseline": "Ridge on flattened tokens",
        "baseline_score": float(
            np.mean((ridge.predict(Xte.reshape(len(Xte), -1)) - yte) ** 2) - noise**2
        ),
    }

"""Demo of :class:`sktheory.TwoTimescaleNet`: the paper's quick configuration."""

from __future__ import annotations

from sktheory._demo import DemoRow, register


@register("TwoTimescaleNet")
def two_timescale(random_state: int = 0) -> DemoRow:
    """Paper's quick configuration vs the standard regime, same number of steps."""
    from sktheory.datasets import make_piecewise_constant
    from sktheory.two_timescale import TwoTimescaleNet, l2_error

    X, y, target = make_piecewise_constant(50_000, random_state=random_state)
    slow = TwoTimescaleNet(timescale_ratio=2e-5, learning_rate=1e-3, random_state=random_state)
    # Baseline: eps = 1 at the paper's standard-regime step h = 1e-5 (with
    # h = 1e-3 the positions leave [0, 1] and the error stays near 3).
    same = TwoTimescaleNet(timescale_ratio=1.0, learning_rate=1e-5, random_state=random_state)
    return {
        "task": "piecewise-constant f*, 5 jumps, 1.75M one-sample SGD steps",
        "metric": "L2 error to f*",
        "score": l2_error(slow.fit(X, y), target),
        "baseline": "same net, eps=1 (h=1e-5)",
        "baseline_score": l2_error(same.fit(X, y), target),
    }

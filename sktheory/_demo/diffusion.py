"""Demo of :class:`~sktheory.DiffusionOptimizer`: the paper's hexagon experiment."""

from __future__ import annotations

import numpy as np

from sktheory._demo import DemoRow, register


@register("DiffusionOptimizer")
def diffusion_optimizer(random_state: int = 0) -> DemoRow:
    """The paper's hexagon experiment at small size: implicit vs nested (T=10).

    Both use 1500 Langevin steps of 400 particles; the score is the expected
    reward of the fitted law (exact sampling of the mixture).
    """
    from sktheory import DiffusionOptimizer
    from sktheory.datasets import make_hexagon_mixture
    from sktheory.datasets._diffusion import HEXAGON_LOGITS, hexagon_means
    from sktheory.diffusion._rewards import HexagonReward

    X, _ = make_hexagon_mixture(1000, random_state=random_state)
    reward = HexagonReward()
    scores = {}
    for method, iters in (("implicit", 1500), ("nested", 150)):
        model = DiffusionOptimizer(
            reward="hexagon",
            kl_weight=0.0,
            means_init=hexagon_means(),
            weights_init=np.exp(HEXAGON_LOGITS) / np.exp(HEXAGON_LOGITS).sum(),
            n_particles=400,
            method=method,
            inner_steps=10,
            max_iter=iters,
            random_state=random_state,
        ).fit(X)
        scores[method] = float(reward(model.sample(100_000)[0]).mean())
    return {
        "task": "hexagon mixture, reward (1500 Langevin steps)",
        "metric": "E_pi[R]",
        "score": scores["implicit"],
        "baseline": "nested loop T=10",
        "baseline_score": scores["nested"],
    }

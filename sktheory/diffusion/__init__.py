"""Implicit Diffusion: optimise the law of a stochastic sampler (Langevin or denoising).

Public names: :class:`DiffusionOptimizer`, the reward presets
(:class:`HexagonReward`, :class:`LinearReward`, ``REWARD_PRESETS``), the
:class:`ClassifierLogProbReward` of a fitted linear classifier and the
paper's hexagon set-up (:func:`hexagon_means`, ``HEXAGON_LOGITS``,
``HEXAGON_WEIGHTS``).
"""

import numpy as np

from sktheory.datasets._diffusion import HEXAGON_LOGITS, hexagon_means
from sktheory.diffusion._estimator import DiffusionOptimizer
from sktheory.diffusion._rewards import (
    REWARD_PRESETS,
    ClassifierLogProbReward,
    HexagonReward,
    LinearReward,
)

#: ``softmax(HEXAGON_LOGITS)``: the paper's initial mixture weights.
HEXAGON_WEIGHTS = np.exp(HEXAGON_LOGITS) / np.exp(HEXAGON_LOGITS).sum()

__all__ = [
    "HEXAGON_LOGITS",
    "HEXAGON_WEIGHTS",
    "REWARD_PRESETS",
    "ClassifierLogProbReward",
    "DiffusionOptimizer",
    "HexagonReward",
    "LinearReward",
    "hexagon_means",
]

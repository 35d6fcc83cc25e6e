"""Recurrent networks as kernel methods on path signatures.

"Framing RNN as a kernel method: a neural ODE approach" (NeurIPS 2021): signature
features and the paper's kernel, the residual RNN with its Taylor (signature)
expansion and RKHS norm, and the two estimators built on them.
"""

from sktheory.signature._estimators import (
    SignatureKernelRNN,
    SignatureKernelRNNClassifier,
    StabilityBound,
    TaylorExpansionWarning,
    stability_bound,
)
from sktheory.signature._features import (
    augment_time,
    available_backends,
    level_slices,
    normalise_total_variation,
    preprocess_paths,
    signature,
    signature_length,
    total_variation,
    weighted_signature_features,
)
from sktheory.signature._rnn import (
    ResidualRNN,
    iterated_derivatives,
    random_rnn,
)

__all__ = [
    "ResidualRNN",
    "SignatureKernelRNN",
    "SignatureKernelRNNClassifier",
    "StabilityBound",
    "TaylorExpansionWarning",
    "augment_time",
    "available_backends",
    "iterated_derivatives",
    "level_slices",
    "normalise_total_variation",
    "preprocess_paths",
    "random_rnn",
    "signature",
    "signature_length",
    "stability_bound",
    "total_variation",
    "weighted_signature_features",
]

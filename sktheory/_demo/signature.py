"""Demos of the signature-kernel estimators: "Framing RNN as a kernel method" (NeurIPS 2021)."""

from __future__ import annotations

import torch

from sktheory._demo import DemoRow, register


@register("SignatureKernelRNN")
def signature_kernel_rnn(random_state: int = 0) -> DemoRow:
    """Recover a random residual RNN's output on spirals from signatures."""
    from sklearn.linear_model import Ridge

    from sktheory.datasets import make_spirals
    from sktheory.signature import SignatureKernelRNN, random_rnn

    X, _ = make_spirals(600, random_state=random_state)
    rnn = random_rnn(2, 8, random_state=random_state)
    model = SignatureKernelRNN(depth=4, alpha=1e-8)
    paths = model._paths(X)
    with torch.no_grad():
        y = rnn(torch.tensor(paths[:, :, :-1]))[:, 0].numpy()
    y = (y - y.mean()) / y.std()
    train, test = slice(0, 400), slice(400, None)
    score = model.fit(X[train], y[train]).score(X[test], y[test])
    flat = X.reshape(len(X), -1)
    base = Ridge(alpha=1.0).fit(flat[train], y[train]).score(flat[test], y[test])
    return {
        "task": "random RNN output on spirals",
        "metric": "test R2",
        "score": float(score),
        "baseline": "ridge on raw points",
        "baseline_score": float(base),
    }


@register("SignatureKernelRNNClassifier")
def signature_kernel_rnn_classifier(random_state: int = 0) -> DemoRow:
    """Spirals classification: signature kernel vs logistic regression on raw points."""
    from sklearn.linear_model import LogisticRegression

    from sktheory.datasets import make_spirals
    from sktheory.signature import SignatureKernelRNNClassifier

    X, y = make_spirals(400, random_state=random_state)
    train, test = slice(0, 200), slice(200, None)
    score = SignatureKernelRNNClassifier(depth=3).fit(X[train], y[train]).score(X[test], y[test])
    flat = X.reshape(len(X), -1)
    base = LogisticRegression(max_iter=2000).fit(flat[train], y[train])
    return {
        "task": "spirals (paper)",
        "metric": "test accuracy",
        "score": float(score),
        "baseline": "logistic regression on raw points",
        "baseline_score": float(base.score(flat[test], y[test])),
    }

"""Small data sets that any estimator of a given kind can be fitted on."""

import numpy as np
from sklearn.base import is_classifier, is_regressor


def fit_data(estimator, n_samples=40, n_features=4, seed=0):
    """Return ``(X, y)`` suited to ``estimator`` (``y`` is None if unsupervised).

    X is 2-D with values in [0, 1], which every numeric estimator accepts;
    estimators of dict input (conversational turns) get generated turns and
    their gold logical forms.
    """
    if estimator.__sklearn_tags__().input_tags.dict:
        from sktheory.logical_form import make_dataset

        _, turns, _, forms = make_dataset(2, n_entities=100, random_state=seed)
        return turns, [str(form) for form in forms]
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n_samples, n_features))
    if is_classifier(estimator):
        y = (X[:, 0] + X[:, 1] > 1).astype(int)
    elif is_regressor(estimator):
        y = X @ np.linspace(1, 2, n_features) + 0.1 * rng.normal(size=n_samples)
    else:
        y = None
    return X, y


def fit(estimator, X, y):
    return estimator.fit(X) if y is None else estimator.fit(X, y)


def outputs(estimator, X):
    """Everything a fitted estimator computes on X, by method name."""
    methods = [
        "predict",
        "predict_proba",
        "decision_function",
        "transform",
        "score_samples",
    ]
    return {m: getattr(estimator, m)(X) for m in methods if hasattr(estimator, m)}


def numeric_estimators(estimators):
    """Keep the (name, class) pairs whose estimators take 2-D numeric arrays."""
    return [
        (name, cls) for name, cls in estimators if cls().__sklearn_tags__().input_tags.two_d_array
    ]

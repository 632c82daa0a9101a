"""Temperature scaling of the linear models, fitted on out-of-fold scores of the training set.

softmax(z / T) with z = Xw + b is softmax(X(w/T) + b/T): dividing a logistic regression's weights by T
calibrates it and leaves a plain LogisticRegression, which skops loads as a trusted type (sklearn's own
CalibratedClassifierCV would need untrusted private types). It never changes which class ranks first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

FOLDS = 5
SEED = 0


def folds(labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) rows of the stratified FOLDS-fold split that every out-of-fold score uses."""
    return list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(np.zeros(len(labels)), labels))


def fold_scores(estimator: Any, features: Any, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Decision scores of the `test` rows by a copy of `estimator` fitted on the `train` rows."""
    model = clone(estimator).fit(features[train], labels[train])
    scores = model.decision_function(features[test])
    if scores.ndim == 1:  # binary: the score is the logit of the second class against the first
        scores = np.column_stack([np.zeros_like(scores), scores])
    return np.asarray(scores)


def fit_temperature(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """The T minimising the log-loss of softmax(scores / T) against the true labels."""
    target = np.searchsorted(classes, labels)

    def log_loss(log_t: float) -> float:
        return float(-log_softmax(scores / np.exp(log_t), axis=1)[np.arange(len(target)), target].mean())

    best = minimize_scalar(log_loss, bounds=(-4.0, 4.0), method="bounded")
    return float(np.exp(best.x))


def apply_temperature(linear_model: Any, temperature: float) -> None:
    """Rescale a fitted linear model in place so its predict_proba is softmax(z / T)."""
    linear_model.coef_ = linear_model.coef_ / temperature
    linear_model.intercept_ = linear_model.intercept_ / temperature


def calibrated_probabilities(scores: np.ndarray, temperature: float) -> np.ndarray:
    return np.asarray(softmax(scores / temperature, axis=1))


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, classes: np.ndarray, bins: int = 10
) -> float:
    """Gap between confidence and accuracy of the top class, averaged over confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = classes[probabilities.argmax(axis=1)] == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def aligned(probabilities: np.ndarray, classes: Any, order: Any) -> np.ndarray:
    """Columns of `probabilities` (one per entry of `classes`) put in `order`; a class never seen gets 0."""
    column = {str(c): i for i, c in enumerate(classes)}
    out = np.zeros((probabilities.shape[0], len(order)))
    for j, label in enumerate(order):
        if str(label) in column:
            out[:, j] = probabilities[:, column[str(label)]]
    return out


def mixed_urgency_scores(
    urgency_scores: np.ndarray, category_probabilities: np.ndarray, conditional: list[np.ndarray]
) -> np.ndarray:
    """The urgency head and "urgency given the category", averaged in log space.

    `urgency_scores` are the urgency head's raw scores; `conditional[i]` is P(urgency | text, category i)
    from the head trained on category i's tips alone, and `category_probabilities[:, i]` the (calibrated)
    P(category i | text). The result is one score per urgency class, which `calibrated_probabilities`
    turns into probabilities with the mix's own temperature, fitted out of fold.
    """
    by_category = sum(category_probabilities[:, [i]] * p for i, p in enumerate(conditional))
    return np.asarray((log_softmax(urgency_scores, axis=1) + np.log(np.asarray(by_category) + 1e-6)) / 2)

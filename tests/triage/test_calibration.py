"""The urgency mix: "urgency given the category" weighted by the category, averaged with the urgency head."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from triage.calibration import aligned, calibrated_probabilities, mixed_urgency_scores

URGENCY_CLASSES = np.array(["critical", "high", "low", "medium"])


def test_aligned_puts_columns_in_order_and_fills_unseen_classes_with_zero() -> None:
    p = np.array([[0.7, 0.3]])
    assert aligned(p, np.array(["low", "critical"]), URGENCY_CLASSES)[0].tolist() == [0.3, 0.0, 0.7, 0.0]


def test_mix_is_the_average_in_log_space_of_the_head_and_the_category_weighted_conditionals() -> None:
    rng = np.random.default_rng(0)
    urgency_scores = rng.normal(size=(3, 4))
    category_p = softmax(rng.normal(size=(3, 2)), axis=1)
    conditional = [softmax(rng.normal(size=(3, 4)), axis=1) for _ in range(2)]
    probabilities = calibrated_probabilities(mixed_urgency_scores(urgency_scores, category_p, conditional), 1.0)
    by_category = category_p[:, [0]] * conditional[0] + category_p[:, [1]] * conditional[1]
    expected = np.sqrt(softmax(urgency_scores, axis=1) * by_category)
    assert probabilities == pytest.approx(expected / expected.sum(axis=1, keepdims=True), abs=1e-5)


def test_the_urgency_of_the_likely_category_is_the_one_that_counts() -> None:
    """A weapon tip seen yesterday: the weapon head says high; the suicide head's critical barely counts."""
    urgency_scores = np.zeros((1, 4))  # the urgency head has no opinion
    category_p = np.array([[0.95, 0.05]])  # weapon, suicide
    weapon = np.array([[0.05, 0.85, 0.05, 0.05]])
    suicide = np.array([[0.85, 0.05, 0.05, 0.05]])
    p = calibrated_probabilities(mixed_urgency_scores(urgency_scores, category_p, [weapon, suicide]), 1.0)
    assert URGENCY_CLASSES[p.argmax()] == "high"
    assert p.sum() == pytest.approx(1.0)

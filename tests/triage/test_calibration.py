"""The urgency mix ("urgency given the category" weighted by the category, averaged with the urgency head), and
how calibrated the probabilities are: on the unit, and on tips by writers the model never trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from triage.calibration import aligned, calibrated_probabilities, expected_calibration_error, mixed_urgency_scores
from triage.dataset import DEV_FILE, TEST_FILES, read_labelled
from triage.model import load_model
from triage.taxonomy import CATEGORIES, URGENCIES

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


def test_calibration_error_is_zero_when_confidence_matches_accuracy_and_large_when_it_does_not() -> None:
    classes = np.array(["a", "b"])
    # Ten tips at 0.8 for "a", eight of them "a": right eight times in ten, as the model said.
    p = np.tile([0.8, 0.2], (10, 1))
    truth = np.array(["a"] * 8 + ["b"] * 2)
    assert expected_calibration_error(p, truth, classes) == pytest.approx(0.0)
    # The same confidence, right half the time: 0.3 too sure.
    truth = np.array(["a"] * 5 + ["b"] * 5)
    assert expected_calibration_error(p, truth, classes) == pytest.approx(0.3)
    # Bins are weighted by their share of tips: half at 0.95 always right, half at 0.6 always wrong.
    p = np.array([[0.95, 0.05]] * 5 + [[0.6, 0.4]] * 5)
    truth = np.array(["a"] * 5 + ["b"] * 5)
    assert expected_calibration_error(p, truth, classes) == pytest.approx(0.5 * 0.05 + 0.5 * 0.6)


# "Calibrated, so that 0.9 means right about nine times in ten" (the issue), checked where it matters: on
# tips by writers the model never trained on (every test set but dev: holdout6 to holdout11). The shipped
# model measured 0.016 to 0.033 for urgency and 0.011 to 0.025 for category on these files (README, Triage);
# 0.05 leaves room for another CPU's training.
MAX_UNSEEN_WRITER_ECE = 0.05


@pytest.mark.parametrize("path", [path for path in TEST_FILES if path != DEV_FILE], ids=lambda p: p.stem)
def test_probabilities_are_calibrated_on_writers_the_model_never_read(trained_dir: Path, path: Path) -> None:
    tips = read_labelled(path)
    assessments = load_model().assess_many([tip.text for tip in tips])
    for labels, probabilities_of, truth in (
        (URGENCIES, "urgency_probabilities", [tip.urgency for tip in tips]),
        (CATEGORIES, "category_probabilities", [tip.category for tip in tips]),
    ):
        p = np.array([[getattr(a, probabilities_of)[label] for label in labels] for a in assessments])
        assert p.sum(axis=1) == pytest.approx(np.ones(len(tips)))
        assert expected_calibration_error(p, np.array(truth), np.array(labels)) <= MAX_UNSEEN_WRITER_ECE

"""The trained model: its file, its promises (deterministic, thread-safe) and its behaviour on key tips."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import skops.io as sio
from scipy.special import softmax

import triage
from triage.calibration import aligned, calibrated_probabilities, mixed_urgency_scores
from triage.dataset import HOLDOUT_FILE, read_labelled
from triage.model import MAX_MODEL_BYTES, MODEL_FILE, forget_loaded
from triage.text import normalize

TIPS = [
    "he has a gun in his backpack right now at kelly walsh",
    "kids keep calling me fat in gym class every day",
    "this test is killing me",
    "mi amiga dijo que se va a matar esta noche, tiene las pastillas de su mamá",
    "someone keyed the principal's car in the parking lot",
    "test test is this thing working",
]


def test_model_file_loads_with_no_untrusted_types(trained_dir: Path) -> None:
    assert sio.get_untrusted_types(file=trained_dir / MODEL_FILE) == []


def test_model_file_is_at_most_10_mb(trained_dir: Path) -> None:
    assert (trained_dir / MODEL_FILE).stat().st_size <= MAX_MODEL_BYTES


def test_empty_dir_raises_model_not_trained(tmp_path: Path) -> None:
    with pytest.raises(triage.ModelNotTrained, match="python -m triage train"):
        triage.load_model(tmp_path)


def test_assess_is_deterministic(trained_dir: Path) -> None:
    first = [triage.assess(t) for t in TIPS]
    forget_loaded()  # a fresh load of the same file gives the same answers
    assert [triage.assess(t) for t in TIPS] == first


def test_assess_from_8_threads_gives_the_same_results(trained_dir: Path) -> None:
    texts = TIPS * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(triage.assess, texts))
    expected = {t: triage.assess(t) for t in TIPS}
    assert all(result == expected[text] for result, text in zip(results, texts, strict=True))


def test_probabilities_cover_every_label_and_sum_to_one(trained_dir: Path) -> None:
    a = triage.assess(TIPS[1])
    assert tuple(a.category_probabilities) == triage.CATEGORIES
    assert tuple(a.urgency_probabilities) == triage.URGENCIES
    assert sum(a.category_probabilities.values()) == pytest.approx(1.0)
    assert sum(a.urgency_probabilities.values()) == pytest.approx(1.0)
    assert a.model_version == triage.load_model().version


def test_weapon_at_school_now_is_critical_with_reasons(trained_dir: Path) -> None:
    a = triage.assess(TIPS[0])
    assert a.urgency == "critical"
    assert "rule: weapon at school now" in a.reasons
    assert any(r.startswith('"') for r in a.reasons), "top n-grams of the text are shown too"


def test_spanish_critical_tip_is_critical(trained_dir: Path) -> None:
    a = triage.assess(TIPS[3])
    assert (a.category, a.urgency) == ("suicide", "critical")


def test_figurative_killing_me_is_not_critical(trained_dir: Path) -> None:
    assert triage.assess("this test is killing me").urgency != "critical"
    assert triage.assess("this test is killing me", happening_now=True).urgency != "critical"


def test_happening_now_never_makes_a_test_message_critical(trained_dir: Path) -> None:
    a = triage.assess(TIPS[5], happening_now=True)
    assert a.urgency in ("low", "medium")


def test_happening_now_never_lowers(trained_dir: Path) -> None:
    for text in TIPS:
        base = triage.urgency_rank(triage.assess(text).urgency)
        for now in (True, False, None):
            assert triage.urgency_rank(triage.assess(text, happening_now=now).urgency) >= base


def test_fast_path_matches_the_pipeline(trained_dir: Path) -> None:
    """assess() skips scikit-learn's per-call overhead; its numbers must be the pipeline's own."""
    model = triage.load_model()
    texts = [normalize(t) for t in TIPS]
    heads = model.pipeline.named_steps["classify"].estimators_
    features = model.pipeline.named_steps["features"].transform(texts)
    # Category: the linear SVM's own decision function, its temperature already in its weights.
    category_expected = softmax(heads[0].decision_function(features), axis=1)
    # Urgency: the heads' own predict_proba and decision_function, mixed and calibrated as in training.
    conditional = [aligned(h.predict_proba(features), h.classes_, heads[1].classes_) for h in heads[2:]]
    mixed = mixed_urgency_scores(heads[1].decision_function(features), category_expected, conditional)
    urgency_expected = calibrated_probabilities(mixed, model.card["temperatures"]["urgency"])
    ours = model.assess_many(TIPS)
    for output, attribute, expected in (
        (0, "category_probabilities", category_expected),
        (1, "urgency_probabilities", urgency_expected),
    ):
        classes = heads[output].classes_
        for row, assessment in enumerate(ours):
            got = [getattr(assessment, attribute)[c] for c in classes]
            assert got == pytest.approx(expected[row].tolist(), abs=1e-6)
    assert (model.transform(texts) != model.pipeline.named_steps["features"].transform(texts)).nnz == 0


def test_fast_features_are_the_pipeline_s_to_the_last_bit(trained_dir: Path) -> None:
    """assess() builds the tf-idf rows itself; over every held-out text and some odd ones, not one value may
    differ from scikit-learn's (the same counts, idf, sublinear tf and L2 norm, in the same precision)."""
    model = triage.load_model()
    assert model._blocks is not None, "the fast path is not in use: this test would compare scikit-learn with itself"
    texts = [normalize(tip.text) for tip in read_labelled(HOLDOUT_FILE)]
    texts += ["", "   ", "🔫🔫🔫", "a", "él trajo una pistola hoy", "x" * 5000]
    ours, theirs = model.transform(texts), model.pipeline.named_steps["features"].transform(texts)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert (ours != theirs).nnz == 0



def _caches_in_triage() -> dict[str, object]:
    """Every functools cache at module level in triage's modules, by name."""
    return {
        f"{module.__name__}.{name}": value
        for module in list(sys.modules.values())
        if module is not None and module.__name__.startswith("triage")
        for name, value in vars(module).items()
        if hasattr(value, "cache_info")
    }


def test_no_cache_keeps_a_tip_s_text_after_its_assessment(trained_dir: Path) -> None:
    """A cache keyed by the tip (as the rules once kept the last 16 tips' clauses) would hold its text in the
    process after the request, where a core dump could carry it. Two tips alike but for one word go the same
    way through the rules (a guard to weigh, so every step runs); the second may only find what the first
    stored for patterns, never store anything of its own."""
    template = "{} said it was a joke yesterday but right now he has a gun in his backpack in the gym"
    assert triage.assess(template.format("zqxvorpel")).urgency == "critical"
    caches = _caches_in_triage()
    assert caches, "the rules compile their patterns through a cache: this test would check nothing"
    misses = {name: cache.cache_info().misses for name, cache in caches.items()}  # type: ignore[attr-defined]
    assert triage.assess(template.format("plorvexqz")).urgency == "critical"
    grew = [name for name, cache in caches.items() if cache.cache_info().misses > misses[name]]  # type: ignore[attr-defined]
    assert grew == []

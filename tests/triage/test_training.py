"""Training itself: the same tips give the same model, and the jobs run side by side give the numbers that
fitting the heads and each out-of-fold pass one after another would give."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio

from triage.assessment import decide_from_probabilities
from triage.calibration import fold_scores, folds
from triage.dataset import DEV_FILE, LabelledTip, load_training
from triage.model import (
    CATEGORY_OUTPUT,
    FIRST_CONDITIONAL_OUTPUT,
    MODEL_FILE,
    URGENCY_OUTPUT,
    OutOfFold,
    _conditional_fold,
    build_pipeline,
    fit_heads,
    fit_pipeline,
    fit_with_out_of_fold,
    labels_of,
    load_pipeline,
    on_disk,
    out_of_fold_report,
    train,
)
from triage.rules import fired_rules
from triage.text import normalize


@pytest.fixture(scope="module")
def tips() -> list[LabelledTip]:
    """Every 6th training tip: enough of every label for 5-fold calibration, quick to fit."""
    return load_training()[::6]


def _heads(pipeline: Any) -> list[Any]:
    return list(pipeline.named_steps["classify"].estimators_)


def test_training_twice_on_the_same_tips_gives_the_same_model(tips: Sequence[LabelledTip]) -> None:
    """The category's linear SVM shuffles its data: with no fixed seed, two trainings differed."""
    (first, first_oof), (second, second_oof) = fit_pipeline(tips), fit_pipeline(tips)
    for a, b in zip(_heads(first), _heads(second), strict=True):
        assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.intercept_, b.intercept_)
    assert first_oof.temperatures == second_oof.temperatures
    for a, b in zip(first_oof.probabilities, second_oof.probabilities, strict=True):
        assert np.array_equal(a, b)


def test_one_batch_of_jobs_gives_what_the_passes_one_by_one_give(tips: Sequence[LabelledTip]) -> None:
    labels = labels_of(tips)
    pipeline = build_pipeline()
    features = pipeline.named_steps["features"].fit_transform([normalize(t.text) for t in tips])
    classify = pipeline.named_steps["classify"]
    template, linear = classify.category_estimator, classify.estimator
    batch = fit_with_out_of_fold(classify, features, labels)

    expected_heads = fit_heads(build_pipeline().named_steps["classify"], features, labels).estimators_
    assert len(batch.heads) == len(expected_heads) == FIRST_CONDITIONAL_OUTPUT + len(set(labels[:, 0]))
    for got, expected in zip(batch.heads, expected_heads, strict=True):
        assert type(got) is type(expected) and list(got.classes_) == list(expected.classes_)
        assert np.array_equal(got.coef_, expected.coef_)
    for output, estimator, got in (
        (CATEGORY_OUTPUT, template, batch.category_scores),
        (URGENCY_OUTPUT, linear, batch.urgency_scores),
    ):
        expected = np.zeros_like(got)
        for fit_rows, test in folds(labels[:, output]):
            expected[test] = fold_scores(estimator, features, labels[:, output], fit_rows, test)
        assert np.array_equal(got, expected)
    urgency_classes = np.unique(labels[:, URGENCY_OUTPUT])
    expected_conditional = [np.zeros((len(tips), len(urgency_classes))) for _ in batch.conditional]
    for fit_rows, test in folds(labels[:, URGENCY_OUTPUT]):
        for i, p in enumerate(_conditional_fold(linear, features, labels, urgency_classes, fit_rows, test)):
            expected_conditional[i][test] = p
    for got, expected in zip(batch.conditional, expected_conditional, strict=True):
        assert np.array_equal(got, expected)


def _decided_as_assess_does(tips: Sequence[LabelledTip], report: dict[str, Any], oof: OutOfFold) -> None:
    """The report's confusions are those of each tip decided on its own, its rules run on its own text."""
    decided = [
        decide_from_probabilities(
            normalize(tip.text),
            dict(zip(oof.classes[0], oof.probabilities[0][row], strict=True)),
            dict(zip(oof.classes[1], oof.probabilities[1][row], strict=True)),
        )[:2]
        for row, tip in enumerate(tips)
    ]
    for output, name in ((0, "category"), (1, "urgency")):
        confusion = report[name]["confusion"]
        order = confusion["labels"]
        expected = np.zeros((len(order), len(order)), dtype=int)
        for tip, pair in zip(tips, decided, strict=True):
            truth = tip.category if output == 0 else tip.urgency
            expected[order.index(truth), order.index(pair[output])] += 1
        assert confusion["matrix"] == expected.tolist()


def test_the_card_s_cross_validation_decides_each_tip_as_assess_does(tips: Sequence[LabelledTip]) -> None:
    """Without the rules found in training, the report runs them on half the tips on each core; every tip must
    keep its own decision, in order."""
    rng = np.random.default_rng(7)
    labels = labels_of(tips)
    classes = (np.unique(labels[:, 0]), np.unique(labels[:, 1]))
    probabilities = (
        rng.dirichlet(np.ones(len(classes[0])), len(tips)),
        rng.dirichlet(np.ones(len(classes[1])), len(tips)),
    )
    oof = OutOfFold(classes, probabilities, (1.0, 1.0))
    _decided_as_assess_does(tips, out_of_fold_report(tips, oof), oof)


def test_training_runs_the_safety_rules_on_each_tip_for_the_card(tips: Sequence[LabelledTip]) -> None:
    """The rules run on two worker processes while the vectorizers fit: each tip must get its own rules,
    in order, and the card's cross-validation must decide as if it had run them itself."""
    _, oof = fit_pipeline(tips)
    texts = [normalize(t.text) for t in tips]
    expected = [tuple(fired_rules(text)) for text in texts]
    assert oof.fired is not None and list(oof.fired) == expected
    assert sum(1 for rules in expected if rules) > 50  # enough tips with a rule for the order to matter
    _decided_as_assess_does(tips, out_of_fold_report(tips, oof), oof)
    rows = np.array([5, 0, 17])
    part = oof.subset(rows)
    assert part.fired == [expected[i] for i in rows]
    assert np.array_equal(part.probabilities[1], oof.probabilities[1][rows])
    mask = np.zeros(len(tips), dtype=bool)
    mask[[0, 5, 17]] = True
    assert oof.subset(mask).fired == [expected[i] for i in (0, 5, 17)]


def test_training_reports_each_step_as_it_starts(tips: Sequence[LabelledTip], tmp_path: Path) -> None:
    """`python -m triage train` takes most of a minute: it says what it is doing, and since when."""
    lines: list[str] = []
    card = train(tmp_path, tips=tips, dev_file=DEV_FILE, progress=lines.append)
    assert [line.split("] ", 1)[1].split(" ", 1)[0] for line in lines] == ["fitting", "deciding", "writing", "scoring"]
    assert f"fitting {card['training_counts']['n']} tips" in lines[0] and "dev.jsonl" in lines[-1]
    seconds = [float(line[1:].split(" s]")[0]) for line in lines]
    assert seconds == sorted(seconds) and seconds[1] >= card["training_seconds"] - 0.1
    assert (tmp_path / MODEL_FILE).exists() and "dev_metrics" in card


def test_the_train_command_prints_the_steps_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line passes a progress printer to `train`: the steps on stderr, the summary on stdout."""
    from triage import cli

    def quick_train(directory: Path, progress: Any = None) -> dict[str, Any]:
        assert directory == tmp_path
        if progress is not None:
            progress("[  0.4 s] fitting 3 tips")
        return {
            "model_version": "tfidf-test",
            "training_counts": {"n": 3},
            "training_seconds": 1.5,
            "model_bytes": 1_000_000,
            "cv_metrics": {"critical_recall": 1.0, "urgency_macro_f1": 1.0, "category_macro_f1": 1.0},
        }

    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(cli, "train", quick_train)
    assert cli.main(["train"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "[  0.4 s] fitting 3 tips\n"
    assert "trained tfidf-test on 3 tips in 1.5 s" in captured.out and "fitting" not in captured.out


def test_the_file_holds_each_vocabulary_as_one_array_and_loads_it_back(
    tips: Sequence[LabelledTip], tmp_path: Path
) -> None:
    """skops wrote a vocabulary dict as one node per term (seconds to write and to load); the file holds
    the terms as one array in column order, and loading gives back the dicts training made."""
    pipeline, _ = fit_pipeline(tips)
    texts = [normalize(t.text) for t in tips[:300]]
    expected = pipeline.named_steps["features"].transform(texts)
    vocabularies = [dict(v.vocabulary_) for _, v in pipeline.named_steps["features"].transformer_list]
    new, old = tmp_path / "new", tmp_path / "old"
    for directory, stored in ((new, on_disk(pipeline)), (old, pipeline)):
        directory.mkdir()
        sio.dump(stored, directory / MODEL_FILE)
        assert sio.get_untrusted_types(file=directory / MODEL_FILE) == []
    assert all(hasattr(v, "vocabulary_") for _, v in pipeline.named_steps["features"].transformer_list)

    raw = sio.load(new / MODEL_FILE, trusted=[])
    for (_, vectorizer), vocabulary in zip(raw.named_steps["features"].transformer_list, vocabularies, strict=True):
        assert not hasattr(vectorizer, "vocabulary_") and len(vectorizer.vocabulary) == len(vocabulary)
    # Plain scikit-learn reads the array as a given vocabulary, with the same columns.
    assert (raw.named_steps["features"].transform(texts) != expected).nnz == 0
    # A file written before (the dicts themselves) loads as it always did.
    for directory in (new, old):
        loaded = load_pipeline(directory)
        union = loaded.named_steps["features"]
        assert [v.vocabulary_ for _, v in union.transformer_list] == vocabularies
        assert all(v.vocabulary is None for _, v in union.transformer_list)
        assert (union.transform(texts) != expected).nnz == 0


def test_the_model_goes_where_the_app_looks_for_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`python -m triage train` run with the service's environment (TIPLINE_INSTANCE_PATH, no TRIAGE_MODEL_DIR)
    wrote the repository's instance/triage while the app read TIPLINE_INSTANCE_PATH/triage: the app found no
    model. The library now chooses as the app's settings do, TRIAGE_MODEL_DIR first."""
    from app.config import instance_path_from_env
    from triage.model import model_dir

    monkeypatch.delenv("TRIAGE_MODEL_DIR", raising=False)
    monkeypatch.setenv("TIPLINE_INSTANCE_PATH", str(tmp_path / "instance"))
    assert model_dir() == instance_path_from_env() / "triage" == (tmp_path / "instance" / "triage").resolve()
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path / "elsewhere"))
    assert model_dir() == (tmp_path / "elsewhere").resolve()
    monkeypatch.delenv("TRIAGE_MODEL_DIR")
    monkeypatch.delenv("TIPLINE_INSTANCE_PATH")
    assert model_dir() == Path(__file__).resolve().parents[2] / "instance" / "triage"

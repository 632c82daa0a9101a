"""Leave-one-writer-out's data: every training tip with its writer, over the 41 writers of the training files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import triage.tuning as tuning
from triage.dataset import (
    TRAINING_FILES,
    IncompleteTrainingData,
    InvalidLabelledData,
    load_training,
    read_labelled,
)
from triage.model import OutOfFold, labels_of
from triage.taxonomy import URGENCIES
from triage.text import normalize
from triage.tuning import _train_writer_parts, writer_parts


def test_writer_parts_hold_every_training_tip_with_its_writer() -> None:
    tips, writers = writer_parts()
    train_tips, train_writers = _train_writer_parts()
    assert tips == load_training()
    assert len(tips) == len(writers)
    assert len(set(train_writers.tolist())) == 18
    assert len(set(writers.tolist())) == 41
    # The training tips come first, each with the same writer as in writer_parts.
    assert tips[: len(train_tips)] == train_tips
    assert writers[: len(train_tips)].tolist() == train_writers.tolist()
    texts = [normalize(t.text) for t in tips]
    assert len(set(texts)) == len(texts)
    # Every tip of every training file is there unless its text came earlier.
    for path in TRAINING_FILES:
        assert {normalize(t.text) for t in read_labelled(path)} <= set(texts)


def _write(directory: Path, stem: str, texts: list[str], writers: list[str]) -> None:
    lines = [json.dumps({"text": t, "category": "other", "urgency": "low"}) for t in texts]
    (directory / f"{stem}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / f"{stem}_writers.txt").write_text("\n".join(writers) + "\n")


def _small_pool(directory: Path, holdout_writers: list[str]) -> None:
    _write(directory, "train", ["the vending machine ate my dollar", "locker 12 is stuck again"], ["a", "b"])
    _write(directory, "holdout", ["the bus was late today", "Locker 12 is stuck again"], holdout_writers)
    _write(directory, "holdout2", ["wifi is down in the library"], ["s"])
    _write(directory, "holdout3", ["the gym smells weird"], ["A"])
    _write(directory, "holdout4", ["someone keyed a car in the lot"], ["Z"])
    _write(directory, "holdout5", ["the water fountain is broken"], ["M"])


def test_writer_parts_drop_a_text_seen_in_an_earlier_file_with_its_writer(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I", "J"])
    tips, writers = writer_parts(tmp_path)
    assert [t.text for t in tips] == [
        "the vending machine ate my dollar",
        "locker 12 is stuck again",
        "the bus was late today",
        "wifi is down in the library",
        "the gym smells weird",
        "someone keyed a car in the lot",
        "the water fountain is broken",
    ]
    assert writers.tolist() == ["a", "b", "I", "s", "A", "Z", "M"]
    assert tips == load_training(tmp_path)  # what the model learns from, tip for tip


def test_training_needs_every_training_file(tmp_path: Path) -> None:
    """A missing file must not train a model on less data without a word."""
    _small_pool(tmp_path, ["I", "J"])
    (tmp_path / "holdout2.jsonl").unlink()
    with pytest.raises(IncompleteTrainingData, match="holdout2.jsonl missing"):
        load_training(tmp_path)


def test_before_train_jsonl_is_merged_the_parts_come_first_and_only_they_may_end_mid_line(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I", "J"])
    (tmp_path / "train.jsonl").unlink()
    (tmp_path / "parts").mkdir()
    line = json.dumps({"text": "the printer is jammed", "category": "other", "urgency": "low"})
    (tmp_path / "parts" / "train_a.jsonl").write_text(line + "\n" + line[:20], encoding="utf-8")
    assert [t.text for t in load_training(tmp_path)][:2] == ["the printer is jammed", "the bus was late today"]
    (tmp_path / "holdout3.jsonl").write_text(line + "\n" + line[:20], encoding="utf-8")
    with pytest.raises(InvalidLabelledData, match="holdout3.jsonl:2"):
        load_training(tmp_path)


def test_a_missing_training_file_stops_train_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train --if-missing` (make run, the tests) neither keeps nor trains a model on part of the data."""
    import triage.model as model
    from triage.cli import main

    def incomplete() -> list:
        raise IncompleteTrainingData("training data incomplete: holdout2.jsonl missing from triage/data")

    monkeypatch.setattr(model, "load_training", incomplete)
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path))
    assert main(["train", "--if-missing"]) == 2
    assert "holdout2.jsonl missing" in capsys.readouterr().err
    (tmp_path / model.MODEL_FILE).write_bytes(b"")
    (tmp_path / model.CARD_FILE).write_text(
        json.dumps({"format": model.MODEL_FORMAT, "hyper_parameters": model.HYPER_PARAMETERS})
    )
    with pytest.raises(IncompleteTrainingData):
        model.staleness(tmp_path)


def test_writer_parts_refuse_a_writer_letter_two_files_use(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I", "a"])
    with pytest.raises(ValueError, match="holdout.jsonl: a writer letter already used"):
        writer_parts(tmp_path)


def test_writer_parts_refuse_a_writers_file_out_of_step(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I"])
    with pytest.raises(FileNotFoundError, match="holdout_writers.txt does not match holdout.jsonl"):
        writer_parts(tmp_path)
    (tmp_path / "holdout_writers.txt").unlink()
    with pytest.raises(FileNotFoundError, match="holdout_writers.txt is missing"):
        writer_parts(tmp_path)


def test_leave_one_writer_out_scores_all_41_writers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wiring, with the slow per-writer training replaced: a stand-in that returns each tip's own label
    with certainty must score as perfect, over the 41 writers' tips."""
    seen: dict[str, int] = {}

    def labels_as_probabilities(tips: list, writers: np.ndarray, **_: object) -> OutOfFold:
        seen["tips"], seen["writers"] = len(tips), len(set(writers.tolist()))
        labels = labels_of(tips)
        classes = (np.unique(labels[:, 0]), np.array(sorted(URGENCIES)))
        probabilities = tuple((labels[:, i][:, None] == classes[i][None, :]).astype(float) for i in (0, 1))
        return OutOfFold(classes, probabilities, (1.0, 1.0), [() for _ in tips])  # no rule: the labels alone

    monkeypatch.setattr(tuning, "leave_one_writer_out", labels_as_probabilities)
    tuning.print_leave_one_writer_out([5.0])
    out = capsys.readouterr().out
    tips, _ = writer_parts()
    assert seen == {"tips": len(tips), "writers": 41}
    pool = "train.jsonl, holdout.jsonl, holdout2.jsonl, holdout3.jsonl, holdout4.jsonl, holdout5.jsonl"
    assert f"41 writers of {pool}" in out
    row = out.strip().splitlines()[-1].split()
    assert row[:3] == ["5", "1.000", "0"]


def test_leave_one_writer_out_names_a_writer_letter_two_files_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clash of writer letters is reported as the reason there is no leave-one-writer-out, not a traceback."""
    _small_pool(tmp_path, ["I", "a"])
    monkeypatch.setattr(tuning, "writer_parts", lambda: writer_parts(tmp_path))
    tuning.print_leave_one_writer_out([5.0])
    assert "no leave-one-writer-out: holdout.jsonl: a writer letter already used" in capsys.readouterr().out

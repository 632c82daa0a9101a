"""Leave-one-writer-out's data: every tip with its writer, and the pooled writers of train and the holdouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import triage.tuning as tuning
from triage.cli import main
from triage.dataset import DEV_FILE, HOLDOUT4_FILE, TRAIN_FILE, read_labelled
from triage.model import OutOfFold, labels_of
from triage.taxonomy import URGENCIES
from triage.text import normalize
from triage.tuning import POOLED_FILES, pooled_writer_parts, writer_parts


def test_pooled_parts_hold_every_writer_once_and_never_dev_or_holdout4() -> None:
    tips, writers = pooled_writer_parts()
    train_tips, train_writers = writer_parts()
    assert len(tips) == len(writers)
    assert len(set(train_writers.tolist())) == 18
    assert len(set(writers.tolist())) == 38
    # The training tips come first, each with the same writer as in writer_parts.
    assert tips[: len(train_tips)] == train_tips
    assert writers[: len(train_tips)].tolist() == train_writers.tolist()
    texts = [normalize(t.text) for t in tips]
    assert len(set(texts)) == len(texts)
    for held_back in (DEV_FILE, HOLDOUT4_FILE):
        only_there = {normalize(t.text) for t in read_labelled(held_back)} - {
            normalize(t.text) for t in read_labelled(TRAIN_FILE)
        }
        assert not only_there & set(texts)
    # Every holdout tip is there unless its text came earlier.
    for name in POOLED_FILES:
        assert {normalize(t.text) for t in read_labelled(TRAIN_FILE.with_name(name))} <= set(texts)


def _write(directory: Path, stem: str, texts: list[str], writers: list[str]) -> None:
    lines = [json.dumps({"text": t, "category": "other", "urgency": "low"}) for t in texts]
    (directory / f"{stem}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / f"{stem}_writers.txt").write_text("\n".join(writers) + "\n")


def _small_pool(directory: Path, holdout_writers: list[str]) -> None:
    _write(directory, "train", ["the vending machine ate my dollar", "locker 12 is stuck again"], ["a", "b"])
    _write(directory, "holdout", ["the bus was late today", "Locker 12 is stuck again"], holdout_writers)
    _write(directory, "holdout2", ["wifi is down in the library"], ["s"])
    _write(directory, "holdout3", ["the gym smells weird"], ["A"])


def test_pooled_parts_drop_a_text_seen_in_an_earlier_file_with_its_writer(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I", "J"])
    tips, writers = pooled_writer_parts(tmp_path)
    assert [t.text for t in tips] == [
        "the vending machine ate my dollar",
        "locker 12 is stuck again",
        "the bus was late today",
        "wifi is down in the library",
        "the gym smells weird",
    ]
    assert writers.tolist() == ["a", "b", "I", "s", "A"]


def test_pooled_parts_refuse_a_writer_letter_two_files_use(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I", "a"])
    with pytest.raises(ValueError, match="holdout.jsonl: a writer letter already used"):
        pooled_writer_parts(tmp_path)


def test_pooled_parts_refuse_a_writers_file_out_of_step(tmp_path: Path) -> None:
    _small_pool(tmp_path, ["I"])
    with pytest.raises(FileNotFoundError, match="holdout_writers.txt does not match holdout.jsonl"):
        pooled_writer_parts(tmp_path)
    (tmp_path / "holdout_writers.txt").unlink()
    with pytest.raises(FileNotFoundError, match="holdout_writers.txt is missing"):
        pooled_writer_parts(tmp_path)


def test_tune_refuses_pooled_without_writers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", "--no-writers", "--pooled"]) == 2
    assert "--pooled" in capsys.readouterr().err


def test_pooled_leave_one_writer_out_scores_all_38_writers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wiring, with the slow per-writer training replaced: a stand-in that returns each tip's own label
    with certainty must score as perfect, over the 38 writers' tips."""
    seen: dict[str, int] = {}

    def labels_as_probabilities(tips: list, writers: np.ndarray, **_: object) -> OutOfFold:
        seen["tips"], seen["writers"] = len(tips), len(set(writers.tolist()))
        labels = labels_of(tips)
        classes = (np.unique(labels[:, 0]), np.array(sorted(URGENCIES)))
        probabilities = tuple((labels[:, i][:, None] == classes[i][None, :]).astype(float) for i in (0, 1))
        return OutOfFold(classes, probabilities, (1.0, 1.0))

    monkeypatch.setattr(tuning, "leave_one_writer_out", labels_as_probabilities)
    tuning.print_leave_one_writer_out([5.0], pooled=True)
    out = capsys.readouterr().out
    tips, _ = pooled_writer_parts()
    assert seen == {"tips": len(tips), "writers": 38}
    assert "38 writers of train.jsonl and holdout.jsonl, holdout2.jsonl, holdout3.jsonl" in out
    row = out.strip().splitlines()[-1].split()
    assert row[:3] == ["5", "1.000", "0"]


def test_leave_one_writer_out_names_a_writer_letter_two_files_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clash of writer letters is reported as the reason there is no leave-one-writer-out, not a traceback."""
    _small_pool(tmp_path, ["I", "a"])
    monkeypatch.setattr(tuning, "pooled_writer_parts", lambda: pooled_writer_parts(tmp_path))
    tuning.print_leave_one_writer_out([5.0], pooled=True)
    assert "no leave-one-writer-out: holdout.jsonl: a writer letter already used" in capsys.readouterr().out

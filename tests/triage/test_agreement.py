"""The second readers' labels: joined to the right tips, and scored as a model would be."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from triage.agreement import READERS_FILE, AgreementDataError, agreement, load_readings, text_hash


def test_the_readers_file_matches_the_tips_they_read() -> None:
    readings = load_readings(READERS_FILE)
    assert Counter(r.file for r in readings) == {"dev.jsonl": 200, "holdout2.jsonl": 200, "train.jsonl": 200}
    assert len({(r.file, r.tip.text) for r in readings}) == 600
    assert all(set(r.readings) == {"reader_a", "reader_b"} for r in readings)


def _write(tmp_path: Path, tips: list[dict], records: list[dict]) -> Path:
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tips))
    readers = tmp_path / "second_readers.jsonl"
    readers.write_text("".join(json.dumps(r) + "\n" for r in records))
    return readers


TIPS = [
    {"text": "he has a gun in his backpack right now", "category": "weapon", "urgency": "critical"},
    {"text": "she said she sometimes wishes she wasnt here", "category": "suicide", "urgency": "high"},
    {"text": "someone keyed the art teachers car", "category": "other", "urgency": "low"},
]


def _record(line: int, text: str, a: tuple[str, str], b: tuple[str, str]) -> dict:
    return {
        "file": "dev.jsonl",
        "line": line,
        "text_sha256": text_hash(text),
        "reader_a": {"category": a[0], "urgency": a[1]},
        "reader_b": {"category": b[0], "urgency": b[1]},
    }


def test_a_reader_is_scored_against_the_labels_like_a_model(tmp_path: Path) -> None:
    records = [
        _record(1, TIPS[0]["text"], ("weapon", "critical"), ("weapon", "high")),
        _record(2, TIPS[1]["text"], ("suicide", "high"), ("suicide", "high")),
        _record(3, TIPS[2]["text"], ("other", "low"), ("other", "medium")),
    ]
    result = agreement(load_readings(_write(tmp_path, TIPS, records)))["dev.jsonl"]
    assert result["reader_a"]["critical_recall"] == 1.0
    assert result["reader_a"]["urgency_macro_f1"] == 1.0
    assert result["reader_b"]["critical_recall"] == 0.0
    assert result["reader_b"]["dangerous_misses"] == 0  # high is not a dangerous miss
    assert result["reader_b"]["urgency_macro_f1"] < 1.0
    assert result["reader_b_vs_reader_a"] == {**result["reader_b"], "n": 3}


def test_an_edited_or_missing_tip_is_refused(tmp_path: Path) -> None:
    edited = _record(1, "a different text", ("weapon", "critical"), ("weapon", "critical"))
    with pytest.raises(AgreementDataError, match="not the text the readers read"):
        load_readings(_write(tmp_path, TIPS, [edited]))
    beyond = _record(9, TIPS[0]["text"], ("weapon", "critical"), ("weapon", "critical"))
    with pytest.raises(AgreementDataError, match="no line 9"):
        load_readings(_write(tmp_path, TIPS, [beyond]))
    unknown = _record(1, TIPS[0]["text"], ("guns", "critical"), ("weapon", "critical"))
    with pytest.raises(AgreementDataError, match="taxonomy"):
        load_readings(_write(tmp_path, TIPS, [unknown]))


def test_agreement_command_scores_readers_and_model(trained_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triage.cli import main

    assert main(["agreement", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"dev.jsonl", "holdout2.jsonl", "train.jsonl"}
    for rows in result.values():
        assert set(rows) == {"reader_a", "reader_b", "model", "reader_b_vs_reader_a"}
        assert all(row["n"] == 200 and 0.0 <= row["urgency_macro_f1"] <= 1.0 for row in rows.values())

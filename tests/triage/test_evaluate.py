"""`python -m triage evaluate`: its JSON contract, and the figures the model must keep on dev."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from triage.cli import main
from triage.dataset import (
    DEV_FILE,
    HOLDOUT6_FILE,
    HOLDOUT7_FILE,
    HOLDOUT8_FILE,
    HOLDOUT9_FILE,
    HOLDOUT10_FILE,
    HOLDOUT11_FILE,
)
from triage.taxonomy import CATEGORIES, URGENCIES

REPO = Path(__file__).resolve().parents[2]
LABEL_REPORT_KEYS = {"accuracy", "macro_f1", "per_class", "confusion"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triage", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def dev_report(trained_dir: Path) -> dict[str, Any]:
    if not DEV_FILE.exists():
        pytest.fail(f"{DEV_FILE} is missing")
    report: dict[str, Any] = json.loads(run_cli("evaluate", str(DEV_FILE), "--json").stdout)
    return report


def test_evaluate_json_has_exactly_the_documented_keys(dev_report: dict[str, Any]) -> None:
    assert set(dev_report) == {"n", "model_version", "critical_recall", "dangerous_misses", "urgency", "category"}
    for target, labels in (("urgency", URGENCIES), ("category", CATEGORIES)):
        part = dev_report[target]
        assert set(part) == LABEL_REPORT_KEYS
        assert list(part["per_class"]) == list(labels)
        for figures in part["per_class"].values():
            assert set(figures) == {"precision", "recall", "f1", "support"}
        assert part["confusion"]["labels"] == list(labels)
        matrix = part["confusion"]["matrix"]
        assert len(matrix) == len(labels) and all(len(row) == len(labels) for row in matrix)
        assert sum(map(sum, matrix)) == dev_report["n"]


# The issue asks for critical recall >= 0.95, no dangerous miss, urgency macro-F1 >= 0.80 and category
# macro-F1 >= 0.85 on dev. The model meets the second and the fourth but not yet the others (README, Triage:
# 0.926, 0, 0.713, 0.900 when these lines were last set, for the model trained on 41 writers), so the issue
# stays open. Until they are met, these tests hold the line where the model measurably is, so that no change
# makes it worse unnoticed; raise them whenever the model improves. Training is not bit-identical across
# CPUs (between two machines dev's F1 moved by up to 0.003, a 240-tip file's by 0.007), so the F1 lines sit a
# little below, and the critical line allows two tips less than today (149 of 163).
DEV_FLOORS = {"critical_recall": 0.91, "urgency_macro_f1": 0.705, "category_macro_f1": 0.895}
MAX_DANGEROUS_MISSES = 0


def test_dangerous_misses_on_dev_do_not_grow(dev_report: dict[str, Any]) -> None:
    assert dev_report["dangerous_misses"] <= MAX_DANGEROUS_MISSES


def test_dev_critical_recall_does_not_fall(dev_report: dict[str, Any]) -> None:
    assert dev_report["critical_recall"] >= DEV_FLOORS["critical_recall"]


def test_dev_urgency_macro_f1_does_not_fall(dev_report: dict[str, Any]) -> None:
    assert dev_report["urgency"]["macro_f1"] >= DEV_FLOORS["urgency_macro_f1"]


def test_dev_category_macro_f1_does_not_fall(dev_report: dict[str, Any]) -> None:
    assert dev_report["category"]["macro_f1"] >= DEV_FLOORS["category_macro_f1"]


ISSUE_FLOORS = {"critical_recall": 0.95, "urgency_macro_f1": 0.80, "category_macro_f1": 0.85}
# The test sets besides dev, by writers the model never trained on, at the issue's floors (README, Triage:
# holdout6 1.000 / 0 / 0.846 / 0.953, holdout7 0.983 / 0 / 0.856 / 0.939, holdout8 1.000 / 0 / 0.853 / 0.959,
# holdout9 0.997 / 0 / 0.869 / 0.953, holdout11 0.997 / 0 / 0.810 / 0.945). holdout10 (1.000 / 0 / 0.800 / 0.943)
# sits on the urgency floor itself:
# its line is the floor less the 0.007 by which a file's F1 moved between two machines' training (above), so
# that another CPU's model does not fail it by a hair; every other line is the issue's.
HOLDOUT10_FLOORS = {**ISSUE_FLOORS, "urgency_macro_f1": 0.793}
HOLDOUTS = [
    (HOLDOUT6_FILE, 399, ISSUE_FLOORS),
    (HOLDOUT7_FILE, 400, ISSUE_FLOORS),
    (HOLDOUT8_FILE, 954, ISSUE_FLOORS),
    (HOLDOUT9_FILE, 954, ISSUE_FLOORS),
    (HOLDOUT10_FILE, 955, HOLDOUT10_FLOORS),
    (HOLDOUT11_FILE, 954, ISSUE_FLOORS),
]


@pytest.mark.parametrize(("path", "n", "floors"), HOLDOUTS, ids=[path.stem for path, _, _ in HOLDOUTS])
def test_holdouts_hold_their_floors(trained_dir: Path, path: Path, n: int, floors: dict[str, float]) -> None:
    """Tips by writers the model never trained on: four in holdout6.jsonl (399 tips: students online, adults
    outside school, school staff, young people about themselves), two in holdout7.jsonl (400 tips: parents and
    grandparents, students about what they saw in person), eight in holdout8.jsonl and eight more in holdout9.jsonl
    (954 tips each), eight more in holdout10.jsonl (955 tips) and eight more in holdout11.jsonl (954)."""
    report = json.loads(run_cli("evaluate", str(path), "--json").stdout)
    assert report["n"] == n
    assert report["dangerous_misses"] == 0
    assert report["critical_recall"] >= floors["critical_recall"]
    assert report["urgency"]["macro_f1"] >= floors["urgency_macro_f1"]
    assert report["category"]["macro_f1"] >= floors["category_macro_f1"]


def test_evaluate_prints_tables_without_json(trained_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(DEV_FILE)]) == 0
    out = capsys.readouterr().out
    assert "critical recall" in out and "confusion" in out


def test_train_if_missing_is_quick_when_the_model_is_fresh(trained_dir: Path) -> None:
    started = time.perf_counter()
    out = run_cli("train", "--if-missing").stdout
    assert "up to date" in out
    assert time.perf_counter() - started < 20  # mostly the import of scikit-learn


def test_assess_command_prints_the_assessment(trained_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "he has a knife in his locker right now", "--now"]) == 0
    out = capsys.readouterr().out
    assert "urgency   critical" in out and "reasons" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("", "holds no labelled tips"),
        ('{"text": "a gun at school", "category": "weapon", "urgency": "critical"}\nnot json\n', ":2: not JSON"),
        ('{"text": "x", "category": "weapon", "urgency": "soon"}\n', "unknown urgency 'soon'"),
        ('{"text": "x", "category": "weapon", "urgency": "low", "kind": "a"}\n', "expected exactly the keys"),
    ],
    ids=["missing", "empty", "not-json", "bad-urgency", "extra-key"],
)
def test_evaluate_refuses_a_bad_file_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "tips.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["evaluate", str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("n", ["0", "1", "-5", "many"])
def test_bench_refuses_a_count_it_cannot_take_percentiles_of(n: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Two timings at least (a 99th percentile of one is a StatisticsError traceback; -5 meant every tip but 5),
    refused before the model is loaded."""
    with pytest.raises(SystemExit) as stopped:
        main(["bench", "-n", n])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "-n" in err and "Traceback" not in err

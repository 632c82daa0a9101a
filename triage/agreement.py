"""How far two careful people agree with the labels: `python -m triage agreement`.

Two readers who saw only TAXONOMY.md labelled, blind, 600 tips: 200 drawn at random (seed 20261123) from
each of dev.jsonl, holdout2.jsonl and train.jsonl, shuffled together so that neither knew which file a tip
came from, with no label, model output or other reader in sight. Their labels are in
`data/second_readers.jsonl`, one line a tip, with the file, the line and a hash of the text so that an
edited tip is noticed. Scoring each reader against a file's labels, as if the reader were a model, tells
how much of the model's shortfall on that file a person reading the taxonomy would share: the ceiling the
file's own labels set. The readers are not used for training, tuning or any decision of the model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.dataset import DATA_DIR, LabelledTip, read_labelled
from triage.evaluate import headline, score
from triage.taxonomy import CATEGORIES, URGENCIES

if TYPE_CHECKING:
    from triage.assessment import TriageModel

READERS_FILE = DATA_DIR / "second_readers.jsonl"
READERS = ("reader_a", "reader_b")


class AgreementDataError(ValueError):
    """The readers' file does not match the labelled files it refers to."""


@dataclass(frozen=True)
class ReadTip:
    tip: LabelledTip
    file: str
    readings: dict[str, tuple[str, str]]  # reader -> (category, urgency)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_readings(path: Path = READERS_FILE) -> list[ReadTip]:
    """The readers' labels joined to the labelled tips they read (beside `path`); raises if a tip moved or
    changed."""
    files: dict[str, list[LabelledTip]] = {}
    out: list[ReadTip] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        record = json.loads(line)
        name = record["file"]
        if name not in files:
            files[name] = read_labelled(path.parent / name)
        tips = files[name]
        index = int(record["line"]) - 1
        if not 0 <= index < len(tips):
            raise AgreementDataError(f"{where}: {name} has no line {record['line']}")
        tip = tips[index]
        if text_hash(tip.text) != record["text_sha256"]:
            raise AgreementDataError(f"{where}: line {record['line']} of {name} is not the text the readers read")
        readings = {}
        for reader in READERS:
            category, urgency = record[reader]["category"], record[reader]["urgency"]
            if category not in CATEGORIES or urgency not in URGENCIES:
                raise AgreementDataError(f"{where}: {reader} gave a label the taxonomy does not have")
            readings[reader] = (category, urgency)
        out.append(ReadTip(tip, name, readings))
    return out


def _figures(report: dict[str, Any]) -> dict[str, float]:
    return {"n": report["n"], **headline(report)}


def agreement(readings: list[ReadTip], model: TriageModel | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Per file: each reader and the model scored against the file's labels, and reader b against reader a."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name in sorted({r.file for r in readings}):
        part = [r for r in readings if r.file == name]
        truth = [r.tip for r in part]
        rows: dict[str, dict[str, float]] = {}
        for reader in READERS:
            rows[reader] = _figures(
                score(truth, [r.readings[reader][0] for r in part], [r.readings[reader][1] for r in part], reader)
            )
        if model is not None:
            assessed = model.assess_many([t.text for t in truth])
            rows["model"] = _figures(
                score(truth, [a.category for a in assessed], [a.urgency for a in assessed], model.version)
            )
        as_truth = [LabelledTip(r.tip.text, *r.readings[READERS[0]]) for r in part]
        rows["reader_b_vs_reader_a"] = _figures(
            score(as_truth, [r.readings[READERS[1]][0] for r in part], [r.readings[READERS[1]][1] for r in part], "")
        )
        result[name] = rows
    return result


def format_agreement(result: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "each row scored as a model would be; 'reader_b_vs_reader_a' takes reader a's labels as the truth",
        f"{'file':16}{'scored':22}{'n':>5}{'crit recall':>13}{'dangerous':>11}{'urg F1':>8}{'cat F1':>8}",
    ]
    for name, rows in result.items():
        for who, f in rows.items():
            lines.append(
                f"{name:16}{who:22}{int(f['n']):5d}{f['critical_recall']:13.3f}{int(f['dangerous_misses']):11d}"
                f"{f['urgency_macro_f1']:8.3f}{f['category_macro_f1']:8.3f}"
            )
    return "\n".join(lines)

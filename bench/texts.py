"""Tip texts for load: the triage development set (labelled, varied), and the ones the model rates critical."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import REPO

DEV_SET = REPO / "triage" / "data" / "dev.jsonl"


def dev_texts() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]


def load_texts(limit: int = 400) -> list[str]:
    """A mix in the development set's proportions (about one in six critical)."""
    return [row["text"] for row in dev_texts()][:limit]


def critical_texts(model_dir: Path, limit: int = 60) -> list[str]:
    """Texts the deployed model itself rates critical, so that every submission sends an SMS at once."""
    import triage

    model = triage.load_model(model_dir)
    found = []
    for row in dev_texts():
        if row.get("urgency") == "critical" and model.assess(row["text"]).urgency == "critical":
            found.append(row["text"])
            if len(found) >= limit:
                break
    if not found:
        raise RuntimeError("the triage model rates none of the critical development texts critical")
    return found


def write_texts(path: Path, texts: list[str]) -> Path:
    path.write_text(json.dumps(texts))
    return path

"""Tipline's urgency classifier: what a tip is about and how urgent it is.

A plain library: no Flask, no database. `assess()` loads the trained model once per process
(from `model_dir()`) and is safe to call from many threads.
"""

from __future__ import annotations

from triage.assessment import Assessment, TriageModel
from triage.decision import COST
from triage.model import CannotWriteModel, ModelNotTrained, ModelUnusable, load_model, model_dir, train
from triage.taxonomy import CATEGORIES, DANGER_ORDER, URGENCIES, max_urgency, more_dangerous, urgency_rank

__all__ = [
    "CATEGORIES",
    "COST",
    "DANGER_ORDER",
    "URGENCIES",
    "Assessment",
    "CannotWriteModel",
    "ModelNotTrained",
    "ModelUnusable",
    "TriageModel",
    "assess",
    "load_model",
    "max_urgency",
    "model_dir",
    "more_dangerous",
    "train",
    "urgency_rank",
]


def assess(text: str, *, happening_now: bool | None = None) -> Assessment:
    """Assess one tip with the model in `model_dir()`.

    Raises ModelUnusable when no model there can be used (ModelNotTrained when there is none), TypeError for a
    text that is not a str or a `happening_now` other than True, False or None."""
    model: TriageModel = load_model()
    return model.assess(text, happening_now=happening_now)

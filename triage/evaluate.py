"""Scoring a model on a labelled file: the figures of `python -m triage evaluate`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from triage.dataset import LabelledTip
from triage.taxonomy import CATEGORIES, URGENCIES, urgency_rank

if TYPE_CHECKING:
    from triage.assessment import TriageModel


def label_report(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class figures and the confusion matrix (rows: truth, columns: predicted).

    Macro-F1 averages over the labels present in the truth, so a file without, say, `low` tips
    is not penalised for a class it cannot score.
    """
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=list(labels), zero_division=0
    )
    present = support > 0
    return {
        "accuracy": float(np.mean(np.asarray(truth) == np.asarray(predicted))) if truth else 0.0,
        "macro_f1": float(np.mean(f1[present])) if present.any() else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion": {
            "labels": list(labels),
            "matrix": confusion_matrix(truth, predicted, labels=list(labels)).tolist(),
        },
    }


def score(
    truth: Sequence[LabelledTip], categories: Sequence[str], urgencies: Sequence[str], model_version: str
) -> dict[str, Any]:
    """The evaluate report for predictions of the given tips."""
    critical = [i for i, tip in enumerate(truth) if tip.urgency == "critical"]
    caught = sum(urgencies[i] == "critical" for i in critical)
    dangerous = sum(urgency_rank(urgencies[i]) <= urgency_rank("medium") for i in critical)
    return {
        "n": len(truth),
        "model_version": model_version,
        # With no critical tip in the file nothing was missed, so recall is reported as 1.0.
        "critical_recall": caught / len(critical) if critical else 1.0,
        "dangerous_misses": int(dangerous),
        "urgency": label_report([t.urgency for t in truth], urgencies, URGENCIES),
        "category": label_report([t.category for t in truth], categories, CATEGORIES),
    }


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The four figures the issue sets floors on, flat, from a `score` report."""
    return {
        "critical_recall": report["critical_recall"],
        "dangerous_misses": report["dangerous_misses"],
        "urgency_macro_f1": report["urgency"]["macro_f1"],
        "category_macro_f1": report["category"]["macro_f1"],
    }


def evaluate_tips(model: TriageModel, tips: Sequence[LabelledTip]) -> dict[str, Any]:
    assessments = model.assess_many([tip.text for tip in tips])
    return score(tips, [a.category for a in assessments], [a.urgency for a in assessments], model.version)


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables for a terminal."""
    lines = [
        f"model {report['model_version']}  n={report['n']}",
        f"critical recall {report['critical_recall']:.3f}   dangerous misses (critical -> medium/low) "
        f"{report['dangerous_misses']}",
    ]
    for target in ("urgency", "category"):
        part = report[target]
        labels = part["confusion"]["labels"]
        width = max(len(label) for label in labels) + 2
        lines += [
            "",
            f"{target}: accuracy {part['accuracy']:.3f}  macro-F1 {part['macro_f1']:.3f}",
            f"{'':{width}}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}",
        ]
        for label in labels:
            c = part["per_class"][label]
            lines.append(f"{label:{width}}{c['precision']:7.3f}{c['recall']:8.3f}{c['f1']:7.3f}{c['support']:6d}")
        short = [label[:6] for label in labels]
        lines += ["", "confusion (rows truth, columns predicted)", f"{'':{width}}" + "".join(f"{s:>7}" for s in short)]
        for label, row in zip(labels, part["confusion"]["matrix"], strict=True):
            lines.append(f"{label:{width}}" + "".join(f"{v:7d}" for v in row))
    return "\n".join(lines)

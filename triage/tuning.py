"""Choosing hyper-parameters and the cost of a missed critical by cross-validation on the training set.

Dev is never used here: it stays an honest estimate of how the model does on tips it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence

from triage.assessment import decide_from_probabilities
from triage.dataset import load_training
from triage.decision import cost_matrix
from triage.evaluate import score
from triage.model import OutOfFold, fit_pipeline
from triage.text import normalize


def out_of_fold_metrics(tips: Sequence, oof: OutOfFold, missed_critical: float) -> dict[str, float]:
    cost = cost_matrix(missed_critical)
    normalized = [normalize(tip.text) for tip in tips]
    categories, urgencies = [], []
    for row, text in enumerate(normalized):
        category_p = dict(zip(oof.classes[0], oof.probabilities[0][row].tolist(), strict=True))
        urgency_p = dict(zip(oof.classes[1], oof.probabilities[1][row].tolist(), strict=True))
        category, urgency, _ = decide_from_probabilities(text, category_p, urgency_p, cost=cost)
        categories.append(category)
        urgencies.append(urgency)
    report = score(tips, categories, urgencies, "cv")
    return {
        "critical_recall": report["critical_recall"],
        "dangerous_misses": report["dangerous_misses"],
        "urgency_macro_f1": report["urgency"]["macro_f1"],
        "category_macro_f1": report["category"]["macro_f1"],
    }


def print_tuning(c_values: Sequence[float], missed_critical_costs: Sequence[float]) -> None:
    tips = load_training()
    print(f"{len(tips)} training tips, 5-fold out-of-fold predictions, rules applied")
    print(f"{'C':>6}{'K':>6}{'crit recall':>13}{'dangerous':>11}{'urg F1':>8}{'cat F1':>8}")
    for c in c_values:
        _, oof = fit_pipeline(tips, c=c)
        for k in missed_critical_costs:
            m = out_of_fold_metrics(tips, oof, k)
            print(
                f"{c:6g}{k:6g}{m['critical_recall']:13.3f}{m['dangerous_misses']:11d}"
                f"{m['urgency_macro_f1']:8.3f}{m['category_macro_f1']:8.3f}",
                flush=True,
            )

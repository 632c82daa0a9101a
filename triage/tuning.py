"""Choosing hyper-parameters and the cost of a missed critical by cross-validation on the training set.

Dev is never used here: it stays an honest estimate of how the model does on tips it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from triage.calibration import calibrated_probabilities, fit_temperature, mixed_urgency_scores
from triage.dataset import (
    ADDED_TRAINING_FILES,
    DATA_DIR,
    PARTS_GLOB,
    TRAINING_FILES,
    LabelledTip,
    deduplicate,
    load_training,
    read_labelled,
)
from triage.decision import MISSED_CRITICAL_COST, QUEUED_CRITICAL_COST, cost_matrix
from triage.evaluate import headline
from triage.model import (
    CATEGORY_OUTPUT,
    FIRST_CONDITIONAL_OUTPUT,
    URGENCY_OUTPUT,
    OutOfFold,
    build_pipeline,
    conditional_probabilities,
    fit_heads,
    fit_pipeline,
    labels_of,
    out_of_fold_report,
    rules_fired_on,
)
from triage.text import normalize


def out_of_fold_metrics(tips: Sequence, oof: OutOfFold, missed_critical: float) -> dict[str, float]:
    """The headline figures at a cost of `missed_critical` for a critical ranked high, and for one left in a
    queue (medium or low) that times the shipped matrix's ratio of the two (20 to 5)."""
    queued = missed_critical * QUEUED_CRITICAL_COST / MISSED_CRITICAL_COST
    return headline(out_of_fold_report(tips, oof, cost_matrix(missed_critical, queued)))


def print_tuning(c_values: Sequence[float], missed_critical_costs: Sequence[float], writers: bool = True) -> None:
    tips = load_training()
    print(f"{len(tips)} training tips, 5-fold out-of-fold predictions, rules applied")
    print(f"{'cat C':>6}{'K':>6}{'crit recall':>13}{'dangerous':>11}{'urg F1':>8}{'cat F1':>8}")
    for c in c_values:
        _, oof = fit_pipeline(tips, category_c=c)
        for k in missed_critical_costs:
            m = out_of_fold_metrics(tips, oof, k)
            print(
                f"{c:6g}{k:6g}{m['critical_recall']:13.3f}{m['dangerous_misses']:11d}"
                f"{m['urgency_macro_f1']:8.3f}{m['category_macro_f1']:8.3f}",
                flush=True,
            )
    if writers:
        print_leave_one_writer_out(missed_critical_costs)


def print_leave_one_writer_out(missed_critical_costs: Sequence[float]) -> None:
    """The figures that matter most: each writer's tips scored by a model trained on the other writers
    (of every training file, `TRAINING_FILES`)."""
    try:
        tips, writers = writer_parts()
    except (FileNotFoundError, ValueError) as exc:  # a writers file missing or out of step; a letter in two files
        print(f"no leave-one-writer-out: {exc}")
        return
    names = sorted(set(writers.tolist()))
    pool = ", ".join(path.name for path in TRAINING_FILES)
    print(f"\nleave-one-writer-out over {len(names)} writers of {pool} ({', '.join(names)}), {len(tips)} tips")
    print(f"{'K':>6}{'crit recall':>13}{'dangerous':>11}{'urg F1':>8}{'cat F1':>8}   worst writer's critical recall")
    oof = leave_one_writer_out(tips, writers)
    for k in missed_critical_costs:
        m = out_of_fold_metrics(tips, oof, k)
        worst = min(
            (out_of_fold_metrics_subset(tips, oof, k, writers == name)["critical_recall"], name) for name in names
        )
        print(
            f"{k:6g}{m['critical_recall']:13.3f}{m['dangerous_misses']:11d}"
            f"{m['urgency_macro_f1']:8.3f}{m['category_macro_f1']:8.3f}   {worst[0]:.3f} ({worst[1]})",
            flush=True,
        )


def out_of_fold_metrics_subset(tips: Sequence, oof: OutOfFold, missed_critical: float, rows: np.ndarray) -> dict:
    index = np.where(rows)[0]
    return out_of_fold_metrics([tips[i] for i in index], oof.subset(index), missed_critical)


WRITERS_FILE = "train_writers.txt"


def _train_writer_parts(data_dir: Path = DATA_DIR) -> tuple[list[LabelledTip], np.ndarray]:
    """train.jsonl's tips (or its parts') with the writer (part file letter) of each, duplicates dropped."""
    tips: list[LabelledTip] = []
    writers: list[str] = []
    files = sorted(data_dir.glob(PARTS_GLOB))
    for path in files:
        for tip in read_labelled(path):
            tips.append(tip)
            writers.append(path.stem.removeprefix("train_"))
    if not files and (data_dir / WRITERS_FILE).exists():
        # The shipped form: train.jsonl plus, line for line, which writer wrote each tip.
        tips, writers = _with_writers(data_dir / "train.jsonl")
    if not tips:
        raise FileNotFoundError(f"no writer parts ({PARTS_GLOB}) nor {WRITERS_FILE} in {data_dir}")
    return _first_of_each_text(tips, writers)


def writer_parts(data_dir: Path = DATA_DIR) -> tuple[list[LabelledTip], np.ndarray]:
    """The training tips, as `load_training` gives them, with the writer of each: train.jsonl's, then each
    other training file's (`<stem>_writers.txt`, a letter that no other file uses). A text already seen in
    an earlier file is dropped, as `load_training` drops duplicates."""
    tips, writers = _train_writer_parts(data_dir)
    all_tips, all_writers = list(tips), writers.tolist()
    for name in (path.name for path in ADDED_TRAINING_FILES):
        more, more_writers = _with_writers(data_dir / name)
        if set(more_writers) & set(all_writers):
            raise ValueError(f"{name}: a writer letter already used by another file")
        all_tips += more
        all_writers += more_writers
    return _first_of_each_text(all_tips, all_writers)


def _with_writers(path: Path) -> tuple[list[LabelledTip], list[str]]:
    """A labelled file and its `<stem>_writers.txt`, one writer a line, line for line with the tips."""
    tips = read_labelled(path)
    by_line = path.with_name(f"{path.stem}_writers.txt")
    if not by_line.exists():
        raise FileNotFoundError(f"{by_line.name} is missing: leave-one-writer-out needs the writer of each tip")
    writers = by_line.read_text().split()
    if len(writers) != len(tips):
        raise FileNotFoundError(f"{by_line.name} does not match {path.name} line for line")
    return tips, writers


def _first_of_each_text(tips: list[LabelledTip], writers: list[str]) -> tuple[list[LabelledTip], np.ndarray]:
    unique = deduplicate(tips)
    kept = iter(unique)
    # deduplicate keeps the first of each text in order: walk both lists to keep the writers aligned.
    aligned, nxt = [], next(kept, None)
    for tip, writer in zip(tips, writers, strict=True):
        if nxt is not None and tip is nxt:
            aligned.append(writer)
            nxt = next(kept, None)
    return unique, np.array(aligned)


def _writer_scores(
    tips: Sequence[LabelledTip], held_out: np.ndarray, hyper: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """For the held-out writer's tips, by a pipeline trained on the other writers: the category and urgency
    heads' scores, and P(urgency | text, category) from each category's urgency head."""
    train_rows = np.where(~held_out)[0]
    pipeline = build_pipeline(**hyper)
    texts = [normalize(tip.text) for tip in tips]
    labels = labels_of(tips)
    features = pipeline.named_steps["features"]
    x_train = features.fit_transform([texts[i] for i in train_rows])
    x_test = features.transform([texts[i] for i in np.where(held_out)[0]])
    heads = fit_heads(pipeline.named_steps["classify"], x_train, labels[train_rows]).estimators_
    return (
        heads[CATEGORY_OUTPUT].decision_function(x_test),
        heads[URGENCY_OUTPUT].decision_function(x_test),
        conditional_probabilities(heads[FIRST_CONDITIONAL_OUTPUT:], x_test, heads[URGENCY_OUTPUT].classes_),
    )


def leave_one_writer_out(tips: Sequence[LabelledTip], writers: np.ndarray, **hyper: Any) -> OutOfFold:
    """Calibrated probabilities of each tip from a model that saw none of its writer's tips.

    Each writer is a stand-in for the outsiders who will write real tips (and dev). The temperatures
    used on a writer's tips are fitted on the other writers' held-out scores, so no label of a tip is
    used to score it.
    """
    labels = labels_of(tips)
    names = sorted(set(writers.tolist()))
    category_classes, urgency_classes = (np.unique(labels[:, o]) for o in (CATEGORY_OUTPUT, URGENCY_OUTPUT))
    category_scores = np.zeros((len(tips), len(category_classes)))
    urgency_scores = np.zeros((len(tips), len(urgency_classes)))
    conditional = [np.zeros((len(tips), len(urgency_classes))) for _ in category_classes]
    for name in names:  # one writer at a time: the heads are already fitted on both cores
        held_out = writers == name
        category_scores[held_out], urgency_scores[held_out], parts = _writer_scores(tips, held_out, hyper)
        for i, p in enumerate(parts):
            conditional[i][held_out] = p
    category_p = np.zeros_like(category_scores)
    for name in names:
        held_out = writers == name
        t = fit_temperature(category_scores[~held_out], labels[~held_out, CATEGORY_OUTPUT], category_classes)
        category_p[held_out] = calibrated_probabilities(category_scores[held_out], t)
    mixed = mixed_urgency_scores(urgency_scores, category_p, conditional)
    urgency_p = np.zeros_like(mixed)
    for name in names:
        held_out = writers == name
        t = fit_temperature(mixed[~held_out], labels[~held_out, URGENCY_OUTPUT], urgency_classes)
        urgency_p[held_out] = calibrated_probabilities(mixed[held_out], t)
    fired = rules_fired_on([normalize(tip.text) for tip in tips])  # once, for every cost and writer scored
    return OutOfFold((category_classes, urgency_classes), (category_p, urgency_p), (1.0, 1.0), fired)

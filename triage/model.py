"""The scikit-learn pipeline, its training, and its files on disk (skops model + JSON card).

The pipeline holds only scikit-learn types, so `skops.io.load` needs no untrusted type: text
normalisation happens before it (`text.normalize`), never inside it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops.io as sio
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from skops.io.exceptions import UntrustedTypesFoundException

from triage.calibration import (
    FOLDS,
    SEED,
    aligned,
    apply_temperature,
    calibrated_probabilities,
    expected_calibration_error,
    fit_temperature,
    fold_scores,
    folds,
    mixed_urgency_scores,
)
from triage.dataset import (
    DEV_FILE,
    IncompleteTrainingData,
    LabelledTip,
    data_hash,
    load_training,
    read_labelled,
    training_files,
)
from triage.rules import RULES, SafetyRule, fired_rules
from triage.text import normalize

# Bump when the pipeline or the normalisation changes: a model of another format is stale.
MODEL_FORMAT = "tfidf-linear-6"
MODEL_FILE = "model.skops"
CARD_FILE = "model_card.json"
MAX_MODEL_BYTES = 10 * 1024 * 1024
MIN_EXAMPLES_PER_LABEL = 5
# Index of each head in the pipeline's multi-output. Heads FIRST_CONDITIONAL_OUTPUT + i learn the urgency
# of category i's tips alone (i in the category head's classes_ order).
CATEGORY_OUTPUT, URGENCY_OUTPUT, FIRST_CONDITIONAL_OUTPUT = 0, 1, 2

# Chosen on the training set only, by leave-one-writer-out (`python -m triage tune`), over the writers of the
# day (7 to 18; the 38 and 41 writers' models keep them). urgency_C: at the same cost of a missed critical, 10 beat 3
# for the urgency head on held-out writers (critical recall 0.970 vs 0.970, dangerous misses 8 vs 9, urgency
# macro-F1 0.644 vs 0.641; 0.3, 1 and 30 were worse); the per-category urgency heads take it too (on 18
# writers, a C of their own of 1, 3 or 30 caught fewer criticals: see the README's attempts). category_C, for
# the category's linear SVM: category macro-F1 on held-out writers 0.819 at 0.1, 0.826 at 0.2, 0.825 at 0.3,
# 0.825 at 0.5, 0.819 at 1; a logistic regression, the head before, gave 0.806 (C 3) and 0.810 (C 10).
HYPER_PARAMETERS: dict[str, Any] = {
    "category_C": 0.2,
    "urgency_C": 10.0,
    "word_max_features": 30000,
    "char_max_features": 50000,
}


class ModelUnusable(RuntimeError):
    """The model directory holds no model that can be used: missing (ModelNotTrained), cut short, damaged, of
    untrusted types, or a model file that is not its card's. The message names the directory and the way out."""

    def __init__(self, directory: Path, why: str) -> None:
        super().__init__(
            f"The triage model in {directory} cannot be used: {why}. Train it again with "
            "`.venv/bin/python -m triage train` (or copy a trained model there)."
        )
        self.directory = directory


class ModelNotTrained(ModelUnusable):
    """No trained model in the model directory."""

    def __init__(self, directory: Path) -> None:
        RuntimeError.__init__(
            self,
            f"No trained triage model in {directory}. Train one with `.venv/bin/python -m triage train` "
            f"(or set TRIAGE_MODEL_DIR to a directory that holds {MODEL_FILE} and {CARD_FILE})."
        )
        self.directory = directory


class CannotWriteModel(RuntimeError):
    """The model directory cannot be created or written; found before any fitting."""


def model_dir() -> Path:
    """$TRIAGE_MODEL_DIR, else triage/ in $TIPLINE_INSTANCE_PATH, else instance/triage/ at the repository root.

    The same choice as the web app's (app/config.py), so that `python -m triage train` run with the service's
    environment writes the model where the app and the alert worker look for it.
    """
    configured = os.environ.get("TRIAGE_MODEL_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    instance = os.environ.get("TIPLINE_INSTANCE_PATH")
    if instance:
        return Path(instance).resolve() / "triage"
    return Path(__file__).resolve().parent.parent / "instance" / "triage"


def build_pipeline(
    category_c: float = HYPER_PARAMETERS["category_C"],
    urgency_c: float = HYPER_PARAMETERS["urgency_C"],
    word_max_features: int = HYPER_PARAMETERS["word_max_features"],
    char_max_features: int = HYPER_PARAMETERS["char_max_features"],
) -> Pipeline:
    """Word 1-2 grams (readable reasons) + character 2-5 grams (typos, slang, Spanish without accents),
    then linear models on the shared features: a linear SVM for the category (its scores made probabilities
    by temperature scaling), a logistic regression for the urgency, and one more logistic regression per
    category for the urgency of that category's tips. The urgency is the average (in log space) of
    the urgency head and of "urgency given the category" weighted by the category's probability.

    Why per category: how urgent words are depends on what the tip is about. "Yesterday" lowers a weapon
    tip and says little about a suicide note; a single urgency model must find one weight for both.
    On held-out writers (`python -m triage tune`), at the same cost of a missed critical, the mix cut
    dangerous misses from 8 to 4 with critical recall 0.970 -> 0.973 and urgency macro-F1 0.644 -> 0.681.
    (One head over the 44 (category, urgency) pairs did as well, 0.972 / 4 / 0.671, but took four times
    longer to train.)

    MultiOutputClassifier holds every head; `fit_with_out_of_fold` (or `fit_heads`) fits each on its own rows
    with its own C (`head_estimators`), so never call the pipeline's own `fit`."""
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    token_pattern=r"(?u)\b\w+\b",  # noqa: S106 (a regex, not a password)
                    min_df=2,
                    sublinear_tf=True,
                    max_features=word_max_features,
                    dtype=np.float32,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=char_max_features,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    # newton-cg converges in a handful of iterations here, ten times faster than lbfgs.
    linear = LogisticRegression(C=urgency_c, class_weight="balanced", solver="newton-cg", max_iter=200)
    classify = MultiOutputClassifier(linear, n_jobs=2)
    # Read by head_estimators; not a parameter of MultiOutputClassifier, and gone once fitted.
    classify.category_estimator = LinearSVC(C=category_c, class_weight="balanced", random_state=SEED)
    return Pipeline([("features", features), ("classify", classify)])


def head_estimators(classify: MultiOutputClassifier, n_categories: int) -> list[Any]:
    """Unfitted heads: the category's linear SVM, then the urgency's logistic regression and one more per
    category (the urgency of that category's tips)."""
    return [clone(classify.category_estimator)] + [clone(classify.estimator) for _ in range(1 + n_categories)]


def head_rows(labels: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (rows, targets) each head learns from, among `rows`: the category and urgency heads all of
    them, each conditional head only the rows of its category (categories in sorted order, as classes_)."""
    categories = np.unique(labels[:, CATEGORY_OUTPUT])
    heads = [(rows, labels[rows, CATEGORY_OUTPUT]), (rows, labels[rows, URGENCY_OUTPUT])]
    for category in categories:
        own = rows[labels[rows, CATEGORY_OUTPUT] == category]
        heads.append((own, labels[own, URGENCY_OUTPUT]))
    return heads


def install_heads(classify: MultiOutputClassifier, heads: Sequence[Any], n_features: int) -> MultiOutputClassifier:
    """Put fitted heads in the MultiOutputClassifier, as its own `fit` would have."""
    classify.estimators_ = list(heads)
    classify.n_features_in_ = n_features
    del classify.category_estimator  # a plain MultiOutputClassifier on disk
    return classify


def _fit_rows(estimator: Any, features: Any, rows: np.ndarray, targets: np.ndarray) -> Any:
    return estimator.fit(features[rows], targets)


def _head_jobs(classify: MultiOutputClassifier, features: Any, labels: np.ndarray) -> list[Any]:
    """One job a head, in head order: each head unfitted, with its own rows of `features` and its targets."""
    rows = head_rows(labels, np.arange(len(labels)))
    unfitted = head_estimators(classify, len(rows) - FIRST_CONDITIONAL_OUTPUT)
    return [delayed(_fit_rows)(head, features, own, y) for head, (own, y) in zip(unfitted, rows, strict=True)]


def fit_heads(classify: MultiOutputClassifier, features: Any, labels: np.ndarray) -> MultiOutputClassifier:
    """What MultiOutputClassifier.fit does, with a C per head and each head on its own rows, in parallel.
    (Training fits them with its calibration folds, `fit_with_out_of_fold`; leave-one-writer-out uses this.)"""
    heads = Parallel(n_jobs=2)(_head_jobs(classify, features, labels))
    return install_heads(classify, heads, features.shape[1])


def conditional_probabilities(heads: Sequence[Any], features: Any, urgency_classes: Any) -> list[np.ndarray]:
    """P(urgency | text, category i) from each fitted per-category head, columns in `urgency_classes` order."""
    return [aligned(head.predict_proba(features), head.classes_, urgency_classes) for head in heads]


def _conditional_fold(
    estimator: Any, features: Any, labels: np.ndarray, urgency_classes: Any, train: np.ndarray, test: np.ndarray
) -> list[np.ndarray]:
    """P(urgency | text, category) of the `test` rows, from each category's head fitted on `train` rows."""
    heads = [
        clone(estimator).fit(features[own], targets)
        for own, targets in head_rows(labels, train)[FIRST_CONDITIONAL_OUTPUT:]
    ]
    return conditional_probabilities(heads, features[test], urgency_classes)


@dataclass(frozen=True)
class FittedHeads:
    """Every head fitted on all tips, and each tip's out-of-fold scores: the category and urgency heads' raw
    decision scores, and P(urgency | text, category i) from the per-category heads (one array per category)."""

    heads: list[Any]
    category_scores: np.ndarray
    urgency_scores: np.ndarray
    conditional: list[np.ndarray]


def fit_with_out_of_fold(classify: MultiOutputClassifier, features: Any, labels: np.ndarray) -> FittedHeads:
    """Fit every head on all tips and score every tip by heads that did not see it, as one batch of jobs.

    Out of fold means stratified 5-fold (`calibration.folds`): by category for the category head, by urgency
    for the urgency head and the per-category heads. These are the fits that fitting the heads and then each
    out-of-fold pass in turn made (the same estimators, rows and folds); one pool keeps both cores busy to
    the end, longest jobs first, where each pass used to end with one core waiting."""
    category_classes, urgency_classes = (np.unique(labels[:, o]) for o in (CATEGORY_OUTPUT, URGENCY_OUTPUT))
    by_urgency = folds(labels[:, URGENCY_OUTPUT])
    split = {CATEGORY_OUTPUT: folds(labels[:, CATEGORY_OUTPUT]), URGENCY_OUTPUT: by_urgency}
    template = {CATEGORY_OUTPUT: classify.category_estimator, URGENCY_OUTPUT: classify.estimator}
    heads = _head_jobs(classify, features, labels)
    first = FIRST_CONDITIONAL_OUTPUT
    # (key, job), longest first: the category and urgency heads on all tips, the two heads' folds, the
    # per-category heads' folds, then the per-category heads on all tips, each on one category's tips.
    jobs: list[tuple[tuple[Any, ...], Any]] = [(("head", i), job) for i, job in enumerate(heads[:first])]
    jobs += [
        (("scores", output, k), delayed(fold_scores)(template[output], features, labels[:, output], train, test))
        for output in (CATEGORY_OUTPUT, URGENCY_OUTPUT)
        for k, (train, test) in enumerate(split[output])
    ]
    jobs += [
        (
            ("conditional", k),
            delayed(_conditional_fold)(classify.estimator, features, labels, urgency_classes, train, test),
        )
        for k, (train, test) in enumerate(by_urgency)
    ]
    jobs += [(("head", i), job) for i, job in enumerate(heads[first:], start=first)]
    done: dict[tuple[Any, ...], Any] = dict(
        zip((key for key, _ in jobs), Parallel(n_jobs=2)(job for _, job in jobs), strict=True)
    )

    scores = {
        output: np.zeros((len(labels), len(classes)))
        for output, classes in ((CATEGORY_OUTPUT, category_classes), (URGENCY_OUTPUT, urgency_classes))
    }
    for output in scores:
        for k, (_, test) in enumerate(split[output]):
            scores[output][test] = done["scores", output, k]
    conditional = [np.zeros((len(labels), len(urgency_classes))) for _ in category_classes]
    for k, (_, test) in enumerate(by_urgency):
        for i, p in enumerate(done["conditional", k]):
            conditional[i][test] = p
    fitted = [done["head", i] for i in range(len(heads))]
    return FittedHeads(fitted, scores[CATEGORY_OUTPUT], scores[URGENCY_OUTPUT], conditional)


def labels_of(tips: Sequence[LabelledTip]) -> np.ndarray:
    """The (n, 2) label array the pipeline learns: category, urgency."""
    return np.array([[tip.category, tip.urgency] for tip in tips], dtype=object)


@dataclass(frozen=True)
class OutOfFold:
    """Calibrated probabilities of each training tip from models that did not see it, for category and
    urgency; the temperatures are the category head's and the urgency mix's. `fired`, when known, holds the
    safety rules that fire on each tip's text (they depend on the text alone, not on any model)."""

    classes: tuple[np.ndarray, np.ndarray]
    probabilities: tuple[np.ndarray, np.ndarray]
    temperatures: tuple[float, float]
    fired: Sequence[tuple[SafetyRule, ...]] | None = None

    def subset(self, rows: np.ndarray) -> OutOfFold:
        """The same, for the tips at `rows` only (indices, or a mask over the tips)."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        fired = None if self.fired is None else [self.fired[int(i)] for i in rows]
        probabilities = (self.probabilities[0][rows], self.probabilities[1][rows])
        return OutOfFold(self.classes, probabilities, self.temperatures, fired)


def _fired_indices(normalized_texts: Sequence[str]) -> list[tuple[int, ...]]:
    """For each text, the position in RULES of each rule that fires on it: positions, not the rules, come back
    from the worker processes (a rule carries its patterns' text, kilobytes to pickle each time it fires)."""
    position = {rule: i for i, rule in enumerate(RULES)}
    return [tuple(position[rule] for rule in fired_rules(text)) for text in normalized_texts]


def rules_fired_on(normalized_texts: Sequence[str]) -> list[tuple[SafetyRule, ...]]:
    """`fired_rules` of each text, half the texts on each core: on every training tip the rules' patterns
    take about half a millisecond a text, seven seconds of one core for 13,000 tips."""
    halves = np.array_split(np.arange(len(normalized_texts)), 2)
    done = Parallel(n_jobs=2)(delayed(_fired_indices)([normalized_texts[i] for i in rows]) for rows in halves)
    return [tuple(RULES[i] for i in positions) for half in done for positions in half]


def fit_pipeline(tips: Sequence[LabelledTip], **hyper: Any) -> tuple[Pipeline, OutOfFold]:
    """Fit the pipeline on all tips and calibrate each linear model on out-of-fold scores."""
    pipeline = build_pipeline(**hyper)
    labels = labels_of(tips)
    texts = [normalize(tip.text) for tip in tips]
    with ThreadPoolExecutor(max_workers=1) as alongside:
        # The vectorizers fit on one core, here; the safety rules, which the card's cross-validation needs
        # for every tip and which depend on its text alone, run on two worker processes meanwhile. Those
        # workers then fit the heads, below.
        fired = alongside.submit(rules_fired_on, texts)
        features = pipeline.named_steps["features"].fit_transform(texts)
        rules = fired.result()
    classify = pipeline.named_steps["classify"]
    fitted = fit_with_out_of_fold(classify, features, labels)
    install_heads(classify, fitted.heads, features.shape[1])
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        # stop_words_ keeps every pruned n-gram: large and only for introspection, so it is not saved.
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
        # Plain ints, as `load_pipeline` gives them back (see `on_disk`).
        vectorizer.vocabulary_ = {term: int(column) for term, column in vectorizer.vocabulary_.items()}
    heads = classify.estimators_
    category_classes, urgency_classes = heads[CATEGORY_OUTPUT].classes_, heads[URGENCY_OUTPUT].classes_
    category_t = fit_temperature(fitted.category_scores, labels[:, CATEGORY_OUTPUT], category_classes)
    apply_temperature(heads[CATEGORY_OUTPUT], category_t)
    # The urgency heads keep their raw scores: the temperature belongs to their mix
    # (`mixed_urgency_scores`), is fitted out of fold like the category's and is kept in the card.
    category_p = calibrated_probabilities(fitted.category_scores, category_t)
    mixed = mixed_urgency_scores(fitted.urgency_scores, category_p, fitted.conditional)
    urgency_t = fit_temperature(mixed, labels[:, URGENCY_OUTPUT], urgency_classes)
    for head in heads:
        # Half precision on disk keeps the file under MAX_MODEL_BYTES (the heads hold 59 rows of weights);
        # its relative error, 1e-3, moves no probability by more than that. Widened to float32 at load.
        head.coef_ = head.coef_.astype(np.float16)
    oof = OutOfFold(
        (category_classes, urgency_classes),
        (category_p, calibrated_probabilities(mixed, urgency_t)),
        (category_t, urgency_t),
        rules,
    )
    return pipeline, oof


def model_version(data_digest: str) -> str:
    """Format, data and hyper-parameters: the same inputs always give the same version."""
    config = hashlib.sha256(json.dumps(HYPER_PARAMETERS, sort_keys=True).encode()).hexdigest()
    return f"{MODEL_FORMAT}.{data_digest[:8]}.{config[:4]}"


def drop_rare_labels(tips: Sequence[LabelledTip]) -> tuple[list[LabelledTip], list[str]]:
    """Leave out tips whose label has too few examples for 5-fold calibration (only while data grows)."""
    counts = Counter(t.category for t in tips) + Counter(t.urgency for t in tips)
    rare = sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    return [t for t in tips if t.category not in rare and t.urgency not in rare], rare


def train(
    directory: Path | None = None,
    tips: Sequence[LabelledTip] | None = None,
    dev_file: Path | None = DEV_FILE,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train on the training data, write model + card into `directory`, return the card.

    Dev is only scored for the card, never used to fit or tune anything. `progress`, if given, is told
    each step as it starts, with the seconds since training began (the command line prints them).
    """
    from triage.evaluate import evaluate_tips  # evaluate imports this module

    directory = directory or model_dir()
    _writable_directory(directory)
    started = time.perf_counter()

    def step(what: str) -> None:
        if progress is not None:
            progress(f"[{time.perf_counter() - started:5.1f} s] {what}")

    sources = [str(p.relative_to(p.parent.parent)) for p in training_files()] if tips is None else ["<given>"]
    tips, rare = drop_rare_labels(list(tips) if tips is not None else load_training())
    step(f"fitting {len(tips)} tips: every head, and each again on {FOLDS} folds for calibration (2 cores)")
    pipeline, oof = fit_pipeline(tips)
    seconds = round(time.perf_counter() - started, 2)
    step("deciding each tip out of fold for the card's cross-validated figures")

    digest = data_hash(tips)
    card: dict[str, Any] = {
        "model_version": model_version(digest),
        "format": MODEL_FORMAT,
        "data_hash": digest,
        "data_files": sources,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training_seconds": seconds,
        "sklearn_version": sklearn.__version__,
        "hyper_parameters": HYPER_PARAMETERS,
        "dropped_rare_labels": rare,
        # "urgency" is read back by `assess` (the mix's temperature), so it is kept to full precision.
        "temperatures": {"category": oof.temperatures[0], "urgency": oof.temperatures[1]},
        "cv_metrics": cross_validated_summary(tips, oof),
        "training_counts": {
            "n": len(tips),
            "category": dict(sorted(Counter(t.category for t in tips).items())),
            "urgency": dict(sorted(Counter(t.urgency for t in tips).items())),
        },
    }
    step(f"writing {MODEL_FILE}")
    # Nothing in the directory changes until both files are whole on disk; then the card goes in first, naming
    # its model's SHA-256, and the model after it. A run that dies between the two renames leaves a card and a
    # model that do not match: `load_model` refuses the pair and `staleness` asks for training, where a model
    # renamed under an older card used to load with that card's temperatures.
    model_tmp, card_tmp = _temporary(directory, MODEL_FILE), _temporary(directory, CARD_FILE)
    try:
        # zlib's default level: 9 took 2.6 s for a file 1% smaller.
        sio.dump(on_disk(pipeline), model_tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        model_bytes = model_tmp.read_bytes()
        card["model_bytes"] = len(model_bytes)
        card["model_sha256"] = hashlib.sha256(model_bytes).hexdigest()
        if card["model_bytes"] > MAX_MODEL_BYTES:  # the model in place, if any, stays as it was
            raise RuntimeError(f"model file is {card['model_bytes']} bytes, above the {MAX_MODEL_BYTES} limit")
        _flush_to_disk(model_tmp)
        if dev_file is not None and dev_file.exists():
            from triage.assessment import TriageModel

            step(f"scoring {dev_file.name} for the card (never used to fit or tune)")
            model = TriageModel(pipeline, card)
            card["dev_metrics"] = evaluate_tips(model, read_labelled(dev_file))
            card["dev_file"] = dev_file.name
        card_tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _flush_to_disk(card_tmp)
        os.replace(card_tmp, directory / CARD_FILE)
        os.replace(model_tmp, directory / MODEL_FILE)
        _flush_to_disk(directory)
    finally:
        for leftover in (model_tmp, card_tmp):
            leftover.unlink(missing_ok=True)
    forget_loaded(directory)
    return card


def _writable_directory(directory: Path) -> None:
    """Create `directory` and write a file in it, or raise CannotWriteModel: before training, not after."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = _temporary(directory, "write-test")
        probe.unlink()
    except OSError as exc:
        raise CannotWriteModel(
            f"cannot write the triage model into {directory}: {exc.strerror or exc}. Choose a directory this user "
            "can write with TRIAGE_MODEL_DIR (or TIPLINE_INSTANCE_PATH)."
        ) from exc


def _temporary(directory: Path, name: str) -> Path:
    """A new, empty file of this run's own beside `name` in `directory`: two runs never write the same one."""
    descriptor, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    os.close(descriptor)
    return Path(path)


def _flush_to_disk(path: Path) -> None:
    """fsync a file (its bytes before its rename) or a directory (the renames themselves)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def out_of_fold_report(
    tips: Sequence[LabelledTip], oof: OutOfFold, cost: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, Any]:
    """The evaluate report of the out-of-fold predictions, decided exactly as `assess` decides (with the
    shipped cost matrix unless another is given, as `tune` does). The rules that fire on each tip are
    `oof.fired` when training found them already, else they are found here."""
    from triage.assessment import decide_from_probabilities
    from triage.decision import COST
    from triage.evaluate import score

    texts = [normalize(tip.text) for tip in tips]
    fired = rules_fired_on(texts) if oof.fired is None else oof.fired
    classes = (oof.classes[0].tolist(), oof.classes[1].tolist())
    decided = [
        decide_from_probabilities(
            text,
            dict(zip(classes[0], categories, strict=True)),
            dict(zip(classes[1], urgencies, strict=True)),
            cost=COST if cost is None else cost,
            fired=rules,
        )[:2]
        for text, categories, urgencies, rules in zip(
            texts, oof.probabilities[0].tolist(), oof.probabilities[1].tolist(), fired, strict=True
        )
    ]
    return score(tips, [c for c, _ in decided], [u for _, u in decided], "out-of-fold")


def cross_validated_summary(tips: Sequence[LabelledTip], oof: OutOfFold) -> dict[str, Any]:
    from triage.evaluate import headline

    report = out_of_fold_report(tips, oof)
    labels = labels_of(tips)
    return {
        "folds": FOLDS,
        **{name: round(value, 4) for name, value in headline(report).items()},
        "urgency_ece": round(expected_calibration_error(oof.probabilities[1], labels[:, 1], oof.classes[1]), 4),
        "category_ece": round(expected_calibration_error(oof.probabilities[0], labels[:, 0], oof.classes[0]), 4),
    }


def read_card(directory: Path | None = None) -> dict[str, Any]:
    directory = directory or model_dir()
    card_path = directory / CARD_FILE
    if not card_path.exists() or not (directory / MODEL_FILE).exists():
        raise ModelNotTrained(directory)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnusable(directory, f"its {CARD_FILE} cannot be read ({exc})") from exc
    if not isinstance(card, dict):
        raise ModelUnusable(directory, f"its {CARD_FILE} is not a model card")
    return card


def staleness(directory: Path | None = None) -> str | None:
    """Why the model in `directory` must be (re)trained, or None when it is fresh."""
    try:
        card = read_card(directory)
    except ModelNotTrained:
        return "no model"
    except ModelUnusable:
        return f"the {CARD_FILE} cannot be read"
    if not _model_matches_card(directory or model_dir(), card):
        return "the model file does not match its card"
    if card.get("format") != MODEL_FORMAT:
        return f"model format {card.get('format')} is not {MODEL_FORMAT}"
    if card.get("hyper_parameters") != HYPER_PARAMETERS:
        return "hyper-parameters changed"
    try:
        current = data_hash(load_training())
    except IncompleteTrainingData:
        raise  # a checkout missing a training file: say so, rather than keep or train a model on less
    except FileNotFoundError:
        return None  # a deployed model without its training data is fine as it is
    if card.get("data_hash") != current:
        return "training data changed"
    return None


def _vectorizers(pipeline: Pipeline) -> list[Any]:
    features = pipeline.named_steps.get("features")
    return [vectorizer for _, vectorizer in getattr(features, "transformer_list", [])]


def on_disk(pipeline: Pipeline) -> Pipeline:
    """A copy of the pipeline as the skops file holds it: each vectorizer's vocabulary as one array of its
    terms in column order (its `vocabulary` parameter) instead of a dict, which skops writes as a node per
    term (80,000 terms: 6 of training's seconds, and most of the 2 s a load took). Plain scikit-learn still
    reads it (a given vocabulary); `load_pipeline` builds the dict back."""
    stored = copy.deepcopy(pipeline)
    for vectorizer in _vectorizers(stored):
        vocabulary = vectorizer.vocabulary_
        vectorizer.vocabulary = np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=str)
        del vectorizer.vocabulary_
    return stored


def _vocabularies_back(pipeline: Pipeline) -> Pipeline:
    """Undo `on_disk`: each term's column in a dict again, as training left it. A file written before
    `on_disk` existed already holds the dicts and is left as it is."""
    for vectorizer in _vectorizers(pipeline):
        if not hasattr(vectorizer, "vocabulary_") and isinstance(vectorizer.vocabulary, np.ndarray):
            vectorizer.vocabulary_ = {term: column for column, term in enumerate(vectorizer.vocabulary.tolist())}
            vectorizer.vocabulary = None
    return pipeline


def _model_matches_card(directory: Path, card: Mapping[str, Any], data: bytes | None = None) -> bool:
    """The model file is the one its card was written for (a card written before cards named it: assumed)."""
    expected = card.get("model_sha256")
    if expected is None:
        return True
    try:
        data = (directory / MODEL_FILE).read_bytes() if data is None else data
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected


def load_pipeline(directory: Path, card: Mapping[str, Any] | None = None) -> Pipeline:
    """Load the skops file, refusing any type that skops does not trust by default, and, given its card, a file
    that is not the card's model. Any failure is ModelUnusable (ModelNotTrained when there is no file)."""
    path = directory / MODEL_FILE
    if not path.exists():
        raise ModelNotTrained(directory)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelUnusable(directory, f"its {MODEL_FILE} cannot be read ({exc})") from exc
    if card is not None and not _model_matches_card(directory, card, data):
        raise ModelUnusable(directory, f"its {MODEL_FILE} does not match {CARD_FILE} (a training run that did not "
                            "finish, or one file copied without the other)")
    try:
        # trusted=[]: only the types skops trusts by default; anything else raises instead of loading.
        pipeline = sio.loads(data, trusted=[])
    except UntrustedTypesFoundException as exc:
        raise ModelUnusable(directory, f"{MODEL_FILE} holds types skops does not trust ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - cut short, not a zip, a schema skops cannot read: all unusable
        raise ModelUnusable(directory, f"{MODEL_FILE} is damaged ({type(exc).__name__}: {exc})") from exc
    if not isinstance(pipeline, Pipeline):
        raise ModelUnusable(directory, f"{MODEL_FILE} does not hold a scikit-learn Pipeline")
    return _vocabularies_back(pipeline)


# One loaded model per directory per process, guarded so concurrent first calls load it once.
_loaded: dict[Path, Any] = {}
_load_lock = threading.Lock()


def load_model(path: Path | str | None = None) -> Any:
    """The TriageModel in `path` (default `model_dir()`), loaded once per process."""
    from triage.assessment import TriageModel

    directory = Path(path).expanduser().resolve() if path is not None else model_dir()
    model = _loaded.get(directory)
    if model is None:
        with _load_lock:
            model = _loaded.get(directory)
            if model is None:
                card = read_card(directory)
                pipeline = load_pipeline(directory, card)
                try:
                    model = TriageModel(pipeline, card)
                except Exception as exc:  # noqa: BLE001 - a card or a pipeline not of this format
                    raise ModelUnusable(directory, f"it is not a model of this version of Tipline "
                                        f"({type(exc).__name__}: {exc})") from exc
                _loaded[directory] = model
    return model


def forget_loaded(directory: Path | None = None) -> None:
    """Drop cached models (after training into a directory, the next call loads the new one)."""
    with _load_lock:
        if directory is None:
            _loaded.clear()
        else:
            _loaded.pop(directory.expanduser().resolve(), None)

"""Assessing a tip: the model's calibrated probabilities, the cost matrix, the safety rules, the reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.pipeline import Pipeline

from triage.calibration import aligned, calibrated_probabilities, mixed_urgency_scores
from triage.decision import COST, apply_happening_now, decide_category, decide_urgency
from triage.model import CATEGORY_OUTPUT, FIRST_CONDITIONAL_OUTPUT, URGENCY_OUTPUT
from triage.rules import SafetyRule, apply_rules
from triage.taxonomy import CATEGORIES, URGENCIES
from triage.text import normalize

MAX_PHRASES = 5
# Words that say nothing to a counselor on their own; a phrase made only of them is not shown.
_FILLER = frozenset(ENGLISH_STOP_WORDS) | frozenset(
    [
        "a",
        "al",
        "con",
        "de",
        "del",
        "el",
        "en",
        "es",
        "esta",
        "este",
        "la",
        "las",
        "lo",
        "los",
        "me",
        "mi",
        "muy",
        "no",
        "para",
        "por",
        "que",
        "q",
        "se",
        "su",
        "un",
        "una",
        "y",
        "ya",
        "yo",
        "va",
        "im",
        "its",
        "thats",
        "dont",
        "hes",
        "shes",
        "u",
        "ur",
    ]
)


@dataclass(frozen=True)
class Assessment:
    """What a tip is about and how urgent it is.

    The probabilities are the model's, calibrated; `urgency` may be above the most probable one
    because of the cost matrix, a safety rule or the reporter's "happening now".
    """

    category: str
    urgency: str
    category_probabilities: Mapping[str, float]
    urgency_probabilities: Mapping[str, float]
    reasons: tuple[str, ...]
    rules_fired: tuple[str, ...]
    model_version: str

    @property
    def confidence(self) -> float:
        """The model's probability that the chosen urgency is right."""
        return self.urgency_probabilities[self.urgency]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["category_probabilities"] = dict(self.category_probabilities)
        data["urgency_probabilities"] = dict(self.urgency_probabilities)
        data["reasons"] = list(self.reasons)
        data["rules_fired"] = list(self.rules_fired)
        return data


class TriageModel:
    """A loaded pipeline and its card. Read-only after construction, so safe to share between threads."""

    def __init__(self, pipeline: Pipeline, card: Mapping[str, Any]) -> None:
        self.pipeline = pipeline
        self.card = dict(card)
        self.version = str(card["model_version"])
        self._features = pipeline.named_steps["features"]
        outputs = pipeline.named_steps["classify"].estimators_
        self._category_model, self._urgency_model = outputs[CATEGORY_OUTPUT], outputs[URGENCY_OUTPUT]
        conditional = outputs[FIRST_CONDITIONAL_OUTPUT:]
        if len(conditional) != len(self._category_model.classes_):
            raise RuntimeError("the model has not one urgency head per category; retrain it")
        self._conditional_classes = [head.classes_ for head in conditional]
        # Every head's weights (stored in half precision, `fit_pipeline`) in one C-ordered, single-precision
        # (features x classes) matrix: one sparse product per call, and no copy of the weights on each call
        # (a transposed or half-precision matrix would be copied by every product).
        self._weights = np.vstack([head.coef_ for head in outputs]).T.astype(np.float32, order="C")
        self._intercepts = np.concatenate([head.intercept_ for head in outputs]).astype(np.float32)
        self._head_split = np.cumsum([len(head.classes_) for head in outputs])[:-1]
        self._urgency_temperature = float(card["temperatures"]["urgency"])
        self._blocks = _TfidfBlock.for_union(self._features)
        self._n_features = self._blocks[-1].offset + len(self._blocks[-1].vocabulary) if self._blocks else 0
        names = self._features.get_feature_names_out().astype(str)
        # Only word n-grams are shown as reasons: a counselor reads "shoot up", not "hoot ".
        # The word block comes first in the FeatureUnion, so its columns are 0 .. n_word - 1.
        self._n_word = int(np.char.startswith(names, "word__").sum())
        self._names = np.array([n.removeprefix("word__") for n in names[: self._n_word]], dtype=object)
        self._category_push = _class_push(self._category_model, self._n_word)
        self._urgency_push = _class_push(self._urgency_model, self._n_word)
        self._category_index = {c: i for i, c in enumerate(self._category_model.classes_)}
        self._urgency_index = {u: i for i, u in enumerate(self._urgency_model.classes_)}
        # Per category, what each word pushes towards each urgency among that category's tips.
        self._conditional_push = {
            str(category): (_class_push(head, self._n_word), {u: i for i, u in enumerate(head.classes_)})
            for category, head in zip(self._category_model.classes_, conditional, strict=True)
        }

    def assess(self, text: str, *, happening_now: bool | None = None) -> Assessment:
        return self.assess_many([text], happening_now=happening_now)[0]

    def assess_many(self, texts: Sequence[str], *, happening_now: bool | None = None) -> list[Assessment]:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"assess() takes the tip's text as a str, not {type(text).__name__}")
        if happening_now is not None and not isinstance(happening_now, bool):
            raise TypeError(f"happening_now must be True, False or None, not {happening_now!r}")
        normalized = [normalize(text) for text in texts]
        features = self.transform(normalized)
        scores = np.split(np.asarray(features @ self._weights + self._intercepts), self._head_split, axis=1)
        # The category SVM's temperature is in its weights: its softmax is the calibrated probability.
        category_p = softmax(scores[CATEGORY_OUTPUT], axis=1)
        urgency_p = self._urgency_probabilities(scores[URGENCY_OUTPUT], scores[FIRST_CONDITIONAL_OUTPUT:], category_p)
        results = []
        for row, norm in enumerate(normalized):
            categories = _as_mapping(self._category_model.classes_, category_p[row], CATEGORIES)
            urgencies = _as_mapping(self._urgency_model.classes_, urgency_p[row], URGENCIES)
            category, urgency, fired = decide_from_probabilities(norm, categories, urgencies, happening_now)
            phrases = self._phrases(features[row], category, urgency)
            results.append(
                Assessment(
                    category=category,
                    urgency=urgency,
                    category_probabilities=categories,
                    urgency_probabilities=urgencies,
                    reasons=tuple(f"rule: {rule.name}" for rule in fired) + tuple(f'"{p}"' for p in phrases),
                    rules_fired=tuple(rule.name for rule in fired),
                    model_version=self.version,
                )
            )
        return results

    def _urgency_probabilities(
        self, urgency_scores: np.ndarray, conditional_scores: Sequence[np.ndarray], category_p: np.ndarray
    ) -> np.ndarray:
        """The urgency head and the per-category urgency heads, mixed and calibrated as in training."""
        conditional = [
            aligned(softmax(block, axis=1), classes, self._urgency_model.classes_)
            for block, classes in zip(conditional_scores, self._conditional_classes, strict=True)
        ]
        mixed = mixed_urgency_scores(urgency_scores, category_p, conditional)
        return calibrated_probabilities(mixed, self._urgency_temperature)

    def transform(self, normalized_texts: Sequence[str]) -> sp.csr_matrix:
        """What the pipeline's FeatureUnion.transform computes, without its per-call joblib, validation and
        sparse-matrix overhead (most of the latency of a single tip); a test checks both give the same matrix."""
        if not self._blocks:
            blocks = [vectorizer.transform(normalized_texts) for _, vectorizer in self._features.transformer_list]
            return sp.hstack(blocks, format="csr")
        parts = [block.row(text) for text in normalized_texts for block in self._blocks]
        lengths = [len(columns) for columns, _ in parts]
        indptr = np.concatenate([[0], np.cumsum(lengths)])[:: len(self._blocks)].astype(np.int32)
        columns = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, np.int32)
        values = np.concatenate([v for _, v in parts]) if parts else np.zeros(0, self._blocks[0].dtype)
        return sp.csr_matrix((values, columns, indptr), shape=(len(normalized_texts), self._n_features))

    def _phrases(self, row: Any, category: str, urgency: str) -> list[str]:
        """Word n-grams of the text that pushed most towards the chosen category and urgency."""
        columns, values = row.indices, row.data
        keep = columns < self._n_word
        columns, values = columns[keep], values[keep]
        push = np.zeros(len(columns))
        if category in self._category_index:
            push += self._category_push[self._category_index[category], columns]
        if urgency in self._urgency_index:
            push += self._urgency_push[self._urgency_index[urgency], columns]
        conditional_push, index = self._conditional_push.get(category, (None, {}))
        if conditional_push is not None and urgency in index:
            push += conditional_push[index[urgency], columns]
        contribution = values * push
        chosen: list[str] = []
        for i in np.argsort(-contribution, kind="stable"):
            if contribution[i] <= 0 or len(chosen) == MAX_PHRASES:
                break
            phrase = str(self._names[columns[i]])
            if all(word in _FILLER for word in phrase.split(" ")):
                continue
            # "shoot up" already says "shoot": skip words inside a phrase already chosen, and vice versa.
            if any(phrase in c.split(" ") or c in phrase.split(" ") for c in chosen):
                continue
            chosen.append(phrase)
        return chosen


class _TfidfBlock:
    """One fitted TfidfVectorizer of the feature union, applied to one text with plain Python and NumPy: the
    same steps as scikit-learn's (analyse, count in the vocabulary, sublinear tf, idf, L2 norm), in the same
    single precision and order, so the matrix is identical."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.dtype = np.dtype(vectorizer.dtype)
        self.idf = np.asarray(vectorizer.idf_)  # as stored: scikit-learn multiplies by it in its own dtype
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.offset = offset

    @classmethod
    def for_union(cls, union: Any) -> list[_TfidfBlock] | None:
        """The blocks of a feature union, or None when a vectorizer uses a setting this path does not copy."""
        blocks = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            supported = (
                type(vectorizer).__name__ == "TfidfVectorizer" and vectorizer.use_idf and vectorizer.norm == "l2"
                and not vectorizer.binary and np.dtype(vectorizer.dtype) in (np.float32, np.float64)
            )
            if not supported or union.transformer_weights:
                return None
            blocks.append(cls(vectorizer, offset))
            offset += len(vectorizer.vocabulary_)
        return blocks

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counts: dict[int, int] = {}
        vocabulary = self.vocabulary
        for feature in self.analyze(text):
            column = vocabulary.get(feature)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        order = np.argsort(columns, kind="stable")
        columns = columns[order]
        values = np.fromiter(counts.values(), dtype=np.intc, count=len(counts))[order].astype(self.dtype)
        if self.sublinear:
            np.log(values, values)
            values += 1.0
        values *= self.idf[columns]  # in place, so the result keeps the data's dtype, as scikit-learn's does
        # As scikit-learn's L2 normalisation: squares in the data's precision, summed one by one in double
        # precision (cumsum is sequential), each value divided in double precision.
        squares = (values * values).astype(np.float64)
        norm = float(np.sqrt(np.cumsum(squares)[-1])) if len(squares) else 0.0
        if norm > 0:
            values = (values.astype(np.float64) / norm).astype(self.dtype)
        return columns + self.offset, values


def decide_from_probabilities(
    normalized_text: str,
    category_probabilities: Mapping[str, float],
    urgency_probabilities: Mapping[str, float],
    happening_now: bool | None = None,
    cost: Mapping[str, Mapping[str, float]] = COST,
    fired: Sequence[SafetyRule] | None = None,
) -> tuple[str, str, list[SafetyRule]]:
    """Category and urgency from the model's probabilities, the cost matrix, the rules and "now".
    `fired`: the rules that fire on the text, if already known (they depend on the text alone)."""
    urgencies = {u: urgency_probabilities.get(u, 0.0) for u in URGENCIES}
    category = decide_category(category_probabilities)
    urgency, fired = apply_rules(decide_urgency(urgencies, cost), normalized_text, fired)
    urgency = apply_happening_now(urgency, category, urgencies, happening_now, danger_rule_fired=bool(fired))
    return category, urgency, fired


def _class_push(linear: Any, n_word: int) -> np.ndarray:
    """Per class, how much each word feature (the first `n_word` columns) pushes towards it rather than
    towards the average class."""
    coef = np.asarray(linear.coef_[:, :n_word], dtype=np.float32)
    return coef - coef.mean(axis=0, keepdims=True)


def _as_mapping(classes: Sequence[str], probabilities: np.ndarray, order: Sequence[str]) -> dict[str, float]:
    """Probabilities of every label of the taxonomy, in taxonomy order; labels never seen get 0."""
    known = {str(c): float(p) for c, p in zip(classes, probabilities, strict=True)}
    return {label: known.get(label, 0.0) for label in order}

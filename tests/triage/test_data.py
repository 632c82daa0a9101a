"""The labelled data: format, size, language mix, coverage and no near-duplicates."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from triage.dataset import (
    DEV_FILE,
    TEST_FILES,
    TRAIN2_FILE,
    TRAIN_FILE,
    TRAINING_FILES,
    load_training,
    read_labelled,
)
from triage.taxonomy import CATEGORIES
from triage.text import normalize

# Every labelled file: what the model learns from, what measures it, and train2.jsonl, written for training
# and kept out of it (README, attempts).
ALL_FILES = [*TRAINING_FILES, *TEST_FILES, TRAIN2_FILE]
NEAR_DUPLICATE_JACCARD = 0.8
MAX_NEAR_DUPLICATE_SHARE = 0.02
# Words that are common in Spanish and rare in English tips; two distinct ones mark a tip as Spanish or mixed.
SPANISH_WORDS = frozenset(
    re.findall(
        r"\S+",
        """que el los las para con una esta está pero porque dijo tiene muy nada escuela amigo amiga mamá mama
        papá papa hoy mañana manana también tambien hermano hermana niño niña clase maestra maestro dice
        ella él yo mi su sus del al por como cuando donde ya""",
    )
)


def tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[^\W_]+", text.lower()))


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> set[tuple[int, int]]:
    """Pairs (i, j) with word-set Jaccard above `threshold`, found exactly by prefix filtering.

    Two sets with Jaccard > t share a token among the first |A| - ceil(t|A|) + 1 of each, when the
    tokens of every set are sorted rarest first; so only pairs sharing such a prefix token are compared.
    """
    sets = [tokens(t) for t in texts]
    frequency = Counter(tok for s in sets for tok in s)
    ordered = [sorted(s, key=lambda tok: (frequency[tok], tok)) for s in sets]
    index: dict[str, list[int]] = defaultdict(list)
    pairs: set[tuple[int, int]] = set()
    for i, toks in enumerate(ordered):
        if not toks:
            continue
        prefix = toks[: len(toks) - math.ceil(threshold * len(toks)) + 1]
        candidates = {j for tok in prefix for j in index[tok]}
        for j in candidates:
            a, b = sets[i], sets[j]
            if len(a & b) / len(a | b) > threshold:
                pairs.add((j, i))
        for tok in prefix:
            index[tok].append(i)
    return pairs


def require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing")
    return path


def test_near_duplicate_finder_finds_what_brute_force_finds() -> None:
    texts = [
        "he has a gun in his bag now",
        "he has a gun in his bag right now",
        "kids are mean to me on the bus",
        "kids are mean to me on the bus daily",
        "a b c d e",
        "totally different words here",
    ]
    brute = {
        (i, j)
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
        if len(tokens(texts[i]) & tokens(texts[j])) / len(tokens(texts[i]) | tokens(texts[j])) > 0.8
    }
    assert near_duplicate_pairs(texts) == brute


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.stem)
def test_file_format_and_labels_are_valid(path: Path) -> None:
    tips = read_labelled(require(path))  # raises on a bad key or label
    assert {t.category for t in tips} == set(CATEGORIES), "every category must be present"


def test_counts() -> None:
    assert len(read_labelled(require(TRAIN_FILE))) >= 3000
    assert len(read_labelled(require(DEV_FILE))) >= 600


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.stem)
def test_at_least_15_percent_spanish_or_mixed(path: Path) -> None:
    tips = read_labelled(require(path))
    spanish = sum(len(tokens(t.text) & SPANISH_WORDS) >= 2 for t in tips)
    assert spanish / len(tips) >= 0.15


WRITTEN_BY_KNOWN_WRITERS = [path for path in ALL_FILES if path != DEV_FILE]  # dev: one writer, no file


@pytest.mark.parametrize("path", WRITTEN_BY_KNOWN_WRITERS, ids=lambda path: path.stem)
def test_every_tip_has_its_writer(path: Path) -> None:
    """Leave-one-writer-out needs the writer of each tip: one letter a line, line for line with the tips."""
    writers = require(path.with_name(f"{path.stem}_writers.txt")).read_text().split()
    lines = [line for line in require(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(writers) == len(lines)
    assert all(len(w) == 1 and w.isalpha() for w in writers)


def test_few_near_duplicates_within_and_across_files() -> None:
    texts = [t.text for path in ALL_FILES for t in read_labelled(require(path))]
    involved = {i for pair in near_duplicate_pairs(texts) for i in pair}
    share = len(involved) / len(texts)
    assert share <= MAX_NEAR_DUPLICATE_SHARE, f"{len(involved)} texts ({share:.1%}) have a near-duplicate"


def test_no_text_of_a_test_set_is_trained_on() -> None:
    """Dev and holdout6 to holdout11 measure the model on writers it never saw: none of their texts may be in what
    it learns from (`load_training`, the six training files), not even once normalised."""
    trained = {normalize(tip.text) for tip in load_training()}
    assert len(trained) > 14000
    for path in TEST_FILES:
        assert not {normalize(tip.text) for tip in read_labelled(require(path))} & trained, path.name

"""Text normalisation, done before the scikit-learn pipeline.

It lives outside the pipeline on purpose: a custom callable inside it would make the skops
file load only with untrusted types. The same function runs at training and at assessment.
"""

from __future__ import annotations

import re
import unicodedata

# "pleeeease" and "pleease" should be one token; two letters stay ("good", "all", "llamar").
_REPEATS = re.compile(r"(.)\1{2,}")
_SPACES = re.compile(r"\s+")
# A straight apostrophe joins "don't" into "dont", which is how most tips spell it anyway.
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")


def _emoji_token(char: str) -> str:
    """A word token for a pictograph, e.g. a skull becomes " emo_skull "."""
    name = unicodedata.name(char, "")
    if not name:
        return " "
    return " emo_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + " "


def normalize(text: str) -> str:
    """Lowercase, fold accents, shorten letter runs, turn emoji into word tokens.

    Accents are folded because tips are typed on phones, often without them ("manana", "esta").
    """
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        kind = unicodedata.category(char)
        if kind == "Mn" or kind == "Cf":  # combining accents, zero-width joiners, variation selectors
            continue
        if kind == "So":  # emoji and other pictographs carry meaning in tips (skull, gun, knife)
            out.append(_emoji_token(char))
        else:
            out.append(char)
    folded = "".join(out).lower()
    folded = _APOSTROPHES.sub("", folded)
    folded = _REPEATS.sub(r"\1\1", folded)
    return _SPACES.sub(" ", folded).strip()


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Runs of letters and digits of the normalised text."""
    return _WORD.findall(normalize(text))

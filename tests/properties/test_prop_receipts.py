"""Receipt codes as people type them back: any case, spaces, dashes, O for 0, I or L for 1; nothing else."""

from __future__ import annotations

import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.crypto.receipts import ALPHABET, CODE_LENGTH, format_code, new_receipt_code, normalize_code

canonical = st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)
SEPARATORS = [" ", "-", "  ", "\t", "\u00a0", "\u2013", "_", "."]
# What a person may type for each symbol: its lower case, and the letters that look like 0 and 1.
LOOK_ALIKES = {"0": "0Oo", "1": "1IiLl"}
FAST = settings(max_examples=150, deadline=None)


@st.composite
def typed_versions(draw: st.DrawFn, code: str) -> str:
    out = []
    for i, symbol in enumerate(code):
        choices = LOOK_ALIKES.get(symbol, symbol + symbol.lower())
        out.append(draw(st.sampled_from(list(choices))))
        if i < len(code) - 1 and draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
    return draw(st.sampled_from(["", " ", "\n"])) + "".join(out) + draw(st.sampled_from(["", " ", "\r\n"]))


@FAST
@given(data=st.data(), code=canonical)
def test_every_way_of_typing_a_code_opens_it(data, code):
    typed = data.draw(typed_versions(code))
    assert normalize_code(typed) == code


def test_new_codes_are_shown_in_groups_and_read_back():
    for _ in range(50):
        shown = new_receipt_code()
        assert len(shown) == CODE_LENGTH + CODE_LENGTH // 4 - 1
        assert format_code(normalize_code(shown) or "") == shown


def _oracle(typed: str) -> str | None:
    """What should be accepted, written independently: ASCII only, known separators dropped, case folded,
    O read as 0, I and L as 1, then exactly 20 symbols of the alphabet."""
    separators = set(" -_.\t\n\r\u00a0\u2010\u2011\u2012\u2013\u2014")
    kept = [c for c in typed if c not in separators]
    if any(c not in string.ascii_letters + string.digits for c in kept):
        return None
    code = "".join(kept).upper().replace("O", "0").replace("I", "1").replace("L", "1")
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


@FAST
@given(st.text(max_size=40) | st.text(alphabet=ALPHABET + "oilOIL -U*", max_size=30))
@example("ABCD-EFGH-JKMN-PQRS-TVW")  # one symbol short
@example("ABCD-EFGH-JKMN-PQRS-TVWXY")  # one too many
@example("ABCD-EFGH-JKMN-PQRS-TVWU")  # U is not in the alphabet
@example("ABCD EFGH JKMN PQRS TVW\u0131")  # a dotless i is not a 1
@example("ABCD EFGH JKMN PQRS TV\u00df")  # nor is a sharp s two letters S
def test_nothing_else_is_taken_for_a_code(typed):
    assert normalize_code(typed) == _oracle(typed)

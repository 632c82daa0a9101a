"""Receipt codes as people type them back: any case, spaces, dashes, O for 0, I or L for 1; nothing else.

Pasted from a notes or messaging app, or typed on a phone keyboard in full-width mode, a code may also carry
invisible format characters (a zero-width space), other spaces (narrow no-break), other dashes (minus sign,
non-breaking hyphen) and full-width letters and digits: read as their plain forms (NFKC)."""

from __future__ import annotations

import string
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.crypto.receipts import ALPHABET, CODE_LENGTH, format_code, new_receipt_code, normalize_code

canonical = st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)
SEPARATORS = [" ", "-", "  ", "\t", "\u00a0", "\u2013", "_", ".", "\u200b", "\u202f", "\u2212", "\u2014",
              "\u2011", "\u3000", "\uff0d", "\u00ad", "\ufeff", "\u2060", " \u200b"]
# What a person may type for each symbol: its lower case, and the letters that look like 0 and 1.
LOOK_ALIKES = {"0": "0Oo", "1": "1IiLl"}
FAST = settings(max_examples=150, deadline=None)


@st.composite
def typed_versions(draw: st.DrawFn, code: str) -> str:
    out = []
    for i, symbol in enumerate(code):
        choices = LOOK_ALIKES.get(symbol, symbol + symbol.lower())
        typed = draw(st.sampled_from(list(choices)))
        if draw(st.booleans()):
            typed = chr(ord(typed) + 0xFEE0)  # its full-width form (U+FF01 to U+FF5E mirror ASCII ! to ~)
        out.append(typed)
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
    """What should be accepted, written independently: compatibility forms read as their plain ones (NFKC),
    format characters, spaces, dashes, the minus sign, tabs and line breaks, _ and . dropped, then ASCII only,
    case folded, O read as 0, I and L as 1, then exactly 20 symbols of the alphabet."""
    kept = [c for c in unicodedata.normalize("NFKC", typed)
            if unicodedata.category(c) not in ("Cf", "Zs", "Zl", "Zp", "Pd") and c not in "\u2212\t\n\r_."]
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
@example("ABCD EFGH JKMN PQRS TVW\u0301X")  # a combining accent is no separator
@example("ABCD EFGH JKMN PQRS TVW\u2474")  # a parenthesised 1 is not a 1
@example("ABCD\u200bEFGH\u202fJKMN\u2212PQRS\u2011\uff34\uff36\uff37\uff38")  # pasted, full-width at the end
def test_nothing_else_is_taken_for_a_code(typed):
    assert normalize_code(typed) == _oracle(typed)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_a_code_pasted_from_a_messaging_app_or_typed_full_width_opens_it():
    code = "ABCDEFGHJKMNPQRSTVWX"
    for pasted in ("ABCD\u200b-EFGH-JKMN-PQRS-TVWX\u200b",  # zero-width spaces around and inside
                   "ABCD\u202fEFGH\u202fJKMN\u202fPQRS\u202fTVWX",  # narrow no-break spaces
                   "ABCD\u2212EFGH\u2212JKMN\u2212PQRS\u2212TVWX",  # minus signs
                   "ABCD\u2014EFGH\u2013JKMN\u2011PQRS\u00a0TVWX",  # em dash, en dash, non-breaking hyphen, nbsp
                   "\ufeff" + _full_width("ABCD-EFGH-JKMN-PQRS-TVWX"),  # full-width, after a byte order mark
                   _full_width("abcd efgh jkmn pqrs tvwx").replace("\uff00", "\u3000")):  # ideographic spaces
        assert normalize_code(pasted) == code, ascii(pasted)
    assert normalize_code("\uff2f\uff29\uff4c" + "0" * 17) == "011" + "0" * 17  # full-width O, I, l: 0, 1, 1

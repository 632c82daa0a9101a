"""Whole numbers that arrive as text (a form field, a query parameter): ASCII digits only, and few of them.

`str.isdigit()` is true for "²" and "٣", which `int()` then refuses or reads as a number nobody typed, and a
twenty-digit page number overflows the database's integers: both used to be 500s.
"""

from __future__ import annotations

MAX_DIGITS = 9  # below 2**31 - 1, the smallest integer column we compare with

ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(text: str) -> bool:
    return bool(text) and all(ch in ASCII_DIGITS for ch in text)


def parse_small_int(text: object) -> int | None:
    """The number written in `text`, or None unless it is 1 to 9 ASCII digits."""
    if not isinstance(text, str) or len(text) > MAX_DIGITS or not is_ascii_digits(text):
        return None
    return int(text)

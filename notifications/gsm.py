"""GSM-7 encoding rules: which text fits one SMS segment.

An SMS is 140 bytes. In the GSM-7 alphabet that is 160 characters; one character outside it switches the whole
message to UCS-2, where a segment holds only 70. Longer messages are split into parts that each lose room to a
header (153 GSM-7 or 67 UCS-2 characters) and may arrive out of order or late, so our alerts must fit one
segment.
"""

from __future__ import annotations

import unicodedata

# GSM 03.38 basic character set. The escape character 0x1B is left out: it only introduces the extension.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these costs two septets (escape + character).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE_SEGMENT_GSM7 = 160
MULTIPART_SEGMENT_GSM7 = 153
SINGLE_SEGMENT_UCS2 = 70
MULTIPART_SEGMENT_UCS2 = 67

# Look-alikes that people paste from word processors; mapped so a school name does not force UCS-2.
_ASCII_LOOKALIKES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ",
})


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def segments(text: str) -> int:
    """How many SMS segments `text` is billed and delivered as (0 for the empty string)."""
    if not text:
        return 0
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, part = SINGLE_SEGMENT_GSM7, MULTIPART_SEGMENT_GSM7
    else:
        # UCS-2 counts UTF-16 code units: characters outside the BMP (emoji) take two and cannot be split.
        costs = [len(ch.encode("utf-16-le")) // 2 for ch in text]
        single, part = SINGLE_SEGMENT_UCS2, MULTIPART_SEGMENT_UCS2
    if sum(costs) <= single:
        return 1
    # Pack greedily: an escape pair or a surrogate pair is never split across two segments.
    count, used = 1, 0
    for cost in costs:
        if used + cost > part:
            count, used = count + 1, 0
        used += cost
    return count


def to_gsm7(text: str, replacement: str = "?") -> str:
    """`text` with every character outside the GSM-7 basic set replaced, accents stripped where that helps.

    Used on values an administrator typed (a school's short name) so one odd character cannot triple the
    number of segments of an alert.
    """
    out: list[str] = []
    for ch in text.translate(_ASCII_LOOKALIKES):
        if ch in GSM7_BASIC:
            out.append(ch)
            continue
        # "ō" → "o" + combining macron: keep the base letter if GSM-7 has it.
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else replacement)
    return "".join(out)

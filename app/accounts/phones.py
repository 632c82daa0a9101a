"""Staff phone numbers, for SMS alerts: stored in E.164 (a "+", the country code, the number; no spaces).

Admins type numbers as they are written on a card ("(307) 555-0142", "307.555.0142", "+1 307 555 0142"): the
spaces, dashes, dots and brackets are dropped, and a number of ten digits (or eleven beginning with 1) is a
North American one, as every number of a Wyoming district's staff is, and gets its +1. A number abroad keeps
the "+" and country code it was typed with. An extension cannot receive an SMS, and is refused with why.
"""

from __future__ import annotations

import re

E164_HINT = (
    "Enter a mobile number that can receive text messages, such as (307) 555-0123; "
    "outside the US and Canada, start with + and the country code, e.g. +44 20 7946 0958."
)
EXTENSION_HINT = "A text message cannot reach an extension: enter the person's own mobile number."
# A "+", a country code (never 0) and up to 15 digits in all; [0-9], not \d, which matches other scripts' digits.
# The Twilio sender setting takes the same form (app/config.py).
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What people put between the digits of a number: ASCII spaces, dashes, dots, brackets and slashes.
_SEPARATORS = re.compile(r"[ \-./()]")
_EXTENSION = re.compile(r"(?:x|ext\.?|extension|#)\s*[0-9]+$", re.IGNORECASE)
# A North American number: an area code and an exchange that each begin with 2 to 9.
_NANP = re.compile(r"1?([2-9][0-9]{2}[2-9][0-9]{6})")


def normalise_e164(phone: str | None) -> str | None:
    """The number in E.164 form, None when empty; ValueError (with what to type instead) when it is not a number
    an SMS can reach."""
    phone = (phone or "").strip()
    if not phone:
        return None
    if _EXTENSION.search(phone):
        raise ValueError(EXTENSION_HINT)
    compact = _SEPARATORS.sub("", phone)
    if compact.startswith("+"):
        if not E164.fullmatch(compact) or (compact.startswith("+1") and not _NANP.fullmatch(compact[1:])):
            raise ValueError(E164_HINT)
        return compact
    north_american = _NANP.fullmatch(compact) if compact.isascii() else None
    if north_american is None:
        raise ValueError(E164_HINT)
    return "+1" + north_american.group(1)

"""Staff phone numbers, for SMS alerts: E.164 only (a "+", the country code, the number; no spaces)."""

from __future__ import annotations

import re

E164_HINT = "Phone numbers are written in E.164 form, e.g. +13075550123."
# A "+", a country code (never 0) and up to 15 digits in all; [0-9], not \d, which matches other scripts' digits.
# The Twilio sender setting takes the same form (app/config.py).
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def normalise_e164(phone: str | None) -> str | None:
    """The number in E.164 form (surrounding spaces dropped), None when empty; ValueError when malformed."""
    phone = (phone or "").strip()
    if not phone:
        return None
    if not E164.fullmatch(phone):
        raise ValueError(E164_HINT)
    return phone

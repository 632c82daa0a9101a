"""Staff phone numbers, for SMS alerts: E.164 only (a "+", the country code, the number; no spaces)."""

from __future__ import annotations

import re

E164_HINT = "Phone numbers are written in E.164 form, e.g. +13075550123."
_E164 = re.compile(r"\+[0-9]{8,15}")  # [0-9], not \d: \d also matches other scripts' digits


def normalise_e164(phone: str | None) -> str | None:
    """The number in E.164 form (surrounding spaces dropped), None when empty; ValueError when malformed."""
    phone = (phone or "").strip()
    if not phone:
        return None
    if not _E164.fullmatch(phone):
        raise ValueError(E164_HINT)
    return phone

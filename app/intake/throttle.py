"""Throttling receipt-code guesses, per client and for the whole site, in the rate limiter's storage
(memory or Redis: never the database or a file). Limits are read at request time, so tests can change them."""

from __future__ import annotations

from flask import current_app
from limits import parse_many

from app.client_keys import client_key
from app.extensions import limiter


def receipt_attempt_allowed() -> bool:
    """Count one attempt; False when this client or the whole site has used up its attempts."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    strategy = limiter.limiter
    for item in parse_many(current_app.config["RECEIPT_RATE_LIMIT"]):
        if not strategy.hit(item, "receipt", client_key()):
            return False
    # Only attempts a client was allowed count against the site, so one noisy client cannot lock out all.
    return all(strategy.hit(item, "receipt-global") for item in parse_many(
        current_app.config["RECEIPT_GLOBAL_RATE_LIMIT"]))


def intake_rate_limit() -> str:
    return str(current_app.config["INTAKE_RATE_LIMIT"])

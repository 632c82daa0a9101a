"""Throttling receipt-code guesses, per client and for the whole site, in the rate limiter's storage
(memory or Redis: never the database or a file). Limits are read at request time, so tests can change them."""

from __future__ import annotations

import logging

from flask import current_app
from limits import parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from app.client_keys import client_key
from app.extensions import limiter
from app.logs import log_event

log = logging.getLogger("app.ratelimit")
# The storage unreachable (Redis down): attempts are counted in this process's memory, as with memory://.
_fallback = FixedWindowRateLimiter(MemoryStorage())


def receipt_attempt_allowed() -> bool:
    """Count one attempt; False when this client or the whole site has used up its attempts."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    try:
        return _attempt_allowed(limiter.limiter)
    except StorageError as exc:  # the storage's own errors, wrapped (RATELIMIT_STORAGE_OPTIONS in config.py)
        log_event(log, "OPERATOR: the rate-limit storage is unreachable; receipt attempts are counted per "
                  "process", logging.WARNING, error=type(exc.storage_error).__name__)
        return _attempt_allowed(_fallback)


def _attempt_allowed(strategy: RateLimiter) -> bool:
    for item in parse_many(current_app.config["RECEIPT_RATE_LIMIT"]):
        if not strategy.hit(item, "receipt", client_key()):
            return False
    # Only attempts a client was allowed count against the site, so one noisy client cannot lock out all.
    return all(strategy.hit(item, "receipt-global") for item in parse_many(
        current_app.config["RECEIPT_GLOBAL_RATE_LIMIT"]))


def intake_rate_limit() -> str:
    return str(current_app.config["INTAKE_RATE_LIMIT"])

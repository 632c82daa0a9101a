"""Throttling receipt-code guesses, per client and for the whole site, in the rate limiter's storage
(memory or Redis: never the database or a file). Limits are read at request time, so tests can change them."""

from __future__ import annotations

import logging
import math
import time

from flask import current_app
from flask_limiter import RequestLimit
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


def minutes_until_allowed() -> int | None:
    """After a 429 of INTAKE_RATE_LIMIT: whole minutes (rounded up, at least 1) until this client may send again,
    from the limiter's reset times; None when they cannot be read (the page then says "in a few minutes")."""
    refused = limiter.current_limit
    if refused is None:
        return None
    try:
        resets_at = _limit_resets_at(refused)
    except Exception as exc:  # noqa: BLE001 - a courtesy of the page: it must never turn the 429 into a 500
        log_event(log, "the wait of a throttled reporter could not be read; the page says a few minutes",
                  logging.WARNING, error=type(exc).__name__)
        return None
    return max(1, math.ceil((max(resets_at) - time.time()) / 60))


def _limit_resets_at(refused: RequestLimit) -> list[float]:
    """When the refused limit resets, and every other limit of the route that is used up too: Flask-Limiter stops at
    the first refusal (the shortest window), so with the hour used up as well, "in 1 minute" would be refused again."""
    resets_at = [refused.window.reset_time]
    for item in parse_many(intake_rate_limit()):
        window = refused.limiter.get_window_stats(item, *refused.request_args)
        if window.remaining <= 0:
            resets_at.append(window.reset_time)
    return resets_at

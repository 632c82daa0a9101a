"""Work the alert worker's round does beside the alerts (test SMS, lookups of delivery reports that never came):
extras that must never stop a tip's SMS. One that breaks is rolled back and left alone for a minute, and the
operator reads one line naming the error's type (never its text: it could quote an answer or a row)."""

from __future__ import annotations

import logging
import time

from flask import current_app

from app.extensions import db
from app.logs import log_event

PAUSE_AFTER_FAILURE_S = 60


class Aside:
    """The pause of one such extra, kept in app.extensions: per app, as tests build many in one process."""

    def __init__(self, name: str, log: logging.Logger) -> None:
        self._key = f"tipline.{name}.paused_until"
        self._log = log

    def paused(self) -> bool:
        return time.monotonic() < current_app.extensions.get(self._key, 0.0)

    def broke(self, exc: BaseException, message: str) -> None:
        """Roll back, leave the extra alone for PAUSE_AFTER_FAILURE_S, and say `message` (an OPERATOR: line) once."""
        db.session.rollback()
        current_app.extensions[self._key] = time.monotonic() + PAUSE_AFTER_FAILURE_S
        log_event(self._log, message, logging.ERROR, error=type(exc).__name__)

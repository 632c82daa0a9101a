"""The development transport: SMS go to the log and to a short in-memory list, never to a phone."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from notifications.transport import SendResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsoleMessage:
    sid: str
    to: str
    body: str
    status_callback: str | None
    validity_period_s: int | None
    sent_at: datetime


class ConsoleTransport:
    """Logs each SMS and keeps the last `keep` of them for a developer page. Safe to share between threads.

    Used when no Twilio credentials are configured, so a fresh checkout can run the whole alert flow. Nothing
    is delivered and no status callback is ever made: alerts stay "sent" until acknowledged by hand.
    """

    def __init__(self, keep: int = 50, logger: logging.Logger = log) -> None:
        self._messages: deque[ConsoleMessage] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._log = logger

    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None,
        validity_period_s: int | None = None,
    ) -> SendResult:
        # Same shape as a Twilio SID (34 characters) so columns and log parsers treat both alike.
        sid = "SMconsole" + secrets.token_hex(13)[:25]
        message = ConsoleMessage(sid, to, body, status_callback, validity_period_s, datetime.now(UTC))
        with self._lock:
            self._messages.append(message)
        self._log.info("SMS (console, not sent) sid=%s to=%s body=%s", sid, to, body)
        return SendResult(sid=sid, status="sent")

    def recent(self) -> list[ConsoleMessage]:
        """The kept messages, newest first."""
        with self._lock:
            return list(reversed(self._messages))

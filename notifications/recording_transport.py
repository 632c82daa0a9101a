"""A transport for unit tests: remembers every message and fails on command."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass

from notifications.errors import PermanentSendError, SendError, TransientSendError
from notifications.transport import SendResult


@dataclass(frozen=True)
class RecordedSms:
    sid: str
    to: str
    body: str
    status_callback: str | None
    validity_period_s: int | None


class RecordingTransport:
    """Keeps sent messages in `sent` (in order) and every attempt, failed ones included, in `attempts`.

    `fail_next(k, permanent=False, code=...)` makes the next k sends raise, to drive retry and escalation
    logic.
    """

    def __init__(self) -> None:
        self.sent: list[RecordedSms] = []
        self.attempts: list[tuple[str, str]] = []
        self._failures: deque[SendError] = deque()
        self._sids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, k: int = 1, *, permanent: bool = False, code: int | None = None) -> None:
        for _ in range(k):
            if permanent:
                error: SendError = PermanentSendError(f"recorded permanent failure (code {code})", code=code)
            else:
                error = TransientSendError(f"recorded transient failure (code {code})", code=code)
            with self._lock:
                self._failures.append(error)

    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None,
        validity_period_s: int | None = None,
    ) -> SendResult:
        with self._lock:
            self.attempts.append((to, body))
            if self._failures:
                raise self._failures.popleft()
            sid = f"SMrec{next(self._sids):029d}"
            self.sent.append(RecordedSms(sid, to, body, status_callback, validity_period_s))
        return SendResult(sid=sid, status="queued")

    def messages_to(self, number: str) -> list[RecordedSms]:
        with self._lock:
            return [m for m in self.sent if m.to == number]

    def bodies(self) -> list[str]:
        with self._lock:
            return [m.body for m in self.sent]

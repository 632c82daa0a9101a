"""Waking the dispatcher the moment a tip is committed.

In one process (the dev server's dispatcher thread, tests) a threading.Event is enough. Across processes
(gunicorn workers and `flask alerts run`) PostgreSQL's NOTIFY carries the wake-up; on SQLite, where the web
and the single worker share one machine, a datagram to the worker's port on 127.0.0.1 does
(ALERT_WAKE_PORT, 0 to turn it off). Either way the worker's poll is the safety net if a wake-up is lost.
"""

from __future__ import annotations

import socket
import threading

from flask import current_app
from sqlalchemy import text

from app.extensions import db

WAKE_CHANNEL = "tipline_alerts"
_local_wake = threading.Event()


def local_wake_event() -> threading.Event:
    return _local_wake


WAKE_DATAGRAM = b"tipline-alerts"


def send_wake_datagram(port: int) -> None:
    """Nudge a worker listening on 127.0.0.1:port. Loopback only; a lost datagram costs one poll interval."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(WAKE_DATAGRAM, ("127.0.0.1", port))
        except OSError:
            pass  # nobody listening, or the buffer is full: the worker polls anyway


def wake_dispatcher() -> None:
    """Call after committing new alert rows. Never raises: the worker's poll is the safety net."""
    _local_wake.set()
    port = int(current_app.config.get("ALERT_WAKE_PORT") or 0)
    if db.engine.dialect.name == "sqlite" and port:
        send_wake_datagram(port)
    elif db.engine.dialect.name == "postgresql":
        try:
            with db.engine.connect() as conn:
                conn.execute(text(f"NOTIFY {WAKE_CHANNEL}"))
                conn.commit()
        except Exception as exc:  # noqa: BLE001 - a lost wake-up only costs the poll interval
            current_app.logger.warning("alert wake-up not sent: %s", type(exc).__name__)

"""The alert worker loop: `flask alerts run` in production, a thread of the dev server under `make run`."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from typing import Any

from flask import Flask
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app.alerts.claims import db_give_back_own_claims, db_release_worker_lease, db_take_worker_lease
from app.alerts.dispatcher import db_record_unrecorded, forget_recorded, record_pause_s, run_once
from app.alerts.signals import WAKE_CHANNEL, local_wake_event
from app.alerts.sms_volume import warn_if_sms_volume_high
from app.crypto.receipts import KEY_CHANGED, db_record_receipt_key
from app.database import PG_CONNECT_TIMEOUT_S, db_error_reason, reading
from app.extensions import db
from app.logs import log_event

log = logging.getLogger("tipline.alerts")
PURGE_EVERY_S = 24 * 3600  # retention is counted in days: once a day, and once at start, is enough
PURGE_RETRY_S = 3600  # after a purge that failed for another reason than the database
VISITS_EVERY_S = 300  # ended reporters' visits are deleted this often (and whenever a reporter starts one)


def _purge_if_due(last_purge: float | None) -> float | None:
    """Crypto-shred closed tips past retention once a day (app/retention.py). Returns when it last ran."""
    now = time.monotonic()
    if last_purge is not None and now - last_purge < PURGE_EVERY_S:
        return last_purge
    from app.retention import PAUSED, purge_expired_tips, retention_paused

    if retention_paused():  # said once a day, as the purge would have run
        log_event(log, f"OPERATOR: the daily retention purge did not run: {PAUSED}", logging.WARNING)
        return now
    try:
        result = purge_expired_tips()
    except OperationalError:
        raise  # the database is down or locked: the round's handler waits, and the purge runs next round
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not stop the SMS
        # A bug or a damaged row in the purge killed the worker, and again at every restart: no SMS at all for a
        # fault in shredding old cases. It is named to the operator (the error's type only) and tried in an hour.
        db.session.rollback()
        log_event(log, "OPERATOR: the daily retention purge failed; alerts go on, the purge is tried again in an "
                  "hour", logging.ERROR, error=type(exc).__name__)
        return now - PURGE_EVERY_S + PURGE_RETRY_S
    if result.count or result.held:  # how many a legal hold kept, never which: the log is not the record
        log_event(log, "retention purge", shredded=result.count, held=len(result.held))
    return now


def _delete_ended_visits_if_due(last: float | None) -> float | None:
    """Every VISITS_EVERY_S, delete the reporters' visits that have ended (app/intake/reporter_sessions.py).
    Housekeeping: any failure but the database's is skipped and tried at the next turn, never a pause of the SMS."""
    now = time.monotonic()
    if last is not None and now - last < VISITS_EVERY_S:
        return last
    from app.intake.reporter_sessions import db_delete_ended

    try:
        db_delete_ended()
        db.session.commit()
    except OperationalError:
        raise  # the database is down or locked: the round's handler waits
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not stop the SMS of tips
        db.session.rollback()
        log_event(log, "deleting ended reporter visits failed; tried again later", logging.WARNING,
                  error=type(exc).__name__)
    return now


def _warn_of_sms_volume(last_warned: float | None) -> float | None:
    """After a round that sent SMS: tell the operator of a flood (app/alerts/sms_volume.py). A read only, and a
    warning only: its failure is skipped, never a pause of the SMS."""
    try:
        with reading():
            return warn_if_sms_volume_high(last_warned)
    except SQLAlchemyError:
        db.session.rollback()
        return last_warned


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident() % 100000}"


class Waiter:
    """Sleeps until new alerts are announced or `poll_s` passes: LISTEN/NOTIFY on PostgreSQL, a datagram on
    127.0.0.1:ALERT_WAKE_PORT on SQLite (when the port is free), else an in-process Event."""

    def __init__(self, app: Flask, poll_s: float) -> None:
        self.poll_s = poll_s
        self.event = local_wake_event()
        self._pg: Any = None
        self._udp: socket.socket | None = None
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        port = int(app.config.get("ALERT_WAKE_PORT") or 0)
        if url.startswith("sqlite") and port:
            self._udp = _listen(port)
            if self._udp is None:
                # Another worker (a standby, or another deployment on this machine) has the port: new tips
                # wake that one, and this one polls. Two deployments on one machine need different ports.
                log_event(log, "alert wake-up port in use; polling instead", logging.WARNING, port=port,
                          poll_s=poll_s)
        self._dsn: str | None = None
        self._lost = False  # the listener is down: said once, not at every round of an outage
        if url.startswith("postgresql"):
            with app.app_context():
                self._dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._listen()

    def _listen(self) -> None:
        """(Re)open the LISTEN connection. Not reachable: the worker polls and tries again at the next wait."""
        import psycopg

        assert self._dsn is not None
        try:
            self._pg = psycopg.connect(self._dsn, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S)
            self._pg.execute(f"LISTEN {WAKE_CHANNEL}")
        except psycopg.Error as exc:
            self._drop_listener(exc)
            return
        if self._lost:
            self._lost = False
            log_event(log, "alert wake-up listener back")

    def _drop_listener(self, exc: Exception) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if not self._lost:  # a PostgreSQL outage fails every round's retry: one line for it, not one a second
            self._lost = True
            log_event(log, "alert wake-up listener lost; polling until it is back", logging.WARNING,
                      error=type(exc).__name__)

    def wait(self) -> None:
        if self._dsn is not None and self._pg is None:
            self._listen()
        if self._pg is not None:
            import psycopg

            try:
                for _ in self._pg.notifies(timeout=self.poll_s, stop_after=1):
                    pass
            except psycopg.Error as exc:
                # PostgreSQL restarted, failed over, or an idle connection was cut: the alerts are in the outbox,
                # so the worker goes on polling and listens again, instead of dying with the connection.
                self._drop_listener(exc)
                self.event.wait(self.poll_s)
        elif self._udp is not None:
            if not self.event.is_set():
                readable, _, _ = select.select([self._udp], [], [], self.poll_s)
                if readable:
                    _drain(self._udp)
        else:
            self.event.wait(self.poll_s)
        self.event.clear()

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._udp is not None:
            self._udp.close()


def _listen(port: int) -> socket.socket | None:
    """Bind the wake-up port on loopback; None if taken (a standby worker then simply polls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> None:
    """Read every queued wake-up: one round handles them all."""
    while True:
        try:
            sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return


def _check_receipt_key(app: Flask) -> None:
    """Record RECEIPT_HMAC_KEY's check the first time; say so loudly when the database's codes used another key."""
    with app.app_context():
        try:
            state = db_record_receipt_key()
        except SQLAlchemyError:  # down, or not yet migrated this far: the rounds below report and retry
            db.session.rollback()
            return
        finally:
            db.session.remove()
    if state == KEY_CHANGED:
        log_event(log, "OPERATOR: RECEIPT_HMAC_KEY is not the key this database's receipt codes were made with; "
                  "no reporter can open a report until the key is put back (README, Backups, Restoring)",
                  logging.CRITICAL)


def run_worker(app: Flask, *, stop: threading.Event, poll_s: float = 1.0, batch: int = 50,
               max_rounds: int | None = None, purge: bool = True) -> int:
    """Work until `stop` is set (or `max_rounds` rounds). Returns the number of rounds run.

    Besides alerts, the worker runs the daily retention purge (`purge=False` leaves that to cron).
    """
    owner = worker_id()
    waiter = Waiter(app, poll_s)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    rounds = 0
    last_purge: float | None = None
    last_volume_warning: float | None = None
    last_visits: float | None = None
    log_event(log, "alert worker started", owner=owner, poll_s=poll_s)
    _check_receipt_key(app)
    try:
        while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            with app.app_context():
                try:
                    # On SQLite the lease is renewed in the round's first transaction (one write-lock turn).
                    if sqlite and not db_take_worker_lease(owner):
                        # A standby holds the lease: this worker's last round outlasted it (retrying to record an SMS
                        # the database refused). What it sent is recorded, or the standby would send it again when
                        # the claim's lease ends, and what it claimed and did not send goes to the standby now.
                        recorded = db_record_unrecorded(owner)
                        db_give_back_own_claims(owner)
                        db.session.commit()
                        if recorded:
                            forget_recorded(owner)
                        stop.wait(poll_s)
                        continue
                    counts = run_once(owner, batch)
                    if counts.get("sent"):
                        last_volume_warning = _warn_of_sms_volume(last_volume_warning)
                    if purge:
                        last_purge = _purge_if_due(last_purge)
                    last_visits = _delete_ended_visits_if_due(last_visits)
                except OperationalError as exc:
                    # The database is down or locked for longer than the busy timeout: nothing is lost (rows
                    # stay due or come back when their lease ends); try again after a pause. A short one while an
                    # SMS Twilio took is unrecorded: the next round must record it before its lease ends, or another
                    # worker may send it again (dispatcher.RECORD_GIVE_UP_PAUSES).
                    db.session.rollback()
                    log_event(log, "alert worker database error", logging.ERROR, error=db_error_reason(exc))
                    pause = min(5.0, poll_s * 5)
                    stop.wait(min(pause, record_pause_s(owner) or pause))
                    continue
                finally:
                    db.session.remove()
            if counts.get("claimed", 0) >= batch or counts.get("budget_spent"):
                continue  # more may be due right away
            waiter.wait()
    finally:
        waiter.close()
        if sqlite:
            with app.app_context():
                try:
                    db_release_worker_lease(owner)
                    db.session.commit()
                except OperationalError as exc:
                    # Stopped while the database is locked past the busy timeout (or gone): one line, not a
                    # traceback; the lease ends by itself within ALERT_WORKER_LEASE_S, then a standby takes it.
                    db.session.rollback()
                    log_event(log, "alert worker could not end its lease (the database is locked or unreachable); "
                              "it runs out by itself", logging.WARNING, owner=owner, error=db_error_reason(exc))
                finally:
                    db.session.remove()
        log_event(log, "alert worker stopped", owner=owner, rounds=rounds)
    return rounds


def start_in_process_dispatcher(app: Flask, poll_s: float = 1.0) -> threading.Event:
    """`make run`: send SMS from a daemon thread of the web process, woken by each new tip."""
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"stop": stop, "poll_s": poll_s},
                              name="alert-dispatcher", daemon=True)
    thread.start()
    time.sleep(0)  # let it start before the first request
    return stop

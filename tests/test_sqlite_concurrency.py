"""Concurrent writers wait their turn instead of failing with "database is locked"."""

import threading

from sqlalchemy import func, select

from app.extensions import db
from app.models import Agency, Incident, School

THREADS = 16
INSERTS = 50


def test_sixteen_threads_of_read_then_write_all_land(app):
    with app.app_context():
        agency = Agency(name="Test PD", short_name="TPD")
        db.session.add(School(name="Test High", short_name="TH", town="Casper", agency=agency))
        db.session.commit()
        school_id = db.session.scalar(select(School.id))

    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer() -> None:
        start.wait()
        try:
            for _ in range(INSERTS):
                with app.app_context():
                    # Read first, then write: the pattern that upgrades a deferred SQLite lock and fails
                    # at once unless the transaction took the write lock up front.
                    db.session.scalar(select(func.count(Incident.id)))
                    db.session.add(Incident(school_id=school_id, category="other"))
                    db.session.commit()
        except BaseException as exc:  # collected and asserted below, so nothing is hidden
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    with app.app_context():
        assert db.session.scalar(select(func.count(Incident.id))) == THREADS * INSERTS


def test_sqlite_pragmas(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def _sqlite_file(app):
    import pytest

    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if not url.startswith("sqlite:///"):
        pytest.skip("the writer queue is SQLite's")
    return url.removeprefix("sqlite:///")


def test_writers_queue_on_the_lock_file_and_leave_it_on_commit_rollback_and_close(app):
    import fcntl
    import os

    from app.database import WRITER_QUEUE_SUFFIX, WriterQueueConnection

    path = _sqlite_file(app)
    probe = os.open(path + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT)

    def queue_is_free() -> bool:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True

    try:
        with app.app_context():
            with db.engine.connect() as conn:
                assert isinstance(conn.connection.dbapi_connection, WriterQueueConnection)
                conn.execute(select(func.count(School.id)))  # BEGIN IMMEDIATE: this connection's turn
                assert not queue_is_free()
                conn.commit()
                assert queue_is_free()
                conn.execute(select(func.count(School.id)))
                conn.rollback()
                assert queue_is_free()
                conn.execute(select(func.count(School.id)))
            assert queue_is_free()  # returned to the pool mid-transaction: rolled back, turn given up
    finally:
        os.close(probe)


def test_a_writer_that_waits_too_long_gets_a_clear_database_error(make_app):
    import fcntl
    import os

    import pytest
    from sqlalchemy.exc import OperationalError

    from app.database import WRITER_QUEUE_SUFFIX

    app = make_app(SQLITE_BUSY_TIMEOUT_S=1)
    path = _sqlite_file(app)
    holder = os.open(path + WRITER_QUEUE_SUFFIX, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's turn that does not end
    try:
        with app.app_context(), pytest.raises(OperationalError, match="database is locked"):
            db.session.scalar(select(func.count(School.id)))
    finally:
        os.close(holder)
    with app.app_context():  # and once the queue moves, writing works again
        db.session.add(Agency(name="After PD", short_name="APD"))
        db.session.commit()


def test_reading_takes_no_write_lock_and_writes_after_it_do(app):
    from app.database import reading
    from tests.support.write_lock import write_lock_is_free

    path = _sqlite_file(app)
    with app.app_context():
        with reading():
            assert db.session.scalar(select(func.count(School.id))) == 0
            assert write_lock_is_free(path)
        db.session.scalar(select(func.count(School.id)))
        assert not write_lock_is_free(path)
        db.session.rollback()

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

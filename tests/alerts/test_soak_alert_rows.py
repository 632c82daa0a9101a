"""The soak's end-of-day check (bench/soak_checks.py): a send backing off after transient failures is not
stuck; a due row nobody took, or a claim whose worker died, is."""

from datetime import timedelta

from sqlalchemy import update

from app.extensions import db
from app.models import Alert, AlertStatus, utcnow
from bench.soak_checks import describe_alert_row, open_alert_rows
from tests.alerts.conftest import alerts_of, make_tip


def _set(alert_id: int, **values: object) -> None:
    db.session.execute(update(Alert).where(Alert.id == alert_id).values(**values))
    db.session.commit()


def test_a_send_backing_off_is_told_apart_from_a_stuck_row(alert_app):
    with alert_app.app_context():
        backing_off, due_untaken, dead_claim, tomorrow = (
            alerts_of(make_tip(school, "high").ref)[0].id for school in ("KWHS", "NCHS", "RHS", "CYMS")
        )
        now = utcnow()
        _set(backing_off, status=AlertStatus.PENDING.value, error_code="20429", attempts=7, send_failures=5,
             due_at=now + timedelta(seconds=90))
        _set(due_untaken, status=AlertStatus.PENDING.value, error_code=None, due_at=now - timedelta(seconds=30))
        _set(dead_claim, status=AlertStatus.SENDING.value, error_code="20500", lease_owner="gone",
             lease_until=now - timedelta(seconds=5), due_at=now - timedelta(seconds=60))
        _set(tomorrow, status=AlertStatus.PENDING.value, due_at=now + timedelta(hours=12))  # next school day

        stuck, retrying = open_alert_rows(utcnow())

        assert [r.id for r in retrying] == [backing_off]
        assert "7 claims, 5 failed sends, last error 20429" in describe_alert_row(retrying[0], now)
        assert sorted(r.id for r in stuck) == sorted([due_untaken, dead_claim])

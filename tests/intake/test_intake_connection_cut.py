"""The database connection cut in the middle of a reporter's request (PostgreSQL: a failover, a restarted pooler,
`pg_terminate_backend`): the reporter gets a clear page, keeps what they typed, and nothing is half-stored or
stored twice."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, Tip
from tests.intake.helpers import receipt_of, submit
from tests.support.connection_cut import connection_cut_on
from tests.support.forms import csrf_token

TEXT = "Someone posted that they will bring a gun to school tomorrow."


def _count(app, model) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(model.id))) or 0)


def test_a_connection_cut_while_a_tip_is_stored_keeps_the_text_and_stores_nothing(intake_app, schools):
    client = intake_app.test_client()
    token = csrf_token(client, "/report")
    with connection_cut_on(intake_app, "incident") as cut:  # in the one transaction that stores the tip
        page = client.post("/report", data={"csrf_token": token, "school": str(schools["kelly"]),
                                            "description": TEXT, "happening_now": "yes"})
    assert cut, "the connection was not cut"
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "Nothing was sent" in body and f"{TEXT}</textarea>" in body
    assert _count(intake_app, Tip) == 0 and _count(intake_app, Alert) == 0
    again = client.post("/report", data={"csrf_token": csrf_token(client, "/report"), "school": str(schools["kelly"]),
                                         "description": TEXT, "happening_now": "yes"})
    assert again.status_code == 303 and _count(intake_app, Tip) == 1


def test_a_connection_cut_as_the_receipt_is_shown_says_the_report_was_sent(intake_app, schools):
    """The tip is stored and the browser follows the 303 to /receipt just as the connection is cut. The page said
    "Tipline is not available right now", nothing more: a reporter who had just pressed Send took it that the
    report was lost and sent it again (the school's SRO paged twice for one tip), and the receipt code of the
    first was never seen. It now says the report was received, not to send it again, and how to see the code."""
    client = intake_app.test_client()
    assert submit(client, schools["kelly"], TEXT).status_code == 303
    with connection_cut_on(intake_app, "reporter_session") as cut:
        page = client.get("/receipt")
    assert cut, "the connection was not cut"
    body = page.get_data(as_text=True)
    assert page.status_code == 503
    assert "Your report was received" in body and "do not send it again" in body
    assert "Nothing was sent" not in body and "not available" not in body
    assert 'href="/receipt"' in body  # one press to try the receipt again
    assert TEXT not in body  # the report itself is never shown back from the database's side
    ref, code = receipt_of(client)  # the connection is back: the same receipt, once
    assert ref and code and _count(intake_app, Tip) == 1
    spanish = client.get("/receipt", headers={"Accept-Language": "es"})
    assert spanish.status_code == 200


def test_a_connection_cut_as_the_receipt_is_shown_says_so_in_spanish(intake_app, schools):
    client = intake_app.test_client()
    assert submit(client, schools["kelly"], TEXT).status_code == 303
    with connection_cut_on(intake_app, "reporter_session"):
        page = client.get("/receipt?lang=es")
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "Recibimos tu reporte" in body and "no lo envíes de nuevo" in body

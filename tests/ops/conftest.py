"""Operations tests: a small district (two agencies, three schools, a few staff), tips with chosen times,
and staff signed in by writing the session directly (the sign-in itself is the console's to test)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app.console import clock
from app.crypto.receipts import db_new_reference
from app.crypto.service import db_new_tip_key, seal_for_tip
from app.extensions import db
from app.models import Agency, Alert, Assignment, Role, School, Staff, Tip
from triage import urgency_rank

DENVER = ZoneInfo("America/Denver")
_receipts = itertools.count(1)


@dataclass
class District:
    app: Flask
    schools: dict[str, int]  # short name -> id
    agencies: dict[str, int]
    staff: dict[str, int]  # key -> id


def denver(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A wall-clock time in Casper, as the naive UTC the database holds."""
    return datetime(year, month, day, hour, minute, tzinfo=DENVER).astimezone(UTC).replace(tzinfo=None)


def build_district(app: Flask) -> District:
    with app.app_context():
        cpd = Agency(name="Casper Police Department", short_name="CPD")
        ncso = Agency(name="Natrona County Sheriff's Office", short_name="NCSO")
        schools = {
            "KWHS": School(name="Kelly Walsh High School", short_name="KWHS", town="Casper", agency=cpd),
            "NCHS": School(name="Natrona County High School", short_name="NCHS", town="Casper", agency=cpd),
            "MIDW": School(name="Midwest School", short_name="MIDW", town="Midwest", agency=ncso),
        }
        db.session.add_all([cpd, ncso, *schools.values()])
        db.session.flush()
        people = {
            "admin": (Role.DISTRICT_ADMIN, []),
            "counselor_kw": (Role.COUNSELOR, ["KWHS"]),
            "sro_cpd": (Role.SRO, ["KWHS", "NCHS"]),
        }
        staff_ids = {}
        for i, (key, (role, assigned)) in enumerate(people.items()):
            person = Staff(email=f"{key}@district.example", name=key, role=role, phone=f"+1307555020{i}")
            db.session.add(person)
            for short in assigned:
                db.session.add(Assignment(staff=person, school=schools[short]))
            db.session.flush()
            staff_ids[key] = person.id
        db.session.commit()
        return District(app, {k: s.id for k, s in schools.items()}, {"CPD": cpd.id, "NCSO": ncso.id}, staff_ids)


@pytest.fixture
def district(app: Flask) -> District:
    return build_district(app)


@pytest.fixture
def sqlite_app(app: Flask, make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """Always SQLite, even when the suite runs on PostgreSQL: the online backup and the WAL are SQLite's.
    (`app` first: on PostgreSQL the first app of a test is the one that empties the shared schema.)"""
    (tmp_path / "sqlite").mkdir()
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'sqlite' / 'live.db'}")
    with app.app_context():
        upgrade()
    return app


def add_tip(school_id: int, created_at: datetime, *, category: str = "bullying", urgency: str = "medium",
            acknowledged_at: datetime | None = None, closed_at: datetime | None = None, outcome: str | None = None,
            escalations: int = 0, text: str | None = None, label_category: str | None = None) -> Tip:
    """A tip's metadata (and, with `text`, its sealed content through the real encryption); commits."""
    n = next(_receipts)
    tip = Tip(ref=db_new_reference(), school_id=school_id, receipt_hash=f"{n:064x}", category=category,
              urgency=urgency, urgency_rank=urgency_rank(urgency), confidence=0.8, model_version="test",
              created_at=created_at, acknowledged_at=acknowledged_at, closed_at=closed_at, outcome=outcome,
              status="closed" if closed_at else ("acknowledged" if acknowledged_at else "new"),
              label_category=label_category)
    if text is not None:
        db_new_tip_key(tip)
        tip.text_ct = seal_for_tip(tip, "text", text.encode())
        tip.contact_ct = seal_for_tip(tip, "contact", b"call me at 307-555-0199")
        tip.assessment_ct = seal_for_tip(tip, "assessment", b'{"reasons": []}')
    db.session.add(tip)
    db.session.flush()
    db.session.add(Alert(tip_id=tip.id, chain_position=1, kind="initial", status="sent", due_at=created_at,
                         created_at=created_at, sent_at=created_at))
    for i in range(escalations):
        db.session.add(Alert(tip_id=tip.id, chain_position=2 + i, kind="escalation", status="sent",
                             due_at=created_at, created_at=created_at, sent_at=created_at))
    db.session.commit()
    return tip


def sign_in_as(app: Flask, staff_id: int) -> FlaskClient:
    client = app.test_client()
    with app.app_context():
        staff = db.session.get(Staff, staff_id)
        assert staff is not None
        user_id = staff.get_id()
    now = clock.seconds(clock.now())
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
        session["signed_in_at"] = now
        session["last_seen"] = now
        session["sid"] = secrets.token_urlsafe(16)
    return client


@pytest.fixture
def signed_in(district: District) -> Callable[[str], FlaskClient]:
    def make(key: str) -> FlaskClient:
        return sign_in_as(district.app, district.staff[key])

    return make


def rows_of(value: Any) -> list[list[str]]:
    return [list(row) for row in value]


class _TableParser:
    """Every <table data-table="..."> of a page as rows of cell texts (header row first)."""

    def __init__(self, page: str) -> None:
        from html.parser import HTMLParser

        tables: dict[str, list[list[str]]] = {}
        state: dict[str, Any] = {"table": None, "row": None, "cell": None}

        class Parser(HTMLParser):
            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                if tag == "table":
                    state["table"] = dict(attrs).get("data-table")
                    if state["table"]:
                        tables[state["table"]] = []
                elif tag == "tr" and state["table"]:
                    state["row"] = []
                elif tag in ("td", "th") and state["row"] is not None:
                    state["cell"] = ""

            def handle_endtag(self, tag: str) -> None:
                if tag in ("td", "th") and state["cell"] is not None:
                    state["row"].append(state["cell"].strip())
                    state["cell"] = None
                elif tag == "tr" and state["row"] is not None:
                    tables[state["table"]].append(state["row"])
                    state["row"] = None
                elif tag == "table":
                    state["table"] = None

            def handle_data(self, data: str) -> None:
                if state["cell"] is not None:
                    state["cell"] += data

        Parser().feed(page)
        self.tables = tables


def html_tables(page: str) -> dict[str, list[list[str]]]:
    return _TableParser(page).tables

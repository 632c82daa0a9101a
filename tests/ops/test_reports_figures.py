"""The quarterly report's figures equal counts made independently from the seeded tips."""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from app.extensions import db
from app.reports.quarters import Quarter
from tests.ops.conftest import DENVER, District, add_tip, build_district, denver, html_tables, sign_in_as

CATS = ("bullying", "weapon", "self_harm", "drugs_alcohol")
URGS = ("critical", "high", "medium", "low")
OUTCOMES = ("counselling_provided", "false_report", "duplicate", "parent_contacted")


@dataclass
class Seed:
    school: str
    created: datetime  # naive UTC
    category: str
    urgency: str
    ack_s: int | None
    closed: datetime | None
    outcome: str | None
    escalations: int


def _seeds() -> list[Seed]:
    rng = random.Random(2026)
    seeds = [
        # Either side of midnight between the quarters, in Casper's time: 23:30 on 31 March is Q1.
        Seed("KWHS", denver(2026, 3, 31, 23, 30), "weapon", "high", 120, None, None, 0),
        Seed("KWHS", denver(2026, 4, 1, 0, 30), "weapon", "high", 60, None, None, 1),
        Seed("NCHS", denver(2026, 6, 30, 23, 59), "bullying", "low", None, None, None, 0),
        Seed("NCHS", denver(2026, 7, 1, 0, 1), "bullying", "low", None, None, None, 0),  # Q3: not counted
    ]
    for _ in range(140):
        day = datetime(2026, 1, 1) + timedelta(days=rng.randrange(0, 181), minutes=rng.randrange(0, 1440))
        created = day.replace(tzinfo=DENVER).astimezone(UTC).replace(tzinfo=None)
        closed = created + timedelta(days=rng.randrange(1, 40)) if rng.random() < 0.6 else None
        seeds.append(Seed(rng.choice(["KWHS", "NCHS", "MIDW"]), created, rng.choice(CATS), rng.choice(URGS),
                          rng.choice([None, 30, 90, 300, 1200, 4000]), closed,
                          rng.choice(OUTCOMES) if closed else None, rng.choice([0, 0, 0, 1, 2])))
    return seeds


def _seed(app: Flask, d: District, seeds: list[Seed]) -> None:
    with app.app_context():
        for s in seeds:
            add_tip(d.schools[s.school], s.created, category=s.category, urgency=s.urgency,
                    acknowledged_at=s.created + timedelta(seconds=s.ack_s) if s.ack_s is not None else None,
                    closed_at=s.closed, outcome=s.outcome, escalations=s.escalations)


def _quarter_of(moment: datetime) -> tuple[int, int, int]:
    local = moment.replace(tzinfo=UTC).astimezone(DENVER)
    return local.year, (local.month - 1) // 3 + 1, local.month


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


@pytest.fixture
def exact_app(make_app) -> Flask:  # type: ignore[no-untyped-def]
    return make_app(REPORT_SUPPRESSION_THRESHOLD=1)  # no suppression: every figure exact


def test_quarter_figures_equal_independent_counts(exact_app: Flask) -> None:
    d = build_district(exact_app)
    seeds = _seeds()
    _seed(exact_app, d, seeds)
    client = sign_in_as(exact_app, d.staff["admin"])
    page = client.get("/console/reports/?quarter=2026Q2&scope=district")
    assert page.status_code == 200
    tables = html_tables(page.get_data(as_text=True))

    def made_in(year: int, q: int) -> list[Seed]:
        return [s for s in seeds if _quarter_of(s.created)[:2] == (year, q)]

    q2, q1 = made_in(2026, 2), made_in(2026, 1)
    # Tips by category and month.
    rows = {row[0]: row[1:] for row in tables["categories"][1:]}
    for cat in CATS:
        months = [sum(1 for s in q2 if s.category == cat and _quarter_of(s.created)[2] == m) for m in (4, 5, 6)]
        expected = [*months, sum(months), sum(1 for s in q1 if s.category == cat)]
        assert rows[_pretty(cat)] == [str(v) for v in expected], cat
    assert rows["All tips"][3] == str(len(q2)) and rows["All tips"][4] == str(len(q1))
    # Tips by urgency and month.
    rows = {row[0]: row[1:] for row in tables["urgencies"][1:]}
    for urg in URGS:
        months = [sum(1 for s in q2 if s.urgency == urg and _quarter_of(s.created)[2] == m) for m in (4, 5, 6)]
        assert rows[_pretty(urg)][:4] == [str(v) for v in [*months, sum(months)]]
    # Time to acknowledge (minutes, one decimal) and escalation.
    rows = {row[0]: row[1:] for row in tables["response"][1:]}
    for urg in URGS:
        times = sorted(s.ack_s for s in q2 if s.urgency == urg and s.ack_s is not None)
        median = statistics.median(times)
        p90 = times[math.ceil(0.9 * len(times)) - 1]
        escalated = [s for s in q2 if s.urgency == urg and s.escalations]
        assert rows[_pretty(urg)][:4] == [f"{median / 60:.1f}", f"{p90 / 60:.1f}", str(len(escalated)),
                                          str(sum(s.escalations for s in escalated))], urg
    # Outcomes of cases closed in the quarter (whenever the tip was made), and the share of false reports.
    closed_q2 = [s for s in seeds if s.closed and _quarter_of(s.closed)[:2] == (2026, 2)]
    closed_q1 = [s for s in seeds if s.closed and _quarter_of(s.closed)[:2] == (2026, 1)]
    rows = {row[0]: row[1:] for row in tables["outcomes"][1:]}
    for outcome in OUTCOMES:
        assert rows[_pretty(outcome)] == [str(sum(1 for s in closed_q2 if s.outcome == outcome)),
                                          str(sum(1 for s in closed_q1 if s.outcome == outcome))]
    assert rows["All closed cases"] == [str(len(closed_q2)), str(len(closed_q1))]
    false_q2 = sum(1 for s in closed_q2 if s.outcome == "false_report")
    assert tables["false_reports"][1][1:3] == [str(false_q2), f"{100 * false_q2 / len(closed_q2):.1f}%"]


def test_scope_limits_the_figures_to_the_schools_chosen(exact_app: Flask) -> None:
    d = build_district(exact_app)
    seeds = _seeds()
    _seed(exact_app, d, seeds)
    q2 = [s for s in seeds if _quarter_of(s.created)[:2] == (2026, 2)]
    admin = sign_in_as(exact_app, d.staff["admin"])
    for scope, schools in ((f"school:{d.schools['MIDW']}", {"MIDW"}),
                           (f"agency:{d.agencies['CPD']}", {"KWHS", "NCHS"})):
        tables = html_tables(admin.get(f"/console/reports/?quarter=2026Q2&scope={scope}").get_data(as_text=True))
        assert tables["categories"][-1][4] == str(sum(1 for s in q2 if s.school in schools))
    # The SRO of two Casper schools sees exactly those, whatever scope they ask for.
    sro = sign_in_as(exact_app, d.staff["sro_cpd"])
    tables = html_tables(sro.get("/console/reports/?quarter=2026Q2").get_data(as_text=True))
    assert tables["categories"][-1][4] == str(sum(1 for s in q2 if s.school in {"KWHS", "NCHS"}))
    assert sro.get(f"/console/reports/?scope=school:{d.schools['MIDW']}").status_code == 404
    assert sro.get(f"/console/reports/?scope=agency:{d.agencies['NCSO']}").status_code == 404


def test_csv_matches_the_page(exact_app: Flask) -> None:
    d = build_district(exact_app)
    _seed(exact_app, d, _seeds())
    client = sign_in_as(exact_app, d.staff["admin"])
    tables = html_tables(client.get("/console/reports/?quarter=2026Q2").get_data(as_text=True))
    for key, rows in tables.items():
        response = client.get(f"/console/reports/{key}.csv?quarter=2026Q2")
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.mimetype == "text/csv"
        assert list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")))) == rows, key


def test_default_quarter_is_the_current_one_in_district_time(exact_app: Flask) -> None:
    d = build_district(exact_app)
    client = sign_in_as(exact_app, d.staff["admin"])
    from app.models import utcnow

    page = client.get("/console/reports/").get_data(as_text=True)
    assert f"Quarterly analysis: {Quarter.containing(utcnow())}" in page
    assert client.get("/console/reports/?quarter=banana").status_code == 400
    with exact_app.app_context():
        db.session.remove()


@pytest.mark.parametrize("quarter", ["9999Q4", "0000Q1", "0001Q1"])
def test_quarter_outside_the_calendar_is_a_400_not_a_crash(app: Flask, district: District, quarter: str) -> None:
    client = sign_in_as(app, district.staff["counselor_kw"])
    assert client.get(f"/console/reports/?quarter={quarter}").status_code == 400
    assert client.get(f"/console/reports/categories.csv?quarter={quarter}").status_code == 400


@pytest.mark.parametrize("quarter", ["0002Q1", "9998Q4"])
def test_first_and_last_quarters_a_report_can_hold(app: Flask, district: District, quarter: str) -> None:
    client = sign_in_as(app, district.staff["counselor_kw"])
    assert client.get(f"/console/reports/?quarter={quarter}").status_code == 200
    assert client.get(f"/console/reports/categories.csv?quarter={quarter}").status_code == 200


def test_quarter_boundaries_follow_denver_daylight_time() -> None:
    q = Quarter.parse("2026Q2")
    assert q.start == datetime(2026, 4, 1, 6, 0)  # MDT: UTC-6
    assert Quarter.parse("2026q1").start == datetime(2026, 1, 1, 7, 0)  # MST: UTC-7
    assert q.end == datetime(2026, 7, 1, 6, 0)
    assert Quarter.parse("2026Q1").previous() == Quarter(2025, 4)

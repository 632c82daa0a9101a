"""The quarterly analysis against figures worked out by hand from a known set of tips.

Sixteen tips over 2025Q4 to 2026Q3, in Casper's time (America/Denver), three schools (the SRO is not assigned to
Midwest School). Acknowledged in the console and by SMS (an "ACK <ref>", and a "1" to a "+1 related tips" SMS),
relabelled in the console, escalated (one SMS folded into a related tip's), one escalation to someone with no phone,
one escalation cancelled by an acknowledgement before it went out, a reporter's message, closed either side of a
quarter's end, and the old cases crypto-shredded by retention. Every expected figure below is written out by hand:

tip school made (Denver)        model -> staff label    acknowledged      alerts                     closed (Denver)
A   KWHS   2025-12-31 23:30 MST weapon high             -                 initial                    -
B   KWHS   2026-01-01 00:30 MST bullying medium         console 60 min    initial                    03-31 23:30 false
C   NCHS   2026-03-08 01:30 MST bullying medium         console 60 min    initial, reporter message  06-30 23:30 refer
                                                        (03:30 MDT: DST)
D   KWHS   2026-03-31 23:30 MDT weapon high             SMS ACK 10 min    initial                    04-02 counselling
E   MIDW   2026-02-10 10:00 MST weapon medium           console 20 min    initial                    02-20 false report
F   KWHS   2026-04-01 00:30 MDT weapon high             console 25 min    initial, escalation to no  -
                                                                          phone (unsent), escalation
G   NCHS   2026-04-30 23:30 MDT drugs low -> self_harm  console 40 min    (the relabel pages: first) -
                                high
H   KWHS   2026-05-12 09:00 MDT bullying high           console 12 min    initial, escalation        07-01 00:30 none
I   KWHS   2026-05-12 09:03 MDT bullying high           SMS "1" 27 min    folded first + escalation  -
J   KWHS   2026-05-12 09:04 MDT bullying high           SMS "1" 26 min    the same, as companions    -
K   MIDW   2026-05-05 10:00 MDT weapon critical         -                 initial, escalation, repeat -
L   KWHS   2026-05-20 14:00 MDT weapon critical         console 6 min     initial, escalation not    -
                                                                          sent yet (the ack cancels)
M   KWHS   2026-04-15 10:00 MDT bullying low            console 1440 min  -                          04-20 duplicate
N   KWHS   2026-06-30 23:30 MDT weapon critical ->      -                 initial                    -
                                bullying medium
O   KWHS   2026-07-01 00:30 MDT bullying low            -                 -                          -
P   MIDW   2026-06-10 12:00 MDT drugs low               -                 -                          -
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.crypto.receipts import db_new_reference
from app.crypto.service import db_new_tip_key, seal_for_tip
from app.extensions import db
from app.models import Alert, Staff, Tip
from app.reports.suppression import COMPLEMENT, PRIMARY, Grid, grid_from_rows
from app.retention import db_purge_expired_tips
from tests.alerts.conftest import CLOSED_PORT_URL, post_sms
from tests.fakes.fake_twilio import FAKE_ACCOUNT_SID, FAKE_SENDER
from tests.ops.conftest import District, build_district, denver, html_tables, sign_in_as
from tests.support.forms import csrf_token
from triage import CATEGORIES, urgency_rank

TOKEN = "quarterly-test-auth-token-0123456789"
MIN = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute)


class Known:
    """The tips above, made through the console and the SMS webhook where the system makes them."""

    def __init__(self, app: Flask, d: District, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app, self.d, self.monkeypatch = app, d, monkeypatch
        self.refs: dict[str, str] = {}
        self.sro = sign_in_as(app, d.staff["sro_cpd"])
        self.admin = sign_in_as(app, d.staff["admin"])

    def at(self, moment: datetime) -> None:
        """Acknowledgements made from now on happen at `moment` (naive UTC)."""
        self.monkeypatch.setattr("app.alerts.acknowledge.utcnow", lambda: moment)

    def tip(self, name: str, school: str, created: datetime, category: str, urgency: str,
            closed: datetime | None = None, outcome: str | None = None) -> int:
        with self.app.app_context():
            tip = Tip(ref=db_new_reference(), school_id=self.d.schools[school], receipt_hash=f"{ord(name):064x}",
                      category=category, urgency=urgency, urgency_rank=urgency_rank(urgency), confidence=0.8,
                      model_version="test", created_at=created, status="new")
            db_new_tip_key(tip)
            tip.text_ct = seal_for_tip(tip, "text", f"tip {name}".encode())
            db.session.add(tip)
            db.session.commit()
            self.refs[name] = tip.ref
            return tip.id

    def alert(self, tip_id: int, kind: str, sent: datetime | None, staff: str | None = "sro_cpd",
              status: str | None = None, error_code: str | None = None, position: int = 1) -> None:
        with self.app.app_context():
            db.session.add(Alert(
                tip_id=tip_id, staff_id=self.d.staff[staff] if staff else None, chain_position=position, kind=kind,
                status=status or ("sent" if sent else "pending"), due_at=sent or datetime(2026, 1, 1),
                created_at=sent or datetime(2026, 1, 1), sent_at=sent, error_code=error_code))
            db.session.commit()

    def close(self, name: str, closed: datetime, outcome: str) -> None:
        with self.app.app_context():
            tip = db.session.scalar(select(Tip).where(Tip.ref == self.refs[name]))
            assert tip is not None
            tip.status, tip.closed_at, tip.outcome = "closed", closed, outcome
            db.session.commit()

    def ack_in_console(self, who: str, name: str, moment: datetime) -> None:
        self.at(moment)
        client = self.sro if who == "sro" else self.admin
        path = f"/console/tips/{self.refs[name]}"
        response = client.post(f"{path}/acknowledge", data={"csrf_token": csrf_token(client, path)})
        assert response.status_code in (302, 303), response.status_code

    def ack_by_sms(self, body: str, moment: datetime) -> str:
        self.at(moment)
        return post_sms(self.app, TOKEN, "+13075550202", body)

    def relabel(self, name: str, category: str, urgency: str) -> None:
        path = f"/console/tips/{self.refs[name]}"
        response = self.sro.post(f"{path}/label", data={"csrf_token": csrf_token(self.sro, path),
                                                        "category": category, "urgency": urgency})
        assert response.status_code in (302, 303), response.status_code

    def build(self) -> None:
        """In the order things happened: "1" answers the newest open SMS of the SRO's phone."""
        a = self.tip("A", "KWHS", denver(2025, 12, 31, 23, 30), "weapon", "high")
        self.alert(a, "initial", denver(2025, 12, 31, 23, 30))
        b = self.tip("B", "KWHS", denver(2026, 1, 1, 0, 30), "bullying", "medium")
        self.alert(b, "initial", denver(2026, 1, 1, 0, 30))
        self.ack_in_console("sro", "B", denver(2026, 1, 1, 1, 30))
        e = self.tip("E", "MIDW", denver(2026, 2, 10, 10), "weapon", "medium")
        self.alert(e, "initial", denver(2026, 2, 10, 10), staff=None)
        self.ack_in_console("admin", "E", denver(2026, 2, 10, 10, 20))
        self.close("E", denver(2026, 2, 20, 10), "false_report")
        # 01:30 MST is 08:30 UTC; at 02:00 the clocks went to 03:00 MDT; 03:30 MDT is 09:30 UTC: one hour.
        c = self.tip("C", "NCHS", utc(2026, 3, 8, 8, 30), "bullying", "medium")
        assert denver(2026, 3, 8, 1, 30) == utc(2026, 3, 8, 8, 30)
        self.alert(c, "initial", utc(2026, 3, 8, 8, 30))
        self.ack_in_console("sro", "C", utc(2026, 3, 8, 9, 30))
        assert denver(2026, 3, 8, 3, 30) == utc(2026, 3, 8, 9, 30)
        self.alert(c, "reply", utc(2026, 3, 8, 10, 0))  # a reporter's message: no escalation
        self.close("B", denver(2026, 3, 31, 23, 30), "false_report")  # 1 April in UTC: still Q1
        d = self.tip("D", "KWHS", denver(2026, 3, 31, 23, 30), "weapon", "high")
        assert denver(2026, 3, 31, 23, 30) == utc(2026, 4, 1, 5, 30)
        self.alert(d, "initial", denver(2026, 3, 31, 23, 30))
        self.ack_by_sms(f"ACK {self.refs['D']}", denver(2026, 3, 31, 23, 40))
        f = self.tip("F", "KWHS", denver(2026, 4, 1, 0, 30), "weapon", "high")
        self.alert(f, "initial", denver(2026, 4, 1, 0, 30))
        # The next person had no phone: the dispatcher failed the row without sending anything, and went on.
        self.alert(f, "escalation", None, staff="counselor_kw", status="failed", error_code="no_phone", position=2)
        self.alert(f, "escalation", denver(2026, 4, 1, 0, 45), staff="admin", position=3)
        self.ack_in_console("sro", "F", denver(2026, 4, 1, 0, 55))
        self.close("D", denver(2026, 4, 2, 10), "counselling_provided")
        self.tip("M", "KWHS", denver(2026, 4, 15, 10), "bullying", "low")
        self.ack_in_console("sro", "M", denver(2026, 4, 16, 10))
        self.close("M", denver(2026, 4, 20, 10), "duplicate")
        self.tip("G", "NCHS", denver(2026, 4, 30, 23, 30), "drugs_alcohol", "low")
        self.relabel("G", "self_harm", "high")  # pages the chain: a first SMS, no escalation
        self.ack_in_console("sro", "G", denver(2026, 5, 1, 0, 10))
        k = self.tip("K", "MIDW", denver(2026, 5, 5, 10), "weapon", "critical")
        self.alert(k, "initial", denver(2026, 5, 5, 10), staff=None)
        self.alert(k, "escalation", denver(2026, 5, 5, 10, 5), staff="admin", position=2)
        self.alert(k, "repeat", denver(2026, 5, 5, 10, 10), staff="admin", position=2)
        h = self.tip("H", "KWHS", denver(2026, 5, 12, 9), "bullying", "high")
        self.alert(h, "initial", denver(2026, 5, 12, 9))
        i = self.tip("I", "KWHS", denver(2026, 5, 12, 9, 3), "bullying", "high")
        j = self.tip("J", "KWHS", denver(2026, 5, 12, 9, 4), "bullying", "high")
        # I's and J's first SMS were put off behind H's and went out together as "+1 related" at 09:05.
        self.alert(i, "folded", denver(2026, 5, 12, 9, 5))
        self.alert(j, "folded", denver(2026, 5, 12, 9, 5), status="folded")
        self.alert(h, "escalation", denver(2026, 5, 12, 9, 10), staff="admin", position=2)
        self.ack_in_console("sro", "H", denver(2026, 5, 12, 9, 12))
        # I's and J's escalations to the admin were put off behind H's, and went out together at 09:16.
        self.alert(i, "folded", denver(2026, 5, 12, 9, 16), staff="admin", position=2)
        self.alert(j, "folded", denver(2026, 5, 12, 9, 16), staff="admin", status="folded", position=2)
        reply = self.ack_by_sms("1", denver(2026, 5, 12, 9, 30))
        with self.app.app_context():
            acked = db.session.scalars(select(Tip.acknowledged_at).where(
                Tip.ref.in_([self.refs["I"], self.refs["J"]]))).all()
        assert acked == [denver(2026, 5, 12, 9, 30)] * 2, reply
        ll = self.tip("L", "KWHS", denver(2026, 5, 20, 14), "weapon", "critical")
        self.alert(ll, "initial", denver(2026, 5, 20, 14))
        self.alert(ll, "escalation", None, staff="admin", position=2)  # due; the worker had not sent it yet
        self.ack_in_console("sro", "L", denver(2026, 5, 20, 14, 6))
        with self.app.app_context():
            assert db.session.scalar(select(Alert.status).where(Alert.tip_id == ll, Alert.kind == "escalation")
                                     ) == "cancelled"
        self.tip("P", "MIDW", denver(2026, 6, 10, 12), "drugs_alcohol", "low")
        n = self.tip("N", "KWHS", denver(2026, 6, 30, 23, 30), "weapon", "critical")
        self.alert(n, "initial", denver(2026, 6, 30, 23, 30))
        self.relabel("N", "bullying", "medium")
        self.close("C", denver(2026, 6, 30, 23, 30), "referred_to_services")  # 1 July in UTC: still Q2
        self.tip("O", "KWHS", denver(2026, 7, 1, 0, 30), "bullying", "low")
        self.close("H", denver(2026, 7, 1, 0, 30), "no_action_needed")  # Q3


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _by_month(label: str, names: list[str], known: dict[str, list[int]], prior: dict[str, int],
              total: list[int], prior_total: int) -> list[list[str]]:
    header = [label, "Apr 2026", "May 2026", "Jun 2026", "2026Q2 total", "2026Q1 total"]
    rows = [header]
    for name in names:
        months = known.get(name, [0, 0, 0])
        rows.append([_pretty(name), *map(str, months), str(sum(months)), str(prior.get(name, 0))])
    rows.append(["All tips", *map(str, total), str(sum(total)), str(prior_total)])
    return rows


OUTCOME_ORDER = ["counselling_provided", "parent_contacted", "referred_to_law_enforcement", "referred_to_services",
                 "discipline", "unfounded", "false_report", "duplicate", "no_action_needed"]
RESPONSE_HEADER = ["Urgency", "Median minutes to acknowledge", "90th percentile minutes", "Tips escalated",
                   "Escalation SMS", "2026Q1 median", "2026Q1 90th percentile"]


def expected_district() -> dict[str, list[list[str]]]:
    """The whole district (the district admin): 10 tips made in Q2 (F G M in April, H I J K L in May, N P in June),
    4 in Q1 (B C D E); A is Q4 2025 and O Q3 though both are Q1/Q2 in UTC."""
    return {
        "categories": _by_month("Category", list(CATEGORIES),
                                {"bullying": [1, 3, 1], "weapon": [1, 2, 0], "self_harm": [1, 0, 0],
                                 "drugs_alcohol": [0, 0, 1]},
                                {"bullying": 2, "weapon": 2}, [3, 5, 2], 4),
        "urgencies": _by_month("Urgency", ["critical", "high", "medium", "low"],
                               {"critical": [0, 2, 0], "high": [2, 3, 0], "medium": [0, 0, 1], "low": [1, 0, 1]},
                               {"high": 1, "medium": 3}, [3, 5, 2], 4),
        # critical: L 6 min; escalated K (escalation + repeat) and L (its escalation never went out).
        # high: F 25, G 40, H 12, I 27, J 26: median 26, 90th (rank 5 of 5) 40; escalated F H I J, one SMS each
        # (F's escalation to no phone sent nothing; I's and J's went out folded). Q1 high: D 10; medium B 60,
        # C 60 (across the DST change), E 20. Low: M a day.
        "response": [RESPONSE_HEADER,
                     ["Critical", "6.0", "6.0", "2", "2", "—", "—"],
                     ["High", "26.0", "40.0", "4", "4", "10.0", "10.0"],
                     ["Medium", "—", "—", "0", "0", "60.0", "60.0"],
                     ["Low", "1440.0", "1440.0", "0", "0", "—", "—"]],
        # Closed in Q2: D counselling, M duplicate, C referred (23:30 on 30 June). Q1: E and B false reports.
        "outcomes": [["Outcome", "2026Q2 closed", "2026Q1 closed"],
                     *[[_pretty(o), {"counselling_provided": "1", "referred_to_services": "1",
                                     "duplicate": "1"}.get(o, "0"), "2" if o == "false_report" else "0"]
                       for o in OUTCOME_ORDER],
                     ["All closed cases", "3", "2"]],
        "false_reports": [["", "2026Q2 cases", "2026Q2 share of closed", "2026Q1 cases", "2026Q1 share of closed"],
                          ["False reports", "0", "0.0%", "2", "100.0%"],
                          ["Duplicates", "1", "33.3%", "0", "0.0%"]],
    }


def expected_sro() -> dict[str, list[list[str]]]:
    """The SRO of Kelly Walsh and Natrona County: Midwest School's E, K and P left out."""
    return {
        "categories": _by_month("Category", list(CATEGORIES),
                                {"bullying": [1, 3, 1], "weapon": [1, 1, 0], "self_harm": [1, 0, 0]},
                                {"bullying": 2, "weapon": 1}, [3, 4, 1], 3),
        "urgencies": _by_month("Urgency", ["critical", "high", "medium", "low"],
                               {"critical": [0, 1, 0], "high": [2, 3, 0], "medium": [0, 0, 1], "low": [1, 0, 0]},
                               {"high": 1, "medium": 2}, [3, 4, 1], 3),
        "response": [RESPONSE_HEADER,
                     ["Critical", "6.0", "6.0", "1", "0", "—", "—"],
                     ["High", "26.0", "40.0", "4", "4", "10.0", "10.0"],
                     ["Medium", "—", "—", "0", "0", "60.0", "60.0"],
                     ["Low", "1440.0", "1440.0", "0", "0", "—", "—"]],
        "outcomes": [["Outcome", "2026Q2 closed", "2026Q1 closed"],
                     *[[_pretty(o), {"counselling_provided": "1", "referred_to_services": "1",
                                     "duplicate": "1"}.get(o, "0"), "1" if o == "false_report" else "0"]
                       for o in OUTCOME_ORDER],
                     ["All closed cases", "3", "1"]],
        "false_reports": [["", "2026Q2 cases", "2026Q2 share of closed", "2026Q1 cases", "2026Q1 share of closed"],
                          ["False reports", "0", "0.0%", "1", "100.0%"],
                          ["Duplicates", "1", "33.3%", "0", "0.0%"]],
    }


def page_and_csvs(client: Any, query: str) -> tuple[dict[str, list[list[str]]], dict[str, list[list[str]]]]:
    page = client.get(f"/console/reports/?{query}")
    assert page.status_code == 200
    tables = html_tables(page.get_data(as_text=True))
    csvs = {}
    for key in tables:
        response = client.get(f"/console/reports/{key}.csv?{query}")
        assert response.status_code == 200
        csvs[key] = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    return tables, csvs


def differences(shown: dict[str, list[list[str]]], expected: dict[str, list[list[str]]]) -> list[str]:
    """Every row of every table that is not as expected, to see them all at once."""
    found = []
    for key, rows in expected.items():
        got = shown.get(key, [])
        for i in range(max(len(rows), len(got))):
            want, have = rows[i] if i < len(rows) else None, got[i] if i < len(got) else None
            if want != have:
                found.append(f"{key}: shown {have}, expected {want}")
    return found


@pytest.fixture
def known_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(REPORT_SUPPRESSION_THRESHOLD=1, TWILIO_ACCOUNT_SID=FAKE_ACCOUNT_SID, TWILIO_AUTH_TOKEN=TOKEN,
                    TWILIO_FROM_NUMBER=FAKE_SENDER, PUBLIC_BASE_URL=CLOSED_PORT_URL)


def test_every_figure_of_two_quarters_equals_the_hand_count(known_app: Flask,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    d = build_district(known_app)
    known = Known(known_app, d, monkeypatch)
    known.build()
    monkeypatch.undo()
    admin, sro = sign_in_as(known_app, d.staff["admin"]), sign_in_as(known_app, d.staff["sro_cpd"])

    tables, csvs = page_and_csvs(admin, "quarter=2026Q2&scope=district")
    expected = expected_district()
    assert differences(tables, expected) == []
    assert differences(csvs, expected) == []
    tables, csvs = page_and_csvs(sro, "quarter=2026q2")  # "All my schools"
    assert differences(tables, expected_sro()) == []
    assert differences(csvs, expected_sro()) == []
    # Kelly Walsh and Natrona County picked as the agency's schools: the same figures as "All my schools".
    agency, _ = page_and_csvs(admin, f"quarter=2026Q2&scope=agency:{d.agencies['CPD']}")
    assert agency == expected_sro()

    # Retention shreds B, D, E and M (closed before 1 May 2026, a year before): the figures stay.
    with known_app.app_context():
        result = db_purge_expired_tips(now=datetime(2027, 5, 1))
        db.session.commit()
        shredded = set(db.session.scalars(select(Tip.ref).where(Tip.wrapped_dek.is_(None))))
        assert result.count == 4
        assert shredded == {known.refs[name] for name in "BDEM"}
        assert db.session.get(Staff, d.staff["sro_cpd"]) is not None
    tables, csvs = page_and_csvs(admin, "quarter=2026Q2&scope=district")
    assert differences(tables, expected) == []
    assert differences(csvs, expected) == []


@pytest.fixture
def protected_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(TWILIO_ACCOUNT_SID=FAKE_ACCOUNT_SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_FROM_NUMBER=FAKE_SENDER,
                    PUBLIC_BASE_URL=CLOSED_PORT_URL)  # the default threshold, 5


def _grid_as_shown(truth: list[list[int]], shown: list[list[str]], *, row_totals: bool) -> Grid:
    """The hand-counted table with the marks the page put on it (what a reader sees, and what it hides)."""
    grid = grid_from_rows(truth, row_totals=row_totals, col_totals=True)
    for r, row in enumerate(shown):
        for c, cell in enumerate(row):
            if cell == "<5":
                grid.marks[(r, c)] = PRIMARY
            elif cell == "—":
                grid.marks[(r, c)] = COMPLEMENT
            else:
                assert cell == str(grid.value((r, c))), (r, c, cell)  # a shown count is the true one
    return grid


def test_no_small_count_of_the_known_quarters_can_be_worked_out(protected_app: Flask,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tips, threshold 5: every count shown is the hand count, and no "<5" of the district's report can be
    worked out from the totals, the cells shown and what a reader knows of the marks (a "<5" is 1 to 4, a "—" at
    least 5): neither for the quarter's months nor for the previous quarter's column."""
    from tests.ops.test_reports_suppression import _possible_values

    d = build_district(protected_app)
    Known(protected_app, d, monkeypatch).build()
    monkeypatch.undo()
    tables, csvs = page_and_csvs(sign_in_as(protected_app, d.staff["admin"]), "quarter=2026Q2&scope=district")
    assert csvs == tables
    cats = {"bullying": [1, 3, 1], "weapon": [1, 2, 0], "self_harm": [1, 0, 0], "drugs_alcohol": [0, 0, 1]}
    urgs = {"critical": [0, 2, 0], "high": [2, 3, 0], "medium": [0, 0, 1], "low": [1, 0, 1]}
    cat_truth = [cats.get(c, [0, 0, 0]) for c in CATEGORIES]
    urg_truth = [urgs[u] for u in ("critical", "high", "medium", "low")]
    cat = _grid_as_shown(cat_truth, [row[1:5] for row in tables["categories"][1:]], row_totals=True)
    urg = _grid_as_shown(urg_truth, [row[1:5] for row in tables["urgencies"][1:]], row_totals=True)
    assert cat.marks and urg.marks  # small counts everywhere: something is hidden
    links = [[(0, (cat.n_rows - 1, c)), (1, (urg.n_rows - 1, c))] for c in range(4)]
    possible = _possible_values([cat, urg], links, 5)
    assert possible and all(len(values) > 1 for values in possible.values()), possible
    prior_cat = _grid_as_shown([[2 if c in ("bullying", "weapon") else 0] for c in CATEGORIES],
                               [[row[5]] for row in tables["categories"][1:]], row_totals=False)
    prior_urg = _grid_as_shown([[0], [1], [3], [0]], [[row[5]] for row in tables["urgencies"][1:]],
                               row_totals=False)
    prior_links = [[(0, (prior_cat.n_rows - 1, 0)), (1, (prior_urg.n_rows - 1, 0))]]
    possible = _possible_values([prior_cat, prior_urg], prior_links, 5)
    assert possible and all(len(values) > 1 for values in possible.values()), possible
    # No count of the other tables is shown below the threshold either.
    for key in ("response", "outcomes", "false_reports"):
        for row in tables[key][1:]:
            for cell in row[1:]:
                assert not (cell.isdigit() and 0 < int(cell) < 5), (key, row)


def test_a_label_a_spreadsheet_would_run_is_neutralised_in_the_csv(make_app: Callable[..., Flask]) -> None:
    """Old labels (a taxonomy of the past, an import) come out as rows of their own: one starting with = + - @
    is written with a leading apostrophe, so Excel or LibreOffice shows it as text instead of running it."""
    app = make_app(REPORT_SUPPRESSION_THRESHOLD=1)
    d = build_district(app)
    labels = ['=HYPERLINK("http://x.example")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)"]
    with app.app_context():
        for i, label in enumerate(labels):
            created = denver(2026, 5, 1 + i)
            db.session.add(Tip(ref=db_new_reference(), school_id=d.schools["KWHS"], receipt_hash=f"{900 + i:064x}",
                               category="other", urgency="low", urgency_rank=urgency_rank("low"), confidence=0.5,
                               model_version="test", created_at=created, status="new", label_category=label))
        db.session.commit()
    client = sign_in_as(app, d.staff["admin"])
    rows = list(csv.reader(io.StringIO(client.get("/console/reports/categories.csv?quarter=2026Q2")
                                       .data.decode("utf-8-sig"))))
    firsts = [row[0] for row in rows]
    for label in labels:
        assert "'" + _pretty(label) in firsts, label
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert rows[-1] == ["All tips", "0", "4", "0", "4", "0"]

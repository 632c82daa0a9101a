"""Who may see which report, and the audit record of viewing and exporting."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from tests.ops.conftest import District, add_tip, denver, sign_in_as


def test_reports_require_sign_in(app: Flask, district: District) -> None:
    client = app.test_client()
    for path in ("/console/reports/", "/console/reports/categories.csv"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/console/sign-in" in response.headers["Location"]


def test_an_expired_session_is_sent_to_sign_in(app: Flask, district: District) -> None:
    client = sign_in_as(app, district.staff["admin"])
    with client.session_transaction() as session:
        session["last_seen"] = session["last_seen"] - 3 * 3600
    assert client.get("/console/reports/").status_code == 302


def test_counselor_cannot_see_another_schools_report(app: Flask, district: District) -> None:
    client = sign_in_as(app, district.staff["counselor_kw"])
    assert client.get(f"/console/reports/?scope=school:{district.schools['KWHS']}").status_code == 200
    assert client.get(f"/console/reports/?scope=school:{district.schools['NCHS']}").status_code == 404
    assert client.get(f"/console/reports/categories.csv?scope=school:{district.schools['NCHS']}").status_code == 404
    page = client.get("/console/reports/").get_data(as_text=True)
    assert "Natrona County High School" not in page and "All my schools" in page
    assert client.get("/console/reports/nonsense.csv").status_code == 404


def test_viewing_and_exporting_are_audit_events(app: Flask, district: District) -> None:
    with app.app_context():
        add_tip(district.schools["KWHS"], denver(2026, 5, 4))
    client = sign_in_as(app, district.staff["admin"])
    assert client.get("/console/reports/?quarter=2026Q2").status_code == 200
    response = client.get(f"/console/reports/outcomes.csv?quarter=2026Q2&scope=school:{district.schools['KWHS']}")
    assert response.status_code == 200
    assert 'filename="tipline-2026Q2-school-' in response.headers["Content-Disposition"]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        actions = [(e.action, e.actor_id, json.loads(e.detail)) for e in events]
    assert ("report.viewed", district.staff["admin"], {"quarter": "2026Q2", "scope": "district"}) in actions
    assert ("report.exported", district.staff["admin"],
            {"quarter": "2026Q2", "scope": f"school:{district.schools['KWHS']}", "table": "outcomes"}) in actions


def test_report_page_is_printable_and_has_no_script(app: Flask, district: District) -> None:
    client = sign_in_as(app, district.staff["admin"])
    page = client.get("/console/reports/").get_data(as_text=True)
    assert "<script" not in page and "<svg" in page
    with client.get("/console/reports/static/reports.css") as response:
        assert "@media print" in response.get_data(as_text=True)


def test_reports_on_a_database_locked_too_long_are_the_consoles_busy_page(make_app, caplog) -> None:
    """Another process holding SQLite's write lock past the busy timeout (or a database that does not answer)
    made the report page and its CSV exports werkzeug's bare 500; they are the console's 503 page now, with an
    OPERATOR line naming the error, and Retry-After."""
    from tests.ops.conftest import build_district
    from tests.support.write_lock import holding_the_write_lock

    app = make_app(SQLITE_BUSY_TIMEOUT_S=1)
    district = build_district(app)
    client = sign_in_as(app, district.staff["admin"])
    with holding_the_write_lock(app):
        for path in ("/console/reports/?quarter=2026Q2", "/console/reports/categories.csv"):
            caplog.clear()
            response = client.get(path)
            page = response.get_data(as_text=True)
            assert response.status_code == 503, (path, page[:300])
            assert "The database is busy or cannot be reached" in page and "try again in a minute" in page
            assert response.headers["Retry-After"] == "30"
            lines = [r for r in caplog.records if "database is locked or unreachable" in r.getMessage()]
            assert lines and getattr(lines[0], "fields", {}).get("error") == "SQLITE_BUSY", lines
    assert client.get("/console/reports/?quarter=2026Q2").status_code == 200


def test_a_csv_opens_in_a_spreadsheet_with_its_dashes_and_accents(app: Flask, district: District) -> None:
    """Excel takes a CSV without a byte-order mark for the Windows code page: the withheld mark "—" came out as
    "â€”" and a Spanish category or school name garbled. The file starts with the UTF-8 BOM, which every
    spreadsheet reads as "this is UTF-8" and Python's csv reads away with utf-8-sig."""
    with app.app_context():
        for day in range(1, 7):  # 6 bullying tips and 1 weapon: the weapon is "<5", its partner "—"
            add_tip(district.schools["KWHS"], denver(2026, 5, day), category="bullying")
        add_tip(district.schools["KWHS"], denver(2026, 5, 8), category="weapon")
    client = sign_in_as(app, district.staff["admin"])
    response = client.get("/console/reports/categories.csv?quarter=2026Q2")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.mimetype_params.get("charset") == "utf-8"
    assert response.data.startswith(b"\xef\xbb\xbf")
    text = response.data.decode("utf-8-sig")
    assert text.startswith("Category,") and "—" in text and "<5" in text


def test_a_bad_quarter_or_scope_gets_the_consoles_page_not_a_bare_one(app: Flask, district: District) -> None:
    """A quarter cut short in a link or a bookmark of another school's report was werkzeug's bare 400 or 404 page,
    unstyled, with no way back: the reports are part of the console and answer with its pages."""
    client = sign_in_as(app, district.staff["counselor_kw"])
    bad = client.get("/console/reports/?quarter=2026Q")
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'href="/console/"' in page and "quarter" in page.lower()
    other = client.get(f"/console/reports/?scope=school:{district.schools['NCHS']}")
    assert other.status_code == 404 and "Nothing here that you can see" in other.get_data(as_text=True)

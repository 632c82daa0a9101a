"""The report page and its CSV exports. Viewing and exporting are both audit events."""

from __future__ import annotations

import csv
import io

from flask import abort, current_app, render_template, request
from werkzeug.exceptions import BadRequest, Forbidden, NotFound
from werkzeug.wrappers import Response

from app import audit
from app.console import errors as console_errors
from app.console.access import me
from app.extensions import db
from app.models import utcnow
from app.reports import bp
from app.reports.quarters import BadQuarter, Quarter
from app.reports.report import Report, db_build_report
from app.reports.scope import resolve_scope, scope_options
from app.reports.tables import TABLE_KEYS
from app.transactions import commit_before_rendering

# The reports are pages of the console: a quarter cut short in a link, another school's report from a bookmark, get
# the console's own pages (its layout, the way back to the queue), not werkzeug's bare ones.
for _error, _handler in ((BadRequest, console_errors.bad_request), (Forbidden, console_errors.forbidden),
                         (NotFound, console_errors.not_found)):
    bp.register_error_handler(_error, _handler)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _quarter_from_request() -> Quarter:
    raw = request.args.get("quarter", "").strip()
    if not raw:
        return Quarter.containing(utcnow())
    try:
        return Quarter.parse(raw)
    except BadQuarter:
        abort(400, description="No such quarter: choose one from the report's Quarter list (as 2026Q2).")


def _threshold() -> int:
    return max(1, int(current_app.config["REPORT_SUPPRESSION_THRESHOLD"]))


def _report() -> Report:
    staff = me()
    scope = resolve_scope(staff, request.args.get("scope"))
    return db_build_report(_quarter_from_request(), scope, _threshold())


@bp.get("/")
def index() -> str:
    staff = me()
    report = _report()
    audit.record("report.viewed", actor=staff, quarter=str(report.quarter), scope=report.scope.token)
    current = Quarter.containing(utcnow())
    quarters = [current]
    for _ in range(7):
        quarters.append(quarters[-1].previous())
    if report.quarter not in quarters:
        quarters.insert(0, report.quarter)
    scopes = scope_options(staff)
    # Committed with everything the page reads, kept loaded (the header names who is signed in): read after a
    # plain commit, a database refusing in that instant answered 503 about a view that was on the record.
    commit_before_rendering()
    return render_template("reports/report.html", report=report, quarters=quarters, scopes=scopes,
                           table_keys=TABLE_KEYS)


def _csv_cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is neutralised (none of ours should start so; a label might).
    return "'" + value if value.startswith(_FORMULA_START) else value


@bp.get("/<table>.csv")
def export_csv(table: str) -> Response:
    if table not in TABLE_KEYS:
        abort(404)
    staff = me()
    report = _report()
    data = report.tables[table]
    # The UTF-8 byte-order mark first: without it Excel reads the file in the Windows code page, and the withheld
    # mark "—" (and any accented name) comes out as "â€”".
    out = io.StringIO("\ufeff")
    out.seek(0, io.SEEK_END)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_csv_cell(cell) for cell in data.header])
    writer.writerows([[_csv_cell(cell) for cell in row] for row in data.rows])
    audit.record("report.exported", actor=staff, table=table, quarter=str(report.quarter),
                 scope=report.scope.token)
    db.session.commit()
    scope_slug = report.scope.token.replace(":", "-")
    filename = f"tipline-{report.quarter}-{scope_slug}-{table}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

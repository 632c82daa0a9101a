"""One quarterly report: figures for the quarter and the one before, protected, as tables and charts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup

from app.reports.charts import Point, bar_chart
from app.reports.figures import db_quarter_figures, db_row_keys
from app.reports.quarters import Quarter, month_labels
from app.reports.scope import Scope
from app.reports.tables import Table, build_tables

_NUMBER = re.compile(r"\d+(\.\d+)?")


@dataclass
class Report:
    quarter: Quarter
    previous: Quarter
    scope: Scope
    threshold: int
    tables: dict[str, Table]
    charts: dict[str, Markup]


def _point(text: str) -> Point:
    """A chart point from a table cell: a number is drawn to scale, anything else ("<5", "—") is not."""
    return Point(float(text) if _NUMBER.fullmatch(text) else None, text)


def _month_chart(table: Table, quarter: Quarter, title: str) -> Markup:
    rows = table.rows[:-1]  # the total row would dwarf the rest
    # Leave out rows with nothing at all this quarter, so the chart shows what happened.
    rows = [row for row in rows if any(cell != "0" for cell in row[1:4])] or rows[:1]
    return bar_chart(title, [row[0] for row in rows], month_labels(quarter),
                     [[_point(cell) for cell in row[1:4]] for row in rows])


def _response_chart(table: Table) -> Markup:
    return bar_chart("Minutes to first acknowledgement, by urgency", [row[0] for row in table.rows],
                     ["Median", "90th percentile"], [[_point(row[1]), _point(row[2])] for row in table.rows],
                     unit=" min")


def db_build_report(quarter: Quarter, scope: Scope, threshold: int) -> Report:
    previous = quarter.previous()
    categories, outcomes = db_row_keys([previous, quarter], scope.school_ids)
    current = db_quarter_figures(quarter, scope.school_ids, threshold, categories, outcomes)
    prior = db_quarter_figures(previous, scope.school_ids, threshold, categories, outcomes)
    tables = build_tables(current, prior, threshold)
    charts = {
        "categories": _month_chart(tables["categories"], quarter, "Tips by category, per month"),
        "urgencies": _month_chart(tables["urgencies"], quarter, "Tips by urgency, per month"),
        "response": _response_chart(tables["response"]),
    }
    return Report(quarter, previous, scope, threshold, tables, charts)

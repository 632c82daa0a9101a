"""Small counts never show: not in the page, not in the charts, not in the CSV, and not by subtraction."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta

import pytest
from flask import Flask

from app.reports.suppression import COMPLEMENT, PRIMARY, grid_from_rows, protect
from tests.ops.conftest import District, add_tip, build_district, denver, html_tables, sign_in_as

THRESHOLD = 5
COUNT_COLUMNS = {  # which columns of each table hold counts of tips or SMS
    "categories": range(1, 6), "urgencies": range(1, 6), "outcomes": range(1, 3),
    "false_reports": (1, 3), "response": (3, 4),
}


def _is_small(cell: str) -> bool:
    return cell.isdigit() and 0 < int(cell) < THRESHOLD


@pytest.mark.parametrize("seed", range(40))
def test_no_line_of_a_protected_table_has_a_single_hidden_entry(seed: int) -> None:
    rng = random.Random(seed)
    rows = [[rng.choice([0, 0, 1, 2, 3, 4, 5, 7, 12, 30]) for _ in range(3)] for _ in range(rng.randint(1, 8))]
    other = [[rng.choice([0, 1, 3, 6, 9]) for _ in range(3)] for _ in range(4)]
    a = grid_from_rows(rows, row_totals=True, col_totals=True)
    b = grid_from_rows(other, row_totals=True, col_totals=True)
    links = [[(0, (a.n_rows - 1, c)), (1, (b.n_rows - 1, c))] for c in range(4)]
    protect([a, b], THRESHOLD, links)
    for grid in (a, b):
        for r in range(grid.n_rows):
            for c in range(grid.n_cols):
                if 0 < grid.values[r][c] < THRESHOLD:
                    assert grid.marks.get((r, c)) == PRIMARY
                assert not _is_small(grid.shown((r, c), THRESHOLD))
        for line in grid.lines():
            assert sum(1 for pos in line if grid.hidden(pos)) != 1, (rows, grid.marks)
    for group in links:  # the shared month totals are hidden in both tables or in neither
        assert len({a.hidden(group[0][1]), b.hidden(group[1][1])}) == 1


def test_a_lone_small_cell_takes_a_partner_and_zero_stays_zero() -> None:
    grid = grid_from_rows([[3, 0, 10], [6, 8, 9]], row_totals=True, col_totals=True)
    protect([grid], THRESHOLD)
    assert grid.shown((0, 0), THRESHOLD) == "<5"
    assert grid.shown((0, 1), THRESHOLD) == "0"
    assert grid.marks[(0, 2)] == COMPLEMENT  # the row total 13 minus 10 would give the 3 back
    assert grid.marks[(1, 0)] == COMPLEMENT  # and the column total 9 minus 6 likewise


def _seed_small_counts(app: Flask, d: District) -> None:
    with app.app_context():
        school = d.schools["MIDW"]
        plan = {("weapon", 4): 2, ("weapon", 5): 7, ("bullying", 4): 9, ("bullying", 5): 6, ("bullying", 6): 1,
                ("self_harm", 6): 3, ("drugs_alcohol", 4): 5}
        for (category, month), n in plan.items():
            for i in range(n):
                created = denver(2026, month, 3 + i, 10)
                closed = created + timedelta(days=2) if i % 2 == 0 else None
                add_tip(school, created, category=category, urgency="critical" if i == 0 else "medium",
                        acknowledged_at=created + timedelta(minutes=4), closed_at=closed,
                        outcome=("false_report" if i == 0 else "counselling_provided") if closed else None,
                        escalations=1 if category == "self_harm" else 0)


def test_page_charts_and_csv_never_show_a_count_below_the_threshold(app: Flask) -> None:
    d = build_district(app)
    _seed_small_counts(app, d)
    client = sign_in_as(app, d.staff["admin"])
    page = client.get("/console/reports/?quarter=2026Q2").get_data(as_text=True)
    tables = html_tables(page)
    assert "&lt;5" in page and "—" in page
    for key, columns in COUNT_COLUMNS.items():
        for row in tables[key][1:]:
            for c in columns:
                assert not _is_small(row[c]), (key, row)
        # In tables with totals, no row or column has exactly one withheld entry (no recovery by subtraction).
        if key in ("categories", "urgencies"):
            body = [row[1:5] for row in tables[key][1:]]
            for line in body + [list(col) for col in zip(*body, strict=True)]:
                assert sum(1 for cell in line if not cell.isdigit()) != 1, (key, line)
        csv_rows = list(csv.reader(io.StringIO(client.get(f"/console/reports/{key}.csv?quarter=2026Q2")
                                              .get_data(as_text=True))))
        assert csv_rows == tables[key]
    # The charts: every number written in the category and urgency charts is 0 or at least the threshold.
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)[:2]
    numbers = []
    for svg in charts:
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        numbers += [label for label in labels if label.isdigit()]
        assert "&lt;5" in svg
    assert numbers and all(not _is_small(n) for n in numbers), numbers


def test_the_threshold_is_configurable(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(REPORT_SUPPRESSION_THRESHOLD=10)
    d = build_district(app)
    _seed_small_counts(app, d)
    page = sign_in_as(app, d.staff["admin"]).get("/console/reports/?quarter=2026Q2").get_data(as_text=True)
    assert "&lt;10" in page
    for row in html_tables(page)["categories"][1:]:
        assert all(not (c.isdigit() and 0 < int(c) < 10) for c in row[1:])

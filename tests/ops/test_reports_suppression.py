"""Small counts never show: not in the page, not in the charts, not in the CSV, and not by subtraction."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta

import pytest
from flask import Flask

from app.reports.figures import ResponseStats
from app.reports.suppression import COMPLEMENT, PRIMARY, grid_from_rows, protect
from app.reports.tables import _escalation_cells
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


def test_a_hidden_total_takes_a_non_zero_partner_not_empty_rows() -> None:
    """A school's quarter of 7 tips, 6 bullying and 1 weapon, all in May. The weapon total (1) needs a partner in
    the column of quarter totals, where every entry is a total: none counted as "beside it", so the smallest entry
    was taken, a category with no tip. That hid nothing (a reader takes such a "—" as the 0 it must be), so the
    check hid zero after zero until suicide, self-harm and every other category read "—" in April and May: a
    safety report that seemed to withhold suicide tips at a school that had none. The partner is the bullying
    total, and every zero stays 0."""
    cat = grid_from_rows([[0, 0, 0]] * 3 + [[0, 1, 0], [0, 6, 0]] + [[0, 0, 0]] * 6, row_totals=True,
                         col_totals=True)
    urg = grid_from_rows([[0, 0, 0], [0, 0, 0], [0, 7, 0], [0, 0, 0]], row_totals=True, col_totals=True)
    links = [[(0, (cat.n_rows - 1, c)), (1, (urg.n_rows - 1, c))] for c in range(4)]
    protect([cat, urg], THRESHOLD, links)
    for grid in (cat, urg):
        assert all(grid.value(pos) > 0 for pos in grid.marks), grid.marks
    assert cat.marks == {(3, 1): PRIMARY, (3, 3): PRIMARY, (4, 1): COMPLEMENT, (4, 3): COMPLEMENT}
    assert urg.marks == {}
    possible = _possible_values([cat, urg], links, THRESHOLD)
    assert possible and all(len(values) > 1 for values in possible.values()), possible


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
                                              .data.decode("utf-8-sig"))))
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


def _possible_values(grids, links, threshold: int) -> dict[tuple[int, tuple[int, int]], set[int]]:
    """By search, with no solver: values each "<threshold" entry can take in a filling of the hidden entries
    that agrees with what is shown ("<5" is 1 to 4, totals add up) and with the rule the README publishes: a
    "—" is a withheld non-zero cell, so 5 and more. The reader is granted which "—" are the rare 0 (hidden when
    nothing non-zero was left). It stops once every such entry has two possible values; an entry left with one
    can be worked out by any reader."""
    number: dict = {}
    for group in links:
        hidden = [key for key in group if grids[key[0]].hidden(key[1])]
        for key in hidden:
            number[key] = hidden[0]
    for g, grid in enumerate(grids):
        for pos in grid.marks:
            number.setdefault((g, pos), (g, pos))
    variables = sorted(set(number.values()))
    small = [v for v in variables if grids[v[0]].marks[v[1]] == PRIMARY]
    big = sum(v for grid in grids for row in grid.values for v in row)
    domain = {v: list(range(1, threshold)) if v in small
              else [0] if grids[v[0]].value(v[1]) == 0 else list(range(threshold, big + 1)) for v in variables}
    equations = []  # (sign and variable of each hidden term, the shown part of the sum): the sum is 0
    for g, grid in enumerate(grids):
        for line in grid.lines():
            terms, known = [], 0
            for pos in line:
                sign = -1 if pos == line[-1] else 1
                if (g, pos) in number:
                    terms.append((sign, number[(g, pos)]))
                else:
                    known += sign * grid.values[pos[0]][pos[1]]
            equations.append((terms, known))

    def narrowed(dom: dict) -> dict | None:
        """Each variable's values cut to what every equation allows, to a fixed point (None: no filling)."""
        dom = dict(dom)
        changed = True
        while changed:
            changed = False
            for terms, known in equations:
                lows = [min(sign * dom[v][0], sign * dom[v][-1]) for sign, v in terms]
                highs = [max(sign * dom[v][0], sign * dom[v][-1]) for sign, v in terms]
                low, high = known + sum(lows), known + sum(highs)
                if low > 0 or high < 0:
                    return None
                for i, (sign, v) in enumerate(terms):
                    rest_low, rest_high = low - lows[i], high - highs[i]
                    bottom, top = (-rest_high, -rest_low) if sign == 1 else (rest_low, rest_high)
                    kept = [x for x in dom[v] if bottom <= x <= top]
                    if not kept:
                        return None
                    if len(kept) < len(dom[v]):
                        dom[v], changed = kept, True
        return dom

    seen: dict = {v: set() for v in small}

    def fillable(dom: dict | None) -> bool:
        """Whether some filling agrees with `dom` (the first one found will do)."""
        if dom is None:
            return False
        open_ = [v for v in variables if len(dom[v]) > 1]
        if not open_:
            return True
        pick = min(open_, key=lambda v: len(dom[v]))
        return any(fillable(narrowed({**dom, pick: [value]})) for value in dom[pick])

    def search(dom: dict | None) -> None:
        """Every choice of the "<threshold" entries, each kept when some filling of the "—" entries fits it."""
        if dom is None or all(len(seen[v]) > 1 for v in small):
            return
        open_ = [v for v in small if len(dom[v]) > 1]
        if not open_:
            if any(dom[v][0] not in seen[v] for v in small) and fillable(dom):
                for v in small:
                    seen[v].add(dom[v][0])
            return
        pick = min(open_, key=lambda v: len(dom[v]))
        for value in dom[pick]:
            search(narrowed({**dom, pick: [value]}))

    search(narrowed(domain))
    return seen


def test_no_small_count_can_be_worked_out_from_what_a_report_shows() -> None:
    """The review's table: seven tips, bullying 1, 1 and 3 over the months, one weapon and one drug tip in June.
    Counting hidden cells per line let "two hidden month totals summing to 2 are each 1" give every cell back."""
    cat = grid_from_rows([[1, 1, 3], [0, 0, 1], [0, 0, 1]], row_totals=True, col_totals=True)
    urg = grid_from_rows([[0, 0, 0], [0, 0, 0], [1, 1, 5], [0, 0, 0]], row_totals=True, col_totals=True)
    links = [[(0, (cat.n_rows - 1, c)), (1, (urg.n_rows - 1, c))] for c in range(4)]
    protect([cat, urg], THRESHOLD, links)
    possible = _possible_values([cat, urg], links, THRESHOLD)
    assert possible and all(len(values) > 1 for values in possible.values()), possible


def test_no_small_count_can_be_worked_out_by_a_reader_who_knows_a_dash_is_not_zero() -> None:
    """A quarter of 5 categories and 4 urgencies. The check took a "—" to be 0 or 5 and more, and found the last
    category's June "<5" free to be more than one value; but complementary suppression withholds non-zero cells
    (README), and with every "—" 5 or more, that cell could only be 1."""
    cat = grid_from_rows([[8, 6, 0], [3, 8, 5], [12, 8, 0], [8, 0, 5], [2, 6, 1]], row_totals=True, col_totals=True)
    urg = grid_from_rows([[4, 2, 1], [5, 3, 1], [11, 13, 8], [13, 10, 1]], row_totals=True, col_totals=True)
    links = [[(0, (cat.n_rows - 1, c)), (1, (urg.n_rows - 1, c))] for c in range(4)]
    protect([cat, urg], THRESHOLD, links)
    possible = _possible_values([cat, urg], links, THRESHOLD)
    assert possible and all(len(values) > 1 for values in possible.values()), possible


@pytest.mark.parametrize("seed", range(30))
def test_no_small_count_of_random_small_tables_can_be_worked_out(seed: int) -> None:
    rng = random.Random(seed)
    rows = [[rng.choice([0, 0, 1, 2, 3, 5]) for _ in range(3)] for _ in range(rng.randint(1, 3))]
    cat = grid_from_rows(rows, row_totals=True, col_totals=True)
    split = [[rng.randint(0, cat.values[-1][c]) for c in range(3)]]
    split.append([cat.values[-1][c] - split[0][c] for c in range(3)])  # the same months, by two urgencies
    urg = grid_from_rows(split, row_totals=True, col_totals=True)
    links = [[(0, (cat.n_rows - 1, c)), (1, (urg.n_rows - 1, c))] for c in range(4)]
    protect([cat, urg], THRESHOLD, links)
    for key, values in _possible_values([cat, urg], links, THRESHOLD).items():
        assert len(values) > 1, (rows, split, key, values)



def _readings(threshold: int, tips: int) -> dict[tuple[str, str], set[tuple[int, int]]]:
    """For a reader who knows the rules: every (tips escalated, tips not escalated) that shows as each pair of
    cells (tips escalated, escalation SMS). The urgency's tip count is known when the urgency table shows it (0,
    or the threshold and more), else only as 1 to threshold-1; each escalated tip had one SMS or more."""
    readings: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for total in ([tips] if tips == 0 or tips >= threshold else range(1, threshold)):
        for escalated in range(total + 1):
            for sms in ([0] if escalated == 0 else range(escalated, 6 * threshold)):  # tips < 4 * threshold
                stats = ResponseStats(acknowledged=0, median_s=None, p90_s=None, tips=total,
                                      tips_escalated=escalated, escalation_sms=sms)
                cells = _escalation_cells(stats, threshold)
                readings.setdefault(cells, set()).add((escalated, total - escalated))
    return readings


@pytest.mark.parametrize("threshold", [3, 5, 10])
def test_no_small_count_of_tips_escalated_or_not_can_be_worked_out(threshold: int) -> None:
    for tips in range(3 * threshold + 2):
        for cells, meanings in _readings(threshold, tips).items():
            escalated, rest = {e for e, _ in meanings}, {r for _, r in meanings}
            if any(0 < e < threshold for e in escalated):
                assert len(escalated) > 1, (tips, cells, meanings)
            if any(0 < r < threshold for r in rest):
                assert len(rest) > 1, (tips, cells, meanings)


def test_escalation_sms_do_not_give_back_the_tips_not_escalated(app: Flask) -> None:
    """Six high tips, five of them escalated once: "tips escalated" is withheld (one was not escalated). Shown,
    the five escalation SMS beside it would tell it back (at most five escalated, and at least five: one not)."""
    d = build_district(app)
    with app.app_context():
        for i in range(6):
            created = denver(2026, 4, 6 + i, 10)
            add_tip(d.schools["MIDW"], created, urgency="high", acknowledged_at=created + timedelta(minutes=9),
                    escalations=1 if i else 0)
    page = sign_in_as(app, d.staff["admin"]).get("/console/reports/?quarter=2026Q2").get_data(as_text=True)
    tables = html_tables(page)
    (tips,) = [row[4] for row in tables["urgencies"][1:] if row[0] == "High"]
    (high,) = [row for row in tables["response"][1:] if row[0] == "High"]
    assert tips == "6" and high[3:5] == ["—", "—"], high
    assert len({r for _, r in _readings(THRESHOLD, 6)[("—", "—")]}) > 1


def test_tips_escalated_do_not_give_back_an_urgency_total_the_urgency_table_hides(app: Flask) -> None:
    """April: 7 critical tips, all escalated, 20 medium and 3 low. The urgency table hides the 3 low and, as its
    partner in the quarter's column, the 7 critical ("—"): 30 - 20 - critical is then 1 to 4 whatever the 7 is.
    "Tips escalated: 7" beside critical gave the 7 back, and with it the 3. (Any count shown there bounds the
    hidden total: escalated or not, each is a tip of that urgency.) Withheld whenever that total is hidden."""
    d = build_district(app)
    with app.app_context():
        for urgency, n in (("critical", 7), ("medium", 20), ("low", 3)):
            for i in range(n):
                created = denver(2026, 4, 1 + i, 10)
                add_tip(d.schools["MIDW"], created, urgency=urgency, acknowledged_at=created + timedelta(minutes=3),
                        escalations=1 if urgency == "critical" else 0)
    page = sign_in_as(app, d.staff["admin"]).get("/console/reports/?quarter=2026Q2").get_data(as_text=True)
    tables = html_tables(page)
    totals = {row[0]: row[4] for row in tables["urgencies"][1:]}
    assert totals["Critical"] == "—" and totals["Low"] == "<5" and totals["All tips"] == "30", totals
    (critical,) = [row for row in tables["response"][1:] if row[0] == "Critical"]
    assert critical[3:5] == ["—", "—"], critical

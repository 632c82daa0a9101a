"""The report's tables as the strings a reader sees: the page, the CSV files and the charts all take their
numbers from here, so they cannot disagree and none can show a suppressed count."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.reports.figures import QuarterFigures, ResponseStats
from app.reports.quarters import month_labels
from app.reports.suppression import COMPLEMENT, COMPLEMENT_MARK, suppress_count

TABLE_KEYS = ("categories", "urgencies", "response", "outcomes", "false_reports")


@dataclass
class Table:
    key: str  # the CSV's name: /console/reports/<key>.csv
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    total_row: bool = False  # the last row holds the totals (printed bold)


def _pretty(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _by_month_table(key: str, title: str, label: str, names: list[str], cur: QuarterFigures,
                    prior: QuarterFigures, grid_name: str, threshold: int) -> Table:
    grid = getattr(cur, grid_name)
    prior_grid = getattr(prior, grid_name)
    prior_rows = {name: i for i, name in enumerate(getattr(prior, key))}
    header = [label, *month_labels(cur.quarter), f"{cur.quarter} total", f"{prior.quarter} total"]
    rows = []
    last = grid.n_cols - 1
    for r, name in enumerate(names):
        p = prior_rows.get(name)
        before = prior_grid.shown((p, prior_grid.n_cols - 1), threshold) if p is not None else "0"
        rows.append([_pretty(name), *[grid.shown((r, c), threshold) for c in range(last + 1)], before])
    total_r = grid.n_rows - 1
    rows.append(["All tips", *[grid.shown((total_r, c), threshold) for c in range(last + 1)],
                 prior_grid.shown((prior_grid.n_rows - 1, prior_grid.n_cols - 1), threshold)])
    return Table(key, title, header, rows, total_row=True)


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def _response_cells(stats: ResponseStats | None, threshold: int) -> list[str]:
    """Median and 90th percentile (minutes), shown only when at least `threshold` tips were acknowledged."""
    if stats is None or stats.acknowledged == 0:
        return ["—", "—"]
    if stats.acknowledged < threshold:
        return [f"<{threshold} ack.", f"<{threshold} ack."]
    return [_minutes(stats.median_s), _minutes(stats.p90_s)]


def _escalation_cells(stats: ResponseStats | None, threshold: int, *, total_withheld: bool = False
                      ) -> tuple[str, str]:
    """Tips escalated and escalation SMS. Tips escalated is hidden when it or its complement (tips not escalated)
    is a small count. Hidden for its complement, it lies in tips-threshold+1 .. tips-1 (and is at least the
    threshold): when that leaves one value, every tip escalated reads "—" too, or "—" would give it back. The
    SMS go with it: nearly every escalated tip had at least one, so their count bounds the count withheld.
    `total_withheld`: the urgency table shows this urgency's tips of the quarter as "—" (a partner of a small
    count). Both read "—" then, whatever they are: every escalated tip is one of those, so a count shown here
    would give that total back (all of them escalated) or bound it, and a small count with it."""
    if stats is None:
        return "0", "0"
    if total_withheld:
        return COMPLEMENT_MARK, COMPLEMENT_MARK
    part, rest = stats.tips_escalated, stats.tips - stats.tips_escalated
    sms = suppress_count(stats.escalation_sms, threshold)
    if 0 < part < threshold:
        return f"<{threshold}", sms
    lone = len(range(max(threshold, stats.tips - threshold + 1), stats.tips)) == 1
    if 0 < rest < threshold or (rest == 0 and part > 0 and lone):
        return COMPLEMENT_MARK, COMPLEMENT_MARK
    return str(part), sms


def _response_table(cur: QuarterFigures, prior: QuarterFigures, threshold: int) -> Table:
    header = ["Urgency", "Median minutes to acknowledge", "90th percentile minutes", "Tips escalated",
              "Escalation SMS", f"{prior.quarter} median", f"{prior.quarter} 90th percentile"]
    rows = []
    quarter_total = cur.by_urgency.n_cols - 1  # the urgency table's rows are cur.urgencies, in this order
    for r, urg in enumerate(cur.urgencies):
        stats, before = cur.response.get(urg), prior.response.get(urg)
        withheld = cur.by_urgency.marks.get((r, quarter_total)) == COMPLEMENT
        rows.append([_pretty(urg), *_response_cells(stats, threshold),
                     *_escalation_cells(stats, threshold, total_withheld=withheld),
                     *_response_cells(before, threshold)])
    notes = [f"Time from the tip to its first acknowledgement, for tips made in the quarter; shown when at least "
             f"{threshold} tips of that urgency were acknowledged. The 90th percentile is by nearest rank.",
             "Tips escalated: tips that needed an escalation or repeat SMS because nobody acknowledged in time. "
             "Escalation SMS: those that went out (not one cancelled by an acknowledgement first)."]
    return Table("response", "Time to first acknowledgement and escalation", header, rows, notes)


def _outcome_table(cur: QuarterFigures, prior: QuarterFigures, threshold: int) -> Table:
    grid, prior_grid = cur.by_outcome, prior.by_outcome
    prior_rows = {name: i for i, name in enumerate(prior.outcomes)}
    rows = []
    for r, name in enumerate(cur.outcomes):
        p = prior_rows.get(name)
        rows.append([_pretty(name), grid.shown((r, 0), threshold),
                     prior_grid.shown((p, 0), threshold) if p is not None else "0"])
    rows.append(["All closed cases", grid.shown((grid.n_rows - 1, 0), threshold),
                 prior_grid.shown((prior_grid.n_rows - 1, 0), threshold)])
    return Table("outcomes", "Outcomes of cases closed in the quarter",
                 ["Outcome", f"{cur.quarter} closed", f"{prior.quarter} closed"], rows, total_row=True)


def _share(figures: QuarterFigures, outcome: str, threshold: int) -> tuple[str, str]:
    grid = figures.by_outcome
    if outcome not in figures.outcomes:
        return "0", "0.0%"
    pos, total = (figures.outcomes.index(outcome), 0), (grid.n_rows - 1, 0)
    count = grid.shown(pos, threshold)
    if grid.hidden(pos) or grid.hidden(total):
        return count, COMPLEMENT_MARK  # a share of a hidden count would give the count back
    closed = grid.value(total)
    return count, ("0.0%" if closed == 0 else f"{100 * grid.value(pos) / closed:.1f}%")


def _false_report_table(cur: QuarterFigures, prior: QuarterFigures, threshold: int) -> Table:
    rows = []
    for outcome, label in (("false_report", "False reports"), ("duplicate", "Duplicates")):
        rows.append([label, *_share(cur, outcome, threshold), *_share(prior, outcome, threshold)])
    header = ["", f"{cur.quarter} cases", f"{cur.quarter} share of closed", f"{prior.quarter} cases",
              f"{prior.quarter} share of closed"]
    return Table("false_reports", "False reports and duplicates", header, rows)


def build_tables(cur: QuarterFigures, prior: QuarterFigures, threshold: int) -> dict[str, Table]:
    tables = [
        _by_month_table("categories", "Tips by category and month", "Category", cur.categories, cur, prior,
                        "by_category", threshold),
        _by_month_table("urgencies", "Tips by urgency and month", "Urgency", cur.urgencies, cur, prior,
                        "by_urgency", threshold),
        _response_table(cur, prior, threshold),
        _outcome_table(cur, prior, threshold),
        _false_report_table(cur, prior, threshold),
    ]
    return {table.key: table for table in tables}

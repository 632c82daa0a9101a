"""The quarter's figures, from metadata only: nothing here opens a ciphertext, so the figures are the same
before and after tips are crypto-shredded (category, urgency, times, outcome and alerts all stay).

Which tips count where:
- tips by category / urgency per month: tips *made* in the quarter (Tip.created_at, district time), by the
  effective category and urgency (staff's correction when there is one, else the model's);
- time to first acknowledgement: tips made in the quarter that were acknowledged (acknowledged_at - created_at);
  median, and the 90th percentile by the nearest-rank method;
- escalation: tips made in the quarter that needed an escalation or repeat SMS (Alert.kind, a folded row after
  the tip's first included), and how many such SMS went out (a row cancelled or failed before Twilio took it is
  none); an SMS telling of a reporter's new message (kind "reply") is neither;
- outcomes: cases *closed* in the quarter (Tip.closed_at), by Tip.outcome.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, select, true
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import REPLY_KIND, Alert, Outcome, Tip
from app.reports.quarters import Quarter
from app.reports.suppression import Grid, grid_from_rows, protect
from triage import CATEGORIES, URGENCIES

ESCALATION_KINDS = ("escalation", "repeat")
URGENCY_ROWS: tuple[str, ...] = tuple(reversed(URGENCIES))  # critical first
OUTCOME_ROWS: tuple[str, ...] = tuple(o.value for o in Outcome)


@dataclass(frozen=True)
class ResponseStats:
    acknowledged: int
    median_s: float | None
    p90_s: float | None
    tips: int
    tips_escalated: int
    escalation_sms: int


@dataclass
class QuarterFigures:
    quarter: Quarter
    categories: list[str]
    urgencies: list[str]
    outcomes: list[str]
    by_category: Grid  # rows: categories + total; columns: 3 months + quarter total
    by_urgency: Grid  # rows: urgencies + total; columns: 3 months + quarter total
    by_outcome: Grid  # rows: outcomes + total; one column
    response: dict[str, ResponseStats] = field(default_factory=dict)


def nearest_rank(sorted_values: list[float], fraction: float) -> float:
    """The value at rank ceil(fraction * n) (1-based): always one of the measured values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _in_scope(school_ids: list[int] | None) -> ColumnElement[bool]:
    """The report's schools (None: every school of the district)."""
    return true() if school_ids is None else Tip.school_id.in_(school_ids)


def db_row_keys(quarters: list[Quarter], school_ids: list[int] | None) -> tuple[list[str], list[str]]:
    """Category and outcome rows: the taxonomy's, plus any other value seen in these quarters (old labels)."""
    start, end = min(q.start for q in quarters), max(q.end for q in quarters)
    category = func.coalesce(Tip.label_category, Tip.category)
    scope = _in_scope(school_ids)
    seen = set(db.session.scalars(
        select(category).distinct().where(Tip.created_at >= start, Tip.created_at < end, scope)))
    outcomes = set(db.session.scalars(
        select(Tip.outcome).distinct().where(Tip.closed_at >= start, Tip.closed_at < end,
                                             Tip.outcome.isnot(None), scope)))
    return (list(CATEGORIES) + sorted(seen - set(CATEGORIES)),
            list(OUTCOME_ROWS) + sorted(o for o in outcomes - set(OUTCOME_ROWS) if o))


def db_quarter_figures(quarter: Quarter, school_ids: list[int] | None, threshold: int,
                       categories: list[str], outcomes: list[str]) -> QuarterFigures:
    """Count, then protect: the grids come back with their suppression marks set."""
    start, end = quarter.start, quarter.end
    category = func.coalesce(Tip.label_category, Tip.category)
    urgency = func.coalesce(Tip.label_urgency, Tip.urgency)
    scope = _in_scope(school_ids)
    tips = db.session.execute(
        select(Tip.id, Tip.created_at, category, urgency, Tip.acknowledged_at)
        .where(Tip.created_at >= start, Tip.created_at < end, scope)).all()

    escalations = _escalations(start, end, school_ids)
    cat_counts: Counter[tuple[str, int]] = Counter()
    urg_counts: Counter[tuple[str, int]] = Counter()
    ack_times: dict[str, list[float]] = defaultdict(list)
    per_urgency: Counter[str] = Counter()
    escalated_tips: Counter[str] = Counter()
    escalation_sms: Counter[str] = Counter()
    for tip_id, created_at, cat, urg, acknowledged_at in tips:
        month = quarter.month_index(created_at)
        if month is None:  # cannot happen for rows inside [start, end); guard against a clock mix-up
            continue
        cat_counts[(cat, month)] += 1
        urg_counts[(urg, month)] += 1
        per_urgency[urg] += 1
        if acknowledged_at is not None:
            ack_times[urg].append(max(0.0, (acknowledged_at - created_at).total_seconds()))
        needed, sent = escalations.get(tip_id, (0, 0))
        if needed:
            escalated_tips[urg] += 1
        escalation_sms[urg] += sent

    urgencies = list(URGENCY_ROWS) + sorted({u for u, _ in urg_counts} - set(URGENCY_ROWS))
    by_category = grid_from_rows([[cat_counts[(c, m)] for m in range(3)] for c in categories],
                                 row_totals=True, col_totals=True)
    by_urgency = grid_from_rows([[urg_counts[(u, m)] for m in range(3)] for u in urgencies],
                                row_totals=True, col_totals=True)
    closed: Counter[str] = Counter()
    for outcome, count in db.session.execute(
        select(Tip.outcome, func.count()).where(Tip.closed_at >= start, Tip.closed_at < end,
                                                Tip.outcome.isnot(None), scope).group_by(Tip.outcome)
    ).all():
        closed[str(outcome)] = int(count)
    by_outcome = grid_from_rows([[closed[o]] for o in outcomes], row_totals=False, col_totals=True)
    # The month totals and the grand total are the same numbers in both tables: protect them together.
    shared = [[(0, (by_category.n_rows - 1, c)), (1, (by_urgency.n_rows - 1, c))] for c in range(4)]
    protect([by_category, by_urgency], threshold, shared)
    protect([by_outcome], threshold)

    response = {}
    for urg in urgencies:
        times = sorted(ack_times.get(urg, []))
        response[urg] = ResponseStats(
            acknowledged=len(times),
            median_s=statistics.median(times) if times else None,
            p90_s=nearest_rank(times, 0.9) if times else None,
            tips=per_urgency[urg], tips_escalated=escalated_tips[urg], escalation_sms=escalation_sms[urg],
        )
    return QuarterFigures(quarter, categories, urgencies, outcomes, by_category, by_urgency, by_outcome, response)


def _escalations(start: datetime, end: datetime, school_ids: list[int] | None) -> dict[int, tuple[int, int]]:
    """Tip id -> (escalation/repeat rows, those of them that went out as an SMS), for tips made in [start, end).

    A row the dispatcher folded into another SMS of its incident has kind "folded" whatever it was: it is an
    escalation when the tip has an earlier row (as app/alerts/planning.py reads it too), else the first SMS.
    A row is written when the chain moves on (the tip needed it), but may never go out: cancelled by an
    acknowledgement before the worker sent it, or failed unsent (its person has no phone, opted out, was taken
    off the school). Only a row Twilio took (sent_at, kept when the carrier later failed it) is an SMS.
    """
    earlier = aliased(Alert)
    has_earlier = exists().where(earlier.tip_id == Alert.tip_id, earlier.id < Alert.id, earlier.kind != REPLY_KIND)
    is_escalation = case((Alert.kind.in_(ESCALATION_KINDS), 1), (and_(Alert.kind == "folded", has_earlier), 1),
                         else_=0)
    was_sent = case((Alert.sent_at.isnot(None), is_escalation), else_=0)
    query = (select(Alert.tip_id, func.sum(is_escalation), func.sum(was_sent)).join(Tip, Tip.id == Alert.tip_id)
             .where(Tip.created_at >= start, Tip.created_at < end, _in_scope(school_ids)).group_by(Alert.tip_id))
    rows = db.session.execute(query).all()
    return {tip_id: (int(needed or 0), int(sent or 0)) for tip_id, needed, sent in rows}

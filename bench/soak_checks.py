"""The soak's end-of-day checks, each a (name, passed, detail) line; any failure makes the soak exit non-zero."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

# Words an alert legitimately shares with tips: its template and the category labels. Anything else of five
# letters or more that appears in both a tip and an SMS is tip text leaking into an SMS.
TEMPLATE_WORDS = {
    "tipline", "critical", "medium", "repeat", "escalated", "reply", "related", "queue", "console", "tips",
    "suicide", "self-harm", "threat", "weapon", "bullying", "drugs", "abuse", "sexual", "mental", "health",
    "fighting", "other", "alert", "https", "example", "message", "reporter", "needed",
}
WORD = re.compile(r"[a-z]{5,}")


@dataclass
class Day:
    """What the reporters and staff did, as the soak recorded it."""

    submitted: list[dict[str, Any]] = field(default_factory=list)  # ref, code, text, incident, statuses
    replies: list[dict[str, Any]] = field(default_factory=list)  # ref, text: messages written on /followup
    unexpected: list[str] = field(default_factory=list)  # any answer a reporter should never have seen
    acks_sent: int = 0
    ack_failures: list[str] = field(default_factory=list)
    worker_restarts: int = 0


def open_alert_rows(now: Any) -> tuple[list[Any], list[Any]]:
    """Alert rows pending or sending and due within ten minutes (medium alerts waiting for the next school day
    are later), split in two: (stuck, backing off).

    Backing off: a send that failed for a transient reason (the fake's injected 500, 429, dropped connection)
    and waits for its next try (2, 4, 8 ... s, at most five minutes). It will be tried again; meanwhile the
    escalation of its tip goes on without it. Stuck: anything else, a row that is due and nobody has taken.
    Needs an application context.
    """
    from app.extensions import db
    from app.models import Alert, AlertStatus, Tip

    rows = db.session.execute(
        select(Alert.id, Alert.status, Tip.urgency, Alert.kind, Alert.attempts, Alert.send_failures,
               Alert.error_code, Alert.due_at,
               Alert.chain_position, Alert.repeat, Tip.acknowledged_at).join(Tip, Tip.id == Alert.tip_id)
        .where(Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.SENDING.value]),
               Alert.due_at <= now + timedelta(minutes=10))).all()
    stuck: list[Any] = []
    backing_off: list[Any] = []
    for row in rows:
        retrying = row.status == AlertStatus.PENDING.value and row.error_code and row.due_at > now
        (backing_off if retrying else stuck).append(row)
    return stuck, backing_off


def describe_alert_row(row: Any, now: Any) -> str:
    due_in = (row.due_at - now).total_seconds()
    return (f"alert {row.id} ({row.urgency}, {row.kind}, {row.status}, chain {row.chain_position} repeat "
            f"{row.repeat}, {row.attempts} claims, {row.send_failures} failed sends, last error {row.error_code}, "
            f"due in {due_in:.0f} s, tip {'acknowledged' if row.acknowledged_at else 'not acknowledged'})")


def distinctive_words(text: str) -> set[str]:
    return set(WORD.findall(text.lower())) - TEMPLATE_WORDS


def run_checks(app: Any, day: Day, messages: list[dict[str, Any]], max_repeats: int,
               followup_sample: list[tuple[str, str | None]], worker_stopped_at: Any = None,
               ) -> list[tuple[str, bool, str]]:
    from app.alerts.planning import chain_of
    from app.crypto.receipts import db_find_tip_by_receipt
    from app.extensions import db
    from app.models import REPLY_KIND, Alert, AlertStatus, Message, Tip, utcnow

    checks: list[tuple[str, bool, str]] = []
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Tip)) or 0
        opened = sum(1 for s in day.submitted if (t := db_find_tip_by_receipt(s["code"])) is not None
                     and t.ref == s["ref"])
        via_page = sum(1 for (ref, shown) in followup_sample if shown == ref)
        checks.append(("tips submitted = stored = receipts that open", len(day.submitted) == stored == opened
                       and via_page == len(followup_sample),
                       f"submitted {len(day.submitted)}, stored {stored}, receipts open {opened}; "
                       f"through the follow-up page {via_page}/{len(followup_sample)}"))

        now = worker_stopped_at or utcnow()  # as the rows were when the worker stopped (bench/soak.py)
        stuck, backing_off = open_alert_rows(now)
        # Each row named, so that a failure says what it was.
        stuck_rows = [describe_alert_row(r, now) for r in stuck[:5]]
        backing_off_rows = [describe_alert_row(r, now) for r in backing_off[:5]]
        later = db.session.scalar(select(func.count()).select_from(Alert).where(
            Alert.status == AlertStatus.PENDING.value, Alert.due_at > now + timedelta(minutes=10))) or 0
        outcomes: Counter[str] = Counter()
        waiting: list[str] = []
        for tip in db.session.scalars(select(Tip).where(Tip.urgency.in_(["critical", "high"]))):
            rows = list(db.session.scalars(select(Alert).where(Alert.tip_id == tip.id, Alert.kind != REPLY_KIND)
                                           .order_by(Alert.id)))
            chain = chain_of(tip.school_id)
            last = rows[-1] if rows else None
            if tip.acknowledged_at is not None:
                outcomes["acknowledged"] += 1
            elif last is not None and last.escalated_at is not None and chain and \
                    last.chain_position == chain[-1][0] and last.repeat >= max_repeats:
                outcomes["escalated to the end of the chain"] += 1
            else:
                waiting.append(tip.ref)
        statuses = Counter(db.session.scalars(select(Alert.status)))
        checks.append(("no alert stuck pending or sending", not stuck,
                       f"{len(stuck)} stuck {stuck_rows}; {len(backing_off)} sends backing off after injected "
                       f"failures, to be tried again {backing_off_rows}; "
                       f"{later} medium alerts wait for the next school day; "
                       f"alert rows by status: {dict(sorted(statuses.items()))}"))
        checks.append(("every critical/high tip acknowledged or escalated to the end of its chain", not waiting,
                       f"{dict(outcomes)}; still waiting: {waiting[:10]}"))

        stored_replies = db.session.scalar(select(func.count()).select_from(Message).where(
            Message.from_reporter.is_(True))) or 0
        notices = Counter(db.session.scalars(select(Alert.status).where(Alert.kind == REPLY_KIND)))
        checks.append(("reporters' messages stored, and told by SMS where they page",
                       stored_replies == len(day.replies),
                       f"written {len(day.replies)}, stored {stored_replies}; "
                       f"their SMS by status: {dict(sorted(notices.items()))}"))

        incident_refs = [s["ref"] for s in day.submitted if s["incident"]]
        grouped_rows = db.session.execute(
            select(Tip.category, Tip.incident_id).where(Tip.ref.in_(incident_refs))).all()
        by_category: dict[str, set[int | None]] = {}
        for category, incident_id in grouped_rows:
            by_category.setdefault(category, set()).add(incident_id)
        grouped = all(len(ids) == 1 and None not in ids for ids in by_category.values())
        checks.append(("related tips grouped into one incident", grouped and len(grouped_rows) == len(incident_refs),
                       f"{len(grouped_rows)} tips about the incident: " + ", ".join(
                           f"{cat}: incidents {sorted(i for i in ids if i is not None)}"
                           for cat, ids in by_category.items())))
        db.session.remove()

    leaks = []
    vocabulary = {w: s["ref"] for s in day.submitted + day.replies for w in distinctive_words(s["text"])}
    for message in messages:
        hits = set(WORD.findall(message["body"].lower())) & vocabulary.keys()
        if hits:
            leaks.append(f"{message['sid']}: {sorted(hits)[:5]}")
    checks.append(("no SMS carries tip text", not leaks,
                   f"{len(messages)} SMS checked against {len(vocabulary)} distinctive words of the tips; "
                   f"leaks: {leaks[:5]}"))
    checks.append(("no error page shown to a reporter", not day.unexpected,
                   f"{sum(len(s['statuses']) for s in day.submitted)} reporter requests; unexpected: "
                   f"{day.unexpected[:5]}"))
    checks.append(("every signed acknowledgement accepted", not day.ack_failures,
                   f"{day.acks_sent} ACK SMS sent; refused: {day.ack_failures[:5]}"))
    return checks

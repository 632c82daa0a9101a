"""Time to alert: from a tip's commit to the request for its first SMS at the fake Twilio.

Method: Tip.created_at (set by the intake transaction's INSERT, naive UTC, a few milliseconds before its
COMMIT) against the fake's received_wall (UTC, taken when the create request arrives). Both clocks are this
machine's, so there is no skew; the figure slightly over-states the time by the insert-to-commit gap.
Counted: critical tips (never folded, always sent at once), by the first SMS that names them ("#REF").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

REF_IN_BODY = re.compile(r"#([0-9A-Z]{6})\b")


def first_sms_by_ref(state: dict[str, Any]) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for message in state["messages"]:
        match = REF_IN_BODY.search(message["body"])
        if not match:
            continue
        at = datetime.fromisoformat(message["received_wall"])
        ref = match.group(1)
        if ref not in first or at < first[ref]:
            first[ref] = at
    return first


def alert_delays_ms(app: Any, state: dict[str, Any], since: datetime | None = None) -> tuple[list[float], int]:
    """(delays in ms of critical tips that got their SMS, number of critical tips without one yet)."""
    from app.extensions import db
    from app.models import Tip

    first = first_sms_by_ref(state)
    with app.app_context():
        query = select(Tip.ref, Tip.created_at).where(Tip.urgency == "critical")
        if since is not None:
            query = query.where(Tip.created_at >= since)
        rows = db.session.execute(query).all()
        db.session.remove()
    delays, missing = [], 0
    for ref, created in rows:
        sent = first.get(ref)
        if sent is None:
            missing += 1
            continue
        delays.append((sent - created.replace(tzinfo=UTC)).total_seconds() * 1000)
    return delays, missing

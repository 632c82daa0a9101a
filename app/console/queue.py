"""The queue: open tips of the person's schools, most urgent first, then oldest.

Built from the unencrypted metadata columns only; nothing here opens a tip's data key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask import redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import load_only
from werkzeug.wrappers import Response

from app.alerts import ack_timeout_for
from app.alerts.planning import IMMEDIATE_URGENCIES
from app.console import bp, clock
from app.console.access import me
from app.console.forms import CATEGORY_CHOICES, STATUS_CHOICES, URGENCY_CHOICES
from app.console.labels import effective_category_column
from app.console.scope import sees_all_schools, visible_school_ids, visible_tips
from app.crypto.receipts import ALPHABET, REF_LENGTH, normalize_ref
from app.extensions import db
from app.models import School, Staff, Tip, TipStatus
from app.small_ints import parse_small_int
from app.transactions import commit_before_rendering
from triage import urgency_rank

PAGE_SIZE = 50
OPEN_STATUSES = (TipStatus.NEW.value, TipStatus.ACKNOWLEDGED.value, TipStatus.INVESTIGATING.value)
_QUEUE_COLUMNS = (
    Tip.id, Tip.ref, Tip.school_id, Tip.created_at, Tip.category, Tip.urgency, Tip.label_category,
    Tip.label_urgency, Tip.urgency_rank, Tip.status, Tip.acknowledged_at, Tip.incident_id,
    Tip.reporter_reply_unread, Tip.happening_now, Tip.assigned_counselor_id, Tip.legal_hold_at,
    Tip.legal_hold_released_at,
)


@dataclass(frozen=True)
class QueueRow:
    tip: Tip
    category: str
    urgency: str
    age: str
    overdue: bool
    incident_size: int
    grouped: bool  # shown under an earlier, more urgent tip of the same incident


def is_overdue(tip: Tip, now: datetime) -> bool:
    """Not acknowledged within the time its urgency allows (the same timeout that escalates its alert)."""
    urgency = tip.effective_urgency
    if tip.acknowledged_at is not None or tip.status != TipStatus.NEW.value or urgency not in IMMEDIATE_URGENCIES:
        return False
    return now - tip.created_at > ack_timeout_for(urgency)


def visible_schools(staff: Staff) -> list[School]:
    query = select(School).order_by(School.name)
    if not sees_all_schools(staff):
        query = query.where(School.id.in_(visible_school_ids(staff)))
    return list(db.session.scalars(query))


def _int_arg(name: str) -> int | None:
    """A numeric filter; anything but 1 to 9 ASCII digits counts as absent."""
    return parse_small_int(request.args.get(name))


def read_reference(typed: str) -> str:
    """A tip's reference as a person types it, read as an SMS "ACK" is (lower case, O for 0, I and L for 1) and as
    said aloud: "7KQ 2MX", "7KQ-2MX". The queue's box and the audit record's filter read it alike."""
    return normalize_ref(re.sub(r"[\s\-_.]", "", typed))


def find_reference(staff: Staff, typed: str) -> tuple[str | None, str]:
    """The tip a typed reference names among this person's schools (its ref), else why not. A reference outside
    them gets the same answer as one that does not exist: the console does not confirm that it does."""
    ref = read_reference(typed)
    if len(ref) != REF_LENGTH or not ref.isascii() or any(c not in ALPHABET for c in ref):
        return None, f"A tip's reference is {REF_LENGTH} letters and digits, as in the SMS and on the case page."
    found: str | None = db.session.scalar(visible_tips(staff).with_only_columns(Tip.ref).where(Tip.ref == ref))
    if found is None:
        return None, f"No tip {ref} among your schools' tips. Check the reference."
    return found, ""


@bp.get("/")
def queue() -> str | Response:
    staff = me()
    now = clock.now()
    typed_ref = request.args.get("ref", "").strip()[:40]
    ref_error = ""
    if typed_ref:  # "Open a tip": a reference read out on the phone or copied from a note
        found, ref_error = find_reference(staff, typed_ref)
        if found is not None:
            commit_before_rendering()
            return redirect(url_for("console.case", ref=found))
    status = request.args.get("status", "open")
    if status != "all" and status not in {s for s, _ in STATUS_CHOICES}:
        status = "open"  # as the Status box shows it: an unknown one listed closed tips under "open"
    school_id = _int_arg("school")
    category = request.args.get("category", "")
    urgency = request.args.get("urgency", "")
    incident_id = _int_arg("incident")
    assigned = request.args.get("assigned", "")
    page = max(_int_arg("page") or 1, 1)

    query = visible_tips(staff)
    if status == "open":
        query = query.where(Tip.status.in_(OPEN_STATUSES))
    elif status in {s for s, _ in STATUS_CHOICES}:
        query = query.where(Tip.status == status)
    if school_id is not None:
        query = query.where(Tip.school_id == school_id)
    if category in {c for c, _ in CATEGORY_CHOICES}:
        query = query.where(effective_category_column() == category)
    if urgency in {u for u, _ in URGENCY_CHOICES}:
        query = query.where(Tip.urgency_rank == urgency_rank(urgency))  # the rank follows the effective urgency
    if incident_id is not None:
        query = query.where(Tip.incident_id == incident_id)
    if assigned == "me":
        query = query.where(Tip.assigned_counselor_id == staff.id)
    elif assigned == "nobody":
        query = query.where(Tip.assigned_counselor_id.is_(None))
    else:
        assigned = ""

    total = db.session.scalar(query.with_only_columns(func.count(Tip.id)).order_by(None)) or 0
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(page, pages)  # past the end (tips closed since the link was followed): the last page, not none
    # Ids first (sorted from the index alone), then the page's rows: sorting whole rows was 10x slower.
    ids = list(db.session.scalars(
        query.with_only_columns(Tip.id).order_by(Tip.urgency_rank.desc(), Tip.created_at, Tip.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ))
    rows_by_id = {t.id: t for t in db.session.scalars(
        select(Tip).options(load_only(*_QUEUE_COLUMNS)).where(Tip.id.in_(ids)))} if ids else {}
    tips = [rows_by_id[i] for i in ids]
    sizes = _incident_sizes(staff, {t.incident_id for t in tips if t.incident_id is not None})
    schools = visible_schools(staff)
    filters = {"status": status, "school": school_id, "category": category, "urgency": urgency,
               "incident": incident_id, "assigned": assigned}
    commit_before_rendering()  # a read: the write lock is free before the page renders
    return render_template(
        "console/queue.html", rows=_grouped_rows(tips, sizes, now), total=total, page=page,
        pages=pages, schools=schools,
        school_names={s.id: s.short_name for s in schools}, filters=filters,
        # The page links carry these filters only: the raw query could name url_for()'s own arguments.
        page_args={name: value for name, value in filters.items() if value not in (None, "")},
        category_choices=CATEGORY_CHOICES, urgency_choices=URGENCY_CHOICES, status_choices=STATUS_CHOICES,
        me=staff.id, typed_ref=typed_ref, ref_error=ref_error,
    )


def _incident_sizes(staff: Staff, incident_ids: set[int]) -> dict[int, int]:
    if not incident_ids:
        return {}
    rows = db.session.execute(
        visible_tips(staff).with_only_columns(Tip.incident_id, func.count(Tip.id))
        .where(Tip.incident_id.in_(incident_ids)).group_by(Tip.incident_id)
    ).all()
    return {int(incident): int(count) for incident, count in rows if incident is not None}


def _grouped_rows(tips: list[Tip], sizes: dict[int, int], now: datetime) -> list[QueueRow]:
    """The page in queue order, except that tips of one incident follow its most urgent tip."""
    by_incident: dict[int, list[Tip]] = {}
    for tip in tips:
        if tip.incident_id is not None:
            by_incident.setdefault(tip.incident_id, []).append(tip)
    rows: list[QueueRow] = []
    placed: set[int] = set()
    for tip in tips:
        if tip.id in placed:
            continue
        group = by_incident.get(tip.incident_id, [tip]) if tip.incident_id is not None else [tip]
        for position, member in enumerate(group):
            placed.add(member.id)
            rows.append(QueueRow(
                tip=member, category=member.effective_category, urgency=member.effective_urgency,
                age=clock.describe_age(now - member.created_at), overdue=is_overdue(member, now),
                incident_size=sizes.get(member.incident_id, 1) if member.incident_id is not None else 1,
                grouped=position > 0,
            ))
    return rows

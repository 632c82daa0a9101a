"""Acknowledging a tip: by SMS reply or in the console. It stops the escalation of that tip."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, select, update

from app import audit
from app.crypto.receipts import normalize_ref
from app.extensions import db, db_take_turns_on
from app.models import REPLY_KIND, Alert, AlertStatus, Assignment, AuditEvent, Staff, Tip, TipStatus, utcnow

_UNSENT = (AlertStatus.PENDING.value, AlertStatus.SENDING.value)
_SENT = (AlertStatus.SENT.value, AlertStatus.DELIVERED.value, AlertStatus.FOLDED.value, AlertStatus.FAILED.value)


def db_acknowledge_tip(tip: Tip, staff: Staff, via: str, message_sid: str | None = None,
                       folded_tips: int | None = None) -> bool:
    """Record that `staff` took the tip. False when it was already acknowledged (nothing changes).

    `message_sid`: the inbound SMS that said so, kept on the audit record (see `acknowledged_by_sms`).
    `folded_tips`: that SMS answered a "+N related tips" SMS standing for this many tips (kept on the record too, so
    the same SMS posted again gets the same answer)."""
    now = utcnow()
    # One guarded UPDATE: an SMS "ACK" and a console click at the same moment cannot both win.
    taken = db.session.execute(
        update(Tip).where(Tip.id == tip.id, Tip.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        return False
    db.session.refresh(tip)
    if tip.status == TipStatus.NEW.value:
        tip.status = TipStatus.ACKNOWLEDGED.value
    # The pages not yet sent are answered; a notice of a reporter's message is no page (app/alerts/reporter_messages.py)
    # and still goes out: the person who just took the tip may not have read what the reporter wrote since.
    db.session.execute(
        update(Alert).where(Alert.tip_id == tip.id, Alert.status.in_(_UNSENT), Alert.kind != REPLY_KIND)
        .values(status=AlertStatus.CANCELLED.value, lease_owner=None, lease_until=None)
    )
    db.session.execute(
        update(Alert).where(Alert.tip_id == tip.id, Alert.status.in_(_SENT))
        .values(status=AlertStatus.ACKNOWLEDGED.value, acknowledged_at=now)
    )
    detail: dict[str, Any] = {"message_sid": message_sid} if message_sid else {}
    if folded_tips:
        detail["folded_tips"] = folded_tips
    audit.record("tip.acknowledged", actor=staff, tip=tip, via=via, **detail)
    return True


def db_take_turn_for_sms(message_sid: str) -> None:
    """Let deliveries of one inbound SMS take turns until the transaction ends, so that the second finds the
    first's acknowledgement (`acknowledged_by_sms`) instead of acknowledging the person's next open alert.
    PostgreSQL: a transaction-level advisory lock keyed by the SID, taken before any row lock; SQLite's write
    lock, taken at BEGIN, already does this."""
    db_take_turns_on(f"sms:{message_sid}" if message_sid else "")


def _taken_as(message_sid: str, actions: Iterable[str]) -> Row[str, str, str | None] | None:
    """(action, detail, tip_ref) of the audit event, among `actions`, by which this very inbound SMS was already
    taken, if any. Twilio may post one SMS twice (a retry after a slow answer) and a captured signed request can be
    replayed: each handler looks here first and answers the second delivery as the first, changing nothing."""
    if not message_sid:
        return None
    return db.session.execute(
        select(AuditEvent.action, AuditEvent.detail, AuditEvent.tip_ref)
        .where(AuditEvent.action.in_(list(actions)),
               AuditEvent.detail.contains(f'"message_sid":"{message_sid}"', autoescape=True))
        .limit(1)
    ).first()


@dataclass(frozen=True)
class SmsAcknowledged:
    """What an inbound SMS acknowledged: its tips, and how many tips the "+N related tips" SMS it answered stood for
    (1 for a tip's own SMS)."""

    refs: tuple[str, ...]
    told: int


def acknowledged_by_sms(message_sid: str) -> SmsAcknowledged | None:
    """The tips an inbound SMS already acknowledged, if it did: a second "1" must not take the next open alert."""
    if not message_sid:
        return None
    rows = db.session.execute(
        select(AuditEvent.tip_ref, AuditEvent.detail)
        .where(AuditEvent.action == "tip.acknowledged",
               AuditEvent.detail.contains(f'"message_sid":"{message_sid}"', autoescape=True))
        .order_by(AuditEvent.id)
    ).all()
    if not rows:
        return None
    told = max(int(audit.parse_detail_text(row.detail).get("folded_tips") or 1) for row in rows)
    return SmsAcknowledged(tuple(row.tip_ref for row in rows if row.tip_ref), told)


def db_tips_told_with(alert: Alert) -> list[Tip]:
    """The tips the SMS of `alert` told its person of: for a "+N related tips" SMS every tip folded into it (the
    acknowledged ones too), else the alert's own tip alone.

    The rows of one such SMS are tied as escalation._db_update_folded_into ties them: each was postponed to be folded
    (kind "folded"), and the send wrote the same person and the same sent_at on all of them, of tips of one school.
    Not by the incident: a tip taken out of it since was told by that SMS all the same."""
    own = db.session.get(Tip, alert.tip_id)
    assert own is not None
    if alert.kind != "folded" or alert.sent_at is None or alert.staff_id is None:
        return [own]
    sent_together = select(Alert.tip_id).where(
        Alert.kind == "folded", Alert.staff_id == alert.staff_id, Alert.sent_at == alert.sent_at,
        Alert.status != AlertStatus.FAILED.value)
    tips = list(db.session.scalars(
        select(Tip).where(Tip.id.in_(sent_together), Tip.school_id == own.school_id).order_by(Tip.id)))
    return tips if own in tips else [own]


# An acknowledging reply ("1", "ACK 7KQ2MX") that took no tip, on the audit record with its SMS: a second delivery of
# that SMS (a captured signed request replayed, Twilio posting it again) gets the same answer and takes nothing,
# where it used to acknowledge whatever alert had reached the phone since, one the person never read.
ACK_NOT_TAKEN = "sms.ack_not_taken"


def reply_answered_without_ack(message_sid: str) -> tuple[str, str | None, int] | None:
    """(reason, tip reference or None, tips of the "+N related tips" SMS it answered or 1) of an acknowledging reply
    this very SMS got that took no tip, if any."""
    row = _taken_as(message_sid, [ACK_NOT_TAKEN])
    if row is None:
        return None
    detail = audit.parse_detail_text(row.detail)
    return str(detail.get("reason", "")), row.tip_ref, int(detail.get("folded_tips") or 1)


# STOP and START are on the audit record with their SMS as well (`staff.sms_opted_out`, `staff.sms_opted_in`, and
# START_NOT_TAKEN for a START from a number that had not opted out, which is answered with how to acknowledge): a
# STOP posted again after the person sent START opted them out again without a word to them, and a START posted
# again after a STOP turned their alerts back on. The same SMS now gets the same answer and changes nothing.
START_NOT_TAKEN = "sms.start_not_taken"
OPT_REPLIES = {"staff.sms_opted_out": "stop", "staff.sms_opted_in": "start", START_NOT_TAKEN: "help"}


def opt_reply_answered(message_sid: str) -> str | None:
    """How a STOP or START this very SMS was already taken, if it was: "stop", "start" or "help" (a START that
    changed nothing)."""
    row = _taken_as(message_sid, OPT_REPLIES)
    return OPT_REPLIES[row.action] if row is not None else None


def _alerts_of(staff: Staff) -> Select[Any]:
    """Alerts sent to this person about tips of schools they are still assigned to."""
    return (
        select(Alert).join(Tip, Tip.id == Alert.tip_id)
        .join(Assignment, (Assignment.school_id == Tip.school_id) & (Assignment.staff_id == staff.id))
        .where(Alert.staff_id == staff.id, Alert.sent_at.isnot(None))
    )


def newest_alert_for(staff: Staff, *, open_only: bool = True) -> Alert | None:
    """The newest alert sent to this person whose tip nobody has acknowledged yet ("1" or a bare "ACK"); with
    `open_only=False` the newest whatever became of its tip (when none is open: whose tip someone else took).

    Not one the carrier reported failed or undelivered: "1" answers the alert the person read, and a newer
    one that never reached the phone must go on escalating.
    """
    query = _alerts_of(staff).where(Alert.status != AlertStatus.FAILED.value)
    if open_only:
        query = query.where(Tip.acknowledged_at.is_(None))
    alert: Alert | None = db.session.scalar(query.order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(1))
    return alert


def newest_alert_no_longer_theirs(staff: Staff) -> Alert | None:
    """The newest alert sent to this person (not one the carrier reported failed), when it is of a school they were
    taken off since: "1" answers the SMS the person read, and must then take nothing, not an older alert of another
    tip (`newest_alert_for` sees only the schools they are still assigned to). None otherwise."""
    newest: Alert | None = db.session.scalar(
        select(Alert).where(Alert.staff_id == staff.id, Alert.sent_at.isnot(None),
                            Alert.status != AlertStatus.FAILED.value)
        .order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(1))
    if newest is None:
        return None
    assigned = db.session.scalar(
        select(Assignment.staff_id).join(Tip, Tip.school_id == Assignment.school_id)
        .where(Tip.id == newest.tip_id, Assignment.staff_id == staff.id).limit(1))
    return None if assigned is not None else newest


def open_alert_for_ref(staff: Staff, ref: str) -> Alert | None:
    """An alert this person received for the tip `ref`; only tips they were told of can be acknowledged."""
    alert: Alert | None = db.session.scalar(
        _alerts_of(staff).where(Tip.ref == normalize_ref(ref)).order_by(Alert.id.desc()).limit(1)
    )
    return alert

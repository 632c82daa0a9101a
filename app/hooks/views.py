"""Twilio webhooks: inbound SMS (acknowledgements, STOP/START) and delivery status callbacks.

Every request must carry a valid X-Twilio-Signature for the URL as Twilio signed it (behind a proxy the
scheme and host come from X-Forwarded-* via ProxyFix, trusted for TRUSTED_PROXY_HOPS hops only; the same path
under PUBLIC_BASE_URL, the address Twilio is given, is accepted too). Anything else gets 403 and changes nothing.
Twilio retries webhooks, so every handler is idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from flask import Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app import audit
from app.alerts.acknowledge import (
    ACK_NOT_TAKEN,
    START_NOT_TAKEN,
    acknowledged_by_sms,
    db_acknowledge_tip,
    db_take_turn_for_sms,
    db_tips_told_with,
    newest_alert_for,
    newest_alert_no_longer_theirs,
    open_alert_for_ref,
    opt_reply_answered,
    reply_answered_without_ack,
)
from app.alerts.delivery_reports import db_apply_delivery_report
from app.alerts.sms_checks import db_check_report
from app.database import db_error_reason
from app.extensions import csrf, db
from app.hooks import bp
from app.logs import log_event
from app.models import REPLY_KIND, Alert, AlertStatus, Staff, Tip, utcnow
from notifications import messages as texts
from notifications import parse_reply
from notifications.signatures import is_valid_signature

log = logging.getLogger("tipline.hooks")


def _require_twilio_signature() -> None:
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    previous = current_app.config.get("TWILIO_PREVIOUS_AUTH_TOKEN") or None  # while the token is being rotated
    signature = request.headers.get("X-Twilio-Signature", "")
    # The MultiDict itself: Twilio signs every value of a repeated key. The URL Twilio was given is
    # PUBLIC_BASE_URL's; the one rebuilt from the forwarded headers is tried first, and the public one as well, so
    # a proxy that does not pass the scheme or host on does not turn every acknowledgement away.
    query = request.query_string.decode("latin-1")
    public = current_app.config["PUBLIC_BASE_URL"] + request.path + (f"?{query}" if query else "")
    if not token or not signature or not any(
        is_valid_signature(token, url, request.form, signature, previous_auth_token=previous)
        for url in dict.fromkeys((request.url, public))
    ):
        log_event(log, "webhook refused: bad signature", logging.WARNING, path=request.path)
        abort(403)


def _twiml(message: str) -> Response:
    body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
    if message:
        body += f"<Message>{escape(message)}</Message>"
    body += "</Response>"
    return Response(body, mimetype="application/xml")


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError) -> Response:
    """Locked past the busy timeout, or not answering: nothing was changed (the transaction is rolled back).

    Twilio does not send an inbound SMS again after an error, so a bare 500 left the person who replied "1" with
    no answer and the tip unacknowledged, its escalation going on while they believed it stopped: they are told
    to send it again. A delivery report gets 503."""
    db.session.rollback()
    log_event(log, "OPERATOR: a Twilio webhook failed, the database is locked or unreachable; nothing was changed",
              logging.ERROR, path=request.path,
              error=db_error_reason(exc))
    if request.endpoint == "hooks.inbound_sms":
        return _twiml(texts.not_recorded_reply())
    return Response(status=503, headers={"Retry-After": "30"})


@bp.post("/twilio/sms")
@csrf.exempt
def inbound_sms() -> Response:
    _require_twilio_signature()
    sender = request.form.get("From", "")
    # Phones are not unique (a dispatch desk shared by two agencies' accounts): a reply speaks for every
    # active account with that number.
    accounts = list(db.session.scalars(
        select(Staff).where(Staff.phone == sender, Staff.active.is_(True)).order_by(Staff.id)))
    if not accounts:
        return _twiml(texts.unknown_number_reply())
    reply = parse_reply(request.form.get("Body", ""))
    message_sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    if reply.kind in ("stop", "start"):
        db_take_turn_for_sms(message_sid)
        if (answered_as := opt_reply_answered(message_sid)) is not None:
            return _opt_reply(answered_as)  # this very SMS again: answer as the first time, change nothing
    sid: dict[str, Any] = {"message_sid": message_sid} if message_sid else {}
    if reply.kind == "stop":
        for staff in accounts:
            staff.sms_opted_out = True
            staff.sms_opted_out_at = utcnow()
            audit.record("staff.sms_opted_out", actor=staff, **sid)
        staff_ids = [staff.id for staff in accounts]
        db.session.commit()
        for staff_id in staff_ids:
            log_event(log, "staff opted out of SMS: skipped in escalation chains until START", logging.WARNING,
                      staff=staff_id)
        return _opt_reply("stop")
    if reply.kind == "start":
        if not any(staff.sms_opted_out for staff in accounts):
            # Nothing to turn back on: "Yes" (a START word) is more likely an answer to an alert. Say how to ACK.
            # Kept with its SMS all the same, so that the SMS posted again after a STOP does not turn alerts on.
            if message_sid:
                audit.record(START_NOT_TAKEN, actor=accounts[0], **sid)
                db.session.commit()
            return _opt_reply("help")
        for staff in accounts:
            staff.sms_opted_out = False
            staff.sms_opted_out_at = None
            audit.record("staff.sms_opted_in", actor=staff, **sid)
        db.session.commit()
        return _opt_reply("start")
    if reply.kind == "help":
        return _twiml(texts.help_reply(current_app.config["PUBLIC_BASE_URL"]))
    if reply.kind != "ack":
        return _twiml(texts.help_reply(current_app.config["PUBLIC_BASE_URL"]))
    db_take_turn_for_sms(message_sid)
    if (done := acknowledged_by_sms(message_sid)) is not None:  # this very SMS again: answer alike, change nothing
        if done.told > 1:
            return _twiml(texts.folded_ack_confirmed_reply(len(done.refs), done.told))
        return _twiml(texts.ack_confirmed_reply(done.refs[0]))
    if (answered := reply_answered_without_ack(message_sid)) is not None:
        return _twiml(_not_taken_reply(*answered))  # the same: it took no tip then, and takes none now
    if not reply.ref and _newest_is_no_longer_theirs(accounts):
        # The SMS the person answered is of a school they were taken off since: not theirs to take, and an older
        # alert of another tip must not be taken in its place, its escalation stopped unread. Named neither.
        return _ack_not_taken(accounts[0], message_sid, "no_longer_assigned")
    if not reply.ref and (newest := _newest_alert(accounts, open_only=False)) is not None and (
        newest[1].kind == REPLY_KIND and newest[1].tip.acknowledged_at is not None
    ):
        # The SMS the person read told of a reporter's message on a tip already taken ("No reply needed"): a "1" to
        # it must not acknowledge an older alert of another tip, whose escalation would then stop unseen.
        return _ack_not_taken(accounts[0], message_sid, "already_acknowledged", newest[1].tip)
    found = _alert_to_acknowledge(accounts, reply.ref)
    if found is None and not reply.ref and (newest := _newest_alert(accounts, open_only=False)) is not None:
        # Nothing open, but the alert the person read was taken meanwhile: by someone else, or by themselves (in the
        # console, from the SMS's link, or by a first "1"): say so, as for a reference. "Nothing to acknowledge: no
        # open alert" read as if the alert had been a mistake or the acknowledgement lost.
        told = db_tips_told_with(newest[1])
        return _ack_not_taken(accounts[0], message_sid, "already_acknowledged", newest[1].tip, folded=len(told))
    if found is None:
        return _ack_not_taken(accounts[0], message_sid, "unknown_ref" if reply.ref else "nothing_open")
    staff, alert = found
    tip = db.session.get(Tip, alert.tip_id)
    assert tip is not None
    if not reply.ref and len(told := db_tips_told_with(alert)) > 1:
        # The SMS the person answered was "+N related tips": "1" takes every tip it told of, as one would expect; an
        # "ACK <ref>" names one tip and takes that one only.
        return _acknowledge_folded(staff, tip, told, message_sid)
    if not db_acknowledge_tip(tip, staff, via="sms", message_sid=message_sid or None):
        return _ack_not_taken(staff, message_sid, "already_acknowledged", tip)
    ref, staff_id = tip.ref, staff.id
    # Nothing after the commit reads the database: the commit expires what was loaded, and a read meeting a lock or a
    # lost connection then would answer "not recorded" about an acknowledgement that was.
    db.session.commit()
    log_event(log, "tip acknowledged by SMS", tip=ref, staff=staff_id)
    return _twiml(texts.ack_confirmed_reply(ref))


def _opt_reply(taken_as: str) -> Response:
    if taken_as == "stop":
        return _twiml(texts.stop_reply())
    if taken_as == "start":
        return _twiml(texts.start_reply())
    return _twiml(texts.help_reply(current_app.config["PUBLIC_BASE_URL"]))


def _acknowledge_folded(staff: Staff, found: Tip, told: list[Tip], message_sid: str) -> Response:
    """Acknowledge every tip of a "+N related tips" SMS (`told`) that nobody has taken yet, each with its own audit
    event; those someone took meanwhile (in the console, say) stay theirs, and the answer says how many there were."""
    # Every tip's row locked before the first event: recorded under the audit chain's lock, a tip's row taken after
    # it waited for a close of that tip in the console, which locks the row, then records (a deadlock on PostgreSQL).
    db.session.execute(select(Tip.id).where(Tip.id.in_([tip.id for tip in told])).order_by(Tip.id)
                       .with_for_update(key_share=True))
    taken = [tip.ref for tip in told
             if db_acknowledge_tip(tip, staff, via="sms", message_sid=message_sid or None, folded_tips=len(told))]
    if not taken:  # all taken in the moment since the look for an open alert
        return _ack_not_taken(staff, message_sid, "already_acknowledged", found, folded=len(told))
    staff_id = staff.id
    db.session.commit()  # nothing after it reads the database (see inbound_sms)
    for ref in taken:
        log_event(log, "tip acknowledged by SMS", tip=ref, staff=staff_id, folded=len(told))
    return _twiml(texts.folded_ack_confirmed_reply(len(taken), len(told)))


def _not_taken_reply(reason: str, ref: str | None, folded: int = 1) -> str:
    if reason == "already_acknowledged" and folded > 1:
        return texts.folded_already_acknowledged_reply(folded)
    if reason == "already_acknowledged" and ref:
        return texts.already_acknowledged_reply(ref)
    if reason == "no_longer_assigned":
        return texts.no_longer_yours_reply()
    return texts.unknown_ref_reply() if reason == "unknown_ref" else texts.nothing_to_ack_reply()


def _ack_not_taken(staff: Staff, message_sid: str, reason: str, tip: Tip | None = None, *,
                   folded: int = 1) -> Response:
    """Answer an acknowledging reply that takes no tip, and keep that answer with its SMS on the audit record: the
    same SMS delivered again is answered alike (`reply_answered_without_ack`) instead of taking a newer alert.
    `folded`: the tips of the "+N related tips" SMS it answered (1 for a tip's own SMS)."""
    ref = tip.ref if tip is not None else None  # read before the commit, which expires it (see above)
    if message_sid:
        detail: dict[str, Any] = {"folded_tips": folded} if folded > 1 else {}
        audit.record(ACK_NOT_TAKEN, actor=staff, tip=tip, message_sid=message_sid, reason=reason, **detail)
        db.session.commit()
    return _twiml(_not_taken_reply(reason, ref, folded))


def _alert_to_acknowledge(accounts: list[Staff], ref: str | None) -> tuple[Staff, Alert] | None:
    """The account and alert a reply acknowledges: the alert of tip `ref` sent to any of them, or without a
    reference the newest open alert sent to any of them."""
    if ref:
        for staff in accounts:
            alert = open_alert_for_ref(staff, ref)
            if alert is not None:
                return staff, alert
        return None
    return _newest_alert(accounts, open_only=True)


def _newest_is_no_longer_theirs(accounts: list[Staff]) -> bool:
    """Whether the newest alert this phone was sent, to any of its accounts, is of a school its account was taken
    off since."""
    newest = [(alert, False) for staff in accounts if (alert := newest_alert_no_longer_theirs(staff))]
    newest += [(alert, True) for staff in accounts if (alert := newest_alert_for(staff, open_only=False))]
    latest = max(newest, key=lambda found: (found[0].sent_at or datetime.min, found[0].id), default=None)
    return latest is not None and not latest[1]


def _newest_alert(accounts: list[Staff], *, open_only: bool) -> tuple[Staff, Alert] | None:
    newest = [(staff, alert) for staff in accounts if (alert := newest_alert_for(staff, open_only=open_only))]
    return max(newest, key=lambda found: (found[1].sent_at or datetime.min, found[1].id), default=None)


@bp.post("/twilio/status")
@csrf.exempt
def delivery_status() -> Response:
    _require_twilio_signature()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
    check_id = request.args.get("check", "")
    if check_id:  # a district admin's test SMS (app/alerts/sms_checks.py): no tip, no chain
        if check_id.isascii() and check_id.isdigit() and len(check_id) <= 12:
            db_check_report(int(check_id), request.args.get("send"), sid, status,
                            request.form.get("ErrorCode") or None)
            db.session.commit()
        return Response(status=204)
    alert = _alert_of_callback(sid)
    if alert is None:  # not about this alert's send
        return Response(status=204)
    failed = db_apply_delivery_report(alert, sid, status, request.form.get("ErrorCode") or None)
    db.session.commit()
    if failed:
        from app.alerts.signals import wake_dispatcher

        wake_dispatcher()
    return Response(status=204)


def _alert_of_callback(sid: str) -> Alert | None:
    """The alert a callback reports on: by the id in its (signed) URL, or by its SID. Only a report on the send
    recorded for the alert (its SID) may change it; before the worker has recorded one, a report on the send under
    way: the row is "sending" and the URL carries that claim's number (`send`, absent from URLs of SMS sent before
    it was added). A late report of an earlier send (Twilio refused it after taking it, and the row was queued
    again) used to be taken for the next send, any SID being accepted while none was recorded.

    The row is locked until the commit (PostgreSQL), so that two reports of one SMS, or a report and the worker
    recording the send, take turns and each sees what the one before wrote."""
    if not sid:
        return None
    lock = {"key_share": True}
    alert_id = request.args.get("alert", "")
    if alert_id.isascii() and alert_id.isdigit() and len(alert_id) <= 12:
        alert = db.session.get(Alert, int(alert_id), with_for_update=lock)
        if alert is None:
            return None
        if alert.twilio_sid is not None:
            return alert if alert.twilio_sid == sid else None
        send = request.args.get("send")
        under_way = alert.status == AlertStatus.SENDING.value and send in (None, str(alert.attempts))
        return alert if under_way else None
    return db.session.scalar(select(Alert).where(Alert.twilio_sid == sid).with_for_update(key_share=True))

"""Coming back with the receipt code: the tip's status, staff questions, replies and more photos.

A wrong code, an ended session and a throttled attempt get the same page, status and words, so that
guessing learns nothing from the answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from app.alerts import wake_dispatcher
from app.crypto.errors import DecryptionFailed
from app.crypto.receipts import CODE_LENGTH, count_code_symbols, db_find_tip_by_receipt
from app.crypto.service import check_tip_key, open_for_tip
from app.extensions import db, limiter
from app.intake import bp
from app.intake import reporter_sessions as rs
from app.intake.photos import CleanPhoto
from app.intake.submit import db_add_reporter_message
from app.intake.throttle import intake_rate_limit, receipt_attempt_allowed
from app.intake.validation import (
    Checked,
    ask_for_photos_again,
    check_photos,
    check_text,
    photos_left_behind,
)
from app.logs import log_event
from app.models import Attachment, Message, Tip, TipStatus, utcnow
from app.small_ints import parse_small_int
from app.transactions import commit_before_rendering

log = logging.getLogger("app.intake")
MAX_CODE_INPUT = 100
KEPT_REPLY_KEY = "tipline_kept_reply"


def status_words(status: str) -> str:
    if status == TipStatus.NEW.value:
        return _("Received")
    if status == TipStatus.CLOSED.value:
        return _("Closed")
    return _("Being reviewed")


def local_time(at: datetime, zone: str) -> str:
    """A stored (naive UTC) time as the reporter reads a clock: the school's time zone, the page's language."""
    local = at.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    locale = get_locale() or "en"
    return f"{format_date(local, 'medium', locale=locale)}, {format_time(local, 'short', locale=locale)}"


def _photos_dropped() -> bool:
    """Photos came with a form that is not sent: as files (a reply), or by name only (the language button, which
    sends no files; the receipt-code page passes the fact on the same way)."""
    return any(f.filename for f in request.files.getlist("photos")) or any(request.form.getlist("photos"))


def _not_found(kept_message: str = "", typed_code: str = "") -> tuple[str, int]:
    symbols = count_code_symbols(typed_code)
    if typed_code and symbols != CODE_LENGTH:
        # A character left out (or the 6-character reference typed instead): said from the input alone, which
        # tells a guesser nothing, and "check the code" would not say where to look.
        message = _("A receipt code has %(n)d letters and digits (dashes and spaces do not count); the code you "
                    "typed has %(has)d.", n=CODE_LENGTH, has=symbols)
    else:
        # A report shredded under retention is not told apart (a wrong code would learn it too): every code that
        # opens nothing hears that reports are deleted, and what to do then, or a reporter coming back a year later
        # checks the code again and again.
        days = int(current_app.config["RETENTION_DAYS"])
        message = " ".join((
            _("We could not open a report with this code. Check the code and try again. "
              "If you tried several times, wait a few minutes. A session ends after 15 minutes "
              "without activity."),
            ngettext("A report is deleted %(num)d day after its case is closed.",
                     "A report is deleted %(num)d days after its case is closed.", days),
            _("To tell us something new, send a new report.")))
    # The code as typed stays in the field: one wrong character of 24 is corrected, not typed all over again.
    return render_template("intake/followup_start.html", error=message, kept_message=kept_message,
                           typed_code=typed_code, photos_dropped=_photos_dropped()), 200


def _kept_message() -> str:
    """A reply that could not be sent because the session had ended, carried until the code is entered again:
    writing an answer can take longer than the idle timeout, and the text must not be lost with the session.
    Whole, however long: the reply form has no maxlength (it cut a paste silently) and says how long a text is;
    the form parser's MAX_FORM_MEMORY_SIZE bounds it."""
    return request.form.get("message", "")


def _visit_over(typed_code: str = "") -> tuple[str, int]:
    """The visit ended (idle, Leave in another tab, the case shredded): the receipt-code page again, with the
    reply being written kept in it, so that entering the code once more brings it back. Photos cannot be kept:
    the page says they were not sent (a reply of photos alone would otherwise look as if it had gone)."""
    rs.db_end(rs.FOLLOWUP)
    db.session.commit()
    return render_template("intake/followup_start.html", error=None, kept_message=_kept_message(),
                           typed_code=typed_code, photos_dropped=_photos_dropped()), 200


def _case_page(tip: Tip, checked: Checked | None = None, status: int = 200) -> tuple[str, int]:
    # How many photos each message carried (counted, not opened): a reply of a photo alone is otherwise an empty
    # bubble, and the reporter cannot tell whether the photo reached staff.
    photos: dict[int | None, int] = {message_id: count for message_id, count in db.session.execute(
        select(Attachment.message_id, func.count(Attachment.id))
        .where(Attachment.tip_id == tip.id, Attachment.message_id.isnot(None))
        .group_by(Attachment.message_id))}
    conversation = []
    if tip.messages:
        # A keyring missing, or not the one the tip was sealed with, fails the whole page closed (the 503): only
        # past this, a message that does not open is its own row damaged, and the rest of the conversation shows.
        check_tip_key(tip)
    for message in tip.messages:
        if message.body_ct is None:
            continue
        body = _open_message(tip, message)
        # Staff's question shown for the first time is marked new: it came since the reporter's last visit.
        new = not message.from_reporter and message.read_at is None and body is not None
        conversation.append({"from_reporter": message.from_reporter, "at": message.created_at,
                             "local_time": local_time(message.created_at, tip.school.timezone),
                             "body": body or "", "unreadable": body is None, "photos": photos.get(message.id, 0),
                             "new": new})
        # A question that cannot be read is not marked read: staff would take it as seen.
        if new:
            message.read_at = utcnow()
    # Commit (the idle timeout, the read marks) before rendering: on SQLite the transaction holds the write lock.
    commit_before_rendering()
    # The newest message when the page was made: the same reply sent again from it is recognised (_sent_already).
    after = max((message.id for message in tip.messages), default=0)
    page = render_template("intake/followup_case.html", tip=tip, status=status_words(tip.status),
                           closed=tip.status == TipStatus.CLOSED.value, conversation=conversation, after=after,
                           values=checked.values if checked else {}, errors=checked.errors if checked else {})
    return page, status


def _open_message(tip: Tip, message: Message) -> str | None:
    """The message's text, or None when its row does not open (damaged): the staff console marks it the same way."""
    try:
        return open_for_tip(tip, f"message:{message.id}", message.body_ct or b"").decode("utf-8")
    except (DecryptionFailed, UnicodeDecodeError):
        log_event(log, "OPERATOR: a message of a tip does not open under the tip's key (a damaged row); the "
                  "reporter's page marks it unreadable", logging.ERROR, tip=tip.ref, message_id=message.id)
        return None


def _sent_already(tip: Tip, after: str | None, text: str, photos: list[CleanPhoto]) -> bool:
    """True when this very reply (its text and its photos as cleaned) was stored after the newest message of the page
    it was sent from (`after`): the same form sent again, by a second tap on a slow phone (the browser shows the
    second answer only) or by Back and "send again". Called with the tip's row locked (db_hold_for_reply), so two
    taps at the same moment take turns and the second finds the first."""
    newest = parse_small_int(after)
    if newest is None and after != "0":
        return False  # a page from before this field: stored as before
    for message in db.session.scalars(select(Message).where(
            Message.tip_id == tip.id, Message.from_reporter.is_(True), Message.id > (newest or 0))):
        sent = db.session.scalars(select(Attachment).where(Attachment.message_id == message.id)
                                  .order_by(Attachment.id)).all()
        if len(sent) != len(photos) or any(row.size != len(photo.data) for row, photo in zip(sent, photos,
                                                                                             strict=True)):
            continue
        try:
            if (open_for_tip(tip, f"message:{message.id}", message.body_ct or b"") == text.encode("utf-8")
                    and all(open_for_tip(tip, f"attachment:{row.id}", row.data_ct or b"") == photo.data
                            for row, photo in zip(sent, photos, strict=True))):
                return True
        except DecryptionFailed:
            continue
    return False


@bp.get("/followup")
def followup() -> str | tuple[str, int]:
    tip = rs.db_followup_tip()
    if tip is None:
        if rs.has_token(rs.FOLLOWUP):
            rs.db_end(rs.FOLLOWUP)
            db.session.commit()
            return _not_found()
        commit_before_rendering()
        return render_template("intake/followup_start.html", error=None)
    kept = rs.db_take_kept_message()
    setattr(g, KEPT_REPLY_KEY, kept)  # for the 503 page, should the case not open (app/intake/errors.py)
    return _case_page(tip, Checked(values={"message": kept}) if kept else None)


@bp.post("/followup")
def followup_open() -> Response | tuple[str, int]:
    typed = request.form.get("code", "")[:MAX_CODE_INPUT]
    kept = _kept_message()
    if not receipt_attempt_allowed():
        log_event(log, "receipt attempt throttled")
        return _not_found(kept, typed)
    tip = db_find_tip_by_receipt(typed)
    if tip is None:
        return _not_found(kept, typed)
    rs.db_end(rs.FOLLOWUP)
    # A kept reply rides in the new visit's row, not in this answer: a page answering this POST would leave the
    # receipt code in the browser's history, and "back" then "send again" would reopen the report after Leave.
    visit = rs.db_start(rs.FOLLOWUP, tip, kept_message=kept)
    db.session.commit()
    rs.remember(rs.FOLLOWUP, visit)
    if kept:
        # Back in the reply form, not sent: the reporter checks it and adds the photos again.
        flash(_("Your message is not sent yet. Check it, add any photos again, and press Send."))
    return redirect(url_for("intake.followup"), code=303)


@bp.post("/followup/language")
def followup_language() -> tuple[str, int]:
    # The follow-up page's language button submits the reply form here (?lang= is remembered before the view),
    # so the page comes back in the other language with the answer being written; a link would lose it.
    tip = rs.db_followup_tip()
    if tip is None:
        typed = request.form.get("code", "")[:MAX_CODE_INPUT]
        if request.form.get("refused") == "yes":  # a refused code, to correct: its refusal in the new language
            rs.db_end(rs.FOLLOWUP)
            db.session.commit()
            return _not_found(_kept_message(), typed)
        return _visit_over(typed)
    return _case_page(tip, Checked(values={"message": _kept_message()}, errors=photos_left_behind(request.form)))


@bp.post("/followup/reply")
# Each reply can hold 30 MB of photos: unlimited, one receipt code could fill the disk and bury the queue.
@limiter.limit(intake_rate_limit, methods=["POST"])
def followup_reply() -> Response | tuple[str, int]:
    tip = rs.db_followup_tip()
    if tip is None:
        return _visit_over()
    checked = Checked()
    check_text(checked, "message", request.form.get("message", ""), required=False)
    # Only spaces say nothing, and would reopen a closed case for staff to find an empty message.
    if not str(checked.values["message"]).strip() and not any(f.filename for f in request.files.getlist("photos")):
        checked.errors["message"] = _("Write a message or add a photo.")
    if not checked.errors:
        check_photos(checked, request.files)
    ask_for_photos_again(checked, request.files)
    if checked.errors:
        return _case_page(tip, checked, status=422)
    if not rs.db_hold_for_reply(tip):  # shredded by retention, or the visit ended, while the reply came in
        return _visit_over()
    if _sent_already(tip, request.form.get("after"), str(checked.values["message"]), checked.photos):
        # Answered as the first was: "sent" is true, and the reporter must not think the second tap lost it.
        db.session.commit()  # the visit's renewed expiry
        log_event(log, "reporter reply sent again from the same page: stored once", tip=tip.ref)
        flash(_("Thank you. Your message was sent."))
        return redirect(url_for("intake.followup"), code=303)
    db_add_reporter_message(tip, str(checked.values["message"]), checked.photos)
    ref = tip.ref
    db.session.commit()
    wake_dispatcher()  # a notice of the message may be in the outbox: out without a polling delay
    log_event(log, "reporter replied", tip=ref, photos=len(checked.photos))
    flash(_("Thank you. Your message was sent."))
    return redirect(url_for("intake.followup"), code=303)


@bp.post("/followup/leave")
def followup_leave() -> Response:
    rs.db_leave()
    db.session.commit()
    # A new CSRF token: a form of this visit sent again from the browser's history (Back, then "send again" on a
    # refused reply) is then "expired", instead of showing the next person at the computer what the reporter wrote.
    session.pop("csrf_token", None)
    flash(_("You have left your report. Nothing about it stays in this browser."))
    return redirect(url_for("intake.home"), code=303)


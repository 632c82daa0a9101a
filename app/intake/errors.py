"""Calm error pages for reporters. Failing closed means telling them, never storing a tip half-protected."""

from __future__ import annotations

import logging

from flask import current_app, g, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    TooManyRequests,
)

from app.crypto.errors import DecryptionFailed, KeyringUnavailable
from app.database import db_error_reason, reading
from app.extensions import db
from app.intake import bp
from app.intake import reporter_sessions as rs
from app.intake.followup import KEPT_REPLY_KEY, MAX_CODE_INPUT
from app.intake.requests import InvalidFormEncoding
from app.intake.throttle import minutes_until_allowed
from app.intake.views import page_context, report_values_as_sent, schools_by_town
from app.logs import log_event

log = logging.getLogger("app.intake")
# Addresses of staff and of Twilio: their errors keep werkzeug's plain pages, never the reporter's.
_NOT_REPORTER_PATHS = ("/console", "/hooks")
# A reply, the receipt code entered again with a reply kept from an ended session, and a reply sent along by the
# language button.
_FORMS_WITH_A_MESSAGE = {"intake.followup_reply", "intake.followup_open", "intake.followup_language"}
# The receipt of a tip just stored, shown and confirmed.
_RECEIPT_PAGES = {"intake.receipt", "intake.receipt_confirm"}
# The report form, sent to be stored or, by the language button, to come back in the other language.
_FORMS_WITH_A_REPORT = {"intake.report_submit", "intake.report_language"}


def _page(title: str, message: str, status: int, kept_message: str = "",
          kept_report: dict[str, object] | None = None, keep_notices: bool = False) -> tuple[str, int]:
    return render_template("intake/error.html", title=title, message=message, kept_message=kept_message,
                           kept_report=kept_report, keep_notices=keep_notices), status


def _unavailable() -> tuple[str, int]:
    db.session.rollback()
    if request.endpoint in _RECEIPT_PAGES and rs.has_token(rs.RECEIPT):
        # The tip was committed before its receipt cookie was set: only showing its code failed (a PostgreSQL
        # connection cut just after the 303, a failover). "Not available" alone read as a lost report, and the
        # reporter sent it again: the SRO paged twice, the first receipt code never seen.
        return render_template("intake/receipt_unavailable.html"), 503
    kept_reply = g.get(KEPT_REPLY_KEY, "")
    if request.endpoint == "intake.followup" and kept_reply:
        # A reply kept from an ended visit, brought back by the receipt code: it is sealed under the visit's token,
        # not the keyring, so it can be shown to copy. Not sent, and nothing sends it later by itself: say so. The
        # rollback leaves it in the visit's row, so the reply form has it again if the keys are back within the
        # visit. The "press Send" notice waits for that form (there is no Send button here).
        return _page(_("Tipline is not available right now"),
                     _("Your message was not sent. It is below: copy it and send it again in a little while. If "
                       "someone is in danger right now, call 911."), 503, kept_message=kept_reply, keep_notices=True)
    if request.method != "POST" or request.endpoint == "intake.receipt_confirm":
        # A page that only shows something, or the receipt's "I saved it" after a stored tip, sent nothing:
        # "Nothing was sent" there would make the reporter send the tip again.
        return _page(_("Tipline is not available right now"), _("Please try again in a little while."), 503)
    title = _("Tipline cannot take reports right now")
    # The reporter's pages are never stored (no-store), so going back may show an empty form: what was typed
    # comes back on this page instead, the report in its form (sending again is one press), a reply to copy.
    if request.endpoint in _FORMS_WITH_A_REPORT:
        form_again = _report_form_as_sent(title, _(
            "Nothing was sent. What you wrote is still below: please send it again in a little while, and add "
            "any photos again. If someone is in danger right now, call 911."), 503)
        if form_again is not None:
            return form_again
    kept = request.form.get("message", "") if request.endpoint in _FORMS_WITH_A_MESSAGE else ""
    if request.endpoint == "intake.followup_open":
        # The receipt code stays in its field, as a refused one does: 24 characters are not typed twice.
        unavailable = {"title": title, "message": _(
            "Nothing was sent. Please try again in a little while. If someone is in danger right now, call 911.")} \
            if kept else {"title": _("Tipline is not available right now"),
                          "message": _("Please try again in a little while.")}
        return render_template("intake/followup_start.html", error=None, unavailable=unavailable, kept_message=kept,
                               typed_code=request.form.get("code", "")[:MAX_CODE_INPUT]), 503
    kept_report = None
    if request.endpoint in _FORMS_WITH_A_REPORT:
        # The database cannot even list the schools (PostgreSQL restarting, say): the report's text to copy.
        kept_report = report_values_as_sent()
    return _page(title, _("Nothing was sent. Please try again in a little while. If someone is in danger right now, "
                          "call 911."), 503, kept_message=kept, kept_report=kept_report)


def _report_form_as_sent(title: str, message: str, status: int) -> tuple[str, int] | None:
    try:
        with reading():
            groups = schools_by_town()
        return render_template("intake/report.html", groups=groups, values=report_values_as_sent(), errors={},
                               unavailable={"title": title, "message": message}), status
    except SQLAlchemyError:  # the database cannot even be read: the plain page, with the text to copy
        return None
    except Exception as exc:  # noqa: BLE001 - nor may a failing form page lose the text
        log_event(log, "the report form could not be shown again; its text is on the plain page", logging.ERROR,
                  error=type(exc).__name__)
        return None


@bp.errorhandler(KeyringUnavailable)
def keyring_unavailable(exc: KeyringUnavailable) -> tuple[str, int]:
    log_event(log, "OPERATOR: intake refused, the keyring is unavailable; nothing was stored", logging.CRITICAL,
              reason=str(exc))
    return _unavailable()


@bp.errorhandler(DecryptionFailed)
def decryption_failed(exc: DecryptionFailed) -> tuple[str, int]:
    log_event(log, "OPERATOR: a ciphertext did not authenticate (wrong keyring or tampered data)",
              logging.CRITICAL, reason=str(exc))
    return _unavailable()


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError) -> tuple[str, int]:
    # Locked for longer than the busy timeout, or unreachable: the transaction is rolled back whole, so
    # nothing half-stored remains; the reporter is told to send again. No SQL and no values are logged.
    if request.endpoint in _RECEIPT_PAGES and rs.has_token(rs.RECEIPT):
        log_event(log, "OPERATOR: a stored tip's receipt could not be shown, the database is locked or unreachable",
                  logging.ERROR, error=db_error_reason(exc))
    else:
        log_event(log, "OPERATOR: intake refused, the database is locked or unreachable; nothing was stored",
                  logging.ERROR, error=db_error_reason(exc))
    return _unavailable()


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    # Nothing of the body was read, the text typed included: the page cannot give it back, so it says where it is.
    return _page(_("What you sent is too large"),
                 _("Nothing was sent, not even your text. Go back: your browser usually still shows what you wrote "
                   "in the form. Copy it somewhere safe first, then choose at most 3 photos (JPEG, PNG or WebP, up "
                   "to 10 MB each) and send again."), 413)


@bp.get("/too-large")
def too_large_page() -> tuple[str, int]:
    """The same page for nginx (deploy/nginx-tipline.conf, error_page 413), which refuses a body over its
    client_max_body_size itself: its own page is in English and says nothing of the text or of 911."""
    return too_large(RequestEntityTooLarge())


@bp.errorhandler(TooManyRequests)
def too_many(_exc: TooManyRequests) -> tuple[str, int]:
    # How long, from the limiter's reset time: "in a few minutes" sent a reporter whose hourly limit was used up
    # back again and again for close to an hour. Said as before when the limiter cannot tell.
    minutes = minutes_until_allowed()
    if request.endpoint == "intake.followup_reply":
        return _page(_("Please wait a little"), _(
            "Many messages were sent from this connection in a short time, so this one was not sent. Please try again "
            "in a few minutes. If someone is in danger right now, call 911.") if minutes is None else ngettext(
            "Many messages were sent from this connection in a short time, so this one was not sent. Please try again "
            "in %(num)d minute. If someone is in danger right now, call 911.",
            "Many messages were sent from this connection in a short time, so this one was not sent. Please try again "
            "in %(num)d minutes. If someone is in danger right now, call 911.", minutes), 429,
                     kept_message=request.form.get("message", ""))
    if request.endpoint == "intake.report_submit":
        form_again = _report_form_as_sent(_("Please wait a little"), _(
            "Many reports were sent from this connection in a short time, so this one was not sent. What you "
            "wrote is still below: please send it again in a few minutes, and add any photos again. If someone "
            "is in danger right now, call 911.") if minutes is None else ngettext(
            "Many reports were sent from this connection in a short time, so this one was not sent. What you wrote "
            "is still below: please send it again in %(num)d minute, and add any photos again. If someone is in "
            "danger right now, call 911.",
            "Many reports were sent from this connection in a short time, so this one was not sent. What you wrote "
            "is still below: please send it again in %(num)d minutes, and add any photos again. If someone is in "
            "danger right now, call 911.", minutes), 429)
        if form_again is not None:
            return form_again
    return _page(_("Please wait a little"), _(
        "Many reports were sent from this connection in a short time, so this one was not sent. Please try again in "
        "a few minutes. If someone is in danger right now, call 911.") if minutes is None else ngettext(
        "Many reports were sent from this connection in a short time, so this one was not sent. Please try again in "
        "%(num)d minute. If someone is in danger right now, call 911.",
        "Many reports were sent from this connection in a short time, so this one was not sent. Please try again in "
        "%(num)d minutes. If someone is in danger right now, call 911.", minutes), 429)


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError) -> tuple[str, int]:
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        # No cookie came back at all: the browser blocks cookies, and "reload and send again" would loop forever.
        # What was typed comes back to copy (the form is no-store: "go back" shows it empty). A form of a visit sent
        # again from the history after its report was stored (or after Leave) brings the cookie, and is refused
        # below without showing anything.
        kept_report = report_values_as_sent() if request.endpoint in _FORMS_WITH_A_REPORT else None
        kept_message = request.form.get("message", "") if request.endpoint in _FORMS_WITH_A_MESSAGE else ""
        return _page(_("This form needs a cookie"),
                     _("Nothing was sent: your browser did not send back this site's cookie. Please allow cookies "
                       "for this site (the cookie holds no name and is deleted when you close the browser), then "
                       "go back, reload the page and send the form again."), 400, kept_message=kept_message,
                     kept_report=kept_report)
    return _page(_("This form has expired"),
                 _("Nothing was sent. Please go back, reload the page and send the form again."), 400)


@bp.errorhandler(InvalidFormEncoding)
def bad_encoding(_exc: InvalidFormEncoding) -> tuple[str, int]:
    return _page(_("The form could not be read"),
                 _("Nothing was sent: the text did not arrive as valid UTF-8. Please go back and send it "
                   "again from your browser."), 400)


def _on_reporter_side() -> bool:
    if request.blueprint is not None:
        return request.blueprint == "intake"
    return not request.path.startswith(_NOT_REPORTER_PATHS)  # an address no route matched


@bp.app_errorhandler(NotFound)
@bp.app_errorhandler(MethodNotAllowed)
def not_a_page(exc: HTTPException) -> HTTPException | tuple[str, int, dict[str, str]]:
    # A mistyped address from a poster, or a reply form's address opened again: a page in the reporter's
    # language with the way home and the 911 line, not werkzeug's English one.
    if not _on_reporter_side():
        if request.path.startswith("/console"):
            # A staff address no route matched, or a reports page refused (an unknown table): the console's own page,
            # in its layout (the console's blueprint answers its own first). Twilio's addresses keep werkzeug's.
            from app.console.errors import unmatched_address

            return unmatched_address(exc) if isinstance(exc, NotFound | MethodNotAllowed) else exc
        return exc
    page = render_template("intake/error.html", title=_("Page not found"),
                           message=_("There is no page at this address."), **page_context())
    valid = exc.valid_methods if isinstance(exc, MethodNotAllowed) else None
    return page, exc.code or 404, {"Allow": ", ".join(valid)} if valid else {}


@bp.app_errorhandler(InternalServerError)
def unexpected_error(exc: InternalServerError) -> InternalServerError | tuple[str, int]:
    # Flask has logged the exception already; the reporter gets the calm page and the 911 line.
    if not _on_reporter_side():
        return exc
    if request.endpoint in _FORMS_WITH_A_REPORT | _FORMS_WITH_A_MESSAGE:
        # Nothing was stored (nothing after the commit of a report or a reply raises, and _unavailable rolls back),
        # and the browser keeps no copy of the form (no-store): what was typed comes back as it does for a database
        # that does not answer, or the report would be lost.
        try:
            page, _status = _unavailable()
            return page, 500
        except Exception as failure:  # noqa: BLE001 - whatever else fails, the plain calm page below
            log_event(log, "the page keeping a reporter's text after an unexpected error failed too", logging.ERROR,
                      error=type(failure).__name__)
    page = render_template("intake/error.html", title=_("Something went wrong"),
                           message=_("Please try again in a little while."), **page_context())
    return page, 500

"""The console's page for a database locked past the busy timeout or unreachable: a 503 that says nothing was
saved and gives back what was typed, instead of werkzeug's bare 500 and a lost note or message. The reports
blueprint (/console/reports) registers the same handler. And the same 503 for a step that needs the keyring
when it is missing or wrong (signing in: authenticator secrets are sealed under it)."""

from __future__ import annotations

import logging

from flask import current_app, g, render_template, request
from sqlalchemy.exc import OperationalError

from app.console import bp
from app.crypto.errors import DecryptionFailed, KeyringUnavailable
from app.database import db_error_reason
from app.extensions import db
from app.logs import log_event

log = logging.getLogger("app.console")
# The forms whose text would be lost with the page: a note, a message to the reporter and the reason of a legal
# hold or its release (field "body").
FORMS_WITH_TEXT = {"console.add_note": "note", "console.send_message": "message to the reporter",
                   "console.set_legal_hold": "reason for the legal hold",
                   "console.release_legal_hold": "reason for releasing the legal hold"}


def typed_text() -> tuple[str | None, str]:
    """For a note, a message to the reporter or a hold's reason that was not saved (session ended, form expired,
    database busy, keyring unavailable, the case not found or not allowed): what it is ("note") and the text as
    typed, to give back in the response (never in a log, a flash, a cookie or an address); (None, "") for any
    other request."""
    kind = FORMS_WITH_TEXT.get(request.endpoint or "") if request.method == "POST" else None
    return kind, request.form.get("body", "") if kind else ""


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError) -> tuple[str, int, dict[str, str]]:
    # The transaction is rolled back whole, so nothing is half-saved. No SQL and no values are logged. The page
    # reads nothing from the database (not even who is signed in): it would wait for the same lock again.
    db.session.rollback()
    if "_login_user" not in g:  # the sign-in check itself failed: templates must not ask the database again
        g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    log_event(log, "OPERATOR: a console request failed, the database is locked or unreachable; nothing was saved",
              logging.ERROR, endpoint=request.endpoint or "",
              error=db_error_reason(exc))
    return _page_giving_back_the_text(keys=False), 503, {"Retry-After": "30"}


@bp.errorhandler(KeyringUnavailable)
@bp.errorhandler(DecryptionFailed)
def keys_unavailable(exc: KeyringUnavailable | DecryptionFailed) -> tuple[str, int, dict[str, str]]:
    """A console step that needs the keyring and cannot have it: the second step of signing in and enrolment
    (the authenticator secret is sealed), a note, a message or a hold's reason to seal, or any page that let the
    error through. Fails closed as intake does:
    nothing is written (not even a failed attempt: the person's code was never checked), never a plaintext
    fallback, and the operator is told why. Case pages opening a tip catch these themselves and say so on the
    case."""
    db.session.rollback()
    if isinstance(exc, KeyringUnavailable):
        message = "OPERATOR: a console request needs the keyring, which is unavailable; nothing was saved"
    else:
        message = ("OPERATOR: a staff sealed value did not authenticate (wrong keyring, a row copied or altered); "
                   "nothing was saved")
    log_event(log, message, logging.CRITICAL, endpoint=request.endpoint or "", reason=str(exc))
    # A note, a message or a hold's reason cannot be sealed without the keyring: given back to save again once it
    # is back, as the busy database's page does (it went to the case page with a flash, the text gone).
    return _page_giving_back_the_text(keys=True), 503, {"Retry-After": "60"}


def _page_giving_back_the_text(*, keys: bool) -> str:
    """The 503 page, with a refused note's, message's or hold reason's text in a form that sends it again as it
    came: the ready-made question it was, and the hold its page showed ("Save again" must not release a hold set
    since)."""
    kind, kept = typed_text()
    form = request.form if kind else {}
    return render_template("console/unavailable.html", bare=True, keys=keys, wrote=request.method == "POST",
                           kind=kind, kept=kept, template=form.get("template", ""), hold_was=form.get("hold_was", ""),
                           again=request.path if kind else None)

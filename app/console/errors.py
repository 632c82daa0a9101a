"""The console's own pages for a refused or unknown request, in its layout (phone-sized, a way back to the queue),
instead of werkzeug's bare ones: an SRO who taps an SMS link at 3 a.m. must not be left on an unstyled page.

A case of a school the person is not assigned to is a 404 like one that does not exist (app/console/scope.py), and
its page is the same page, word for word. So is an address under /console that no route matches (cut short, or a
form sent to a page that only shows): the app-wide handler (app/intake/errors.py) hands it here.
"""

from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, MethodNotAllowed, NotFound

from app.console import bp
from app.console.unavailable import typed_text

_DEFAULT_BAD_REQUEST = BadRequest.description


def _page(title: str, message: str, error: HTTPException) -> tuple[str, int]:
    # A note, a message or a hold's reason refused here (the case no longer among the person's schools, a role that
    # may no longer hold, a NUL character) comes back to copy: the page it was typed on is behind, and no-store. The
    # same for a case that does not exist: it depends on nothing but what was sent.
    kind, kept = typed_text()
    kept = kept.replace("\x00", "")  # pasted with a NUL character (refused first): given back without it
    return render_template("console/error.html", title=title, message=message, kind=kind,
                           kept=kept if kept.strip() else ""), error.code or 500


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[str, int]:
    return _page("Not found", "Nothing here that you can see: no case with that reference in the schools you are "
                 "assigned to, or no such page. If you think you should see it, ask the district admin.", error)


@bp.errorhandler(Forbidden)
def forbidden(error: Forbidden) -> tuple[str, int]:
    return _page("Not allowed", "Your role cannot do this. If you think it should, ask the district admin.", error)


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest) -> tuple[str, int]:
    # A description written for the person (a NUL character) is shown; werkzeug's generic one is not.
    said = error.description if error.description and error.description != _DEFAULT_BAD_REQUEST else ""
    return _page("This request could not be used", said or "Nothing was changed. Go back, reload the page and try "
                 "again.", error)


def unmatched_address(error: NotFound | MethodNotAllowed) -> tuple[str, int, dict[str, str]]:
    """An address under /console that no route matched ('/console/tips/' cut short, a form sent to the queue's
    address): blueprint handlers never see it (no endpoint), so the app-wide one calls this. The console's page, not
    werkzeug's bare one; it reads nothing of any tip, and says the same signed in or not."""
    if isinstance(error, MethodNotAllowed):
        page, code = _page("Nothing was changed", "This address does not take what was sent: nothing was changed. "
                           "Go back to the queue and open the page again.", error)
        return page, code, {"Allow": ", ".join(error.valid_methods)} if error.valid_methods else {}
    page, code = not_found(error)
    return page, code, {}

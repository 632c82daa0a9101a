"""Home, the report form and the receipt."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.alerts import wake_dispatcher
from app.crypto.keystore import current_keyring
from app.database import reading, reads_only
from app.extensions import db, limiter
from app.intake import bp
from app.intake import reporter_sessions as rs
from app.intake.submit import NewTip, TriageUnavailable, assess, db_store_tip, triage_model
from app.intake.throttle import intake_rate_limit
from app.intake.validation import check_report, photos_left_behind
from app.logs import log_event
from app.models import School
from app.small_ints import parse_small_int
from app.transactions import commit_before_rendering

log = logging.getLogger("app.intake")


@bp.before_app_request
def _remember_language() -> None:
    # ?lang=es on any page switches the language for the rest of the visit (no JavaScript needed).
    lang = request.args.get("lang")
    if lang and lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang


# Pages shown by a POST to an address that has no GET (a refused reply): the language links go to the page the
# form was on instead, which a GET can open. A POST to an address that also has a GET page (/receipt, /followup)
# links to that address.
_PAGE_OF_POST_ONLY = {"intake.followup_reply": "intake.followup", "intake.followup_language": "intake.followup"}


def _language_switch_path() -> str:
    # Quoted: the path of an unknown address is the visitor's own text, and "/\\evil.example" (or a tab after
    # the first slash) is read by browsers as another host, so the genuine 404 page would link to a copy of it.
    rule = request.url_rule
    if rule is None or "GET" in (rule.methods or ()):
        return quote(request.path)
    try:
        current_app.url_map.bind("").match(request.path, method="GET")
        return quote(request.path)
    except HTTPException:
        return url_for(_PAGE_OF_POST_ONLY.get(str(request.endpoint), "intake.home"))


@bp.context_processor
def page_context() -> dict[str, object]:
    """What intake/base.html needs; error pages outside the blueprint (an unknown address) pass it themselves."""
    return {"receipt_pending": rs.has_token(rs.RECEIPT)
            and request.endpoint not in {"intake.receipt", "intake.receipt_confirm"},
            "locale": str(get_locale() or "en"), "language_switch_path": _language_switch_path()}


@dataclass(frozen=True)
class SchoolChoice:
    id: int
    name: str


def schools_by_town() -> dict[str, list[SchoolChoice]]:
    """Active schools grouped by town, as plain values (still usable after the transaction ends)."""
    groups: dict[str, list[SchoolChoice]] = defaultdict(list)
    rows = db.session.execute(
        select(School.id, School.name, School.town).where(School.active.is_(True)).order_by(School.name))
    for school_id, name, town in rows:
        groups[town].append(SchoolChoice(school_id, name))
    return dict(sorted(groups.items()))


@bp.get("/")
@reads_only
def home() -> str:
    commit_before_rendering()  # nothing read: this only makes sure no transaction outlives the view
    return render_template("intake/home.html")


@bp.get("/report")
@reads_only
def report_form() -> str:
    # Fail closed before the reporter types anything, not after. The model is loaded ahead of the POST; without
    # one the tip is still taken (at critical, see `assess`), so the form stays open.
    current_keyring()
    try:
        triage_model()
    except TriageUnavailable:
        pass
    groups = schools_by_town()
    # A flood of anonymous page views must not hold the write lock (SQLite) while their pages render.
    commit_before_rendering()
    return render_template("intake/report.html", groups=groups, values={}, errors={})


def report_values_as_sent() -> dict[str, object]:
    """What the reporter typed in the report form, unchecked, to show the form again with it."""
    form = request.form
    return {"school": parse_small_int(form.get("school", "")), "description": form.get("description", ""),
            "happening_now_answer": form.get("happening_now", ""), "contact": form.get("contact", "")}


@bp.post("/report/language")
@reads_only
def report_language() -> str:
    # The report form's language button submits the form here (?lang= is remembered before the view), so the
    # form comes back in the other language with what was typed; a plain link would leave the text behind.
    groups = schools_by_town()
    commit_before_rendering()
    return render_template("intake/report.html", groups=groups, values=report_values_as_sent(),
                           errors=photos_left_behind(request.form))


@bp.post("/report")
@limiter.limit(intake_rate_limit, methods=["POST"])
def report_submit() -> Response | tuple[str, int]:
    # Read without the write lock (SQLite): the only write of this request is the short one that stores it.
    with reading():
        groups = schools_by_town()
    school_ids = {s.id for schools in groups.values() for s in schools}
    checked = check_report(request.form, request.files, school_ids)
    if checked.errors:
        return render_template("intake/report.html", groups=groups, values=checked.values,
                               errors=checked.errors), 422
    happening = checked.values["happening_now"]
    new = NewTip(school_id=int(str(checked.values["school"])), text=str(checked.values["description"]),
                 happening_now=happening if isinstance(happening, bool) else None,
                 contact=str(checked.values["contact"]), photos=checked.photos,
                 language=str(get_locale() or "en"))
    assessment = assess(new.text, new.happening_now)
    tip, code = db_store_tip(new, assessment)
    receipt_token = rs.db_start(rs.RECEIPT, tip, receipt_code=code)
    facts: dict[str, Any] = {"tip": tip.ref, "school_id": tip.school_id, "urgency": tip.urgency,
                             "photos": len(new.photos)}
    db.session.commit()
    rs.remember(rs.RECEIPT, receipt_token)
    # A new CSRF token: the forms that led here (the language button, a refused report) stay in the browser's
    # history with the whole report; sent again from there (Back, "send again") they are now expired forms, which
    # neither show the report to the next person at the computer nor store it a second time.
    session.pop("csrf_token", None)
    # Nothing may touch the database session from here on: a refresh would hold a pooled connection while
    # wake_dispatcher() takes another (50 concurrent reporters exhausted the PostgreSQL pool that way).
    wake_dispatcher()
    log_event(log, "tip received", logging.INFO, **facts)
    return redirect(url_for("intake.receipt"), code=303)


def _receipt_gone() -> tuple[str, int]:
    rs.forget(rs.RECEIPT)
    commit_before_rendering()
    return render_template("intake/receipt_gone.html"), 404


@bp.get("/receipt")
@reads_only
def receipt() -> str | tuple[str, int]:
    # Only reads: right after a stored tip, a busy writer must not turn the receipt into an error page
    # (the reporter would send the tip again, and never see this one's code).
    pending = rs.db_pending_receipt()
    if pending is None:
        return _receipt_gone()
    tip, code = pending
    commit_before_rendering()
    return render_template("intake/receipt.html", tip=tip, code=code, error=None)


@bp.post("/receipt")
def receipt_confirm() -> Response | tuple[str, int]:
    pending = rs.db_pending_receipt()
    if pending is None:
        return _receipt_gone()
    tip, code = pending
    if request.form.get("saved") == "yes":
        rs.db_end(rs.RECEIPT)
        db.session.commit()
        return redirect(url_for("intake.done"), code=303)
    error = _("Please tick the box to confirm you have saved your receipt code. Without it, you cannot "
              "answer questions or add information later.")
    commit_before_rendering()
    return render_template("intake/receipt.html", tip=tip, code=code, error=error), 422


@bp.get("/done")
@reads_only
def done() -> str:
    commit_before_rendering()
    return render_template("intake/done.html")

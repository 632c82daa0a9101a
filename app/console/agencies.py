"""District admins: the agencies (police departments, sheriff's offices) that serve the schools, and renaming one.

An agency is added on the server (`flask schools add-agency`); here a typo made there, or a department renamed, is
put right, on the audit record as it was and became.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from app import audit
from app.console import bp
from app.console.access import admin_required, me
from app.console.admin import CHANGED_MEANWHILE, SCHOOL_ROW_LOCK, outdated, state_marker
from app.console.forms import AgencyForm
from app.extensions import db, db_take_turns_on
from app.models import Agency
from app.transactions import commit_before_rendering

INVISIBLE = "Use letters, digits, spaces and punctuation only: this has a character that cannot be seen or typed."


def _fields(agency: Agency) -> dict[str, Any]:
    return {"name": agency.name, "short_name": agency.short_name}


def agency_marker(agency: Agency) -> str:
    """What the agency's form carries of the agency as its page showed it: a second admin's rename, or another
    tab's, is not undone by a page opened before it."""
    return state_marker(_fields(agency))


def _taken_by_another(agency: Agency, column: Any, value: str) -> bool:
    return db.session.scalar(select(Agency.id).where(func.lower(column) == value.lower(), Agency.id != agency.id)
                             .limit(1)) is not None


@bp.get("/admin/agencies")
@admin_required
def admin_agencies() -> str:
    agencies = list(db.session.scalars(select(Agency).order_by(Agency.name).options(selectinload(Agency.schools))))
    commit_before_rendering()
    return render_template("console/admin_agencies.html", agencies=agencies)


@bp.route("/admin/agencies/<row_id:agency_id>", methods=["GET", "POST"])
@admin_required
def admin_agency_edit(agency_id: int) -> str | Response:
    saving = request.method == "POST"
    # A save locks the row and reads it afresh, as a school's does: of two renames at once the second waits, then
    # finds the agency changed.
    agency = db.session.get(Agency, agency_id, with_for_update=SCHOOL_ROW_LOCK if saving else None,
                            populate_existing=saving) or abort(404)
    if not saving:
        form = AgencyForm(formdata=None, obj=agency, agency_was=agency_marker(agency))
        return _page(form, agency)
    form = AgencyForm()
    if not form.validate_on_submit():
        return _page(form, agency)
    if outdated(form.agency_was.data, agency_marker(agency)):
        flash(CHANGED_MEANWHILE.format("agency"), "error")
        return redirect(url_for("console.admin_agency_edit", agency_id=agency.id))
    name, short_name = str(form.name.data).strip(), str(form.short_name.data).strip().upper()
    for box, value in ((form.name, name), (form.short_name, short_name)):
        if not value.isprintable():
            box.errors = [INVISIBLE]
            return _page(form, agency)
    # Two admins giving two agencies one name at once: each locks only its own row, so such saves take turns.
    db_take_turns_on("agency names")
    if _taken_by_another(agency, Agency.name, name):
        form.name.errors = ["Another agency has this name: staff and the operator would not tell the two apart."]
        return _page(form, agency)
    if _taken_by_another(agency, Agency.short_name, short_name):
        form.short_name.errors = [f"Another agency has the short name {short_name}."]
        return _page(form, agency)
    before = _fields(agency)
    agency.name, agency.short_name = name, short_name
    after = _fields(agency)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        flash("Nothing changed.", "info")
        return redirect(url_for("console.admin_agency_edit", agency_id=agency.id))
    audit.record("agency.updated", actor=me(), agency_id=agency.id, changed=changed,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    # Nothing after the commit reads the database (the agency's id is the address's): `agency.id`, expired by the
    # commit, began a new transaction, and a refusal in that instant answered "nothing was saved" about a rename saved.
    db.session.commit()
    flash("Agency saved.", "info")
    return redirect(url_for("console.admin_agency_edit", agency_id=agency_id))


def _page(form: AgencyForm, agency: Agency) -> str:
    schools = sorted(agency.schools, key=lambda s: s.name)
    commit_before_rendering()
    return render_template("console/admin_agency_edit.html", form=form, agency=agency, schools=schools)

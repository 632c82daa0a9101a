"""The audit record in the console, for district admins: filter, page, and check the chain."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from sqlalchemy import and_, false, func, or_, select

from app import audit
from app.console import bp
from app.console.access import admin_required, me
from app.console.forms import AuditFilterForm, ConfirmForm
from app.console.queue import read_reference
from app.extensions import db
from app.models import AuditEvent
from app.transactions import commit_before_rendering

PAGE_SIZE = 100
FILTERS = ("action", "actor", "tip_ref")
# Events about many tips at once (an export of decrypted tips, a retention purge) name them in the detail's
# reference lists, not in tip_ref: filtering by a tip must find them too, or "who has read this tip?" misses them.
MANY_TIP_ACTIONS = ("labels.exported", "tips.purged")


def _filtered(form: AuditFilterForm) -> Any:
    """The events the filters ask for. Each filter stands on its own: a bad page number drops none of them,
    and a filter that does not validate matches nothing rather than widening the list."""
    form.validate()
    query = select(AuditEvent)
    if form.action.errors or form.actor.errors or form.tip_ref.errors:
        return query.where(false())
    if form.action.data:
        # Actions are lower case; LIKE ignores case on SQLite and not on PostgreSQL, so the filter is lowered.
        query = query.where(AuditEvent.action.startswith(form.action.data.strip().lower(), autoescape=True))
    if form.actor.data:
        query = query.where(func.lower(AuditEvent.actor_label) == form.actor.data.strip().lower())
    if form.tip_ref.data:
        # As the queue's box reads it: "7kq-2mo" asked of the record must find 7KQ2M0's events, not "nobody".
        ref = read_reference(form.tip_ref.data)
        query = query.where(or_(AuditEvent.tip_ref == ref, and_(
            AuditEvent.action.in_(MANY_TIP_ACTIONS), AuditEvent.detail.contains(f'"{ref}"', autoescape=True))))
    return query


def _audit_page(report: audit.ChainReport | None = None) -> str:
    form = AuditFilterForm(request.args)
    query = _filtered(form)
    page = 1 if form.page.errors or not form.page.data else int(form.page.data)
    total = db.session.scalar(query.with_only_columns(func.count(AuditEvent.id)).order_by(None)) or 0
    events = list(db.session.scalars(
        query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    # The verify form and the page links carry the filters only: the raw query could name url_for()'s own
    # arguments (endpoint, _method, _external...).
    filter_args = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    commit_before_rendering()
    return render_template("console/admin_audit.html", form=form, events=events, total=total, page=page,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), report=report,
                           verify_form=ConfirmForm(), detail_of=audit.parse_detail, filter_args=filter_args)


@bp.get("/admin/audit")
@admin_required
def admin_audit() -> str:
    return _audit_page()


@bp.post("/admin/audit/verify")
@admin_required
def admin_audit_verify() -> str:
    """Check the whole chain. A POST: the check is itself an audit event, and a GET must change nothing."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = audit.verify_chain()
    audit.record("audit.verified", actor=me(), ok=report.ok, checked=report.checked,
                 first_broken_id=report.first_broken_id)
    # Committed with the page read (_audit_page), not before it: read after a plain commit, a database refusing in
    # that instant answered "nothing was saved" about a check on the record.
    return _audit_page(report)

"""The audit record in the console, for district admins: filter, page, and check the chain."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import func, select

from app import audit
from app.console import bp
from app.console.access import admin_required, me
from app.console.forms import AuditFilterForm
from app.extensions import db
from app.models import AuditEvent

PAGE_SIZE = 100


@bp.get("/admin/audit")
@admin_required
def admin_audit() -> str:
    form = AuditFilterForm(request.args)
    query = select(AuditEvent)
    if form.validate():
        if form.action.data:
            query = query.where(AuditEvent.action.startswith(form.action.data.strip(), autoescape=True))
        if form.actor.data:
            query = query.where(func.lower(AuditEvent.actor_label) == form.actor.data.strip().lower())
        if form.tip_ref.data:
            query = query.where(AuditEvent.tip_ref == form.tip_ref.data.strip().upper())
    page = form.page.data or 1 if not form.page.errors else 1
    total = db.session.scalar(query.with_only_columns(func.count(AuditEvent.id)).order_by(None)) or 0
    events = list(db.session.scalars(
        query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    report = audit.verify_chain() if request.args.get("verify") == "1" else None
    if report is not None:
        audit.record("audit.verified", actor=me(), ok=report.ok, checked=report.checked,
                     first_broken_id=report.first_broken_id)
        db.session.commit()
    return render_template("console/admin_audit.html", form=form, events=events, total=total, page=page,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), report=report,
                           detail_of=audit.parse_detail)

"""The audit record: append-only, each event chained to the one before by a hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow


class AuditEvent(db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(254))  # e.g. the email of a failed sign-in
    action: Mapped[str] = mapped_column(String(64), index=True)
    tip_ref: Mapped[str | None] = mapped_column(String(12), index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON; never tip content
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

"""The alert outbox: one row per SMS to send, written in the transaction that stores the tip."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow


class AlertStatus(enum.StrEnum):
    PENDING = "pending"  # due at due_at (now, or the start of the school day)
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"  # accepted by Twilio; waiting for delivery or an acknowledgement
    DELIVERED = "delivered"
    FAILED = "failed"  # failed for good (bad number, opted out, undeliverable): escalated
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"  # not needed any more (the tip was acknowledged by someone else)
    FOLDED = "folded"  # sent as part of a "+N related tips" message


# A notice of a reporter's new message (app/alerts/reporter_messages.py): sent like any alert, but no step of the
# chain. Escalation, "1"/ACK's reading of the chain, the quarterly figures and the folding leave these rows out.
REPLY_KIND = "reply"


class Alert(db.Model):  # type: ignore[name-defined]
    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    chain_position: Mapped[int] = mapped_column(Integer)  # which step of the escalation chain
    repeat: Mapped[int] = mapped_column(Integer, default=0)  # re-sends to the last person of the chain
    kind: Mapped[str] = mapped_column(String(16), default="initial")  # initial, escalation, repeat, folded, reply
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.PENDING.value)
    # Pending: when it is to be sent. Failed: when it failed, its escalation being due then (health counts from it).
    due_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims, a killed worker's included
    # Sends that failed and will be retried: the backoff grows with these, not with claims.
    send_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    body: Mapped[str | None] = mapped_column(String(320))  # never tip text: see notifications/messages.py
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    twilio_status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Lookups of a sent SMS's delivery status whose report never came (app/alerts/delivery_checks.py), and the last.
    delivery_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_checked_at: Mapped[datetime | None] = mapped_column(DateTime)

    tip = relationship("Tip")
    staff = relationship("Staff")


class WorkerLease(db.Model):  # type: ignore[name-defined]
    """On SQLite only one alert worker runs at a time: it holds this lease and renews it."""

    __tablename__ = "worker_lease"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class SmsCheckStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the worker
    SENDING = "sending"  # claimed by a worker until lease_until
    SENT = "sent"  # accepted by Twilio; no delivery report yet
    DELIVERED = "delivered"  # the carrier reported it delivered to the phone
    FAILED = "failed"  # refused or undelivered (error_code says why), or the person could not be sent an SMS


class SmsCheck(db.Model):  # type: ignore[name-defined]
    """A test SMS a district admin sent to someone of a school's chain, to see that their phone is reached: sent by
    the alert worker through the same transport as alerts, never from the web request. It is about no tip, and
    its text is fixed (notifications.messages.check_text); it is no step of any chain and no figure counts it."""

    __tablename__ = "sms_check"
    __table_args__ = (Index("ix_sms_check_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)  # who is to receive it
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)  # whose chain it tests
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(16), default=SmsCheckStatus.PENDING.value)
    to_phone: Mapped[str | None] = mapped_column(String(20))  # the number it went to, as it was then
    due_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    twilio_status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    staff = relationship("Staff", foreign_keys=[staff_id])

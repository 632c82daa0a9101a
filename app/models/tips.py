"""Tips and their encrypted parts. Only metadata is stored in clear; every *_ct column is AES-GCM sealed
under the tip's own data key (app/crypto.py), which is itself stored wrapped by a key-encryption key."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    and_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow


class TipStatus(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    CLOSED = "closed"


# A resolved or closed case can go back to the queue, at this status.
FINISHED_STATUSES = (TipStatus.RESOLVED.value, TipStatus.CLOSED.value)
REOPENED_STATUS = TipStatus.INVESTIGATING.value


class Outcome(enum.StrEnum):
    COUNSELLING_PROVIDED = "counselling_provided"
    PARENT_CONTACTED = "parent_contacted"
    REFERRED_TO_LAW_ENFORCEMENT = "referred_to_law_enforcement"
    REFERRED_TO_SERVICES = "referred_to_services"
    DISCIPLINE = "discipline"
    UNFOUNDED = "unfounded"
    FALSE_REPORT = "false_report"
    DUPLICATE = "duplicate"
    NO_ACTION_NEEDED = "no_action_needed"


class Incident(db.Model):  # type: ignore[name-defined]
    """Tips about one school and one category close in time, or linked by staff: one case for the SRO."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_tip_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# The model version of a tip stored when triage could not rank it (no model that loads, or one that failed on it):
# ranked critical with the category "other", which says nothing of what it is about.
UNRANKED_MODEL = "unavailable"


class Tip(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tip"
    __table_args__ = (
        # The queue: open tips of some schools, most urgent first, then oldest.
        Index("ix_tip_queue", "school_id", "status", "urgency_rank", "created_at"),
        # The same for district admins (every school), so the open-tip sort reads the index alone.
        Index("ix_tip_status_order", "status", "urgency_rank", "created_at"),
        Index("ix_tip_created_at", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(12), unique=True)  # short public reference, e.g. 7KQ2MX
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # Receipt: only an HMAC of the code, keyed with a secret kept outside the database.
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)

    # Envelope encryption: this tip's data key, wrapped by key-encryption key number kek_version.
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_version: Mapped[int | None] = mapped_column(Integer, index=True)
    text_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    assessment_ct: Mapped[bytes | None] = mapped_column(LargeBinary)  # probabilities and reasons
    # The language of the pages the reporter sent it from ("en", "es"), for staff to answer in. Sealed like the
    # text, which tells it anyway to whoever can open it; in clear, a dump would tell which tips came from the few
    # families of a school who speak a language. NULL for tips from before it was kept.
    language_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    shredded_at: Mapped[datetime | None] = mapped_column(DateTime)

    # Triage metadata (kept after crypto-shredding so reports stay right).
    happening_now: Mapped[bool | None] = mapped_column(Boolean)
    category: Mapped[str] = mapped_column(String(32), index=True)
    urgency: Mapped[str] = mapped_column(String(16), index=True)
    urgency_rank: Mapped[int] = mapped_column(Integer)  # 3 critical .. 0 low, for ordering
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    # Staff corrections, kept as labels for retraining.
    label_category: Mapped[str | None] = mapped_column(String(32))
    label_urgency: Mapped[str | None] = mapped_column(String(16))
    labelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime)

    # Case work.
    status: Mapped[str] = mapped_column(String(16), default=TipStatus.NEW.value, index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    assigned_counselor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    reporter_replied_at: Mapped[datetime | None] = mapped_column(DateTime)
    reporter_reply_unread: Mapped[bool] = mapped_column(Boolean, default=False)

    # Legal hold (litigation hold, subpoena, criminal case): a held case is never crypto-shredded, whatever its
    # age. Held while legal_hold_at is set and legal_hold_released_at is not; the last release stays beside the
    # hold it ended, and a new hold replaces both. The reasons are staff text: sealed under the tip's key
    # (fields "legal_hold", "legal_hold_release"), never in clear. The purge's condition reads these columns of the
    # tip's own row, which is what lets a hold set during a purge on PostgreSQL be seen (app/legal_hold.py).
    legal_hold_at: Mapped[datetime | None] = mapped_column(DateTime)
    legal_hold_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    legal_hold_reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    legal_hold_released_at: Mapped[datetime | None] = mapped_column(DateTime)
    legal_hold_released_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    legal_hold_release_reason_ct: Mapped[bytes | None] = mapped_column(LargeBinary)

    school = relationship("School")
    incident = relationship("Incident")

    # Staff corrections win over the model's prediction everywhere a decision is made (alerts, queue).
    @property
    def effective_category(self) -> str:
        return self.label_category or self.category

    @property
    def effective_urgency(self) -> str:
        return self.label_urgency or self.urgency

    @hybrid_property
    def on_legal_hold(self) -> bool:
        return self.legal_hold_at is not None and self.legal_hold_released_at is None

    @on_legal_hold.inplace.expression
    @classmethod
    def _on_legal_hold_expression(cls) -> ColumnElement[bool]:
        return and_(cls.legal_hold_at.isnot(None), cls.legal_hold_released_at.is_(None))

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def reopen(self) -> str:
        """Back to the queue from resolved or closed (by staff, or by a reporter's new message): the closing date
        and outcome no longer hold. Returns the status it had."""
        previous = self.status
        self.status, self.closed_at, self.outcome = REOPENED_STATUS, None, None
        return previous
    messages: Mapped[list[Message]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", order_by="Message.created_at"
    )
    notes: Mapped[list[Note]] = relationship(
        back_populates="tip", cascade="all, delete-orphan", order_by="Note.created_at"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="tip", cascade="all, delete-orphan")


# Every tip in queue order (the "all statuses" view): most urgent first, then oldest, straight off the index.
Index("ix_tip_order", Tip.urgency_rank.desc(), Tip.created_at)


class Message(db.Model):  # type: ignore[name-defined]
    """A message between staff and the anonymous reporter, sealed under the tip's data key."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    from_reporter: Mapped[bool] = mapped_column(Boolean)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    body_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    tip: Mapped[Tip] = relationship(back_populates="messages")


class Note(db.Model):  # type: ignore[name-defined]
    """An internal note of staff on a case, sealed under the tip's data key."""

    __tablename__ = "note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    body_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    tip: Mapped[Tip] = relationship(back_populates="notes")


class Attachment(db.Model):  # type: ignore[name-defined]
    """A photo, re-encoded without metadata, then sealed under the tip's data key."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tip_id: Mapped[int] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    data_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    tip: Mapped[Tip] = relationship(back_populates="attachments")


class ReceiptKeyCheck(db.Model):  # type: ignore[name-defined]
    """The keyed hash of a known value under RECEIPT_HMAC_KEY (one row), so a database restored or moved with
    another key, which leaves every receipt code unrecognised, is caught (app/crypto/receipts.py)."""

    __tablename__ = "receipt_key_check"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class KeyCheck(db.Model):  # type: ignore[name-defined]
    """A known value sealed under each key-encryption key, so a wrong keyring is caught before use."""

    __tablename__ = "key_check"
    kek_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

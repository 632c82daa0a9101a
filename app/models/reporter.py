"""Server-side state of an anonymous reporter's visit. The browser holds only a random token in the signed
session; this row is found by a hash of it, so neither the cookie nor the database alone reveals a tip."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class ReporterSession(db.Model):  # type: ignore[name-defined]
    __tablename__ = "reporter_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's token
    purpose: Mapped[str] = mapped_column(String(16))  # "receipt" (show the code once) or "followup"
    tip_id: Mapped[int] = mapped_column(ForeignKey("tip.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    # The receipt code, sealed with a key derived from the token that only the reporter's cookie holds.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

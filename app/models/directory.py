"""Agencies, schools, staff and who stands where in each school's escalation chain."""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow

# The district's time zone (Natrona County, Wyoming): every school's by default, the quarters' and the console's
# district-wide pages'.
DISTRICT_TIMEZONE = "America/Denver"


def zone_without_summer_time(name: str) -> str | None:
    """Why a time zone the server knows is no school's: an abbreviation or a fixed offset (MST, UTC, EST,
    Etc/GMT+7) keeps no daylight saving time, so a Wyoming school's hours under MST were an hour off from March to
    November, and under UTC medium tips paged the SRO in the night. Every place's own zone is Area/Location
    (America/Phoenix for Arizona, which has no summer time). None when `name` is such a place's."""
    if "/" in name and not name.startswith("Etc/"):
        return None
    return (f"{name!r} has no daylight saving time (an abbreviation or a fixed offset): the school's hours would "
            "be an hour or more off for part of the year. Write the place's zone, such as America/Denver "
            "(Mountain time; America/Phoenix in Arizona) or America/Chicago.")


def twenty_four_hour_hint(start: time, end: time) -> str:
    """A school day "ending" before it starts at 3:15 was meant as 15:15: say the clock is a 24-hour one."""
    if not 1 <= end.hour < 12 or time(end.hour + 12, end.minute) <= start:
        return ""
    pm = time(end.hour + 12, end.minute)
    return f"; a 24-hour clock: {pm:%H:%M} for {end.hour}:{end.minute:02d} in the afternoon"


class Role(enum.StrEnum):
    SRO = "sro"
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    DISPATCH = "dispatch"
    DISTRICT_ADMIN = "district_admin"


class ChainPosition(enum.IntEnum):
    """Order in which a school's people are told of an urgent tip; lower goes first."""

    PRIMARY_SRO = 1
    BACKUP_SRO = 2
    SUPERVISOR = 3
    DISPATCH = 4


def _enum_values(cls: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in cls]


class Agency(db.Model):  # type: ignore[name-defined]
    __tablename__ = "agency"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    short_name: Mapped[str] = mapped_column(String(20), unique=True)
    schools: Mapped[list[School]] = relationship(back_populates="agency")


class School(db.Model):  # type: ignore[name-defined]
    __tablename__ = "school"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    short_name: Mapped[str] = mapped_column(String(12), unique=True)
    town: Mapped[str] = mapped_column(String(100))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default=DISTRICT_TIMEZONE)
    # School hours in the school's own time zone, Monday to Friday: medium tips wait for them.
    day_start: Mapped[time] = mapped_column(Time, default=time(7, 30))
    day_end: Mapped[time] = mapped_column(Time, default=time(16, 0))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    agency: Mapped[Agency] = relationship(back_populates="schools")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="school", cascade="all, delete-orphan")

    @property
    def zone_to_choose_again(self) -> str | None:
        """Why the school's stored zone must be chosen again (MST, UTC: saved before the page and `flask schools
        create` refused them, its hours then an hour or more off for half the year), None when it is a place's."""
        return zone_without_summer_time(self.timezone)

    @property
    def chain_phones_twice(self) -> list[tuple[Staff, Staff]]:
        """(earlier, later) people of the chain with one phone, in chain order: saved before the chain's save and
        the staff page refused it (a dispatch desk's day and night accounts), an unanswered tip escalated from one
        to the other texted the same phone again, and nobody new was told."""
        first_with: dict[str, Staff] = {}
        pairs: list[tuple[Staff, Staff]] = []
        for assignment in sorted((a for a in self.assignments if a.chain_position is not None),
                                 key=lambda a: int(a.chain_position or 0)):
            phone = assignment.staff.phone
            if phone and phone in first_with:
                pairs.append((first_with[phone], assignment.staff))
            elif phone:
                first_with[phone] = assignment.staff
        return pairs


class Staff(db.Model):  # type: ignore[name-defined]
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164, e.g. +13075550123
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20, values_callable=_enum_values))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    # Sign-in (the console issue): Argon2id hash, TOTP secret, lockout and a counter that ends every session.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # The authenticator secret, sealed under a key derived from KEK totp_kek_version and bound to this row:
    # only through seal_totp_secret / open_totp_secret (app/crypto/staff_secrets.py), never in plaintext.
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_kek_version: Mapped[int | None] = mapped_column(Integer)
    # The plaintext column of the release before, NULL from migration e8c4b2a7f190 on and never read (deferred:
    # not even loaded). Kept for one release so that its processes still running during the upgrade (the alert
    # worker, which loads staff rows for its chains) keep working until restarted; the next release drops it.
    totp_secret_retired: Mapped[str | None] = mapped_column("totp_secret", String(64), deferred=True)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)
    recovery_codes: Mapped[str | None] = mapped_column(String(2000))  # hashes, one per line
    enrolment_token_hash: Mapped[str | None] = mapped_column(String(128))
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    # SMS opt-out (STOP): the person is skipped in escalation chains and flagged to admins.
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_opted_out_at: Mapped[datetime | None] = mapped_column(DateTime)

    assignments: Mapped[list[Assignment]] = relationship(back_populates="staff", cascade="all, delete-orphan")

    @property
    def can_get_sms(self) -> bool:
        """An SMS can reach them: active, with a phone, not opted out (STOP). Chains, the dispatcher and the
        reporter-message notice all skip the others; the Schools page shows them as unreachable."""
        return bool(self.active and self.phone and not self.sms_opted_out)

    @property
    def why_no_sms(self) -> str | None:
        """Why an SMS cannot reach them (the Schools pages say it beside the name), None when one can."""
        if not self.active:
            return "deactivated"
        if not self.phone:
            return "no phone"
        if self.sms_opted_out:
            return "opted out of SMS"
        return None

    # Flask-Login's user protocol.
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    @property
    def has_authenticator(self) -> bool:
        """Whether an authenticator is enrolled (a secret is sealed for the row); reading it needs no key."""
        return self.totp_secret_sealed is not None

    @property
    def school_ids(self) -> set[int]:
        return {a.school_id for a in self.assignments}


class Assignment(db.Model):  # type: ignore[name-defined]
    """A person assigned to a school; chain_position is set for those in its escalation chain."""

    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("staff_id", "school_id", name="uq_assignment_staff_school"),
        UniqueConstraint("school_id", "chain_position", name="uq_assignment_school_position"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    chain_position: Mapped[int | None] = mapped_column(Integer)

    staff: Mapped[Staff] = relationship(back_populates="assignments")
    school: Mapped[School] = relationship(back_populates="assignments")


class SignInFailure(db.Model):  # type: ignore[name-defined]
    """A wrong password for an account, and the client it came from (`app.client_keys.client_key`: a keyed hash
    that rotates daily, never an address). Kept for the lockout window only: the lock counts per account and
    client, so a stranger who knows an SRO's email cannot lock the SRO out (app/accounts/service.py).

    A password tried with an email of no account is counted alike, under `account`, a keyed hash of that email with
    the same secret (never the email), so that the email answers "locked" exactly as an account would."""

    __tablename__ = "signin_failure"
    __table_args__ = (Index("ix_signin_failure_staff_failed_at", "staff_id", "failed_at"),
                      Index("ix_signin_failure_account_failed_at", "account", "failed_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    account: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(DateTime)


class EndedSession(db.Model):  # type: ignore[name-defined]
    """A staff session ended by "Sign out": the SHA-256 of its random id (the cookie holds the id). The cookie is
    signed, not stored, so without this a copy of it taken before sign-out kept working until it timed out.
    Kept until the session would have ended anyway (`ends_at`, its absolute timeout), then deleted."""

    __tablename__ = "ended_session"
    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime, index=True)

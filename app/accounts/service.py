"""Staff accounts: creation, enrolment links, the password check with lockout, and signing out everywhere.

Functions named db_* change rows in the current session and leave the commit to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, delete, func, select

from app.accounts.passwords import hash_password, needs_rehash, verify_password
from app.accounts.phones import normalise_e164
from app.accounts.policy import password_problems
from app.crypto.staff_secrets import seal_totp_secret
from app.extensions import db, db_take_turns_on
from app.models import Assignment, Role, School, SignInFailure, Staff

# Five wrong passwords from one client (an address, or an IPv6 /64) lock that client out of the account for 10
# minutes, so a stranger on one connection who knows an SRO's email cannot keep the SRO out of the console. The
# account itself locks at 20 wrong passwords in 10 minutes from all clients together: a guess spread over four
# or more clients still meets a lock (it costs the SRO the console for 10 minutes; a guess must not get
# further). Five wrong second-factor codes (only someone with the password gets there) lock the account itself.
MAX_FAILED_ATTEMPTS = 5
# FOR NO KEY UPDATE: attempts on one account take turns, while rows that refer to the account (an audit event
# of that person, recorded under the chain's lock) can still be written. Plain FOR UPDATE refuses them the share
# lock their foreign key needs, and an attempt that then waited for the chain's lock deadlocked with them.
ACCOUNT_ROW_LOCK = {"key_share": True}
MAX_ACCOUNT_PASSWORD_FAILURES = 20
LOCKOUT = timedelta(minutes=10)
ENROLMENT_VALID_FOR = timedelta(days=3)
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account cannot be carried out; the message can be shown to an admin."""


class WeakPassword(AccountError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PasswordCheck:
    staff: Staff | None
    ok: bool
    locked: bool = False


# One "@", something before it, and a domain of at least two dot-separated labels; no spaces anywhere.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
EMAIL_HINT = "enter the person's email address, such as j.doe@district.example (one @, no spaces)"


def normalise_email(email: str) -> str:
    """As people mean it: full-width or other compatibility characters (a phone's or an input method's "ｊ") are
    the plain ones (NFKC), spaces around it go, and case does not count."""
    return unicodedata.normalize("NFKC", email).strip().lower()


NOT_AN_EMAIL = "(not an email address)"


def typed_email_for_audit(email: str) -> str:
    """What a failed sign-in's audit event names as the email typed. The record cannot be edited, so something
    that is not an email address is not kept as typed: a password typed into the email box by mistake (the box
    is `type=email` in a browser, not for a script or an old phone's browser) would stay there for every admin to
    read, for good."""
    typed = normalise_email(email)[:254]
    return typed if typed.isprintable() and _EMAIL.fullmatch(typed) else NOT_AN_EMAIL


def find_staff(email: str) -> Staff | None:
    # Also as it was kept before NFKC (an account made with compatibility characters in its email still signs in).
    wanted = sorted({normalise_email(email), email.strip().lower()})
    return db.session.scalar(select(Staff).where(func.lower(Staff.email).in_(wanted)).order_by(Staff.id))


def is_locked(staff: Staff, now: datetime) -> bool:
    return staff.locked_until is not None and staff.locked_until > now


def db_take_turn(staff: Staff) -> None:
    """Read the account's lock and failed attempts again, locking its row until the transaction ends, before
    an attempt is checked. Attempts at the same moment (several web processes on PostgreSQL, READ COMMITTED)
    then take turns and each counts the ones before it; otherwise all read the same count, and a burst of
    guesses never met the lock. (SQLite has no row lock; its write lock, taken at BEGIN, already does this.)"""
    db.session.refresh(staff, ["failed_logins", "locked_until"], with_for_update=ACCOUNT_ROW_LOCK)


def db_register_failure(staff: Staff, now: datetime) -> bool:
    """Count a failed second-factor attempt (after `db_take_turn`); returns True when this one locked the
    account."""
    staff.failed_logins = (staff.failed_logins or 0) + 1
    if staff.failed_logins >= MAX_FAILED_ATTEMPTS:
        staff.locked_until = now + LOCKOUT
        staff.failed_logins = 0
        return True
    return False


def _failures_of(staff: Staff | str) -> ColumnElement[bool]:
    """The failures of an account, or (a str: `_account_key`) of an email of no account."""
    if isinstance(staff, str):
        return SignInFailure.account == staff
    return SignInFailure.staff_id == staff.id


def _password_locked(staff: Staff | str, client: str, now: datetime) -> bool:
    """Whether this client has used up its wrong passwords for the account, or all clients together have."""
    recent = select(func.count()).select_from(SignInFailure).where(
        _failures_of(staff), SignInFailure.failed_at > now - LOCKOUT)
    from_client = db.session.scalar(recent.where(SignInFailure.client == client)) or 0
    return from_client >= MAX_FAILED_ATTEMPTS or (db.session.scalar(recent) or 0) >= MAX_ACCOUNT_PASSWORD_FAILURES


def db_register_password_failure(staff: Staff | str, client: str, now: datetime) -> bool:
    """Record a wrong password from `client` for an account, or (a str: `_account_key`) for an email of no account;
    returns True when it locked the client (or the account) out."""
    if isinstance(staff, str):  # nothing else ever deletes those of emails nobody tries again
        db.session.execute(delete(SignInFailure).where(SignInFailure.staff_id.is_(None),
                                                       SignInFailure.failed_at <= now - LOCKOUT))
        db.session.add(SignInFailure(account=staff, client=client, failed_at=now))
    else:
        db.session.execute(delete(SignInFailure).where(SignInFailure.staff_id == staff.id,
                                                       SignInFailure.failed_at <= now - LOCKOUT))
        db.session.add(SignInFailure(staff_id=staff.id, client=client, failed_at=now))
    db.session.flush()
    return _password_locked(staff, client, now)


def _account_key(email: str) -> str:
    """How the failures keep an email of no account: a hash keyed with the app's SECRET_KEY, never the email itself.
    Not the rate limits' secret of the day: each web process draws its own when they are kept in memory (or Redis is
    down), and a new one each day, so an email of no account would be counted apart where an account is counted
    together. The rows last the lockout window (10 minutes)."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"sign-in failures of an email of no account",
                   hashlib.sha256).digest()
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()[:32]


def db_check_password(email: str, password: str, now: datetime, client: str) -> PasswordCheck:
    """The first step of sign-in, from `client` (`app.client_keys.client_key`). A client that has used up its
    wrong passwords for the account, or a locked account, is refused even with the right password.

    An email of no account answers exactly as an account does, "locked" included (its wrong passwords are counted
    alike), and every answer costs one slow hash, the locked one too: neither the page nor its time tells whether
    an email is staff's. Only the audit record does (`PasswordCheck.staff`)."""
    staff = find_staff(email)
    counted: Staff | str = staff if staff is not None else _account_key(email)
    if staff is not None:
        db_take_turn(staff)
    else:
        db_take_turns_on(f"no account:{counted}")
    usable = staff is not None and staff.active and bool(staff.password_hash)
    right = verify_password(staff.password_hash if staff is not None and usable else _DUMMY_HASH, password)
    if (staff is not None and is_locked(staff, now)) or _password_locked(counted, client, now):
        return PasswordCheck(staff, ok=False, locked=True)
    if not (usable and right):
        locked = db_register_password_failure(counted, client, now)
        return PasswordCheck(staff, ok=False, locked=locked)
    assert staff is not None and staff.password_hash
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    return PasswordCheck(staff, ok=True)


def db_sign_in_succeeded(staff: Staff, now: datetime) -> None:
    db_clear_lockout(staff)
    staff.last_login_at = now


def db_clear_lockout(staff: Staff) -> None:
    """Forget every failed attempt on the account: a sign-in, or an operator who set a new password."""
    staff.failed_logins = 0
    staff.locked_until = None
    db.session.execute(delete(SignInFailure).where(SignInFailure.staff_id == staff.id))


def db_set_password(staff: Staff, password: str) -> None:
    problems = password_problems(password, email=staff.email)
    if problems:
        raise WeakPassword(problems)
    staff.password_hash = hash_password(password)
    db_sign_out_everywhere(staff)


@dataclass(frozen=True)
class PasswordChange:
    """The answer to a signed-in person choosing a new password. `locked`: refused before any check (this client
    or the account is locked); `locked_now`: this wrong current password was the one that locked it."""

    changed: bool
    current_wrong: bool = False
    locked: bool = False
    locked_now: bool = False
    problems: tuple[str, ...] = ()


def db_change_own_password(staff: Staff, current: str, new: str, now: datetime, client: str) -> PasswordChange:
    """A signed-in person changes their own password. The current one is checked as at sign-in: a wrong one is
    a failed sign-in from `client`, towards the same locks, so someone at an unlocked laptop cannot guess on
    here without limit. On success every other session ends (the caller keeps this one signed in)."""
    db_take_turn(staff)
    if is_locked(staff, now) or _password_locked(staff, client, now):
        return PasswordChange(changed=False, locked=True)
    problems = password_problems(new, email=staff.email)
    if not verify_password(staff.password_hash, current):
        locked_now = db_register_password_failure(staff, client, now)
        return PasswordChange(changed=False, current_wrong=True, locked_now=locked_now, problems=tuple(problems))
    if new == current:
        problems.append("Choose a password other than your current one.")
    if problems:
        return PasswordChange(changed=False, problems=tuple(problems))
    db_set_password(staff, new)
    db_clear_lockout(staff)  # the right password, from someone signed in with both factors: as a sign-in
    return PasswordChange(changed=True)


def db_reset_sign_in(staff: Staff, now: datetime) -> str:
    """A lost phone or password: the password, authenticator and recovery codes stop working, every session
    ends, any lock is lifted, and a new enrolment link (returned, only its hash stored) replaces any earlier one.
    The console's "Reset sign-in" and `flask staff reset-signin` both do this."""
    staff.password_hash = None
    seal_totp_secret(staff, None)
    staff.totp_last_counter = None
    staff.recovery_codes = None
    db_sign_out_everywhere(staff)
    db_clear_lockout(staff)
    return db_new_enrolment(staff, now)


def db_sign_out_everywhere(staff: Staff) -> None:
    """Every session cookie of this person stops working (app/accounts/session.py checks the generation)."""
    staff.session_generation = (staff.session_generation or 0) + 1


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def enrolment_link(token: str) -> str:
    """The address of an enrolment token, as the console's Staff page and `flask staff` print it."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/console/enrol/{token}"


def db_new_enrolment(staff: Staff, now: datetime) -> str:
    """A fresh one-time enrolment token (only its hash is stored); any earlier link stops working."""
    token = secrets.token_urlsafe(32)
    staff.enrolment_token_hash = _token_hash(token)
    staff.enrolment_expires_at = now + ENROLMENT_VALID_FOR
    return token


def enrolment_marker(staff: Staff) -> str:
    """Which enrolment link the person has (none, or a new one after each reset), for a form to carry without
    the token or its hash: a reset form sent again from a page made before the latest link can be told apart."""
    return hashlib.sha256(f"tipline/enrolment-marker|{staff.enrolment_token_hash or ''}".encode()).hexdigest()[:16]


def has_live_enrolment(staff: Staff, now: datetime) -> bool:
    """The person has an enrolment link that has not expired (the one rule the link itself and the admin pages use)."""
    return bool(staff.enrolment_token_hash) and staff.enrolment_expires_at is not None \
        and staff.enrolment_expires_at >= now


def staff_for_enrolment(token: str, now: datetime) -> Staff | None:
    if not token or len(token) > 100:
        return None
    staff = db.session.scalar(select(Staff).where(Staff.enrolment_token_hash == _token_hash(token)))
    if staff is None or not staff.active or not has_live_enrolment(staff, now):
        return None
    if not hmac.compare_digest(staff.enrolment_token_hash or "", _token_hash(token)):
        return None
    return staff


def db_finish_enrolment(staff: Staff) -> None:
    staff.enrolment_token_hash = None
    staff.enrolment_expires_at = None


def schools_by_short_name(names: Iterable[str]) -> list[School]:
    wanted = [n.strip().upper() for n in names if n.strip()]
    found = {s.short_name.upper(): s for s in db.session.scalars(select(School).where(
        func.upper(School.short_name).in_(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        known = ", ".join(db.session.scalars(select(School.short_name).order_by(School.short_name))) or "none yet"
        raise AccountError(f"unknown school(s): {', '.join(missing)} (known: {known}); a new school is added with "
                           "`flask schools create`")
    return [found[n] for n in wanted]


def checked_email(email: str) -> str:
    """The email as an account keeps it (`normalise_email`), or AccountError saying what to type: one that could
    not be typed at sign-in would name an account nobody can sign in to."""
    email = normalise_email(email)
    if len(email) > 254 or not email.isprintable() or not _EMAIL.fullmatch(email):
        raise AccountError(EMAIL_HINT)
    return email


def _email_taken(email: str, *, other_than: Staff | None = None) -> bool:
    """Whether an account (another than `other_than`) signs in with this email, as `find_staff` finds one. Callers
    about to take it first take turns on it, so two admins giving one email to two accounts at once cannot both."""
    db_take_turns_on(f"staff email:{email}")
    query = select(Staff.id).where(func.lower(Staff.email) == email)
    if other_than is not None:
        query = query.where(Staff.id != other_than.id)
    return db.session.scalar(query.limit(1)) is not None


def db_change_email(staff: Staff, email: str) -> str | None:
    """A district admin corrects the person's sign-in email (a typo at creation, a changed name), checked as at
    creation and unique. Returns the email it replaced, None when it is the same address.

    Their sessions go on, and their password, authenticator and recovery codes stay: the email names the account,
    it proves nothing, and no link or code is ever sent to it (enrolment links are handed over by the admin), so
    changing it gives nobody a way in. Ending the sessions of an SRO in the middle of a case for a typo would
    protect nothing; an admin who fears the account is in other hands has "Reset sign-in" and "Active"."""
    email = checked_email(email)
    if email == staff.email:
        return None
    if _email_taken(email, other_than=staff):
        raise AccountError(f"Another account signs in with {email}: each person has an account of their own.")
    before, staff.email = staff.email, email
    return before


def db_create_staff(email: str, name: str, role: Role, schools: list[School], phone: str | None = None) -> Staff:
    email = checked_email(email)
    if _email_taken(email):
        raise AccountError(f"an account for {email} exists already")
    name = name.strip()
    if not name or len(name) > 200:
        raise AccountError("enter the person's name (up to 200 characters): it is how colleagues and the audit "
                           "record tell who acted")
    if role != Role.DISTRICT_ADMIN and not schools:
        raise AccountError("staff other than district admins need at least one school")
    try:
        phone = normalise_e164(phone)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    staff = Staff(email=email, name=name, role=role, phone=phone, active=True)
    db.session.add(staff)
    for school in schools:
        db.session.add(Assignment(staff=staff, school=school))
    db.session.flush()
    return staff

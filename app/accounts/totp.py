"""The second factor: TOTP codes (RFC 6238, 30-second steps) and one-time recovery codes.

A code is accepted once: the step it belongs to is remembered (Staff.totp_last_counter), so a code seen over
a shoulder or replayed from a phishing page is refused even within its 30 seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from datetime import UTC, datetime

import pyotp
import qrcode
import qrcode.image.svg

from app.accounts.service import ACCOUNT_ROW_LOCK
from app.crypto.staff_secrets import open_totp_secret
from app.extensions import db
from app.models import Staff
from app.small_ints import ASCII_DIGITS

ISSUER = "Tipline"
VALID_WINDOW = 1  # one step either side: phones whose clocks drift by up to 30 s still work
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _aware(at: datetime) -> datetime:
    # pyotp reads a naive datetime as local time; ours are naive UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(staff: Staff, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name=ISSUER)


def qr_svg(data: str) -> str:
    """The QR code as inline SVG markup, drawn here: the secret never goes to a third-party QR service."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    return svg.split("?>", 1)[-1].strip()  # drop the XML declaration: invalid inside HTML


def matching_counter(secret: str, code: str, at: datetime) -> int | None:
    """The time step the code belongs to, or None when it matches none of the accepted steps."""
    code = "".join(ch for ch in code if ch in ASCII_DIGITS)  # not isdigit(): "²" would reach compare_digest
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(_aware(at))
    for counter in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def _reload_locked(staff: Staff, attribute: str) -> None:
    """Read `attribute` again, locking the row until the transaction ends. Two sign-ins with one code at the
    same moment then take turns and the second sees the first's use: on PostgreSQL both would otherwise read
    it as unused. (SQLite has no row lock; its write lock, taken at BEGIN, already makes them take turns.)"""
    db.session.refresh(staff, [attribute], with_for_update=ACCOUNT_ROW_LOCK)


def db_check_totp(staff: Staff, code: str, at: datetime) -> bool:
    """Accept a code once. On success remembers its step, so it (and older ones) cannot be used again.
    The secret is opened with the keyring: `KeyringUnavailable` or `DecryptionFailed` go to the caller, which
    fails closed (there is no plaintext to fall back to)."""
    secret = open_totp_secret(staff)
    if not secret:
        return False
    counter = matching_counter(secret, code, at)
    if counter is None:
        return False
    _reload_locked(staff, "totp_last_counter")
    if staff.totp_last_counter is not None and counter <= staff.totp_last_counter:
        return False
    staff.totp_last_counter = counter
    return True


def current_code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(_aware(at))


def _hash_recovery(code: str) -> str:
    # The codes are random (50 bits), so a plain SHA-256 suffices: there is nothing to guess from a dictionary.
    normalised = code.replace("-", "").replace(" ", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def new_recovery_codes() -> tuple[list[str], str]:
    """(codes to show once, the hashes to store: one per line)."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes, "\n".join(_hash_recovery(c) for c in codes)


def db_use_recovery_code(staff: Staff, code: str) -> bool:
    """Accept a recovery code once: its hash is removed from the account."""
    if not staff.recovery_codes or not code.strip():
        return False
    _reload_locked(staff, "recovery_codes")
    if not staff.recovery_codes:
        return False
    wanted = _hash_recovery(code)
    hashes = staff.recovery_codes.split("\n")
    for stored in hashes:
        if hmac.compare_digest(stored, wanted):
            hashes.remove(stored)
            staff.recovery_codes = "\n".join(hashes) or None
            return True
    return False


def is_totp_code(code: str) -> bool:
    return sum(ch in ASCII_DIGITS for ch in code) == 6 and len(code.strip()) <= 8

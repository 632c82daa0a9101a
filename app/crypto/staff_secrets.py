"""Staff authenticator (TOTP) secrets, sealed under the keyring: a database dump or backup plus a phished
password must not give the second factor too.

The key is not the KEK itself but one derived from it with HKDF-SHA256 for this purpose only (info below): a
sealed secret and a wrapped data key are then never made under the same key, whatever their associated data,
and the KEK's own random-nonce budget is not shared with staff rows. The associated data names the staff row
(`tipline/v1|staff:<id>|totp`), so a sealed secret copied onto another account does not open there.
`Staff.totp_kek_version` records which KEK version it was derived from, for rotation and retirement.

`seal_totp_secret` and `open_totp_secret` are the one way in and out; both raise `KeyringUnavailable` (no
keyring, a wrong one, or the version missing) and opening raises `DecryptionFailed` for a row that does not
authenticate. Neither ever falls back to plaintext.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.crypto.envelope import open_sealed, seal
from app.crypto.errors import DecryptionFailed, KeyringUnavailable
from app.crypto.keyring import KEK_BYTES, Keyring
from app.crypto.keystore import current_keyring, db_ensure_key_check
from app.models import Staff

TOTP_KEY_INFO = b"tipline/v1|staff totp secret sealing key"

__all__ = ["DecryptionFailed", "KeyringUnavailable", "db_reseal_totp_secret", "open_totp_secret",
           "open_totp_value", "seal_totp_secret", "seal_totp_value"]


def totp_sealing_key(kek: bytes) -> bytes:
    """The key that seals staff TOTP secrets, derived from one KEK (and used for nothing else)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEK_BYTES, salt=None, info=TOTP_KEY_INFO).derive(kek)


def _ad(staff_id: int) -> bytes:
    return b"tipline/v1|staff:" + str(int(staff_id)).encode("ascii") + b"|totp"


def seal_totp_value(kek: bytes, staff_id: int, secret: str) -> bytes:
    """The sealed form of `secret` for staff row `staff_id` under `kek` (also used by the migration)."""
    return seal(totp_sealing_key(kek), _ad(staff_id), secret.encode("ascii"))


def open_totp_value(kek: bytes, staff_id: int, blob: bytes) -> str:
    try:
        return open_sealed(totp_sealing_key(kek), _ad(staff_id), blob).decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionFailed("the sealed TOTP secret is not a base32 secret") from None


def seal_totp_secret(staff: Staff, secret: str | None) -> None:
    """Set (or with None, remove) the person's TOTP secret, sealed under the active KEK. The row must have its
    id (flush a new one first): it is bound into the seal. Writes the KEK's key check on its first use, in the
    caller's transaction."""
    if secret is None:
        staff.totp_secret_sealed, staff.totp_kek_version, staff.totp_secret_retired = None, None, None
        return
    if staff.id is None:
        raise ValueError("flush the staff row first: its sealed TOTP secret is bound to its id")
    keyring = current_keyring()
    db_ensure_key_check(keyring, keyring.active)
    staff.totp_secret_sealed = seal_totp_value(keyring.active_kek, staff.id, secret)
    staff.totp_kek_version = keyring.active
    staff.totp_secret_retired = None  # what the release before may have written there during the upgrade


def open_totp_secret(staff: Staff) -> str | None:
    """The person's TOTP secret, or None when they have no authenticator (not enrolled, or reset)."""
    if staff.totp_secret_sealed is None:
        return None
    if staff.totp_kek_version is None:
        raise DecryptionFailed(f"the TOTP secret of staff {staff.id} names no key version")
    keyring = current_keyring()
    return open_totp_value(keyring.kek(staff.totp_kek_version), staff.id, staff.totp_secret_sealed)


def db_reseal_totp_secret(staff: Staff, keyring: Keyring) -> None:
    """Seal the person's secret again under the keyring's active KEK (key rotation)."""
    if staff.totp_secret_sealed is None or staff.totp_kek_version is None:
        return
    secret = open_totp_value(keyring.kek(staff.totp_kek_version), staff.id, staff.totp_secret_sealed)
    staff.totp_secret_sealed = seal_totp_value(keyring.active_kek, staff.id, secret)
    staff.totp_kek_version = keyring.active

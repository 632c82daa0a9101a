"""Sealing and opening tip content: the one API the intake and the staff console use.

Each tip has its own data key (DEK), stored wrapped by the keyring's active key-encryption key (KEK).
A field name travels in the associated data, so a ciphertext only opens as the field of the tip it was made for.
Fields: "text", "contact", "assessment", "language" (of the reporter's pages), "message:<id>", "note:<id>",
"attachment:<id>" (flush rows first), and
the reasons of a legal hold and of its release, "legal_hold" and "legal_hold_release".
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.crypto.envelope import (
    associated_data,
    new_data_key,
    open_sealed,
    seal,
    unwrap_data_key,
    wrap_data_key,
)
from app.crypto.errors import DecryptionFailed, KeyringUnavailable, TipShredded
from app.crypto.keyring import Keyring
from app.crypto.keystore import current_keyring, db_ensure_key_check
from app.models import Tip

_FIELD = re.compile(
    r"(text|contact|assessment|language|legal_hold|legal_hold_release|(message|note|attachment):[0-9]+)")

__all__ = [
    "DecryptionFailed", "KeyringUnavailable", "TipShredded", "check_tip_key", "db_new_tip_key", "db_rewrap_tip_key",
    "open_for_tip", "open_tip_assessment", "open_tip_contact", "open_tip_text", "seal_for_tip",
]


def _check_field(field: str) -> None:
    # A typo or an unflushed row ("message:None") would seal data under a context nobody can name later.
    if not _FIELD.fullmatch(field):
        raise ValueError(f"unknown field {field!r} (flush the row first to get its id)")


def _data_key(tip: Tip) -> bytes:
    if tip.wrapped_dek is None or tip.kek_version is None:
        raise TipShredded(f"tip {tip.ref} was shredded")
    keyring = current_keyring()
    return unwrap_data_key(keyring.kek(tip.kek_version), tip.ref, tip.wrapped_dek)


def db_new_tip_key(tip: Tip) -> None:
    """Give a new tip (with its ref set) a fresh data key, wrapped by the active KEK."""
    if not tip.ref:
        raise ValueError("set tip.ref before creating its key: the wrapped key is bound to it")
    keyring = current_keyring()
    db_ensure_key_check(keyring, keyring.active)
    tip.wrapped_dek = wrap_data_key(keyring.active_kek, tip.ref, new_data_key())
    tip.kek_version = keyring.active


def db_rewrap_tip_key(tip: Tip, keyring: Keyring) -> None:
    """Re-wrap the tip's data key with the keyring's active KEK (key rotation; content is untouched)."""
    if tip.wrapped_dek is None or tip.kek_version is None:
        return
    dek = unwrap_data_key(keyring.kek(tip.kek_version), tip.ref, tip.wrapped_dek)
    tip.wrapped_dek = wrap_data_key(keyring.active_kek, tip.ref, dek)
    tip.kek_version = keyring.active


def seal_for_tip(tip: Tip, field: str, plaintext: bytes) -> bytes:
    _check_field(field)
    return seal(_data_key(tip), associated_data(tip.ref, field), plaintext)


def db_add_sealed(tip: Tip, row: Any, kind: str, plaintext: bytes, column: str = "body_ct") -> None:
    """Add a message, note or attachment row with its content sealed under the tip's key, in the caller's
    transaction. The row is flushed first: its id is part of the associated data ("note:<id>")."""
    from app.extensions import db

    db.session.add(row)
    db.session.flush()
    setattr(row, column, seal_for_tip(tip, f"{kind}:{row.id}", plaintext))


def open_for_tip(tip: Tip, field: str, blob: bytes) -> bytes:
    _check_field(field)
    return open_sealed(_data_key(tip), associated_data(tip.ref, field), blob)


def check_tip_key(tip: Tip) -> None:
    """Raise what open_for_tip raises when the tip's own key does not open (no keyring, another keyring, the tip
    shredded): after this, a field that fails to open is that field's row damaged, not a keyring that opens nothing."""
    _data_key(tip)


def open_tip_text(tip: Tip) -> str:
    if tip.text_ct is None:
        if tip.wrapped_dek is None:
            raise TipShredded(f"tip {tip.ref} was shredded")
        raise DecryptionFailed(f"tip {tip.ref} has no sealed text")
    return open_for_tip(tip, "text", tip.text_ct).decode("utf-8")


def open_tip_contact(tip: Tip) -> str | None:
    if tip.contact_ct is None:
        return None
    return open_for_tip(tip, "contact", tip.contact_ct).decode("utf-8")


def open_tip_assessment(tip: Tip) -> dict[str, Any] | None:
    """The model's probabilities and reasons at intake, as sealed then."""
    if tip.assessment_ct is None:
        return None
    value = json.loads(open_for_tip(tip, "assessment", tip.assessment_ct))
    return value if isinstance(value, dict) else None

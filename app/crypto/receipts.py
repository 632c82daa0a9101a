"""Receipt codes and tip references.

A receipt code is 20 symbols of Crockford's base32 (no I, L, O, U), shown as five groups of four:
100 bits from `secrets`, typed back in whatever case and spacing, with O read as 0 and I or L as 1. What a notes
or messaging app adds when a code is pasted (zero-width spaces, narrow no-break spaces, minus signs for dashes)
and full-width letters and digits (a phone keyboard in full-width mode) are read as plain: NFKC, then format
characters, spaces and dashes dropped. That only widens what is read as a code, never the codes themselves.
The database holds only HMAC-SHA256(RECEIPT_HMAC_KEY, code), the key living outside the database, so a
stolen dump cannot even be used to test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ReceiptKeyCheck, Tip

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20
GROUP = 4
REF_LENGTH = 6
ENTROPY_BITS = CODE_LENGTH * 5
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Built once: a guess is answered without rebuilding the statement (10,000 guesses are tested).
_BY_RECEIPT_HASH = select(Tip.id, Tip.receipt_hash).where(Tip.receipt_hash == bindparam("wanted"))
# Dropped between symbols: format characters (zero-width space, soft hyphen, byte order mark), every space and
# dash of Unicode, and the minus sign (a math symbol that apps put for a dash), besides tabs, line breaks, _ and .
_SEPARATOR_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Pd"})
_SEPARATOR_CHARACTERS = frozenset("\u2212\t\n\r_.")


def new_receipt_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i:i + GROUP] for i in range(0, len(raw), GROUP))


def normalize_code(typed: str) -> str | None:
    """The canonical code for what a reporter typed, or None when it cannot be a code at all."""
    code = _without_separators(typed)
    # ASCII before upper(): "ß".upper() is "SS" and "ı".upper() is "I", which would turn them into symbols.
    if not code.isascii():
        return None
    code = code.upper().translate(_LOOK_ALIKES)
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def _without_separators(typed: str) -> str:
    # NFKC first: a full-width "Ａ" becomes "A", a narrow no-break space a space, a full-width dash "-".
    return "".join(c for c in unicodedata.normalize("NFKC", typed)
                   if c not in _SEPARATOR_CHARACTERS and unicodedata.category(c) not in _SEPARATOR_CATEGORIES)


def count_code_symbols(typed: str) -> int:
    """How many letters and digits a code as typed holds, read as normalize_code reads them (full-width ones
    count): what the receipt-code page tells a reporter whose code is too short or too long."""
    return sum(1 for c in _without_separators(typed) if c.isascii() and c.isalnum())


def normalize_ref(typed: str) -> str:
    """A tip reference as typed (an SMS "ACK k0q1m5"), upper-cased with the letters it never holds read as the digits
    they look like (O as 0, I and L as 1), as a receipt code is."""
    return typed.strip().upper().translate(_LOOK_ALIKES)


def receipt_hash(code: str) -> str:
    """The keyed hash of a canonical code (what Tip.receipt_hash holds)."""
    key = str(current_app.config["RECEIPT_HMAC_KEY"]).encode()
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def db_find_tip_by_receipt(typed: str) -> Tip | None:
    """The tip this receipt code opens, or None. The lookup is by a keyed hash, so its timing tells nothing."""
    code = normalize_code(typed)
    wanted = receipt_hash(code if code is not None else "-")
    # Two columns first: the usual answer to a guess is "no such tip", and that stays cheap.
    row = db.session.execute(_BY_RECEIPT_HASH, {"wanted": wanted}).first()
    if code is None or row is None or not hmac.compare_digest(row.receipt_hash, wanted):
        return None
    return db.session.get(Tip, row.id)


def db_new_reference() -> str:
    """A short public reference not yet used (30 bits: a collision is rare, and retried)."""
    for _ in range(20):
        ref = "".join(secrets.choice(ALPHABET) for _ in range(REF_LENGTH))
        if db.session.scalar(select(Tip.id).where(Tip.ref == ref)) is None:
            return ref
    raise RuntimeError("could not find a free tip reference in 20 tries")


# Hashed under RECEIPT_HMAC_KEY like a code, and kept (receipt_key_check): a restore or a move with another key
# would otherwise leave every reporter's receipt code unrecognised with nothing to say so.
_KEY_CHECK_INPUT = "tipline receipt key check"
KEY_OK, KEY_CHANGED, KEY_UNRECORDED = "ok", "changed", "unrecorded"


def receipt_key_state() -> str:
    """Whether RECEIPT_HMAC_KEY is the key the database's receipt codes were hashed under (as far as recorded)."""
    row = db.session.get(ReceiptKeyCheck, 1)
    if row is None:
        return KEY_UNRECORDED
    return KEY_OK if hmac.compare_digest(row.digest, receipt_hash(_KEY_CHECK_INPUT)) else KEY_CHANGED


def db_record_receipt_key() -> str:
    """Record the key in use when none is recorded (never replaces one); returns the state found before."""
    state = receipt_key_state()
    if state == KEY_UNRECORDED:
        db.session.add(ReceiptKeyCheck(id=1, digest=receipt_hash(_KEY_CHECK_INPUT)))
        try:
            db.session.commit()
        except IntegrityError:  # another worker recorded it at the same moment
            db.session.rollback()
            return receipt_key_state()
    return state

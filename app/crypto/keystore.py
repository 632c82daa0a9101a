"""The keyring as the running app sees it: loaded once per app, reloaded when its file changes, and checked
against the KeyCheck table so that a wrong keyring is refused before it seals anything with the wrong key."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.crypto.envelope import open_sealed, seal
from app.crypto.errors import DecryptionFailed, KeyringUnavailable
from app.crypto.keyring import Keyring, load_keyring, readable_by_others, unreadable_keyring
from app.extensions import db
from app.logs import log_event
from app.models import KeyCheck, Staff, Tip

EXTENSION = "tipline.keyring"
KEY_CHECK_VALUE = b"tipline key check v1"
log = logging.getLogger("app.crypto")


def _key_check_ad(version: int) -> bytes:
    return b"tipline/v1|keycheck|" + str(version).encode()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stamp: tuple[object, ...] | None = None
    keyring: Keyring | None = None
    verified: set[int] = field(default_factory=set)


def _state(app: Flask) -> _State:
    state = app.extensions.get(EXTENSION)
    if state is None:
        state = app.extensions.setdefault(EXTENSION, _State())
    assert isinstance(state, _State)
    return state


def keyring_source(app: Flask) -> tuple[Path, str | None]:
    env_value = app.config.get("TIPLINE_KEYRING") or None
    return Path(app.config["KEYRING_PATH"]), env_value


def _stamp(app: Flask) -> tuple[object, ...]:
    """What identifies the keyring's current content without reading it: mtime, inode and size of the file, and
    its mode (a chmod is then seen too)."""
    path, env_value = keyring_source(app)
    if env_value:
        return ("env", hash(env_value))
    try:
        st = path.stat()
    except OSError as exc:
        raise unreadable_keyring(path, exc) from None
    return ("file", st.st_mtime_ns, st.st_ino, st.st_size, st.st_mode)


def current_keyring() -> Keyring:
    """The app's keyring, verified against every KeyCheck row the database holds for its versions."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = _state(app)
    stamp = _stamp(app)
    with state.lock:
        if state.keyring is None or state.stamp != stamp:
            path, env_value = keyring_source(app)
            state.keyring, state.stamp, state.verified = load_keyring(path, env_value), stamp, set()
            mode = stamp[-1]
            if stamp[0] == "file" and isinstance(mode, int) and readable_by_others(mode):
                # Said each time the file is read again, not refused: a tip is never turned away for this.
                log_event(log, "OPERATOR: the keyring file is readable by others than its owner: make it mode 0600 "
                          "(README, Restoring, step 3)", logging.WARNING, path=str(path))
        keyring = state.keyring
        pending = set(keyring.keys) - state.verified
    if pending:
        verified = _verify(keyring, pending)
        with state.lock:
            if state.keyring is keyring:
                state.verified |= verified
    return keyring


def _verify(keyring: Keyring, versions: set[int]) -> set[int]:
    """Versions whose KeyCheck opens; raises on one that does not. Versions without a row stay unverified."""
    rows = db.session.scalars(select(KeyCheck).where(KeyCheck.kek_version.in_(sorted(versions)))).all()
    for row in rows:
        _check_row(keyring, row)
    return {row.kek_version for row in rows}


def new_key_check(keyring: Keyring, version: int) -> bytes:
    """The sealed known value of a KEK version's key check (what KeyCheck.sealed holds)."""
    return seal(keyring.kek(version), _key_check_ad(version), KEY_CHECK_VALUE)


def key_check_opens(keyring: Keyring, version: int, sealed: bytes) -> bool:
    """Whether KEK `version` of the keyring opens its key check: the keyring the database's secrets need."""
    try:
        return open_sealed(keyring.kek(version), _key_check_ad(version), sealed) == KEY_CHECK_VALUE
    except DecryptionFailed:
        return False


def _check_row(keyring: Keyring, row: KeyCheck) -> None:
    if not key_check_opens(keyring, row.kek_version, row.sealed):
        raise KeyringUnavailable(
            f"key-encryption key version {row.kek_version} does not match the key check in the database: "
            "this is not the keyring these tips were sealed with (restore the right keyring)"
        )


def db_known_versions() -> set[int]:
    """Every KEK version the database has a key check for: each one that has ever sealed a tip."""
    return set(db.session.scalars(select(KeyCheck.kek_version)))


def db_missing_versions(keyring: Keyring) -> set[int]:
    """KEK versions that still wrap a tip's data key or seal a staff TOTP secret but are not in `keyring`:
    those tips cannot be opened, those people cannot sign in (a keyring restored from before the last rotation,
    or a key retired by hand)."""
    absent = db_known_versions() - set(keyring.keys)
    if not absent:
        return set()
    tips: set[int] = set(db.session.scalars(select(Tip.kek_version).distinct().where(
        Tip.kek_version.in_(sorted(absent)), Tip.wrapped_dek.isnot(None))))
    staff: set[int] = set(db.session.scalars(select(Staff.totp_kek_version).distinct().where(
        Staff.totp_kek_version.in_(sorted(absent)), Staff.totp_secret_sealed.isnot(None))))
    return tips | staff


def db_ensure_key_check(keyring: Keyring, version: int) -> None:
    """Write the KeyCheck of a KEK version on its first use (in the caller's transaction), or verify it."""
    row = db.session.get(KeyCheck, version)
    if row is None:
        sealed = new_key_check(keyring, version)
        try:
            with db.session.begin_nested():
                db.session.add(KeyCheck(kek_version=version, sealed=sealed))
            return
        except IntegrityError:
            # Another process wrote it first (PostgreSQL): verify theirs instead.
            row = db.session.get(KeyCheck, version, populate_existing=True)
            if row is None:
                raise
    _check_row(keyring, row)


def forget_keyring(app: Flask) -> None:
    """Drop the cached keyring (after the CLI rewrote it, or in tests)."""
    app.extensions.pop(EXTENSION, None)

"""The upgrade that seals staff authenticator secrets: it seals every existing one and drops the plaintext; it
stops with one line and changes nothing without the database's keyring; a downgrade writes them back in
plaintext (the release before reads nothing else)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.accounts.passwords import hash_password
from app.backup import migration_head
from app.crypto.keyring import new_keyring, write_keyring
from app.crypto.staff_secrets import open_totp_secret
from app.extensions import db
from app.models import KeyCheck, Staff

BEFORE = "4c7e2b9a1f58"
SEALING = "e8c4b2a7f190"


def _at_plaintext_release(app: Flask) -> dict[int, str]:
    """The database as the release before left it: two people with plaintext secrets, one not enrolled."""
    secrets = {1: pyotp.random_base32(), 2: pyotp.random_base32()}
    with app.app_context():
        downgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            people = ((1, "a@district.example", secrets[1]), (2, "b@district.example", secrets[2]),
                      (3, "c@district.example", None))
            for staff_id, email, secret in people:
                conn.execute(text(
                    "INSERT INTO staff (id, email, name, role, active, created_at, password_hash, totp_secret, "
                    "failed_logins, session_generation, sms_opted_out) VALUES (:id, :email, 'Someone', 'sro', "
                    "true, CURRENT_TIMESTAMP, :hash, :secret, 0, 0, false)"),
                    {"id": staff_id, "email": email, "hash": hash_password("x" * 12), "secret": secret})
        db.engine.dispose()
    return secrets


def _state(app: Flask) -> tuple[str, list[str], list[tuple[object, ...]]]:
    with app.app_context():
        with db.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            columns = [c["name"] for c in inspect(conn).get_columns("staff")]
            rows = [tuple(r) for r in conn.execute(text("SELECT * FROM staff ORDER BY id"))]
        db.engine.dispose()
    return str(revision), columns, rows


@pytest.mark.parametrize("keyring", ["missing", "not this database's"])
def test_without_the_keyring_the_upgrade_stops_in_one_line_and_changes_nothing(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture, keyring: str
) -> None:
    app = make_app()
    _at_plaintext_release(app)
    if keyring == "not this database's":
        with app.app_context():  # the database's KEK 1 has a key check, which another keyring's KEK 1 fails
            db.session.add(KeyCheck(kek_version=1, sealed=b"\x01" + b"\x00" * 40))
            db.session.commit()
            db.engine.dispose()
        other = tmp_path / "other-keyring.json"
        write_keyring(other, new_keyring())
    else:
        other = tmp_path / "nowhere" / "keyring.json"
    before = _state(app)
    stranger = make_app(KEYRING_PATH=str(other))
    result = stranger.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 1 and result.exc_info is not None and result.exc_info[0] is SystemExit
    errors = [r.getMessage() for r in caplog.records if r.name == "flask_migrate"]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert "sealing the staff authenticator secrets needs the keyring, and nothing was changed" in errors[0]
    assert "Traceback" not in result.output
    assert _state(app) == before and before[0] == BEFORE and "totp_secret" in before[1]


def test_the_upgrade_seals_every_secret_and_the_downgrade_writes_them_back(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    secrets = _at_plaintext_release(app)
    with app.app_context():
        upgrade(revision=SEALING)
    revision, columns, rows = _state(app)
    assert revision == SEALING and "totp_secret_sealed" in columns
    # The plaintext column stays one release (the release before's worker loads staff rows), empty.
    assert [row[columns.index("totp_secret")] for row in rows] == [None, None, None]
    for row in rows:
        assert not any(secret.encode() in bytes(v) if isinstance(v, bytes | memoryview) else secret in str(v)
                       for v in row for secret in secrets.values())
    with app.app_context():
        people = {p.id: p for p in db.session.query(Staff)}
        assert {i: open_totp_secret(p) for i, p in people.items()} == {**secrets, 3: None}
        assert people[1].totp_kek_version == 1 and people[3].totp_kek_version is None
        assert db.session.get(KeyCheck, 1) is not None  # a wrong keyring put in later is refused, not used
        db.session.remove()
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            plain = dict(conn.execute(text("SELECT id, totp_secret FROM staff")).all())
        assert plain == {**secrets, 3: None}
        assert "totp_secret_sealed" not in {c["name"] for c in inspect(db.engine).get_columns("staff")}
        db.engine.dispose()


def test_an_upgrade_with_nothing_to_seal_needs_no_keyring(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """A new installation's empty database migrates before any keyring matters."""
    app = make_app()
    with app.app_context():
        downgrade(revision=BEFORE)
        db.engine.dispose()
    stranger = make_app(KEYRING_PATH=str(tmp_path / "nowhere" / "keyring.json"))
    result = stranger.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert _state(app)[0] == migration_head()  # past the sealing, to the last migration

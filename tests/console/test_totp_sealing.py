"""Staff authenticator secrets are sealed under the keyring: a database dump plus a phished password is not
the console. Signing in still works; without the keyring the second step refuses and writes nothing."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select, text

from app.crypto.errors import DecryptionFailed
from app.crypto.keyring import load_keyring, new_keyring, write_keyring
from app.crypto.keystore import forget_keyring
from app.crypto.staff_secrets import open_totp_secret, seal_totp_secret
from app.extensions import db
from app.models import AuditEvent, Staff
from tests.conftest import on_postgres
from tests.console.helpers import World, audit_actions, sign_in, totp_code
from tests.support.forms import csrf_token


def _raw_staff_rows(world: World) -> list[dict[str, object]]:
    with world.app.app_context():
        return [dict(row._mapping) for row in db.session.execute(text("SELECT * FROM staff"))]


def _holds(value: object, secret: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return secret.encode() in bytes(value)
    return isinstance(value, str) and secret.upper() in value.upper()


def test_the_database_row_holds_no_authenticator_secret(world: World) -> None:
    rows = _raw_staff_rows(world)
    assert rows and all(row["totp_secret"] is None for row in rows)  # the plaintext column, kept one release: empty
    for key, secret in world.secrets.items():
        assert not any(_holds(value, secret) for row in rows for value in row.values()), key
    assert all(row["totp_secret_sealed"] and row["totp_kek_version"] == 1 for row in rows)
    if world.app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        # The files themselves, as a copy of them holds them (free pages, -wal and -shm included).
        path = Path(world.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        data = b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
        assert not any(secret.encode() in data for secret in world.secrets.values())


def test_sign_in_with_a_code_works_end_to_end(world: World) -> None:
    client = world.app.test_client()
    response = sign_in(client, world, "counselor_a")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")
    assert "Queue" in client.get("/console/").get_data(as_text=True)
    assert audit_actions(world.app)[-1] == "signin"


def test_enrolment_stores_the_secret_sealed(world: World) -> None:
    admin = world.app.test_cli_runner().invoke(args=[
        "staff", "create", "--email", "new@district.example", "--name", "New Person", "--role", "counselor",
        "--school", "AHS"])
    path = admin.output.strip().splitlines()[-1].removeprefix("http://tipline.test")
    client = world.app.test_client()
    shown = re.search(r'<code class="secret">([A-Z2-7]+)</code>', client.get(path).get_data(as_text=True))
    assert shown
    secret = shown.group(1)
    with world.app.app_context():
        person = db.session.scalar(select(Staff).where(Staff.email == "new@district.example"))
        assert person is not None and person.totp_secret_sealed and secret.encode() not in person.totp_secret_sealed
        assert open_totp_secret(person) == secret
    # A reload shows the same, already scanned key; finishing enrolment with its code works.
    assert f'<code class="secret">{secret}</code>' in client.get(path).get_data(as_text=True)
    done = client.post(path, data={"csrf_token": csrf_token(client, path), "password": "tumbleweed casper lantern",
                                   "confirm": "tumbleweed casper lantern", "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "recovery" in done.get_data(as_text=True).lower()
    assert not any(_holds(value, secret) for row in _raw_staff_rows(world) for value in row.values())


def test_a_secret_sealed_for_one_person_does_not_open_for_another(world: World, caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
    """Someone with write access to the database copies their own sealed secret onto an SRO's row, to sign in as
    the SRO with the SRO's (phished) password and their own phone: it does not open, and nothing signs in."""
    with world.app.app_context():
        mine = db.session.get(Staff, world.people["counselor_b"])
        theirs = db.session.get(Staff, world.people["sro_a"])
        assert mine is not None and theirs is not None
        theirs.totp_secret_sealed, theirs.totp_kek_version = mine.totp_secret_sealed, mine.totp_kek_version
        db.session.commit()
        with pytest.raises(DecryptionFailed):
            open_totp_secret(theirs)
    before = audit_actions(world.app)
    client = world.app.test_client()
    response = client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                                     "email": world.emails["sro_a"], "password": "correct horse "
                                                     "battery staple"})
    assert response.status_code == 302
    code = pyotp.TOTP(world.secrets["counselor_b"]).now()
    response = client.post("/console/sign-in/code", data={
        "csrf_token": csrf_token(client, "/console/sign-in/code"), "code": code})
    assert response.status_code == 503 and "keyring" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302  # not signed in
    assert audit_actions(world.app) == before
    assert any(r.getMessage().startswith("OPERATOR:") and "did not authenticate" in r.getMessage()
               for r in caplog.records)


def _break_keyring(world: World) -> Path:
    path = Path(world.app.config["KEYRING_PATH"])
    path.rename(path.with_suffix(".away"))
    forget_keyring(world.app)
    return path


def test_no_keyring_the_second_step_answers_503_and_writes_nothing(world: World,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    client = world.app.test_client()
    client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                          "email": world.emails["sro_a"], "password": "correct horse battery staple"})
    token = csrf_token(client, "/console/sign-in/code")
    code = totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])
    with world.app.app_context():
        before = db.session.execute(text("SELECT * FROM staff WHERE id = :id"), {"id": world.people["sro_a"]}).one()
        events = db.session.scalar(select(func.count(AuditEvent.id)))
    path = _break_keyring(world)
    response = client.post("/console/sign-in/code", data={"csrf_token": token, "code": code})
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "Nothing was saved" in page and "keyring" in page
    assert any(r.getMessage().startswith("OPERATOR:") and "keyring" in r.getMessage() and r.levelno == logging.CRITICAL
               for r in caplog.records)
    with world.app.app_context():
        after = db.session.execute(text("SELECT * FROM staff WHERE id = :id"), {"id": world.people["sro_a"]}).one()
        assert after == before  # no failed attempt counted, the code not used up, no plaintext written
        assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    assert client.get("/console/").status_code == 302  # not signed in
    # The keyring back: the same code, never used, signs in.
    path.with_suffix(".away").rename(path)
    response = client.post("/console/sign-in/code", data={"csrf_token": token, "code": code})
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/")


def test_no_keyring_enrolment_answers_503_and_writes_no_secret(world: World) -> None:
    admin = world.app.test_cli_runner().invoke(args=[
        "staff", "create", "--email", "new@district.example", "--name", "New Person", "--role", "counselor",
        "--school", "AHS"])
    assert admin.exit_code == 0, admin.output
    path = admin.output.strip().splitlines()[-1].removeprefix("http://tipline.test")
    _break_keyring(world)
    response = world.app.test_client().get(path)
    assert response.status_code == 503 and "keyring" in response.get_data(as_text=True)
    with world.app.app_context():
        person = db.session.scalar(select(Staff).where(Staff.email == "new@district.example"))
        assert person is not None and person.totp_secret_sealed is None and person.totp_kek_version is None


def test_the_dev_code_command_opens_the_sealed_secret_and_refuses_without_the_keyring(world: World) -> None:
    runner = world.app.test_cli_runner()
    result = runner.invoke(args=["staff", "totp", world.emails["sro_a"]])
    assert result.exit_code == 0 and result.output.strip() == pyotp.TOTP(world.secrets["sro_a"]).now()
    _break_keyring(world)
    result = runner.invoke(args=["staff", "totp", world.emails["sro_a"]])
    assert result.exit_code == 1 and "no keyring at" in result.output and "Traceback" not in result.output


def _versions(world: World) -> dict[int, int | None]:
    with world.app.app_context():
        return {person.id: person.totp_kek_version for person in db.session.scalars(select(Staff))}


def test_rotation_seals_the_secrets_again_and_sign_in_still_works(world: World) -> None:
    runner = world.app.test_cli_runner()
    with world.app.app_context():
        old = {p.id: p.totp_secret_sealed for p in db.session.scalars(select(Staff))}
    status = runner.invoke(args=["keys", "status"])
    assert "KEK 1 (active): 0 tips, 5 staff authenticator secrets" in status.output, status.output
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "5 staff authenticator secrets sealed again with KEK 2" in rotated.output
    assert set(_versions(world).values()) == {2}
    with world.app.app_context():
        for person in db.session.scalars(select(Staff)):
            assert person.totp_secret_sealed != old[person.id]
    retired = runner.invoke(args=["keys", "retire", "1"])
    assert retired.exit_code == 0, retired.output
    assert set(load_keyring(world.app.config["KEYRING_PATH"]).keys) == {2}
    assert sign_in(world.app.test_client(), world, "sro_a").status_code == 302


def test_a_key_still_sealing_a_staff_secret_is_not_retired(world: World) -> None:
    """A rotation interrupted before the staff secrets were sealed again: retiring the old key would lock every
    one of them out of the console for good. It is refused; running the rotation again finishes it."""
    path = Path(world.app.config["KEYRING_PATH"])
    write_keyring(path, load_keyring(path).with_new_key())  # KEK 2 active, every secret still under KEK 1
    forget_keyring(world.app)
    runner = world.app.test_cli_runner()
    refused = runner.invoke(args=["keys", "retire", "1"])
    assert refused.exit_code == 1
    assert "5 staff authenticator secrets are still sealed under KEK 1" in refused.output
    assert set(json.loads(path.read_text())["keys"]) == {"1", "2"}  # nothing retired
    finished = runner.invoke(args=["keys", "rotate"])
    assert finished.exit_code == 0 and "finishing the rotation to KEK 2" in finished.output, finished.output
    assert set(_versions(world).values()) == {2}
    assert set(json.loads(path.read_text())["keys"]) == {"1", "2"}  # finished, not a new KEK 3
    assert runner.invoke(args=["keys", "retire", "1"]).exit_code == 0
    assert sign_in(world.app.test_client(), world, "admin").status_code == 302


def test_rotation_names_a_staff_secret_that_does_not_open_and_does_the_others(world: World) -> None:
    with world.app.app_context():
        person = db.session.get(Staff, world.people["sro_b"])
        assert person is not None
        seal_totp_secret(person, world.secrets["sro_b"])
        sealed = bytearray(person.totp_secret_sealed or b"")
        sealed[-1] ^= 1  # altered in the database
        person.totp_secret_sealed = bytes(sealed)
        db.session.commit()
    result = world.app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and "sro_b@district.example (KEK 1)" in result.output
    versions = _versions(world)
    assert versions.pop(world.people["sro_b"]) == 1 and set(versions.values()) == {2}


def test_a_keyring_that_is_not_this_databases_is_refused_at_sign_in(world: World) -> None:
    write_keyring(Path(world.app.config["KEYRING_PATH"]), new_keyring())  # another KEK 1
    forget_keyring(world.app)
    client = world.app.test_client()
    client.post("/console/sign-in", data={"csrf_token": csrf_token(client, "/console/sign-in"),
                                          "email": world.emails["sro_a"], "password": "correct horse battery staple"})
    response = client.post("/console/sign-in/code", data={
        "csrf_token": csrf_token(client, "/console/sign-in/code"),
        "code": totp_code(world.app, world.people["sro_a"], world.secrets["sro_a"])})
    assert response.status_code == 503


@pytest.mark.skipif(not on_postgres(), reason="on SQLite a rotation's batch and a reset each hold the write lock from "
                    "BEGIN, so they cannot run side by side")
def test_a_reset_sign_in_during_a_rotation_keeps_the_old_authenticator_out(world: World) -> None:
    """PostgreSQL: an admin resets a lost phone's sign-in while `flask keys rotate` seals the secrets again. The
    rotation read the old secret before the reset committed, and its UPDATE wrote it back over the reset: the lost
    phone's authenticator worked again. The rotation now waits for the reset and leaves the cleared secret alone."""
    import threading
    import time

    from app.accounts.service import db_reset_sign_in
    from app.models import utcnow

    reset_done, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def reset() -> None:
        try:
            with world.app.app_context():
                person = db.session.get(Staff, world.people["sro_a"])
                assert person is not None
                db_reset_sign_in(person, utcnow())
                db.session.flush()  # the row is written and locked, the transaction still open
                reset_done.set()
                release.wait(30)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            errors.append(exc)
            reset_done.set()

    results = []
    resetter = threading.Thread(target=reset)
    resetter.start()
    assert reset_done.wait(30)
    rotator = threading.Thread(target=lambda: results.append(world.app.test_cli_runner().invoke(
        args=["keys", "rotate"])))
    rotator.start()
    time.sleep(1.5)  # the rotation reaches the person's row and waits on the reset's lock
    release.set()
    resetter.join(30)
    rotator.join(30)
    assert not errors, errors
    (result,) = results
    assert result.exit_code == 0, result.output
    with world.app.app_context():
        person = db.session.get(Staff, world.people["sro_a"])
        assert person is not None and person.totp_secret_sealed is None and person.totp_kek_version is None

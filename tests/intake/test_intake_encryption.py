"""The promises of envelope encryption: nothing readable at rest, nothing opens in the wrong place."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from app.crypto.envelope import associated_data, open_sealed
from app.crypto.errors import DecryptionFailed, TipShredded
from app.crypto.keyring import load_keyring, new_keyring
from app.crypto.keystore import forget_keyring
from app.crypto.service import open_for_tip, open_tip_assessment, open_tip_contact, open_tip_text, seal_for_tip
from app.extensions import db
from app.models import Attachment, AuditEvent, Tip
from tests.conftest import PG_URL, on_postgres
from tests.intake.helpers import jpeg_bytes, open_followup, post_multipart, submit_ok
from tests.support.forms import csrf_token


def _tip(app, ref: str) -> Tip:
    tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
    assert tip is not None
    return tip


def test_database_file_and_logs_hold_no_plaintext(intake_app, schools, caplog):
    canary = f"canary-{uuid.uuid4().hex}"
    contact = f"contact-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    client = intake_app.test_client()
    ref, _code = submit_ok(client, schools["kelly"], f"He has a gun in his locker {canary}",
                           contact=contact, happening_now="yes")
    with intake_app.app_context():
        tip = _tip(intake_app, ref)
        assert canary in open_tip_text(tip)  # staff-side read through the service
        assert open_tip_contact(tip) == contact
        assessment = open_tip_assessment(tip)
        assert assessment is not None and "urgency_probabilities" in assessment
        db.session.remove()
        if db.engine.dialect.name == "sqlite":
            db_file = Path(db.engine.url.database or "")
            for path in (db_file, Path(f"{db_file}-wal")):
                if path.exists():
                    raw = path.read_bytes()
                    for secret in (canary, contact):
                        assert secret.encode() not in raw, path
                        assert secret.encode("utf-16-le") not in raw, path
    logged = "\n".join(r.getMessage() + json.dumps(getattr(r, "fields", {}), default=str) for r in caplog.records)
    assert canary not in logged and contact not in logged


@pytest.mark.skipif(not on_postgres(), reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_pg_dump_holds_no_plaintext(intake_app, schools):
    canary = f"canary-{uuid.uuid4().hex}"
    client = intake_app.test_client()
    submit_ok(client, schools["kelly"], f"Threat written on the bathroom wall {canary}")
    with intake_app.app_context():
        url = db.engine.url
        schema = db.session.execute(db.text("select current_schema()")).scalar()
    pg_dump = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    dump = subprocess.run([pg_dump, "--dbname", plain.split("?")[0], "--schema", str(schema), "--data-only"],
                          capture_output=True, check=True, env={**os.environ, "PGPASSWORD": url.password or ""})
    assert b"COPY" in dump.stdout or b"INSERT" in dump.stdout
    assert canary.encode() not in dump.stdout


def test_another_key_cannot_decrypt(intake_app, schools):
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], "Someone is selling vapes behind the gym.")
    with intake_app.app_context():
        tip = _tip(intake_app, ref)
        stranger = new_keyring()
        with pytest.raises(DecryptionFailed):
            open_sealed(stranger.active_kek, associated_data(tip.ref, "dek"), tip.wrapped_dek)
        assert tip.text_ct is not None
        with pytest.raises(DecryptionFailed):
            open_sealed(os.urandom(32), associated_data(tip.ref, "text"), tip.text_ct)


def test_ciphertext_moved_to_another_tip_or_field_fails(intake_app, schools):
    client = intake_app.test_client()
    ref_a, _ = submit_ok(client, schools["kelly"], "First tip: fight planned after school.",
                         contact="call me", photos=[(jpeg_bytes(), "a.jpg")])
    ref_b, _ = submit_ok(client, schools["mills"], "Second tip: a student is being bullied online.")
    with intake_app.app_context():
        a, b = _tip(intake_app, ref_a), _tip(intake_app, ref_b)
        with pytest.raises(DecryptionFailed):
            open_for_tip(b, "text", a.text_ct)  # another tip
        with pytest.raises(DecryptionFailed):
            open_for_tip(a, "contact", a.text_ct)  # another field
        b.wrapped_dek = a.wrapped_dek  # a data key copied onto another tip
        with pytest.raises(DecryptionFailed):
            open_tip_text(b)
        db.session.rollback()
        photo = db.session.scalar(select(Attachment).where(Attachment.tip_id == a.id))
        assert photo is not None and photo.data_ct is not None
        assert open_for_tip(a, f"attachment:{photo.id}", photo.data_ct)[:2] == b"\xff\xd8"
        with pytest.raises(DecryptionFailed):
            open_for_tip(a, f"attachment:{photo.id + 1}", photo.data_ct)
        with pytest.raises(ValueError):
            seal_for_tip(a, "message:None", b"x")


def test_shredded_tip_cannot_be_opened(intake_app, schools):
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], "Please check on my friend, she is not okay.")
    with intake_app.app_context():
        tip = _tip(intake_app, ref)
        tip.wrapped_dek = None
        with pytest.raises(TipShredded):
            open_tip_text(tip)


def test_rotate_then_retire_every_tip_still_opens(intake_app, schools):
    client = intake_app.test_client()
    texts = {}
    for i in range(5):
        text = f"Tip number {i}: someone threatened a classmate in the hallway."
        ref, _ = submit_ok(client, schools["kelly"], text)
        texts[ref] = text
    runner = intake_app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "5 tips re-wrapped" in result.output and "re-wrapped 2/5" in result.output
    blocked = runner.invoke(args=["keys", "retire", "2"])
    assert blocked.exit_code != 0 and "active" in blocked.output
    result = runner.invoke(args=["keys", "retire", "1"])
    assert result.exit_code == 0, result.output
    keyring = load_keyring(intake_app.config["KEYRING_PATH"])
    assert set(keyring.keys) == {2} and keyring.active == 2
    status = runner.invoke(args=["keys", "status"])
    assert "KEK 2 (active): 5 tips" in status.output
    with intake_app.app_context():
        forget_keyring(intake_app)
        for ref, text in texts.items():
            tip = _tip(intake_app, ref)
            assert tip.kek_version == 2
            assert open_tip_text(tip) == text
    # A new tip after the rotation is sealed under the new key, and the follow-up still works.
    submit_ok(client, schools["kelly"], "After rotation: drugs sold in the parking lot.")


def test_interrupted_rotation_is_finished_by_running_it_again(intake_app, schools):
    client = intake_app.test_client()
    for i in range(3):
        submit_ok(client, schools["kelly"], f"Tip {i} about a threat on social media.")
    runner = intake_app.test_cli_runner()
    path = intake_app.config["KEYRING_PATH"]
    # Simulate a crash right after the new keyring was written: the tips are still on KEK 1.
    from app.crypto.keyring import write_keyring

    write_keyring(path, load_keyring(path).with_new_key())
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "finishing the rotation to KEK 2" in result.output and "3 tips re-wrapped" in result.output
    with intake_app.app_context():
        assert {t.kek_version for t in db.session.scalars(select(Tip))} == {2}
    assert set(load_keyring(path).keys) == {1, 2}



def test_a_rotation_killed_between_batches_leaves_every_tip_readable_and_its_old_key_unretirable(
        intake_app, schools, monkeypatch):
    """Killed after its first batch: the re-wrapped tips open under the new key, the rest under the old one, retiring
    the old key is refused while a tip needs it, and running the rotation again finishes it (no third key)."""
    import app.cli.keys as keys

    client = intake_app.test_client()
    texts = {}
    for i in range(5):
        text = f"Tip {i}: a threat written on the wall of the bus stop."
        texts[submit_ok(client, schools["kelly"], text)[0]] = text
    runner = intake_app.test_cli_runner()
    rewrap, seen = keys.db_rewrap_tip_key, []

    def killed_in_the_second_batch(tip, keyring):
        seen.append(tip.ref)
        if len(seen) == 3:
            raise KeyboardInterrupt  # as a kill: nothing of this batch is committed
        rewrap(tip, keyring)

    monkeypatch.setattr(keys, "db_rewrap_tip_key", killed_in_the_second_batch)
    assert runner.invoke(args=["keys", "rotate", "--batch", "2"]).exit_code != 0
    monkeypatch.setattr(keys, "db_rewrap_tip_key", rewrap)

    def every_tip_opens_on(versions):
        with intake_app.app_context():
            db.session.remove()
            forget_keyring(intake_app)
            tips = {tip.ref: tip for tip in db.session.scalars(select(Tip))}
            assert sorted(tip.kek_version for tip in tips.values()) == versions
            assert {ref: open_tip_text(tip) for ref, tip in tips.items()} == texts

    every_tip_opens_on([1, 1, 1, 2, 2])
    refused = runner.invoke(args=["keys", "retire", "1"])
    assert refused.exit_code != 0 and "3 tips still use KEK 1" in refused.output
    assert set(load_keyring(intake_app.config["KEYRING_PATH"]).keys) == {1, 2}
    again = runner.invoke(args=["keys", "rotate"])
    assert again.exit_code == 0 and "finishing the rotation to KEK 2" in again.output, again.output
    every_tip_opens_on([2, 2, 2, 2, 2])
    assert runner.invoke(args=["keys", "retire", "1"]).exit_code == 0
    every_tip_opens_on([2, 2, 2, 2, 2])


def test_rotation_and_retirement_are_on_the_audit_record_by_operator(intake_app, schools, monkeypatch):
    """A change of the key that wraps every tip is a change of who can read them: the record says when and by
    whom (`flask keys` wrote nothing on it before), with the tips that could not be re-wrapped by reference."""
    client = intake_app.test_client()
    refs = [submit_ok(client, schools["kelly"], f"Tip {i}: he said he would bring a knife tomorrow.")[0]
            for i in range(3)]
    with intake_app.app_context():
        tip = _tip(intake_app, refs[0])
        tip.wrapped_dek = tip.wrapped_dek[:-1] + bytes([tip.wrapped_dek[-1] ^ 1])
        db.session.commit()
    monkeypatch.setenv("SUDO_USER", "opsdesk")
    runner = intake_app.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 1  # one damaged tip, named
    with intake_app.app_context():
        _tip(intake_app, refs[0]).wrapped_dek = None  # the damaged tip shredded: nothing needs KEK 1 any more
        db.session.commit()
    assert runner.invoke(args=["keys", "retire", "1"]).exit_code == 0
    with intake_app.app_context():
        events = {e.action: e for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["keys.rotated", "keys.retired"])))}
        assert set(events) == {"keys.rotated", "keys.retired"}
        rotated = json.loads(events["keys.rotated"].detail)
        assert events["keys.rotated"].actor_label == "cli:opsdesk"
        assert rotated == {"active": 2, "rewrapped": 2, "not_rewrapped_refs": [refs[0]], "staff_resealed": 0,
                           "staff_not_resealed_ids": []}
        assert events["keys.retired"].actor_label == "cli:opsdesk"
        assert json.loads(events["keys.retired"].detail) == {"version": 1}


def test_a_damaged_wrapped_key_does_not_stop_the_rotation_of_the_other_tips(intake_app, schools):
    """One tip whose wrapped data key no longer opens (a damaged row) stopped rotation with a traceback at it,
    run after run, so the tips after it were never re-wrapped and the old key could never be retired."""
    client = intake_app.test_client()
    texts = {}
    for i in range(4):
        text = f"Tip {i}: a fight is planned behind the gym."
        texts[submit_ok(client, schools["kelly"], text)[0]] = text
    damaged = sorted(texts)[1]
    with intake_app.app_context():
        tip = _tip(intake_app, damaged)
        tip.wrapped_dek = tip.wrapped_dek[:-1] + bytes([tip.wrapped_dek[-1] ^ 1])
        db.session.commit()
    runner = intake_app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", "--batch", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{damaged} (KEK 1)" in result.output and "3 tips re-wrapped" in result.output
    with intake_app.app_context():
        forget_keyring(intake_app)
        for ref, text in texts.items():
            if ref != damaged:
                tip = _tip(intake_app, ref)
                assert tip.kek_version == 2 and open_tip_text(tip) == text
        assert _tip(intake_app, damaged).kek_version == 1
    assert runner.invoke(args=["keys", "retire", "1"]).exit_code != 0  # the damaged tip still names KEK 1

def test_a_damaged_wrapped_key_does_not_block_the_next_rotation(intake_app, schools):
    """A tip left on its KEK because its wrapped key does not open must not turn every later `flask keys rotate`
    into "finishing the rotation": a KEK that leaked could then never be replaced."""
    client = intake_app.test_client()
    refs = [submit_ok(client, schools["kelly"], f"Tip {i}: a fight is planned behind the gym.")[0] for i in range(3)]
    with intake_app.app_context():
        tip = _tip(intake_app, refs[0])
        tip.wrapped_dek = tip.wrapped_dek[:-1] + bytes([tip.wrapped_dek[-1] ^ 1])
        db.session.commit()
    runner = intake_app.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 1  # KEK 2; the damaged tip stays on KEK 1
    again = runner.invoke(args=["keys", "rotate"])
    assert again.exit_code == 1 and f"{refs[0]} (KEK 1)" in again.output, again.output
    assert "KEK 3 added and active" in again.output, again.output
    with intake_app.app_context():
        forget_keyring(intake_app)
        assert [_tip(intake_app, ref).kek_version for ref in refs] == [1, 3, 3]
        assert open_tip_text(_tip(intake_app, refs[2])) == "Tip 2: a fight is planned behind the gym."


def test_rotation_with_a_keyring_missing_a_used_key_refuses_and_writes_nothing(intake_app, schools):
    """The keyring restored from before the last rotation: rotating again must not try to re-wrap tips it cannot
    open (a traceback part-way) nor write a new key under a version number the database already knows."""
    client = intake_app.test_client()
    submit_ok(client, schools["kelly"], "A student said he will bring a gun on Friday.")
    runner = intake_app.test_cli_runner()
    path = Path(intake_app.config["KEYRING_PATH"])
    before = path.read_text()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    path.write_text(before)  # KEK 2 is lost; the tip is wrapped by it
    forget_keyring(intake_app)
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "KEK 2" in result.output and "not in the keyring" in result.output
    assert path.read_text() == before


def test_rotation_never_reuses_a_version_the_database_knows(intake_app, schools):
    """A keyring restored from before a rotation that wrapped no tip (all shredded, or none yet): a new key must
    take a fresh number, or its key check would not match and intake would refuse every tip."""
    runner = intake_app.test_cli_runner()
    path = Path(intake_app.config["KEYRING_PATH"])
    before = path.read_text()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0  # KEK 2's key check is in the database
    path.write_text(before)
    forget_keyring(intake_app)
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert load_keyring(path).active == 3
    submit_ok(intake_app.test_client(), schools["kelly"], "After the rotation: a fight is planned at lunch.")


def test_new_keyring_is_on_disk_before_rotation_rewraps_anything(tmp_path, monkeypatch):
    """Rotation re-wraps tips right after writing the keyring. The rename that puts the new keyring in place is
    durable only once its directory is flushed: a power cut that kept re-wrapped tips but lost the rename would
    leave them wrapped by a key no file holds."""
    from app.crypto.keyring import write_keyring

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "keys" / "keyring.json"
    path.parent.mkdir()
    write_keyring(path, new_keyring())
    assert synced[-1] == str(path.parent)  # the directory, after the file's own content
    assert load_keyring(path).active == 1


def _exif_with(canary: str) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = f"artist-{canary}"  # Artist: many phones put their owner's name here
    exif[0x0110] = f"model-{canary}"  # Model
    exif[0x0112] = 6  # Orientation: cleaning reads the EXIF to turn the photo upright
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (42.0, 50.0, 12.5)  # where the photo was taken
    return exif.tobytes()


def test_nothing_of_a_report_or_its_photos_reaches_the_log_at_debug_level(make_intake_app):
    from app import logs

    app = make_intake_app(LOG_LEVEL="DEBUG")
    canary = f"canary{uuid.uuid4().hex[:12]}"
    handler = logs._configured_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        client = app.test_client()
        photo = jpeg_bytes(exif=_exif_with(canary))
        _ref, code = submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], f"A fight after school {canary}",
                               contact=f"contact-{canary}", photos=[(photo, f"{canary}.jpg")])
        assert open_followup(client, code).status_code == 200
        reply = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                           "message": f"More: {canary}"}, [(photo, f"{canary}.jpg")])
        assert reply.status_code == 303
    finally:
        handler.setStream(old)
    logged = stream.getvalue()
    assert "tip received" in logged and "reporter replied" in logged  # the log was written at DEBUG
    assert canary not in logged
    assert "42.0" not in logged and "GPSLatitude" not in logged


def test_a_rotation_that_cannot_write_the_keyring_leaves_no_copy_of_the_keys(intake_app, schools, monkeypatch):
    """A full disk (or a quota) while `flask keys rotate` wrote the new keyring left keyring.tmp behind, a copy of
    every KEK, the new one and the old: after retiring a KEK so that shredded tips in old backups stay unreadable,
    that copy still held it. The failed write now removes its temporary file, says so in one line, and changes
    nothing: the keyring and the tips stay as they were."""
    import errno

    submit_ok(intake_app.test_client(), schools["kelly"], "A tip sealed before the rotation was tried.")
    path = Path(intake_app.config["KEYRING_PATH"])
    before = path.read_bytes()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    result = intake_app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1 and "No space left on device" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.stem)) == [path.name]
    assert path.read_bytes() == before
    with intake_app.app_context():
        assert {t.kek_version for t in db.session.scalars(select(Tip))} == {1}
    monkeypatch.undo()
    assert intake_app.test_cli_runner().invoke(args=["keys", "rotate"]).exit_code == 0


@pytest.mark.skipif(not on_postgres(), reason="on SQLite a rotation's batch and the purge each hold the write lock "
                    "from BEGIN, so they cannot run side by side")
def test_a_rotation_running_beside_the_purge_never_gives_a_shredded_tip_its_key_back(intake_app, schools):
    """PostgreSQL: the worker's daily purge shreds a case while `flask keys rotate` re-wraps the same tip. The
    rotation read the wrapped key before the purge committed, and its UPDATE then wrote it back over the shredding:
    a case "shredded" with a data key again, which staff could add notes to, and which the next purge shred again."""
    import threading
    import time
    from datetime import timedelta

    from app.models import TipStatus, utcnow
    from app.retention import db_purge_expired_tips

    ref, _code = submit_ok(intake_app.test_client(), schools["kelly"], "Someone keeps threatening my brother online.")
    with intake_app.app_context():
        tip = _tip(intake_app, ref)
        tip.status, tip.outcome = TipStatus.CLOSED.value, "unfounded"
        tip.closed_at = utcnow() - timedelta(days=int(intake_app.config["RETENTION_DAYS"]) + 1)
        db.session.commit()

    shredded, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def purge() -> None:
        try:
            with intake_app.app_context():
                assert db_purge_expired_tips().refs == [ref]  # shredded, its transaction still open
                shredded.set()
                release.wait(30)
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001  (asserted below)
            errors.append(exc)
            shredded.set()

    results = []
    purger = threading.Thread(target=purge)
    purger.start()
    assert shredded.wait(30)
    rotator = threading.Thread(target=lambda: results.append(
        intake_app.test_cli_runner().invoke(args=["keys", "rotate"])))
    rotator.start()
    time.sleep(1.5)  # the rotation reaches the tip's row and waits on the purge's lock
    release.set()
    purger.join(30)
    rotator.join(30)
    assert not errors, errors
    (result,) = results
    assert result.exit_code == 0, result.output
    with intake_app.app_context():
        tip = _tip(intake_app, ref)
        assert tip.shredded_at is not None and tip.wrapped_dek is None and tip.text_ct is None

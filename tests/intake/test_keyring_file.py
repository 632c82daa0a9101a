"""The keyring file on disk: owner-only however it is written, and a keyring others can read is told to the
operator (it is the key to every tip in every backup)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from app.crypto.keyring import load_keyring, new_keyring, write_keyring
from tests.intake.helpers import submit_ok

TEXT = "A boy said he will bring his father's gun to the dance."


def test_a_keyring_written_over_a_leftover_temporary_file_is_still_owner_only(tmp_path: Path) -> None:
    """A keyring.tmp left behind readable by all (a copy made by hand, a restore) kept its mode: O_CREAT does not
    change the mode of a file that exists, and the rename made the new keyring, every key in it, world-readable."""
    path = tmp_path / "keyring.json"
    leftover = tmp_path / "keyring.tmp"
    leftover.write_text("left over")
    leftover.chmod(0o644)
    keyring = new_keyring()
    write_keyring(path, keyring)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keyring(path).keys == keyring.keys and not leftover.exists()


def test_a_keyring_readable_by_others_is_told_to_the_operator_and_tips_are_still_taken(make_intake_app, caplog):
    """Put back with `cp` under umask 022, the keyring was 0644: every local user could read the key of every tip
    and nothing said so, neither a log line nor /healthz. Tips are still taken (never turned away for this)."""
    app = make_intake_app()
    path = Path(app.config["KEYRING_PATH"])
    path.chmod(0o644)
    try:
        client = app.test_client()
        submit_ok(client, app.config["TEST_SCHOOLS"]["kelly"], TEXT)
        lines = [r for r in caplog.records if "readable by others" in r.getMessage()]
        assert lines and all(r.getMessage().startswith("OPERATOR:") and r.levelno >= logging.WARNING for r in lines)
        assert not any(TEXT[:20] in r.getMessage() for r in caplog.records)
        body = client.get("/healthz").get_json()
        assert body["checks"]["keyring"] == {"status": "degraded", "reason": "readable_by_others"}
        path.chmod(0o600)
        assert client.get("/healthz").get_json()["checks"]["keyring"] == {"status": "ok"}
    finally:
        os.chmod(path, 0o600)

"""The keyring file on disk: owner-only however it is written, and a keyring others can read is told to the
operator (it is the key to every tip in every backup)."""

from __future__ import annotations

from pathlib import Path

from app.crypto.keyring import load_keyring, new_keyring, write_keyring


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

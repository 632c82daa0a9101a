"""The versioned keyring of key-encryption keys (KEKs).

Stored as JSON {"active": 2, "keys": {"1": "<base64 32 bytes>", "2": "..."}} in instance/keyring.json
(owner-only), or given whole in the TIPLINE_KEYRING environment variable. It never goes into the database,
so a database dump or backup alone opens nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KEK_BYTES = 32


class KeyringUnavailable(RuntimeError):
    """The keyring is missing, unreadable or malformed: intake must fail closed."""


@dataclass(frozen=True)
class Keyring:
    active: int
    keys: dict[int, bytes] = field(repr=False)

    def kek(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise KeyringUnavailable(f"key-encryption key version {version} is not in the keyring") from None

    @property
    def active_kek(self) -> bytes:
        return self.kek(self.active)

    def with_new_key(self, taken: Iterable[int] = ()) -> Keyring:
        """A keyring with a new active key, numbered after every version here and in `taken` (the versions the
        database has key checks for: a key restored away from the keyring must never get a successor's number)."""
        version = max(set(self.keys) | set(taken)) + 1
        return Keyring(active=version, keys={**self.keys, version: secrets.token_bytes(KEK_BYTES)})

    def without(self, versions: set[int]) -> Keyring:
        if self.active in versions:
            raise KeyringUnavailable("the active key cannot be retired")
        return Keyring(active=self.active, keys={v: k for v, k in self.keys.items() if v not in versions})

    def to_json(self) -> str:
        keys = {str(v): base64.b64encode(k).decode() for v, k in sorted(self.keys.items())}
        return json.dumps({"active": self.active, "keys": keys}, indent=2)


def new_keyring() -> Keyring:
    return Keyring(active=1, keys={1: secrets.token_bytes(KEK_BYTES)})


def parse_keyring(text: str) -> Keyring:
    try:
        raw = json.loads(text)
        keys = {int(v): base64.b64decode(k, validate=True) for v, k in raw["keys"].items()}
        active = int(raw["active"])
    # OverflowError: a number too big for an int (1e400); RecursionError: a document nested too deep to parse.
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, OverflowError, RecursionError) as exc:
        raise KeyringUnavailable(f"the keyring is malformed ({type(exc).__name__})") from None
    if active not in keys:
        raise KeyringUnavailable(f"the keyring's active version {active} has no key")
    if any(len(k) != KEK_BYTES for k in keys.values()):
        raise KeyringUnavailable("every key in the keyring must be 32 bytes (AES-256)")
    return Keyring(active=active, keys=keys)


def unreadable_keyring(path: Path, exc: OSError) -> KeyringUnavailable:
    """The operator's message for a keyring file that is missing or cannot be read."""
    if isinstance(exc, FileNotFoundError):
        return KeyringUnavailable(f"no keyring at {path}; run `flask setup` or set TIPLINE_KEYRING")
    return KeyringUnavailable(f"the keyring at {path} cannot be read ({exc.strerror})")


def readable_by_others(mode: int) -> bool:
    """Whether a keyring file's mode grants its group or others anything: it holds the key of every tip in every
    backup, so it is owner-only (0600), as write_keyring makes it and `flask setup` puts it back."""
    return bool(mode & 0o077)


def load_keyring(path: str | Path, env_value: str | None = None) -> Keyring:
    """Read the keyring from the environment value if given, else from the file."""
    if env_value:
        return parse_keyring(env_value)
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise unreadable_keyring(path, exc) from None
    except UnicodeDecodeError:
        # Not text at all: a damaged file, or the encrypted backup copy put back without decrypting it.
        raise KeyringUnavailable(f"the keyring at {path} is not a text file (an encrypted or damaged copy?)") from None
    return parse_keyring(text)


def write_keyring(path: str | Path, keyring: Keyring) -> None:
    """Write atomically with owner-only permissions: a crash never leaves half a keyring."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    # A new file, never one left behind: O_CREAT keeps the mode of a file that exists (a 0644 copy made by hand),
    # and the rename would make that the keyring. O_EXCL also refuses a symlink planted under that name.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(keyring.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A full disk, say: no copy of the keys may stay behind (it would outlive a KEK retired later).
        tmp.unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory is: `flask keys rotate` re-wraps tips right after this.
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

"""Who ran a command on the server: the audit record's "who" for `flask` commands."""

from __future__ import annotations

import getpass
import os


def operator_label() -> str:
    """"cli:<login>": the person behind sudo when there is one, else the account that runs the command.

    Plain "cli" named nobody: with two operators, the record could not say who exported decrypted tips."""
    name = os.environ.get("SUDO_USER", "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name in the environment and no passwd entry (a bare container)
            name = "unknown"
    return f"cli:{name}"[:254]

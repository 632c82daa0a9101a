"""Command options that would make a command do nothing while saying it worked, or spin without sending:
refused by click with the option's name, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask


@pytest.mark.parametrize("args", [
    ["alerts", "run", "--once", "--batch", "0"],  # claimed 0 >= batch 0: a loop that never waits nor sends
    ["alerts", "run", "--once", "--poll", "-1"],  # select() with a negative timeout: a crash
    ["keys", "rotate", "--batch", "0"],  # "done: 0 tips re-wrapped" with every tip still on the old key
    ["tips", "purge", "--batch", "0"],
])
def test_batch_and_poll_must_be_positive(app: Flask, args: list[str]) -> None:
    keyring_before = Path(app.config["KEYRING_PATH"]).read_text()
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--" in result.output
    assert Path(app.config["KEYRING_PATH"]).read_text() == keyring_before

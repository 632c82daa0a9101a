"""`flask` commands. Each group lives in its own module and is registered here."""

from __future__ import annotations

import importlib
from types import ModuleType

from flask import Flask


def register_cli(app: Flask) -> None:
    from app.cli import demo, setup

    app.cli.add_command(setup.setup_command)
    app.cli.add_command(demo.demo_group)
    for module_name in ("app.cli.keys", "app.cli.alerts", "app.cli.staff", "app.cli.ops", "app.cli.console_ops",
                        "app.cli.schools"):
        module = _optional(module_name)
        if module is not None:
            for command in module.COMMANDS:
                app.cli.add_command(command)


def _optional(name: str) -> ModuleType | None:

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None

"""Fixtures for the reporter's pages: an app with a small district and loose rate limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.intake.helpers import LOOSE_LIMITS, seed_schools


@pytest.fixture
def make_intake_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def factory(**overrides: Any) -> Flask:
        app = make_app(**{**LOOSE_LIMITS, **overrides})
        with app.app_context():
            app.config["TEST_SCHOOLS"] = seed_schools()
        return app

    return factory


@pytest.fixture
def intake_app(make_intake_app: Callable[..., Flask]) -> Flask:
    return make_intake_app()


@pytest.fixture
def schools(intake_app: Flask) -> dict[str, int]:
    return dict(intake_app.config["TEST_SCHOOLS"])

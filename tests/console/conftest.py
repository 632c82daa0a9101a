"""Console fixtures: see helpers.py for what they build."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.console import clock
from app.models import utcnow
from tests.console.helpers import FrozenClock, World, build_world, sign_in


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


@pytest.fixture
def signed_in(world: World) -> Callable[[str], FlaskClient]:
    """signed_in("sro_a") -> a test client with that person signed in."""

    def make(key: str) -> FlaskClient:
        client = world.app.test_client()
        response = sign_in(client, world, key)
        assert response.status_code == 302 and response.headers["Location"].endswith("/console/"), response
        return client

    return make


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(utcnow().replace(microsecond=0))
    monkeypatch.setattr(clock, "now", frozen)
    return frozen



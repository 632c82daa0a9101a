"""Browser tests: Chromium through Playwright against the app on a live loopback server.

When the browser cannot start, the tests are skipped with the reason, unless TIPLINE_REQUIRE_BROWSER=1
(CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.console.helpers import PASSWORD, World, totp_code
from tests.support.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
PHONE = {"width": 360, "height": 740}
SMALL_PHONE = {"width": 320, "height": 568}  # the narrowest phone in use (iPhone SE, 1st generation)


def sign_in_in_browser(page: Any, world: World, then: str, who: str = "sro_a") -> None:
    """On the console's sign-in page (where asking for `then` led), sign in as `who`, password then code, and wait
    until the browser is at `then`."""
    page.get_by_label("Email").fill(world.emails[who])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.fill("#code", totp_code(world.app, world.people[who], world.secrets[who]))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(then)


def _no_browser(reason: str) -> None:
    if os.environ.get("TIPLINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser is required (TIPLINE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole run."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _no_browser(f"playwright is not installed ({exc})")
        return
    if not os.path.exists(CHROMIUM):
        _no_browser(f"{CHROMIUM} does not exist (apt-get install chromium)")
    manager = sync_playwright().start()
    try:
        instance = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except PlaywrightError as exc:
        manager.stop()
        _no_browser(f"Chromium did not start: {str(exc).splitlines()[0]}")
        return
    yield instance
    instance.close()
    manager.stop()


@pytest.fixture
def live_server() -> Iterator[Callable[[Flask], str]]:
    """`url = live_server(app)`: serve the app on 127.0.0.1 (ephemeral port) until the test ends."""
    servers: list[LiveServer] = []

    def start(app: Flask) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.__enter__()

    yield start
    for server in servers:
        server.__exit__(None, None, None)

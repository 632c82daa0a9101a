"""A real HTTP server for the app on 127.0.0.1, in a thread: for webhooks, load and browser tests."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from werkzeug.serving import make_server


class LiveServer:
    """`with LiveServer(app) as url:` serves `app` on an ephemeral loopback port until the block ends.

    PUBLIC_BASE_URL is pointed at the server, so status-callback and console links reach it.
    """

    def __init__(self, app: Flask, *, set_public_url: bool = True) -> None:
        self.app = app
        self._server: Any = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        if set_public_url:
            app.config["PUBLIC_BASE_URL"] = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

"""The deploy site's nginx server block, run as it is on loopback in front of a test's app (Debian's nginx)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def site_on_loopback(app_port: int, port: int) -> str:
    """The deploy site's HTTPS server block, as it is, but on plain HTTP on loopback, in front of `app_port`, with
    its static files read from this checkout's deploy/ instead of /opt/tipline/deploy."""
    site = (REPO / "deploy" / "nginx-tipline.conf").read_text()
    block = site[site.index("server {", site.index("server {") + 1):]
    block = re.sub(r"^\s*(listen|ssl_\w+|error_log) .*$", "", block, flags=re.MULTILINE)
    block = block.replace("server {", f"server {{\n    listen 127.0.0.1:{port};", 1)
    block = block.replace("/opt/tipline/deploy", str(REPO / "deploy"))
    return block.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}")


@contextmanager
def nginx_in_front_of(app_port: int, tmp_path: Path) -> Iterator[int]:
    """nginx serving the deploy site in front of 127.0.0.1:`app_port`; yields the port it listens on."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "nginx.conf").write_text(
        # Workers as this user: started as root, nginx runs them as nobody, who cannot read this checkout's deploy/
        # in a private directory (a clone under mktemp -d). Not root, nginx ignores the line.
        f"{'user root;' if os.geteuid() == 0 else ''}\n"
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/f;\n  uwsgi_temp_path {tmp_path}/u;\n  scgi_temp_path {tmp_path}/s;\n"
        f"{site_on_loopback(app_port, port)}\n}}\n")
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert nginx.poll() is None, (tmp_path / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening within 10 s"
                time.sleep(0.05)
        yield port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def raw_exchange(port: int, request: bytes, timeout_s: float = 10) -> bytes:
    """Send `request` as is and read the answer until the server closes (bounded by `timeout_s`)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(request)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer

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


def site_on_loopback(app_port: int, port: int, tls: Path | None = None) -> str:
    """The deploy site's HTTPS server block, as it is, but on plain HTTP on loopback, in front of `app_port`, with
    its static files read from this checkout's deploy/ instead of /opt/tipline/deploy. With `tls` (a directory
    holding cert.pem and key.pem) it stays HTTPS with HTTP/2, as browsers reach it."""
    site = (REPO / "deploy" / "nginx-tipline.conf").read_text()
    block = site[site.index("server {", site.index("server {") + 1):]
    block = re.sub(r"^\s*(listen|ssl_certificate\w*|error_log) .*$", "", block, flags=re.MULTILINE)
    if tls is None:
        block = re.sub(r"^\s*ssl_\w+ .*$", "", block, flags=re.MULTILINE)
        listen = f"listen 127.0.0.1:{port};"
    else:
        listen = (f"listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {tls}/cert.pem;\n"
                  f"    ssl_certificate_key {tls}/key.pem;")
    block = block.replace("server {", f"server {{\n    {listen}", 1)
    block = block.replace("/opt/tipline/deploy", str(REPO / "deploy"))
    return block.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}")


def http_redirect_site_on_loopback(port: int, webroot: Path) -> str:
    """The deploy site's plain-HTTP server block (port 80), as it is, but on loopback, with `webroot` in place of the
    directory certbot writes its challenges to."""
    site = (REPO / "deploy" / "nginx-tipline.conf").read_text()
    block = site[site.index("server {"):site.index("server {", site.index("server {") + 1)]
    block = re.sub(r"^\s*(listen|error_log) .*$", "", block, flags=re.MULTILINE)
    block = block.replace("server {", f"server {{\n    listen 127.0.0.1:{port};", 1)
    return block.replace(ACME_WEBROOT, str(webroot))


ACME_WEBROOT = "/var/www/html"  # Debian's default site's root: certbot's first certificate is taken through it


@contextmanager
def nginx_in_front_of(app_port: int, tmp_path: Path, *, tls: bool = False) -> Iterator[int]:
    """nginx serving the deploy site in front of 127.0.0.1:`app_port`; yields the port it listens on. With `tls`,
    HTTPS and HTTP/2 with a self-signed certificate for 127.0.0.1."""
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    if tls:
        self_signed_certificate(tmp_path)
    with nginx_serving(site_on_loopback(app_port, port, tmp_path if tls else None), port, tmp_path):
        yield port


@contextmanager
def nginx_serving(server_block: str, port: int, tmp_path: Path) -> Iterator[None]:
    """nginx serving `server_block`, which listens on `port`, until the block ends."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "nginx.conf").write_text(
        # Workers as this user: started as root, nginx runs them as nobody, who cannot read this checkout's deploy/
        # in a private directory (a clone under mktemp -d). Not root, nginx ignores the line.
        f"{'user root;' if os.geteuid() == 0 else ''}\n"
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/f;\n  uwsgi_temp_path {tmp_path}/u;\n  scgi_temp_path {tmp_path}/s;\n"
        f"{server_block}\n}}\n")
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
        yield
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


def self_signed_certificate(directory: Path) -> None:
    """cert.pem and key.pem in `directory`: a certificate for 127.0.0.1, valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))


def curl_with_http2() -> str:
    """The curl command, if it speaks HTTP/2 (as every browser does to the site); else the test is skipped."""
    curl = shutil.which("curl")
    if curl is None or "HTTP2" not in subprocess.run([curl, "-V"], capture_output=True, text=True).stdout:
        pytest.skip("no curl with HTTP/2 (apt-get install curl)")
    return curl

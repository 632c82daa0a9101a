"""When the app does not answer (gunicorn restarting, an upgrade, a worker stuck), nginx in front shows the deploy's
own page in English and Spanish, with 911 and the way to keep what was typed, instead of its bare English 502; the
app's own 503 pages still reach the reporter as the app wrote them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.live_server import LiveServer
from tests.support.nginx import free_port, nginx_in_front_of, raw_exchange

PAGE = Path(__file__).resolve().parents[2] / "deploy" / "tipline-unavailable.html"


def _get(port: int, path: str, lang: str = "en") -> tuple[str, str]:
    answer = raw_exchange(port, f"GET {path} HTTP/1.1\r\nHost: tipline.test\r\nAccept-Language: {lang}\r\n"
                                f"Connection: close\r\n\r\n".encode()).decode("utf-8", "replace")
    head, _, body = answer.partition("\r\n\r\n")
    return head, body


def test_with_the_app_down_a_reporter_gets_911_and_how_to_keep_the_text_in_both_languages(tmp_path: Path):
    nobody_listens = free_port()
    with nginx_in_front_of(nobody_listens, tmp_path) as port:
        head, body = _get(port, "/report")
        post = raw_exchange(port, b"POST /report HTTP/1.1\r\nHost: tipline.test\r\nContent-Type: "
                                  b"application/x-www-form-urlencoded\r\nContent-Length: 13\r\nConnection: close"
                                  b"\r\n\r\ndescription=x").decode("utf-8", "replace")
    assert head.startswith("HTTP/1.1 502"), head  # the status stays what it is: no cache or crawler takes it for a page
    assert post.startswith("HTTP/1.1 502") and "llama al 911" in post
    assert "no-store" in head and "default-src 'none'" in head
    for words in ("If someone is in danger right now, call 911.", "it may not have arrived",
                  "your browser usually still shows", "988",
                  "Si alguien está en peligro ahora mismo, llama al 911.", "puede que no haya llegado",
                  "tu navegador suele mostrar"):
        assert words in body, words
    assert body == PAGE.read_text()


def test_the_page_loads_nothing_and_runs_nothing():
    page = PAGE.read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=|url\(|@import""", page, re.IGNORECASE)
    assert '<meta name="viewport"' in page and 'lang="es"' in page


def test_the_apps_own_503_still_reaches_the_reporter_as_the_app_wrote_it(make_intake_app, tmp_path: Path):
    """Missing keys: the app's 503 says so in the reporter's language, under the app's headers (error_page takes
    only nginx's own errors)."""
    app = make_intake_app(KEYRING_PATH=str(tmp_path / "nowhere.json"))
    with LiveServer(app, set_public_url=False) as url, \
            nginx_in_front_of(int(url.rsplit(":", 1)[1]), tmp_path / "nginx") as port:
        head, body = _get(port, "/report?lang=es", "es")
    assert head.startswith("HTTP/1.1 503"), head
    assert '<html lang="es">' in body and "911" in body
    assert "Tipline no responde en este momento" not in body

"""A body over what is read at all (64 MB with photos): nothing of it is read, the text typed included, so the
413 page says so and how to get the text back, in the reporter's language, from the app and from nginx in front."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.intake.requests import MAX_FORM_WITH_PHOTOS
from tests.intake.test_intake_bad_input import assert_nothing_stored
from tests.intake.test_intake_photos import MB, raw_multipart
from tests.support.forms import csrf_token
from tests.support.live_server import LiveServer
from tests.support.nginx import curl_with_http2, nginx_in_front_of, raw_exchange

WORDS = {
    "en": ("What you sent is too large", "Nothing was sent, not even your text.",
           "your browser usually still shows what you wrote", "Copy it", "911"),
    "es": ("Lo que enviaste es demasiado grande", "No se envió nada, ni siquiera tu texto.",
           "tu navegador suele mostrar todavía lo que escribiste", "Cópialo", "911"),
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_413_page_says_the_text_was_not_received_and_how_to_get_it_back(intake_app, schools, lang):
    client = intake_app.test_client()
    body, content_type = raw_multipart({"csrf_token": csrf_token(client, f"/report?lang={lang}"),
                                        "description": "He showed a knife at the bus stop."}, [("video.mp4", 70 * MB)])
    response = client.post("/report", data=body, content_type=content_type)
    page = response.get_data(as_text=True)
    assert response.status_code == 413 and f'<html lang="{lang}">' in page
    for words in WORDS[lang]:
        assert words in page
    assert_nothing_stored(intake_app)


def _post_over_the_limit(port: int, lang: str) -> bytes:
    """The headers of a form of 70 MB and the start of its body: nginx answers from the Content-Length."""
    return raw_exchange(port, f"POST /report HTTP/1.1\r\nHost: tipline.test\r\nAccept-Language: {lang}\r\n"
                        "Content-Type: multipart/form-data; boundary=B\r\n"
                        f"Content-Length: {MAX_FORM_WITH_PHOTOS + 6 * MB}\r\nConnection: close\r\n\r\n--B\r\n"
                        .encode())


@pytest.mark.parametrize("lang", ["en", "es"])
def test_behind_nginx_a_body_over_its_limit_gets_the_apps_413_page_not_nginxs(intake_app, tmp_path: Path, lang):
    """nginx's client_max_body_size is the app's 64 MB: a bigger body is refused by nginx itself, whose own 413 page
    is in English, says nothing of the text or of 911, and looks like a broken site to a reporter."""
    with LiveServer(intake_app, set_public_url=False) as url, \
            nginx_in_front_of(int(url.rsplit(":", 1)[1]), tmp_path) as port:
        answer = _post_over_the_limit(port, lang).decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert "no-store" in answer.split("\r\n\r\n", 1)[0]
    for words in WORDS[lang]:
        assert words in answer, answer[:3000]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_over_http2_too_a_body_over_nginxs_limit_gets_the_apps_413_page(intake_app, tmp_path: Path, lang):
    """Browsers reach the site over HTTP/2 (`listen 443 ssl http2`). There nginx checked the body's size again on its
    way to `error_page 413 /too-large`, refused it a second time and answered with its own English page (an nginx
    bug, open upstream): over HTTP/1.1 only did the reporter get the app's page."""
    curl = curl_with_http2()
    form = tmp_path / "form.bin"
    with form.open("wb") as out:
        out.truncate(MAX_FORM_WITH_PHOTOS + 6 * MB)
    with LiveServer(intake_app, set_public_url=False) as url, \
            nginx_in_front_of(int(url.rsplit(":", 1)[1]), tmp_path / "nginx", tls=True) as port:
        answer = subprocess.run(
            [curl, "-sk", "--http2", "--max-time", "60", "-D", "-", "-X", "POST", "-T", str(form),
             "-H", f"Accept-Language: {lang}", "-H", "Content-Type: multipart/form-data; boundary=B",
             f"https://127.0.0.1:{port}/report"], capture_output=True, timeout=90).stdout.decode("utf-8", "replace")
    assert answer.startswith("HTTP/2 413"), answer[:300]
    for words in WORDS[lang]:
        assert words in answer, answer[:3000]

"""Fifty reporters at once against a real HTTP server: every tip is stored, every receipt works."""

from __future__ import annotations

import html
import re
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from sqlalchemy import func, select

from app.crypto.receipts import db_find_tip_by_receipt
from app.extensions import db
from app.models import Tip
from tests.intake.helpers import CODE, REF
from tests.support.forms import csrf_token_in
from tests.support.live_server import LiveServer

REPORTERS = 50
TIPS_EACH = 20


def _reporter(base: str, school: int, index: int, results: list[tuple[str, str]], errors: list[str]) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    try:
        with opener.open(f"{base}/report", timeout=60) as response:
            token = csrf_token_in(response.read().decode())
        assert token
        for n in range(TIPS_EACH):
            body = urllib.parse.urlencode({
                "csrf_token": token, "school": school,
                "description": f"Reporter {index} tip {n}: someone threatened to fight after school.",
            }).encode()
            # urllib follows the 303 to /receipt with a GET, as a browser does.
            with opener.open(f"{base}/report", data=body, timeout=60) as response:
                page = response.read().decode()
                assert response.status == 200 and response.url.endswith("/receipt"), response.url
            code, ref = CODE.search(page), REF.search(page)
            assert code and ref
            results.append((html.unescape(ref.group(1)), html.unescape(code.group(1))))
            token = csrf_token_in(page)  # a stored report renews the CSRF token: the next form is the receipt's
            assert token
    except Exception as exc:  # collected and asserted by the test
        errors.append(f"reporter {index}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_fifty_concurrent_reporters_twenty_tips_each(intake_app, schools):
    results: list[tuple[str, str]] = []
    errors: list[str] = []
    started = time.monotonic()
    with LiveServer(intake_app) as base:
        threads = [threading.Thread(target=_reporter, args=(base, schools["kelly"], i, results, errors))
                   for i in range(REPORTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not errors, errors[:5]
    assert len(results) == REPORTERS * TIPS_EACH
    assert len({ref for ref, _ in results}) == len(results)
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == REPORTERS * TIPS_EACH
        for ref, code in results:
            tip = db_find_tip_by_receipt(code)
            assert tip is not None and tip.ref == ref
    print(f"{len(results)} tips in {elapsed:.1f}s")
    assert re.fullmatch(r"[0-9A-Z]{6}", results[0][0])

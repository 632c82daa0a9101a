"""Locust reporters for the intake benchmark (run by bench/load.py, never imported by the harness itself:
locust patches the standard library with gevent).

Each iteration is one new reporter: no cookies, GET /report for the CSRF token and the session cookie, then
POST the tip as the browser's multipart form, without following the 303 to the receipt. No think time: the
server runs as fast as the given number of concurrent reporters lets it.

Environment: BENCH_TEXTS (JSON list of tip texts), BENCH_SCHOOLS (comma-separated school ids; else read
from the form's options).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, task

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SCHOOL = re.compile(r'<option value="(\d+)"')
TEXTS: list[str] = json.loads(Path(os.environ["BENCH_TEXTS"]).read_text()) if os.environ.get("BENCH_TEXTS") else [
    "Someone wrote a threat on the bathroom wall and said they would bring a gun tomorrow."]
SCHOOLS = [s for s in os.environ.get("BENCH_SCHOOLS", "").split(",") if s]


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "----tipline" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
    # An empty file field, as a browser sends it when no photo was chosen.
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename=""\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n\r\n--{boundary}--\r\n")
    return "".join(parts).encode("utf-8"), f"multipart/form-data; boundary={boundary}"


def cookie_header(headers: Any) -> str:
    """The Cookie header a browser would send back for the Set-Cookie headers of a response."""
    raw = headers.get_all("Set-Cookie") if hasattr(headers, "get_all") else headers.get("Set-Cookie")
    values = raw if isinstance(raw, list) else [raw or ""]
    pairs = [v.split(";", 1)[0].strip() for value in values for v in str(value).split(", ")]
    return "; ".join(p for p in pairs if "=" in p)


class Reporter(FastHttpUser):
    wait_time = constant(0)

    @task
    def submit_tip(self) -> None:
        self.client.cookiejar.clear()  # a new reporter each time: a new session, a new CSRF token
        with self.client.get("/report", name="GET /report", catch_response=True) as page:
            match = CSRF.search(page.text or "")
            if page.status_code != 200 or not match:
                page.failure(f"form page: {page.status_code}")
                return
        # The cookie by hand: production cookies are Secure (__Host-), and this is plain HTTP on loopback.
        cookie = cookie_header(page.headers)
        self.client.cookiejar.clear()
        schools = SCHOOLS or SCHOOL.findall(page.text or "") or ["1"]
        text = random.choice(TEXTS)  # noqa: S311 - load, not security
        body, content_type = multipart({"csrf_token": match.group(1), "school": random.choice(schools),  # noqa: S311
                                        "description": text, "happening_now": "unsure", "contact": ""})
        headers = {"Content-Type": content_type, "Cookie": cookie}
        with self.client.post("/report", data=body, headers=headers, name="POST /report",  # type: ignore[arg-type]
                              allow_redirects=False, catch_response=True) as answer:
            if answer.status_code != 303:
                answer.failure(f"submit: {answer.status_code}")

"""One reporter in plain Python (requests): the form, the tip, the receipt, coming back with the code (and a message).

Used where each answer matters (the soak, time-to-alert runs, warm-up), not for throughput (that is locust).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SCHOOL_OPTION = re.compile(r'<option value="(\d+)"[^>]*>([^<]+)<')
CODE = re.compile(r'id="receipt-code"[^>]*>([^<]+)<')
REF = re.compile(r'id="tip-ref"[^>]*>([^<]+)<')


class ReporterError(RuntimeError):
    """The server answered a reporter with something a reporter should never see (status, missing field)."""


@dataclass(frozen=True)
class Submitted:
    ref: str
    code: str
    statuses: tuple[int, ...]  # every status code the reporter saw, in order


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment on a loopback benchmark
    return session


def _cookie(response: requests.Response) -> dict[str, str]:
    # Production cookies are Secure; this is plain HTTP on loopback, so they are carried by hand.
    return {c.name: c.value or "" for c in response.cookies}


def school_ids(url: str) -> dict[str, int]:
    """School name -> id, from the form's options."""
    page = _session().get(url + "/report", timeout=30)
    return {html.unescape(name).strip(): int(value) for value, name in SCHOOL_OPTION.findall(page.text)}


def submit_tip(url: str, text: str, school: int | None = None, happening_now: str = "unsure",
               want_receipt: bool = False, timeout: float = 30.0) -> Submitted:
    """GET the form, POST the tip (303 expected); with want_receipt, read and confirm the receipt too."""
    session = _session()
    statuses: list[int] = []
    form = session.get(url + "/report", timeout=timeout)
    statuses.append(form.status_code)
    match = CSRF.search(form.text)
    if form.status_code != 200 or not match:
        raise ReporterError(f"form page answered {form.status_code}")
    if school is None:
        school = int(SCHOOL_OPTION.findall(form.text)[0][0])
    cookies = _cookie(form)
    answer = session.post(url + "/report", files={"photos": ("", b"", "application/octet-stream")},
                          data={"csrf_token": match.group(1), "school": str(school), "description": text,
                                "happening_now": happening_now, "contact": ""},
                          cookies=cookies, allow_redirects=False, timeout=timeout)
    statuses.append(answer.status_code)
    if answer.status_code != 303:
        raise ReporterError(f"submit answered {answer.status_code}")
    if not want_receipt:
        return Submitted("", "", tuple(statuses))
    cookies.update(_cookie(answer))
    receipt = session.get(url + "/receipt", cookies=cookies, timeout=timeout)
    statuses.append(receipt.status_code)
    code, ref = CODE.search(receipt.text), REF.search(receipt.text)
    if receipt.status_code != 200 or not code or not ref:
        raise ReporterError(f"receipt page answered {receipt.status_code}")
    token = CSRF.search(receipt.text)
    # The receipt page comes with a new CSRF token (intake renews it after a submission), kept in its cookie.
    cookies.update(_cookie(receipt))
    saved = session.post(url + "/receipt", data={"saved": "yes", "csrf_token": token.group(1) if token else ""},
                         cookies=cookies, allow_redirects=False, timeout=timeout)
    statuses.append(saved.status_code)
    if saved.status_code != 303:
        raise ReporterError(f"receipt confirmation answered {saved.status_code}")
    return Submitted(html.unescape(ref.group(1)).strip(), html.unescape(code.group(1)).strip(), tuple(statuses))


def _enter_code(session: requests.Session, url: str, code: str,
                timeout: float) -> tuple[dict[str, str], list[int], requests.Response | None]:
    """Type the receipt code on /followup: the cookies of the visit, the statuses seen, and the case page (None
    when the code did not open it)."""
    start = session.get(url + "/followup", timeout=timeout)
    token = CSRF.search(start.text)
    if start.status_code != 200 or not token:
        raise ReporterError(f"follow-up page answered {start.status_code}")
    cookies = _cookie(start)
    opened = session.post(url + "/followup", data={"code": code, "csrf_token": token.group(1)}, cookies=cookies,
                          allow_redirects=False, timeout=timeout)
    statuses = [start.status_code, opened.status_code]
    if opened.status_code != 303:
        return cookies, statuses, None
    cookies.update(_cookie(opened))
    case = session.get(url + "/followup", cookies=cookies, timeout=timeout)
    statuses.append(case.status_code)
    return cookies, statuses, case


def open_with_receipt(url: str, code: str, timeout: float = 30.0) -> tuple[str | None, tuple[int, ...]]:
    """Come back with the receipt code: the tip reference shown on the case view, or None."""
    _, statuses, case = _enter_code(_session(), url, code, timeout)
    ref = REF.search(case.text) if case is not None else None
    return (html.unescape(ref.group(1)).strip() if ref else None), tuple(statuses)


def reply_to_case(url: str, code: str, text: str, timeout: float = 30.0) -> tuple[int, ...]:
    """Come back with the receipt code and send a message on the case: every status seen, the message's (303) last."""
    session = _session()
    cookies, statuses, case = _enter_code(session, url, code, timeout)
    if case is None:
        raise ReporterError(f"receipt code answered {statuses[-1]}")
    token = CSRF.search(case.text)
    if case.status_code != 200 or not token:
        raise ReporterError(f"case page answered {case.status_code}")
    cookies.update(_cookie(case))
    sent = session.post(url + "/followup/reply", files={"photos": ("", b"", "application/octet-stream")},
                        data={"csrf_token": token.group(1), "message": text}, cookies=cookies,
                        allow_redirects=False, timeout=timeout)
    return (*statuses, sent.status_code)

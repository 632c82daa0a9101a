"""The report form never answers 500, whatever is typed, pasted or forged into it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.intake.helpers import LOOSE_LIMITS, post_multipart, seed_schools

# Shared by every example of a test: building an app per example would dominate the run time.
SHARED_APP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

field_text = st.one_of(
    st.text(max_size=300),
    st.tuples(st.characters(codec="utf-8"), st.integers(9_990, 10_010)).map(lambda t: t[0] * t[1]),  # the limit
    st.just("\x00"), st.just("a" * 10_000 + "\u00e9"), st.just("\ud7ff\ue000\U0010ffff" * 5),
)
schools = st.one_of(st.integers(-3, 10**12).map(str), st.text(max_size=12), st.just(""), st.just("1" * 40))
answers = st.sampled_from(["", "yes", "no", "unsure", "maybe", "YES", "\x00"]) | st.text(max_size=10)


@pytest.fixture
def form_app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(**LOOSE_LIMITS, WTF_CSRF_ENABLED=False)
    with app.app_context():
        app.config["TEST_SCHOOLS"] = seed_schools()
    return app


@SHARED_APP
@given(school=schools, description=field_text, happening=answers, contact=field_text,
       extra=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=3))
def test_any_field_values_get_a_page_not_a_500(form_app, school, description, happening, contact, extra):
    client = form_app.test_client()
    data: dict[str, Any] = {**extra, "school": school, "description": description, "happening_now": happening,
                            "contact": contact}
    response = client.post("/report", data=data)
    assert response.status_code in (303, 400, 413, 422), response.status_code
    if response.status_code == 303:
        assert response.headers["Location"].endswith("/receipt")


@SHARED_APP
@given(body=st.binary(max_size=2000), content_type=st.sampled_from([
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz", "multipart/form-data", "text/plain", "application/json", ""]))
def test_any_raw_body_and_encoding_gets_a_page_not_a_500(form_app, body, content_type):
    response = form_app.test_client().post("/report", data=body, content_type=content_type or None)
    assert response.status_code < 500, response.status_code


@SHARED_APP
@given(photo=st.binary(max_size=3000), name=st.text(max_size=30), description=st.text(min_size=10, max_size=50))
def test_any_file_as_a_photo_gets_a_page_not_a_500(form_app, photo, name, description):
    school = form_app.config["TEST_SCHOOLS"]["kelly"]
    response = post_multipart(form_app.test_client(), "/report",
                              {"school": str(school), "description": description}, [(photo, name or "x.jpg")])
    assert response.status_code in (303, 400, 422), response.status_code  # 400: a malformed multipart part

"""Bad input gets a clear message and leaves nothing behind: no tip, no alert, no half rows."""

from __future__ import annotations

import html
import io
import re
import struct
import zlib

import pytest
from sqlalchemy import func, select

from app.crypto.service import open_tip_text
from app.extensions import db
from app.models import Alert, Attachment, Incident, ReporterSession, Tip
from tests.intake.helpers import jpeg_bytes, open_followup, submit, submit_ok
from tests.support.forms import csrf_token, input_value


def assert_nothing_stored(app) -> None:
    with app.app_context():
        for model in (Tip, Alert, Attachment, Incident, ReporterSession):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model.__name__


def big_png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width x height pixels: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(("description", "message"), [
    ("", "at least 10 characters"),
    ("too short", "at least 10 characters"),
    ("          \n\n   ", "at least 10 characters"),
    ("x" * 10_001, "10,000 characters or fewer"),
    ("Some text with a NUL \x00 byte in it", "NUL character"),
])
def test_text_out_of_bounds_is_refused_with_a_message(intake_app, schools, description, message):
    response = submit(intake_app.test_client(), schools["kelly"], description)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and 'href="#description"' in page and 'aria-invalid="true"' in page
    assert_nothing_stored(intake_app)


def test_a_paste_of_a_whole_chat_log_comes_back_with_its_length_not_a_413(intake_app, schools):
    """werkzeug refuses a form field over 500 KB (MAX_FORM_MEMORY_SIZE) with a 413, whose page spoke of photos and
    lost the text: a long group chat pasted whole (half a megabyte of the threats it holds) was gone. It comes back
    like any text over 10,000 characters, whole, with its length."""
    chat = "[21:04] He said he will bring a gun on Friday, do not tell anyone. " * 8_000
    response = submit(intake_app.test_client(), schools["kelly"], chat)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and f"it has {len(chat):,}" in page
    assert f">{chat}</textarea>" in page
    assert_nothing_stored(intake_app)


def test_unknown_or_inactive_school_is_refused(intake_app, schools):
    for school in ("999999", "abc", str(schools["closed"]), ""):
        response = submit(intake_app.test_client(), school, "A real description of a real problem.")
        assert response.status_code == 422
        assert "Choose the school" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


def test_ten_thousand_emoji_are_stored_exactly(intake_app, schools):
    text = "\U0001F52B" * 10_000
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], text)
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert open_tip_text(tip) == text


def test_html_and_script_are_stored_exactly_and_rendered_escaped(intake_app, schools):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"  \r\n  spaces kept  '
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], payload)
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert open_tip_text(tip) == payload
    # A refused form echoes the text back: escaped.
    page = submit(client, 999999, payload).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_missing_or_wrong_csrf_token_is_refused(intake_app, schools):
    client = intake_app.test_client()
    client.get("/report")  # the session cookie is there (without it, the page asks to allow cookies)
    for token in ("", "not-a-token"):
        response = submit(client, schools["kelly"], "A real description of a real problem.", csrf=token)
        assert response.status_code == 400
        assert "This form has expired" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


def test_invalid_utf8_in_the_raw_body_is_refused(intake_app, schools):
    client = intake_app.test_client()
    token = csrf_token(client, "/report")
    body = f"csrf_token={token}&school={schools['kelly']}&description=bad%FF%FEbytes+here+and+more".encode()
    response = client.post("/report", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "valid UTF-8" in response.get_data(as_text=True)
    raw = client.post("/report", data=b"description=caf\xe9 " + body, content_type="application/x-www-form-urlencoded")
    assert raw.status_code == 400
    boundary = "XyZ"
    multipart = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"school\"\r\n\r\n{schools['kelly']}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n"
    ).encode() + b"invalid \xff\xfe utf-8 text here" + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/report", data=multipart, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400 and "valid UTF-8" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"GIF89a not really an image at all", "fake.jpg", "not a photo we can accept"),
    (b"%PDF-1.4 a document", "doc.pdf", "not a photo we can accept"),
    (jpeg_bytes(fmt="GIF"), "real.gif", "not a photo we can accept"),
    (jpeg_bytes()[:200], "truncated.jpg", "the file is damaged or incomplete"),
    (big_png_header(30_000, 30_000), "bomb.png", "too many pixels"),
    (big_png_header(10_000, 9_000), "big.png", "too many pixels"),
    (b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 10), "over.jpg", "larger than 10 MB"),
])
def test_bad_photos_are_refused_with_what_is_accepted(intake_app, schools, content, name, message):
    response = submit(intake_app.test_client(), schools["kelly"], "A real description of a real problem.",
                      photos=[(content, name)])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and "JPEG, PNG or WebP" in page
    assert_nothing_stored(intake_app)


def test_more_than_three_photos_are_refused(intake_app, schools):
    photos = [(jpeg_bytes(), f"{i}.jpg") for i in range(4)]
    response = submit(intake_app.test_client(), schools["kelly"], "A real description of a real problem.",
                      photos=photos)
    assert response.status_code == 422 and "up to 3 photos" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


def test_submissions_are_rate_limited_with_a_friendly_page(make_intake_app):
    app = make_intake_app(INTAKE_RATE_LIMIT="2 per minute")
    schools = app.config["TEST_SCHOOLS"]
    client = app.test_client()
    for _ in range(2):
        submit_ok(client, schools["kelly"], "Someone is threatening people in the cafeteria.")
    response = submit(client, schools["kelly"], "Someone is threatening people in the cafeteria, again.")
    page = response.get_data(as_text=True)
    assert response.status_code == 429 and "send it again in 1 minute," in page and "911" in page
    # The form comes back as typed (a no-store page may come back empty when the reporter goes back).
    assert "Someone is threatening people in the cafeteria, again.</textarea>" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Tip.id))) == 2


def test_photo_loses_its_metadata_and_keeps_its_orientation(intake_app, schools):
    from PIL import Image

    from app.crypto.service import open_for_tip

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x010F] = "SpyCam Maker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (42.0, 50.0, 0.0)
    photo = jpeg_bytes((64, 48), exif=exif)
    assert b"SpyCam" in photo
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], "Photo of the threat written on the wall.",
                       photos=[(photo, "IMG_0001.jpg"), (jpeg_bytes(fmt="PNG"), "b.png"),
                               (jpeg_bytes(fmt="WEBP"), "c.webp")])
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        rows = sorted(tip.attachments, key=lambda a: a.id)
        assert [a.content_type for a in rows] == ["image/jpeg", "image/png", "image/webp"]
        clean = open_for_tip(tip, f"attachment:{rows[0].id}", rows[0].data_ct)
        assert b"SpyCam" not in clean and b"Exif" not in clean
        with Image.open(io.BytesIO(clean)) as image:
            assert image.size == (48, 64)  # upright
            assert not image.getexif() and "exif" not in image.info


@pytest.mark.parametrize("school", ["²", "١", "1" * 20, "-1", " 1", "0x1"])
def test_school_that_is_not_plain_digits_is_a_validation_error(intake_app, schools, school):
    # "²".isdigit() is true but int("²") raises: this was a 500 on the public form.
    response = submit(intake_app.test_client(), school, "A real description of a real problem.")
    assert response.status_code == 422
    assert "Choose the school" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


def mpo_bytes() -> bytes:
    """A JPEG with a second picture (a gain map or depth map, as many phones write): Pillow says "MPO"."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "MPO", save_all=True,
                                                    append_images=[Image.new("RGB", (32, 24), (90, 90, 90))])
    return out.getvalue()


def test_jpeg_with_a_second_picture_is_taken_as_a_jpeg_of_its_first(intake_app, schools):
    from PIL import Image

    from app.crypto.service import open_for_tip

    photo = mpo_bytes()
    with Image.open(io.BytesIO(photo)) as image:
        assert image.format == "MPO" and getattr(image, "n_frames", 1) == 2
    ref, _ = submit_ok(intake_app.test_client(), schools["kelly"], "Here is the photo someone took of the knife.",
                       photos=[(photo, "IMG_2041.jpg")])
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        [row] = tip.attachments
        assert row.content_type == "image/jpeg"
        with Image.open(io.BytesIO(open_for_tip(tip, f"attachment:{row.id}", row.data_ct))) as clean:
            assert (clean.format, clean.size, getattr(clean, "n_frames", 1)) == ("JPEG", (64, 48), 1)


@pytest.mark.parametrize("error", [KeyError("MPO"), IndexError("tile"), struct.error("short"), TypeError("mode")])
def test_photo_that_pillow_fails_on_is_refused_and_the_text_kept(intake_app, schools, monkeypatch, error):
    def broken(*_args, **_kwargs):
        raise error

    monkeypatch.setattr("app.intake.photos.ImageOps.exif_transpose", broken)
    intake_app.testing = False  # production: an unhandled exception would be a bare 500 page
    text = "A real description of a real problem, kept when the photo is refused."
    response = submit(intake_app.test_client(), schools["kelly"], text, photos=[(jpeg_bytes(), "a.jpg")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    # It opened as a JPEG: the way round a file Pillow cannot decode is a screenshot, not another format.
    assert "could not be read" in page and "take a screenshot of it" in page and text in page
    assert_nothing_stored(intake_app)


def test_photo_over_sixty_megapixels_says_so(intake_app, schools):
    # 61 megapixels: under Pillow's own bomb limit, over ours; the message must name the pixels.
    response = submit(intake_app.test_client(), schools["kelly"], "A real description of a real problem.",
                      photos=[(big_png_header(10_000, 6_100), "big.png")])
    assert response.status_code == 422 and "too many pixels" in response.get_data(as_text=True)
    assert_nothing_stored(intake_app)


def test_text_at_the_forms_limit_with_line_breaks_is_taken(intake_app, schools):
    # The browser's maxlength counts a line break as one character, and sends it as CRLF: 10,000 typed
    # characters with 100 line breaks arrive as 10,100.
    text = ("x" * 99 + "\r\n") * 100
    contact = ("y" * 9 + "\r\n") * 100
    assert len(text) == 10_100 and len(contact) == 1_100
    client = intake_app.test_client()
    ref, _ = submit_ok(client, schools["kelly"], text, contact=contact)
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        assert open_tip_text(tip) == text
    too_long = submit(client, schools["kelly"], text + "z")
    assert too_long.status_code == 422 and "it has 10,001" in too_long.get_data(as_text=True)


def test_a_nul_in_the_contact_details_is_named_as_such(intake_app, schools):
    response = submit(intake_app.test_client(), schools["kelly"], "A real description of a real problem.",
                      contact="call me \x00 at lunch")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "NUL character" in page and "up to 1,000 characters" not in page
    assert_nothing_stored(intake_app)


def test_a_browser_that_blocks_cookies_is_told_so(intake_app, schools):
    client = intake_app.test_client(use_cookies=False)
    token = csrf_token(client, "/report")
    response = submit(client, schools["kelly"], "A real description of a real problem.", csrf=token)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "allow cookies for this site" in page and "Nothing was sent" in page
    assert_nothing_stored(intake_app)


@pytest.mark.parametrize(("lang", "words"), [("en", "Your report (not sent yet)"),
                                             ("es", "Tu reporte (todavía no enviado)")])
def test_a_report_refused_for_a_blocked_cookie_is_shown_back_to_copy(intake_app, schools, lang, words):
    """The pages are no-store, so "go back" shows an empty form: without its text on this page, a report written on
    a browser that blocks cookies (a school-managed laptop) was lost whole, every time."""
    client = intake_app.test_client(use_cookies=False)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    text = "My friend posted goodbye messages & is giving away his things <3"
    response = submit(client, schools["kelly"], text, csrf=csrf_token(client, "/report"),
                      contact="text me at 307-555-0199", happening_now="no")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and f'<html lang="{lang}">' in page and words in page
    assert html.escape(text) in page and "text me at 307-555-0199" in page
    assert_nothing_stored(intake_app)
    # Its language button sends the report along: the same page in the other language, with the text still there.
    other = "es" if lang == "en" else "en"
    switch = re.search(r'formaction="(/report/language\?lang=' + other + ')"', page)
    assert switch, page
    again = client.post(switch.group(1), data={"description": text, "contact": "text me at 307-555-0199",
                                               "school": str(schools["kelly"]), "happening_now": "no",
                                               "csrf_token": input_value(page, "csrf_token") or ""})
    assert again.status_code == 400 and f'<html lang="{other}">' in again.get_data(as_text=True)
    assert html.escape(text) in again.get_data(as_text=True)


def test_a_reply_refused_for_a_cookie_gone_is_shown_back_to_copy(intake_app, schools):
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    token = csrf_token(client, "/followup")
    client.delete_cookie(intake_app.config["SESSION_COOKIE_NAME"])  # cleared by the browser while writing
    response = client.post("/followup/reply", data={"message": "It was the bathroom by the gym, at lunch.",
                                                    "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "allow cookies" in page
    assert "It was the bathroom by the gym, at lunch." in page

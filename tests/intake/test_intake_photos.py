"""Photos from reporters, end to end: what is refused says so, and what was typed is never lost with it."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from app.extensions import db
from app.intake.photos import MAX_PHOTO_BYTES
from app.models import Message, Tip
from tests.intake.helpers import jpeg_bytes, open_followup, post_multipart, submit, submit_ok
from tests.intake.test_intake_bad_input import assert_nothing_stored
from tests.support.forms import csrf_token

MB = 1024 * 1024


def raw_multipart(fields: dict[str, str], files: list[tuple[str, int]]) -> tuple[bytes, str]:
    """A multipart body built by hand (files of `size` bytes), cheaper than the test client's encoder."""
    boundary = "tipline-test-boundary"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
             for name, value in fields.items()]
    for filename, size in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"{filename}\"\r\n"
                     "Content-Type: image/jpeg\r\n\r\n".encode() + b"\xff\xd8" + b"\0" * (size - 2) + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("files", "lang", "message"), [
    ([("IMG_0001.jpg", 40 * MB)], "en", "A photo is larger than 10 MB."),
    ([("IMG_0001.jpg", 40 * MB)], "es", "Una foto pesa más de 10 MB."),
    ([(f"IMG_000{i}.jpg", 9 * MB) for i in range(4)], "en", "You can add up to 3 photos."),
])
def test_photos_over_32_mb_in_all_bring_the_form_back_with_the_text(intake_app, schools, files, lang, message):
    # Over MAX_CONTENT_LENGTH the app answered 413 without reading the form: "go back" to a no-store page,
    # which comes back empty, and the description typed at night was lost.
    client = intake_app.test_client()
    text = "The boy in the blue hoodie showed a gun in the parking lot after school."
    fields = {"csrf_token": csrf_token(client, f"/report?lang={lang}"), "school": str(schools["kelly"]),
              "description": text, "contact": "ask for Sam"}
    body, content_type = raw_multipart(fields, files)
    response = client.post("/report", data=body, content_type=content_type)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and f"{text}</textarea>" in page and "ask for Sam" in page
    assert_nothing_stored(intake_app)


def test_a_reply_with_photos_over_32_mb_comes_back_with_the_message(intake_app, schools):
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    answer = "It was the bathroom by the gym, at lunch, two of them."
    body, content_type = raw_multipart({"csrf_token": csrf_token(client, "/followup"), "message": answer},
                                       [("a.jpg", 20 * MB), ("b.jpg", 20 * MB)])
    response = client.post("/followup/reply", data=body, content_type=content_type)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "A photo is larger than 10 MB." in page and f"{answer}</textarea>" in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0
        assert db.session.scalar(select(func.count(Tip.id))) == 1


def test_an_oversized_photo_is_not_kept_whole_in_memory(intake_app):
    # Only as much as tells "over 10 MB" is kept of each file, and nothing of a fourth one.
    body, content_type = raw_multipart({"description": "x"}, [("a.jpg", 30 * MB)] + [("b.jpg", 5 * MB)] * 4)
    builder = EnvironBuilder(path="/report", method="POST", input_stream=io.BytesIO(body),
                             content_type=content_type, content_length=len(body))
    with intake_app.request_context(builder.get_environ()):
        from flask import request

        kept = [len(f.stream.getvalue()) for f in request.files.getlist("photos")]
        assert request.form["description"] == "x"
    assert kept == [MAX_PHOTO_BYTES + 1, 5 * MB, 5 * MB, 0, 0]


def test_a_body_over_the_limit_of_a_form_with_photos_gets_the_calm_413(intake_app, schools):
    client = intake_app.test_client()
    body, content_type = raw_multipart({"csrf_token": csrf_token(client, "/report")}, [("huge.jpg", 70 * MB)])
    response = client.post("/report", data=body, content_type=content_type)
    page = response.get_data(as_text=True)
    assert response.status_code == 413 and "too large" in page and "911" in page
    assert_nothing_stored(intake_app)



@pytest.mark.parametrize(("lang", "message"), [
    ("en", "Photos are not kept when the form comes back: please choose your photos again."),
    ("es", "Las fotos no se guardan cuando el formulario vuelve: elige tus fotos otra vez."),
])
def test_a_form_refused_for_its_text_asks_for_its_good_photos_again(intake_app, schools, lang, message):
    # No browser lets a page fill a file input: the reporter who only fixes the text sends the tip without them.
    client = intake_app.test_client()
    token = csrf_token(client, f"/report?lang={lang}")
    page = post_multipart(client, "/report", {"csrf_token": token, "school": str(schools["kelly"]),
                                              "description": "a gun"}, [(jpeg_bytes(), "IMG_0001.jpg")])
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and message in text
    without_photo = submit(client, schools["kelly"], "a gun").get_data(as_text=True)
    assert message not in without_photo
    assert_nothing_stored(intake_app)


def test_a_reply_refused_for_its_text_asks_for_its_photos_again(intake_app, schools):
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                           "message": "x" * 10_001}, [(jpeg_bytes(), "gym.jpg")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "10,000 characters or fewer" in page
    assert "please choose your photos again" in page


def test_a_sixteen_bit_grey_photo_keeps_its_greys():
    # A 16-bit greyscale PNG (scanners, some phone apps) was converted by clipping: every grey above 255 of
    # 65,535 became white, and staff got a blank white picture.
    from PIL import Image

    from app.intake.photos import clean_photo

    image = Image.new("I;16", (64, 48), 8192)
    image.paste(Image.new("I;16", (32, 48), 49152), (32, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    with Image.open(io.BytesIO(out.getvalue())) as opened:
        assert opened.mode == "I;16"
    clean = clean_photo(out.getvalue())
    with Image.open(io.BytesIO(clean.data)) as result:
        grey = result.convert("L")
        assert (grey.getpixel((0, 0)), grey.getpixel((63, 0))) == (32, 192)


MEASURE = """
import io, resource, sys
from PIL import Image
from app.intake.photos import clean_photo
data = open(sys.argv[1], "rb").read()
with Image.open(io.BytesIO(data)) as image:
    image.load()  # one copy of the pixels: the high-water mark of memory is above it from here
del image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clean_photo(data)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_cleaning_a_big_photo_holds_at_most_two_copies_of_its_pixels(tmp_path):
    # Up to 60 megapixels are accepted: each copy of their pixels is 240 MB in Pillow (4 bytes a pixel). The
    # transposed copy, the raw bytes and the image rebuilt from them held almost four at once (850 MB a photo
    # in each web process or thread); the fresh image needs two.
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    width, height = 6000, 5000
    exif = Image.Exif()
    exif[0x0112] = 6  # to be turned upright: the transposition is one of the copies
    Image.new("RGB", (width, height), (120, 130, 140)).save(tmp_path / "big.jpg", "JPEG", exif=exif)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "big.jpg")], cwd=root,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, check=True)
    # Above one copy already made: about one more copy now, nearly three before.
    grown = int(result.stdout.strip()) * 1024  # ru_maxrss is in kilobytes on Linux
    assert grown < 1.7 * (width * height * 4), grown


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "notes.pdf: A file is not a photo we can accept."),
    ("es", "notes.pdf: Un archivo no es una foto que podamos aceptar."),
])
def test_a_refused_file_among_several_is_named_and_the_others_asked_for_again(intake_app, schools, lang, words):
    # "A file is not a photo we can accept" among three chosen: which one? And the two good ones were dropped too.
    client = intake_app.test_client()
    token = csrf_token(client, f"/report?lang={lang}")
    text = "He wrote the threat on the bathroom wall, photos attached."
    response = post_multipart(client, "/report", {"csrf_token": token, "school": str(schools["kelly"]),
                                                  "description": text},
                              [(jpeg_bytes(), "wall.jpg"), (b"%PDF-1.4 a document", "notes.pdf")])
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and words in page and f"{text}</textarea>" in page
    again = {"en": "please choose your photos again", "es": "elige tus fotos otra vez"}[lang]
    assert again in page
    assert_nothing_stored(intake_app)


# The first bytes of a photo saved as HEIC (iPhones' camera format, and some Android phones'): an ISO media file
# whose brand is "heic".
HEIC = b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heicmiaf" + b"\x00\x00\x00\x20meta" + bytes(400)


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "IMG_4032.HEIC: This photo is in the HEIC format of iPhones and some other phones, which we cannot open."),
    ("es", "IMG_4032.HEIC: Esta foto está en formato HEIC, el de los iPhone y de algunos otros teléfonos, que no "
           "podemos abrir."),
])
def test_a_heic_photo_is_refused_with_a_way_to_send_it_anyway(intake_app, schools, lang, words):
    # "A file is not a photo we can accept" for the photo a phone just took: the reporter knows it is a photo, and
    # learns neither what is wrong with it nor how to send it. The message names HEIC and the way round it.
    answer = "This is the car he sells from."
    response = _reply_in(intake_app, schools, lang, answer, (HEIC, "IMG_4032.HEIC"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and words in page and f"{answer}</textarea>" in page
    screenshot = {"en": "take a screenshot of the photo", "es": "toma una captura de pantalla de la foto"}[lang]
    assert screenshot in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0


# What a phone, an editor or a messaging app can hide in a photo, each carrying this mark: none of it may be stored.
MARK = "SN-4C0119-MARK"
XMP = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       f'<rdf:Description xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" aux:SerialNumber="{MARK}"/>'
       f'</rdf:RDF></x:xmpmeta>')


def _reply_in(intake_app, schools, lang: str, message: str, photo: tuple[bytes, str]):
    """A report sent, opened again with its receipt code in `lang`, and a reply with `message` and one photo."""
    client = intake_app.test_client()
    _ref, code = submit_ok(client, schools["kelly"], "Someone is selling pills in the bathroom.")
    client.get(f"/followup?lang={lang}")
    open_followup(client, code)
    return post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                      "message": message}, [photo])


def _phone_exif():
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 90D"  # make, model
    exif[0x0112] = 6  # orientation: the sensor's picture is turned 90 degrees clockwise to be upright
    exif.get_ifd(0x8769)[0xA431] = MARK  # the camera's body serial number
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (42.0, 50.0, 12.5), "W", (106.0, 19.0, 30.0)
    return exif


def _icc_with_mark() -> bytes:
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()) + MARK.encode()


def _iptc_segment() -> bytes:
    """A JPEG APP13 segment: Photoshop's IPTC record with a by-line (the photographer's name)."""
    import struct

    record = b"\x1c\x02\x50" + struct.pack(">H", len(MARK)) + MARK.encode()
    body = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def _photo_hiding_everything(fmt: str) -> bytes:
    """A 64x48 picture taken turned (orientation 6), white in its top-left corner, with every kind of metadata."""
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    image.paste((255, 255, 255), (0, 0, 16, 12))
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", exif=_phone_exif(), xmp=XMP.encode(), icc_profile=_icc_with_mark(), comment=MARK)
        data = out.getvalue()
        data = data[:2] + _iptc_segment() + data[2:]
    elif fmt == "MPO":
        # The second picture of a phone's JPEG (a depth or gain map) can be anything: here, a copy of the scene.
        image.save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48), (0, 255, 0))],
                   exif=_phone_exif())
        data = out.getvalue()
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", MARK)
        info.add_text("Comment", MARK, zip=True)  # zTXt
        info.add_itxt("XML:com.adobe.xmp", XMP)
        info.add_itxt("Description", MARK, zip=True)
        image.save(out, "PNG", pnginfo=info, exif=_phone_exif(), icc_profile=_icc_with_mark())
        data = out.getvalue()
    else:  # an animated WebP: the frames after the first are not shown as a photo, and not stored
        image.save(out, "WEBP", save_all=True, append_images=[Image.new("RGB", (64, 48), (0, 255, 0))],
                   exif=_phone_exif(), xmp=XMP.encode(), icc_profile=_icc_with_mark(), lossless=True)
        data = out.getvalue()
    assert MARK.encode() in data
    return data


def _assert_bare_and_upright(data: bytes, content_type: str) -> None:
    from PIL import Image

    assert MARK.encode() not in data
    for tag in (b"Exif", b"xmpmeta", b"ICC_PROFILE", b"iCCP", b"Photoshop", b"8BIM", b"tEXt", b"zTXt", b"iTXt",
                b"eXIf", b"XMP ", b"ICCP", b"EXIF"):
        assert tag not in data, tag
    with Image.open(io.BytesIO(data)) as image:
        assert Image.MIME[str(image.format)] == content_type
        assert getattr(image, "n_frames", 1) == 1
        assert not image.getexif() and "icc_profile" not in image.info and "xmp" not in image.info
        assert not getattr(image, "applist", [])[1:]  # a JPEG: its JFIF header, nothing else
        assert image.size == (48, 64)  # turned upright, the white corner now top right
        rgb = image.convert("RGB")
        assert min(rgb.getpixel((44, 2))) > 230 and rgb.getpixel((2, 2))[1] < 80


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("JPEG", "image/jpeg"), ("MPO", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
])
def test_what_is_stored_of_a_photo_is_its_upright_pixels_and_nothing_else(intake_app, schools, fmt, content_type):
    # DESIGN: "no metadata in photos". The stored copy, decrypted: no EXIF (GPS, serial number, thumbnail), XMP,
    # IPTC, ICC profile, comment or text chunk; one picture; and upright, since the orientation went with the EXIF.
    from app.crypto.service import open_for_tip

    photo = _photo_hiding_everything(fmt)
    client = intake_app.test_client()
    ref, code = submit_ok(client, schools["kelly"], "The photo of the note left in my locker.",
                          photos=[(photo, f"IMG_0001.{fmt.lower()}")])
    open_followup(client, code)
    response = post_multipart(client, "/followup/reply", {"csrf_token": csrf_token(client, "/followup"),
                                                          "message": "Another one."}, [(photo, "IMG_0002.jpg")])
    assert response.status_code == 303
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        rows = sorted(tip.attachments, key=lambda a: a.id)
        assert [row.message_id is None for row in rows] == [True, False]
        for row in rows:
            assert row.content_type == content_type
            _assert_bare_and_upright(open_for_tip(tip, f"attachment:{row.id}", row.data_ct), content_type)


@pytest.mark.parametrize(("name", "shown"), [
    ("IMG_0001.jpg", "IMG_0001.jpg"),  # a file of zero bytes (a photo still syncing from the cloud)
    ("../../etc/passwd.jpg", "../../etc/passwd.jpg"),
    ("<img src=x onerror=alert(1)>.jpg", "&lt;img src=x onerror=alert(1)&gt;.jpg"),
    ("a" * 5000 + ".jpg", "a" * 80 + ":"),  # cut short in the message
])
@pytest.mark.parametrize(("lang", "words"), [
    ("en", "A file is not a photo we can accept."), ("es", "Un archivo no es una foto que podamos aceptar."),
])
def test_an_empty_file_of_any_name_is_refused_with_the_report_kept(intake_app, schools, name, shown, lang, words):
    client = intake_app.test_client()
    text = "He said he would bring a knife tomorrow, the photo is of his message."
    response = post_multipart(client, "/report", {"csrf_token": csrf_token(client, f"/report?lang={lang}"),
                                                  "school": str(schools["kelly"]), "description": text,
                                                  "contact": "ask for Sam"}, [(b"", name)])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert shown in page and words in page and f"{text}</textarea>" in page and "ask for Sam" in page
    assert name[:200] not in page.replace(shown, "")
    assert_nothing_stored(intake_app)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_what_was_erased_to_transparent_is_not_stored(intake_app, schools, fmt):
    # A screenshot of a group chat with the reporter's own name rubbed out by an editor's eraser: the eraser makes
    # those pixels transparent and leaves their colours in the file. Stored as they were, anyone with the photo
    # (a court's copy, an export) gets the name back by dropping the transparency. What is stored is what is seen.
    from PIL import Image

    from app.crypto.service import open_for_tip

    hidden = (12, 34, 56)
    image = Image.new("RGBA", (64, 48), (90, 160, 90, 255))
    image.paste((*hidden, 0), (0, 0, 32, 48))  # erased: invisible, its colour still in the file
    image.paste((*hidden, 1), (32, 0, 40, 48))  # all but erased
    out = io.BytesIO()
    image.save(out, fmt, **({"lossless": True, "exact": True} if fmt == "WEBP" else {}))
    with Image.open(io.BytesIO(out.getvalue())) as sent:
        assert sent.convert("RGB").getpixel((0, 0)) == hidden
    ref, _ = submit_ok(intake_app.test_client(), schools["kelly"], "The chat where they planned the fight.",
                       photos=[(out.getvalue(), f"Screenshot.{fmt.lower()}")])
    with intake_app.app_context():
        tip = db.session.scalar(select(Tip).where(Tip.ref == ref))
        [row] = tip.attachments
        with Image.open(io.BytesIO(open_for_tip(tip, f"attachment:{row.id}", row.data_ct))) as stored:
            colours = {colour[:3] for _count, colour in stored.convert("RGBA").getcolors()}
            seen = stored.convert("RGBA")
            assert seen.getpixel((0, 0)) == (255, 255, 255, 255)  # on white, as staff see it on the page
            assert min(seen.getpixel((35, 0))[:3]) >= 253
    assert hidden not in colours and all(min(c) >= 80 for c in colours), colours


def _cut_short(fmt: str) -> bytes:
    """A real photo of which only the first half arrived (a phone still downloading it from the cloud)."""
    from PIL import Image

    image = Image.effect_noise((320, 240), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()[:len(out.getvalue()) // 2]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(("lang", "words", "way_round"), [
    ("en", "IMG_0042.jpg: This photo could not be read: the file is damaged or incomplete.",
     "If the photo shows on your phone, take a screenshot of it and add the screenshot instead."),
    ("es", "IMG_0042.jpg: No pudimos leer esta foto: el archivo está dañado o incompleto.",
     "Si la foto se ve en tu teléfono, toma una captura de pantalla y agrega la captura."),
])
def test_a_photo_cut_short_is_called_damaged_not_a_wrong_kind_of_file(intake_app, schools, fmt, lang, words,
                                                                      way_round):
    # A JPEG of 40 KB was refused as "not a photo we can accept. Photos must be JPEG, PNG or WebP images of up to
    # 10 MB each": the reporter, holding a JPEG under 10 MB, could only send the same file again.
    answer = "This is the car he sells from."
    response = _reply_in(intake_app, schools, lang, answer, (_cut_short(fmt), "IMG_0042.jpg"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and words in page and way_round in page and f"{answer}</textarea>" in page
    assert {"en": "not a photo we can accept", "es": "no es una foto"}[lang] not in page
    with intake_app.app_context():
        assert db.session.scalar(select(func.count(Message.id))) == 0

"""Helpers of the intake tests: a small district, and a client that fills forms like a browser."""

from __future__ import annotations

import html
import io
import re
from typing import Any

from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.extensions import db
from app.models import Agency, Assignment, ChainPosition, Role, School, Staff
from tests.support.forms import csrf_token

CODE = re.compile(r'id="receipt-code"[^>]*>([^<]+)<')
REF = re.compile(r'id="tip-ref"[^>]*>([^<]+)<')
LOOSE_LIMITS = {"INTAKE_RATE_LIMIT": "10000 per minute", "RECEIPT_RATE_LIMIT": "10000 per minute",
                "RECEIPT_GLOBAL_RATE_LIMIT": "100000 per minute"}


def seed_schools() -> dict[str, int]:
    """Two towns, an inactive school and an SRO (idempotent: several apps may share one database)."""
    existing = {s.short_name: s.id for s in db.session.scalars(select(School))}
    if existing:
        return {"kelly": existing["KWHS"], "mills": existing["MES"], "closed": existing["OLD"]}
    agency = Agency(name="Casper Police Department", short_name="CPD")
    sheriff = Agency(name="Natrona County Sheriff's Office", short_name="NCSO")
    kelly = School(name="Kelly Walsh High School", short_name="KWHS", town="Casper", agency=agency)
    mills = School(name="Mills Elementary", short_name="MES", town="Mills", agency=sheriff)
    closed = School(name="Old School", short_name="OLD", town="Casper", agency=agency, active=False)
    sro = Staff(email="sro@example.org", name="Officer Test", phone="+13075550100", role=Role.SRO)
    db.session.add_all([agency, sheriff, kelly, mills, closed, sro])
    db.session.flush()
    db.session.add(Assignment(staff_id=sro.id, school_id=kelly.id, chain_position=ChainPosition.PRIMARY_SRO))
    db.session.commit()
    return {"kelly": kelly.id, "mills": mills.id, "closed": closed.id}


def submit(client: Any, school: int | str, description: str, *, photos: list[tuple[bytes, str]] | None = None,
           csrf: str | None = None, **extra: str) -> Any:
    """POST the report form as a browser would (multipart); returns the response, not following redirects."""
    data: dict[str, Any] = {"school": str(school), "description": description, **extra}
    data["csrf_token"] = csrf if csrf is not None else csrf_token(client, "/report")
    return post_multipart(client, "/report", data, photos)


def post_multipart(client: Any, path: str, data: dict[str, Any], photos: list[tuple[bytes, str]] | None) -> Any:
    # Encoded in memory: the test client's own encoder spools big files into temporary files it never closes.
    fields = MultiDict(data)
    for content, name in photos or []:
        fields.add("photos", FileStorage(io.BytesIO(content), filename=name, content_type="application/octet-stream"))
    boundary, body = encode_multipart(fields)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def receipt_of(client: Any) -> tuple[str, str]:
    """(ref, code) shown on the receipt page."""
    page = client.get("/receipt").get_data(as_text=True)
    code, ref = CODE.search(page), REF.search(page)
    assert code and ref, page[:2000]
    return html.unescape(ref.group(1)), html.unescape(code.group(1))


def submit_ok(client: Any, school: int, description: str, **kwargs: Any) -> tuple[str, str]:
    response = submit(client, school, description, **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    return receipt_of(client)


def open_followup(client: Any, code: str) -> Any:
    token = csrf_token(client, "/followup")
    return client.post("/followup", data={"code": code, "csrf_token": token}, follow_redirects=True)


def jpeg_bytes(size: tuple[int, int] = (64, 48), exif: Any = None, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    if exif is not None:
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return out.getvalue()

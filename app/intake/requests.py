"""The request class of the app, as intake needs it.

- Uploads are parsed into memory: werkzeug's default spools files over 500 KB into a temporary file, which
  would put a photo with its GPS metadata on the disk. MAX_CONTENT_LENGTH (32 MB) bounds the memory.
- A body that is not valid UTF-8 raises InvalidFormEncoding: werkzeug would replace the bad bytes, and the
  reporter's text must be kept exactly as sent or refused with a message, never altered.
"""

from __future__ import annotations

import io
from typing import IO
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.exceptions import BadRequest

REPLACEMENT = "\ufffd"
REPLACEMENT_UTF8 = REPLACEMENT.encode()


class InvalidFormEncoding(BadRequest):
    description = "The form was not sent as valid UTF-8 text."


class IntakeRequest(Request):
    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()

    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or self.method not in {"POST", "PUT", "PATCH"}:
            super()._load_form_data()
            return
        if self.mimetype == "application/x-www-form-urlencoded":
            body = self.get_data(cache=True)
            try:
                parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                raise InvalidFormEncoding() from None
            super()._load_form_data()
            return
        if self.mimetype == "multipart/form-data":
            # Multipart fields are decoded with "replace": a replacement character that the body did not
            # contain was made from invalid bytes. The raw body is kept (bounded by MAX_CONTENT_LENGTH).
            body = self.get_data(cache=True)
            super()._load_form_data()
            values = (v for vs in self.form.listvalues() for v in vs)
            if any(REPLACEMENT in v for v in values) and REPLACEMENT_UTF8 not in body:
                raise InvalidFormEncoding()
            return
        super()._load_form_data()


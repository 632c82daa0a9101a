"""The request class of the app, as intake needs it.

- Uploads are parsed into memory: werkzeug's default spools files over 500 KB into a temporary file, which
  would put a photo with its GPS metadata on the disk. Only the first MAX_PHOTO_BYTES + 1 bytes of each of the
  first MAX_PHOTOS files are kept (enough to tell a photo over the limit), so memory stays bounded while a form
  with photos over the limits (up to MAX_FORM_WITH_PHOTOS, 64 MB) is still read: it comes back with its text
  and a message, instead of a 413 that loses what was typed. Other bodies keep MAX_CONTENT_LENGTH (32 MB).
- A body that is not valid UTF-8 raises InvalidFormEncoding: werkzeug would replace the bad bytes, and the
  reporter's text must be kept exactly as sent or refused with a message, never altered.
"""

from __future__ import annotations

import io
from typing import IO
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.exceptions import BadRequest

from app.intake.photos import MAX_PHOTO_BYTES, MAX_PHOTOS

REPLACEMENT = "\ufffd"
REPLACEMENT_UTF8 = REPLACEMENT.encode()
# A multipart body larger than this gets the 413 page without being read (nginx's client_max_body_size).
MAX_FORM_WITH_PHOTOS = 64 * 1024 * 1024


class _FirstBytes(io.BytesIO):
    """Keeps the first `room` bytes written to it and counts the rest away."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self._room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        kept = data[:self._room]
        self._room -= len(kept)
        super().write(kept)
        return len(data)


class _ReplacementWatch:
    """Passes a stream through, noting whether its raw bytes hold an encoded U+FFFD, without keeping them."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._tail = b""
        self.seen = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if not self.seen:
            window = self._tail + data
            self.seen = REPLACEMENT_UTF8 in window
            self._tail = window[-2:]
        return data


class InvalidFormEncoding(BadRequest):
    description = "The form was not sent as valid UTF-8 text."


class IntakeRequest(Request):
    _named_files = 0
    _watch: _ReplacementWatch | None = None

    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> IO[bytes]:
        if not filename:
            return _FirstBytes(0)  # no file chosen: the form ignores it
        self._named_files += 1
        # A file past the third is refused by its count: nothing of it is needed.
        return _FirstBytes(MAX_PHOTO_BYTES + 1 if self._named_files <= MAX_PHOTOS else 0)

    def _get_stream_for_parsing(self) -> IO[bytes]:
        stream = super()._get_stream_for_parsing()
        if self.mimetype != "multipart/form-data":
            return stream
        self._watch = _ReplacementWatch(stream)
        return self._watch  # type: ignore[return-value]

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
            # contain was made from invalid bytes. The body is watched as it is parsed, never kept whole.
            self.max_content_length = max(MAX_FORM_WITH_PHOTOS, self.max_content_length or 0)
            super()._load_form_data()
            values = (v for vs in self.form.listvalues() for v in vs)
            if any(REPLACEMENT in v for v in values) and not (self._watch and self._watch.seen):
                raise InvalidFormEncoding()
            return
        super()._load_form_data()


"""Photos from reporters: re-encoded with Pillow so that nothing but the pixels survives.

EXIF (camera, time, GPS), XMP, ICC profiles and comments are dropped by building a fresh image from the
decoded pixels, after applying the EXIF orientation so the photo still looks the way it was taken. Transparency
is laid on white: what is stored is what is seen, nothing under it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# A phone photo is 12 to 50 megapixels; more is refused before decoding (memory) as a likely bomb.
MAX_PIXELS = 60_000_000
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Pillow opens a JPEG with a second picture (a gain map or depth map: many phone photos) as "MPO": it is
# taken as a JPEG, its first picture only.
_SAME_AS = {"MPO": "JPEG"}
# HEIF brands of an ISO media file's "ftyp" box: the HEIC photos of iPhones (when a browser passes them on as they
# are) and of some Android phones. Pillow cannot open them; the reporter is told how to send them anyway.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}


class PhotoRejected(ValueError):
    """This file cannot be accepted; `reason` is a short key the page turns into a sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanPhoto:
    content_type: str
    data: bytes


def clean_photo(data: bytes) -> CleanPhoto:
    """The photo re-encoded without metadata, or PhotoRejected("too_big" | "not_image" | "heic" | "too_many_pixels"
    | "damaged")."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected("too_big")
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PhotoRejected("too_many_pixels")
            image.load()
            fmt = _SAME_AS.get(str(image.format), str(image.format))
            if fmt not in FORMATS:
                raise PhotoRejected("not_image")
            # In place, and the pixels copied once below: a 60-megapixel photo is 240 MB a copy in Pillow, and each
            # copy more is as much again in a web process.
            ImageOps.exif_transpose(image, in_place=True)
            return CleanPhoto(FORMATS[fmt], _reencode(image, fmt))
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning is an exception under pytest's "error" filter and in some deployments: same answer.
        raise PhotoRejected("too_many_pixels") from None
    except Exception:  # noqa: BLE001
        # UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, and more that Pillow's decoders
        # raise undocumented (KeyError, IndexError, struct.error): a photo that cannot be read is refused with
        # the form's message and the text kept, never a 500 that loses the tip. A file that begins as a JPEG, PNG or
        # WebP and then failed (cut short: a photo not yet downloaded from the cloud) is "damaged": "not a photo we
        # can accept" would send the reporter back to the same file.
        reason = "heic" if is_heif(data) else "damaged" if starts_like_accepted(data) else "not_image"
        raise PhotoRejected(reason) from None


def starts_like_accepted(data: bytes) -> bool:
    """The file begins as a JPEG, PNG or WebP does (Pillow may fail on a file cut short before it says which)."""
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def is_heif(data: bytes) -> bool:
    """A HEIF/HEIC image, by its "ftyp" box and major brand (the file's name is not trusted, nor stored)."""
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _reencode(image: Image.Image, fmt: str) -> bytes:
    if image.mode.startswith("I;16"):
        # A 16-bit grey PNG: converted directly, greys over 255 are clipped or wrapped (a white or black picture).
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode not in {"RGB", "RGBA", "L", "LA"}:
        has_alpha = image.mode in {"PA", "RGBa"} or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    # A fresh image with the pixels pasted in carries no info dict at all: no EXIF, XMP, ICC, text chunks.
    if image.mode in {"RGBA", "LA"}:
        # Laid on white, as staff see it: an eraser makes pixels transparent and leaves their colours in the file
        # (a name rubbed out of a screenshot), which dropping the transparency would show again.
        opaque = image.mode[:-1]
        bare = Image.new(opaque, image.size, "white")
        bare.paste(image if opaque == "RGB" else image.getchannel("L"), mask=image.getchannel("A"))
    else:
        bare = Image.new(image.mode, image.size)
        bare.paste(image)
    out = io.BytesIO()
    if fmt == "JPEG":
        bare.save(out, "JPEG", quality=90)
    elif fmt == "PNG":
        bare.save(out, "PNG", optimize=False)
    else:
        bare.save(out, "WEBP", quality=90)
    return out.getvalue()

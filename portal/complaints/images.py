"""A complaint's photo made safe to keep and show: decoded with the one
decoder its magic number names, downscaled to MAX_SIDE, and encoded again in
the same format without any metadata (EXIF with its GPS position, comments,
ICC profiles, extra chunks, later frames). What comes out is pixels only."""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from portal.complaints import domain

_PIL_FORMATS = {domain.JPEG: "JPEG", domain.PNG: "PNG", domain.WEBP: "WEBP"}


class BadImage(Exception):
    """The bytes are not an image we can read (or one too large to decode)."""


@dataclass(frozen=True)
class Photo:
    """A cleaned photo, ready to store."""

    format: str  # domain.JPEG | PNG | WEBP
    content: bytes
    sha256: str

    @property
    def media_type(self) -> str:
        return domain.MEDIA_TYPES[self.format]


def clean(data: bytes) -> Photo:
    """Re-encode `data` (checked by `domain.photo_problem` first); BadImage if it does not decode."""
    fmt = domain.image_format(data)
    if fmt is None:
        raise BadImage("not a JPEG, PNG or WebP")
    try:
        # WeasyPrint lets Pillow load truncated images (ImageFile.LOAD_TRUNCATED_IMAGES,
        # process-wide): check the whole file here instead of trusting load().
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]]) as probe:
            probe.verify()
        if fmt == domain.JPEG and b"\xff\xd9" not in data[-4096:]:
            raise BadImage("the JPEG is cut off")
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]]) as img:
            if img.width * img.height > domain.MAX_PIXELS:
                raise BadImage("too many pixels")
            img.seek(0)
            picture = ImageOps.exif_transpose(img)  # the way the camera held it, before EXIF goes
            picture.load()
    except BadImage:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not an image we take"
        raise BadImage(str(exc)) from exc
    picture.thumbnail((domain.MAX_SIDE, domain.MAX_SIDE))
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info)
    if fmt == domain.JPEG:
        picture = picture.convert("L" if picture.mode in ("L", "1") else "RGB")
        options: dict = {"quality": 85}
    elif fmt == domain.PNG:
        if picture.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            picture = picture.convert("RGBA" if has_alpha else "RGB")
        options = {"optimize": False}
    else:
        picture = picture.convert("RGBA" if has_alpha else "RGB")
        options = {"quality": 85}
    picture.info = {"transparency": picture.info["transparency"]} if "transparency" in picture.info and picture.mode == "P" else {}
    out = io.BytesIO()
    picture.save(out, format=_PIL_FORMATS[fmt], **options)
    content = out.getvalue()
    if len(content) > domain.MAX_PHOTO_BYTES:
        raise BadImage("too large even after re-encoding")
    return Photo(format=fmt, content=content, sha256=hashlib.sha256(content).hexdigest())


async def cleaned(data: bytes) -> Photo:
    """`clean` in a worker thread: decoding a large photo must not stall the event loop."""
    return await asyncio.to_thread(clean, data)

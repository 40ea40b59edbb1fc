"""The rules of complaints (portal.complaints.domain) and the photo cleaning
(portal.complaints.images): pure, no database."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from portal.complaints import domain, images
from portal.complaints.domain import Event, Status

UTC = timezone.utc


@pytest.mark.legal("L23")
def test_the_time_limit_for_a_service_is_two_years_after_it_five_for_lasting_work():
    delivered = datetime(2026, 3, 29, 9, 30, tzinfo=UTC)
    limits = domain.window(delivered, delivered + timedelta(days=30))
    assert limits.last_day == datetime(2028, 3, 29, 9, 30, tzinfo=UTC) and limits.lasting_last_day == datetime(2031, 3, 29, 9, 30, tzinfo=UTC)
    assert limits.open and domain.may_send(limits, 0) is None
    assert domain.window(delivered, limits.last_day).open  # the last moment counts
    late = domain.window(delivered, limits.last_day + timedelta(seconds=1))
    assert not late.open and domain.may_send(late, 0) is not None
    assert domain.window(delivered, limits.last_day + timedelta(days=1), lasting=True).open
    # 29 February has no twin two years on: the limit is 28 February.
    assert domain.window(datetime(2028, 2, 29, 12, tzinfo=UTC), delivered).last_day == datetime(2030, 2, 28, 12, tzinfo=UTC)
    assert domain.may_send(limits, domain.MAX_PER_ORDER) is not None


def test_statuses_move_only_as_the_table_says():
    for status in Status:
        for event in Event:
            if (status, event) in domain.TRANSITIONS:
                assert domain.next_status(status, event) is domain.TRANSITIONS[(status, event)]
            else:
                with pytest.raises(domain.Refused):
                    domain.next_status(status, event)
    assert domain.next_status("new", Event.ANSWER) is Status.ANSWERED
    with pytest.raises(domain.Refused):
        domain.next_status("bogus", Event.CLOSE)


def test_only_jpeg_png_and_webp_by_their_bytes_and_text_within_limits():
    assert domain.image_format(b"\xff\xd8\xff\xe0rest") == domain.JPEG
    assert domain.image_format(b"\x89PNG\r\n\x1a\nrest") == domain.PNG
    assert domain.image_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == domain.WEBP
    for other in (b"", b"GIF89a...", b"%PDF-1.7", b"<svg xmlns=...>", b"RIFF\x00\x00\x00\x00WAVE", b"hello.png"):
        assert domain.image_format(other) is None and domain.photo_problem(other) is not None
    assert domain.photo_problem(b"\x89PNG\r\n\x1a\n" + b"\x00" * domain.MAX_PHOTO_BYTES) is not None  # too big, whatever it is
    assert domain.text_problem("  \n ") == domain.DESCRIBE and domain.text_problem("x" * 4001) is not None
    assert domain.text_problem("x" * 4000) is None and domain.text_problem("", empty=domain.ANSWER_FIRST) == domain.ANSWER_FIRST


def _encoded(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    picture = Image.new(mode, size, (10, 120, 200) if mode == "RGB" else (10, 120, 200, 128))
    exif = picture.getexif()
    exif[0x0112] = 6  # the camera was turned: rotate 90°
    exif[0x010E] = "hemmelig sted"
    out = io.BytesIO()
    picture.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("fmt, mode", [("JPEG", "RGB"), ("PNG", "RGBA"), ("WEBP", "RGB")])
def test_a_photo_is_re_encoded_turned_upright_downscaled_and_stripped_of_metadata(fmt, mode, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as WeasyPrint sets it for the whole process
    raw = _encoded(fmt, (2600, 260), mode)
    assert b"hemmelig" in raw
    photo = images.clean(raw)
    assert photo.format == fmt.lower() and domain.image_format(photo.content) == photo.format
    assert b"hemmelig" not in photo.content
    with Image.open(io.BytesIO(photo.content)) as out:
        assert out.height == domain.MAX_SIDE and out.width < 300  # turned upright, downscaled to MAX_SIDE
        assert not dict(out.getexif())
    for broken in (raw[:200], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"text renamed to .jpg"):
        with pytest.raises(images.BadImage):
            images.clean(broken)

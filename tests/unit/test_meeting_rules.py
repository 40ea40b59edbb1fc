"""Video meeting links (M16): one unguessable room per booking, or the
supplier's fixed link; shown on the booking page from 15 minutes before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from portal.kinds.appointment import meeting

START = datetime(2026, 3, 29, 8, 0, tzinfo=timezone.utc)  # the morning clocks go forward in Oslo
END = START + timedelta(minutes=45)


def test_each_booking_gets_its_own_unguessable_room_unless_the_supplier_has_a_fixed_link():
    links = {meeting.meeting_link("https://meet.example/") for _ in range(200)}
    assert len(links) == 200
    for link in links:
        room = link.removeprefix("https://meet.example/")
        assert "/" not in room and len(room) >= 25 and room.replace("-", "").replace("_", "").isalnum()
    assert meeting.meeting_link("https://meet.example", " https://zoom.example/j/123 ") == "https://zoom.example/j/123"


def test_the_link_shows_from_fifteen_minutes_before_the_start_until_the_end():
    assert meeting.opens_at(START) == START - timedelta(minutes=15)
    assert not meeting.link_shown(START, END, START - timedelta(minutes=15, seconds=1))
    assert meeting.link_shown(START, END, START - timedelta(minutes=15))
    assert meeting.link_shown(START, END, END - timedelta(seconds=1))
    assert not meeting.link_shown(START, END, END)

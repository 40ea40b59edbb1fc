"""Golden files of the calendar parts the emails carry (fixed DTSTAMP).

A change to the .ics output shows up here as a diff. To accept an intended
change, regenerate: `UPDATE_GOLDEN=1 pytest tests/integration/test_notify_golden.py`
and review the diff of tests/integration/golden/.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from icalendar import Calendar

from portal.kinds.appointment.calendar import booking_uid
from portal.kinds.appointment.messages import booking_drafts, booking_view

GOLDEN = Path(__file__).parent / "golden"
DTSTAMP = datetime(2026, 3, 20, 8, 30, tzinfo=timezone.utc)

#: The order and its one reservation; their ids differ: the calendar UID is the reservation's.
ORDER = {
    "id": 7,
    "reference": "K7QX2M",
    "supplier": None,
    "state": "confirmed",
    "language": "nb",
    "customer_name": "Kari Nordmann",
    "phone": "+4741234567",
    "email": "kari@example.no",
    "quote": {"total_ore": 59900},
    "manage_token": "golden-manage-token",
    "updated_at": DTSTAMP,
    "terms": {
        "supplier": {
            "legal_name": "Saks og Stil Grünerløkka AS",
            "org_number": "918630252",
            "company_form": "AS",
            "vat_registered": True,
            "street": "Thorvald Meyers gate 40",
            "postcode": "0555",
            "town": "Oslo",
            "phone": "+4722350417",
            "email": "post@saksogstil.eksempel.no",
        },
        "offering_title": "Herreklipp",
        "online": False,
        "cancel_free_hours": 24,
        "cancel_fee_percent": 50,
        "withdrawal_class": "standard",
    },
}
RESERVATION = {
    "id": 42,
    "order": 7,
    "offering": None,
    "start": datetime(2026, 3, 29, 8, 0, tzinfo=timezone.utc),  # 10:00 in Oslo, the day summer time starts
    "end": datetime(2026, 3, 29, 8, 45, tzinfo=timezone.utc),
    "ics_sequence": 0,
}

#: What the messages are made from: the booking view of the order's reservation.
BOOKING = booking_view(ORDER, RESERVATION)


def _ics(topic: str, booking: dict) -> bytes:
    drafts = booking_drafts(booking, topic, supplier_name="Saks og Stil", base_url="https://portal.example", now=DTSTAMP)
    (email,) = [d for d in drafts if d.channel == "email" and d.topic == topic]
    return email.payload["ics"].encode("utf-8")


CASES = {
    "confirmation": BOOKING,
    "change": {**BOOKING, "start": BOOKING["start"] + timedelta(days=1), "end": BOOKING["end"] + timedelta(days=1), "ics_sequence": 1},
    "cancellation": {**BOOKING, "ics_sequence": 2},
}


@pytest.mark.parametrize("topic", list(CASES))
def test_calendar_part_matches_the_golden_file(topic):
    produced = _ics(topic, CASES[topic])
    path = GOLDEN / f"{topic}.ics"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(produced)
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    assert produced == path.read_bytes(), f"{path.name} differs (UPDATE_GOLDEN=1 to accept an intended change)"


@pytest.mark.parametrize("topic", list(CASES))
def test_golden_files_say_what_the_invite_does(topic):
    cal = Calendar.from_ical((GOLDEN / f"{topic}.ics").read_bytes())
    (event,) = cal.walk("VEVENT")
    booking = CASES[topic]
    assert str(cal["METHOD"]) == ("CANCEL" if topic == "cancellation" else "REQUEST")
    assert str(event["STATUS"]) == ("CANCELLED" if topic == "cancellation" else "CONFIRMED")
    assert str(event["UID"]) == booking_uid(booking, "portal.example")  # one event for the booking's life
    assert str(event["UID"]) == "booking-42-K7QX2M@portal.example"  # the reservation's id, not the order's
    assert int(event["SEQUENCE"]) == booking["ics_sequence"]
    assert event.decoded("DTSTAMP") == DTSTAMP
    assert event.decoded("DTSTART") == booking["start"]
    assert str(event["ORGANIZER"]) == "mailto:post@saksogstil.eksempel.no"
    assert str(event["ATTENDEE"]) == "mailto:kari@example.no"

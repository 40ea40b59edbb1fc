"""The booking as an iCalendar file (RFC 5545) with a stable UID."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event


def booking_uid(booking: dict, host: str) -> str:
    """Stable for the booking's life: later updates and cancellations reuse it."""
    return f"booking-{booking['id']}-{booking['reference']}@{host}"


def booking_ics(booking: dict, *, summary: str, location: str, description: str, host: str, now: datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//portal//booking//NB")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", booking_uid(booking, host))
    event.add("dtstamp", now)
    event.add("dtstart", booking["start"])
    event.add("dtend", booking["end"])
    event.add("sequence", booking["ics_sequence"])
    event.add("summary", summary)
    event.add("location", location)
    event.add("description", description)
    event.add("status", "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()

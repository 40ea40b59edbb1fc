"""The booking as an iCalendar file (RFC 5545) with a stable UID."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText


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


def booking_invite_ics(
    booking: dict,
    *,
    method: str,
    summary: str,
    location: str,
    description: str,
    host: str,
    now: datetime,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str = "",
) -> bytes:
    """The booking as an iTIP message (RFC 5546) for an email: `REQUEST` adds or
    updates the event in the customer's calendar, `CANCEL` removes it.

    Same UID as `booking_ics` (one event for the booking's whole life);
    SEQUENCE is `booking["ics_sequence"]`, which the booking bumps on every
    change, so calendars apply updates in order. The supplier is the organizer,
    the customer the attendee (no reply asked for).
    """
    method = method.upper()
    if method not in {"REQUEST", "CANCEL"}:
        raise ValueError(f"unsupported iTIP method {method!r}")
    cal = Calendar()
    cal.add("prodid", "-//portal//booking//NB")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", booking_uid(booking, host))
    event.add("dtstamp", now)
    event.add("dtstart", booking["start"])
    event.add("dtend", booking["end"])
    event.add("sequence", booking["ics_sequence"])
    event.add("summary", summary)
    event.add("location", location)
    event.add("description", description)
    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = vText(organizer_name)
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{attendee_email}")
    if attendee_name:
        attendee.params["cn"] = vText(attendee_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    attendee.params["rsvp"] = vText("FALSE")
    event.add("attendee", attendee)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()

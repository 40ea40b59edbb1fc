"""The rules of calendar feeds and of the morning agenda. Pure: `now` is an argument.

A feed is a secret address, `/kalender/<token>.ics`, that a calendar app
subscribes to: the supplier's (every calendar; the owner's to manage) or a
staff member's own (the calendar of their membership). Only the token's
SHA-256 is stored, so a copy of the database holds no working address.

The agenda is an email at 07:00 Europe/Oslo listing the day's bookings of the
member's calendar (the whole supplier's for owners and the front desk).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from icalendar import Calendar, Event

from portal.identity.staff.domain import Permission, may
from portal.lib import clock
from portal.lib.i18n import N_, translations

#: Random bytes in a token (43 URL-safe characters).
TOKEN_BYTES = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

#: What a feed holds: bookings from this many days back to this many ahead.
DAYS_BACK = 30
DAYS_AHEAD = 365
#: At most this many events in one feed (the newest are kept).
MAX_EVENTS = 5000
#: How often calendar apps are asked to fetch the feed again.
REFRESH = timedelta(minutes=15)

#: Reservation states a feed and an agenda show. A cancelled booking is left
#: out rather than sent as STATUS:CANCELLED: every calendar app drops an event
#: that is gone from a subscribed feed, while a cancelled one is shown struck
#: through by some apps and as if it still stood by others.
SHOWN = ("confirmed", "completed", "no_show")

#: The agenda goes out from 07:00 local time; a portal that was down at seven
#: catches up until 10:00, and a message still unsent at noon is dropped.
AGENDA_FROM = time(7, 0)
AGENDA_UNTIL = time(10, 0)
AGENDA_STALE = time(12, 0)

STATE_TEXT = {"completed": N_("Delivered"), "no_show": N_("No-show")}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(filename: str) -> str | None:
    """`<token>.ics` -> the token; anything else (no suffix, odd characters) -> None."""
    if not filename.endswith(".ics"):
        return None
    token = filename[: -len(".ics")]
    return token if _TOKEN.match(token) else None


def webcal(url: str) -> str:
    """The same address as a webcal:// link, which calendar apps open as a subscription."""
    return re.sub(r"^https?://", "webcal://", url)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The times a feed covers (booking starts from, until)."""
    return now - timedelta(days=DAYS_BACK), now + timedelta(days=DAYS_AHEAD)


# ---------------------------------------------------------------- who may do what


def may_manage_supplier_feed(role: str) -> bool:
    """The supplier's feed (every calendar) is the owner's to make, stop and configure."""
    return may(role, Permission.SETTINGS)


def may_choose_phone(role: str) -> bool:
    """Only the owner decides whether customers' phone numbers go into a feed."""
    return may(role, Permission.SETTINGS)


def sees_all(role: str) -> bool:
    """Owners and the front desk get the supplier's whole day in their agenda."""
    return may(role, Permission.SEE_ALL_CALENDARS)


# ---------------------------------------------------------------- the feed


@dataclass(frozen=True)
class FeedBooking:
    """One booking as a feed or an agenda shows it."""

    reservation_id: int
    order_id: int
    reference: str
    start: datetime
    end: datetime
    sequence: int
    updated_at: datetime
    service: str
    customer_name: str
    customer_note: str
    customer_phone: str  # "" unless the feed includes phone numbers
    resource_name: str
    online: bool
    status: str


def event_uid(reservation_id: int, host: str) -> str:
    """Stable for the reservation's life (a move keeps it; SEQUENCE tells the change)."""
    return f"reservation-{reservation_id}@{host}"


def summary(b: FeedBooking) -> str:
    return f"{b.service} — {b.customer_name or b.reference}"


def description(b: FeedBooking, *, backoffice_url: str, show_resource: bool, language: str = "nb") -> str:
    t = translations(language)
    lines = [t.gettext(N_("Booking %(ref)s")) % {"ref": b.reference}]
    if show_resource and b.resource_name:
        lines.append(t.gettext(N_("With: %(name)s")) % {"name": b.resource_name})
    if b.status in STATE_TEXT:
        lines.append(t.gettext(N_("State: %(state)s")) % {"state": t.gettext(STATE_TEXT[b.status])})
    if b.customer_phone:
        lines.append(t.gettext(N_("Phone: %(phone)s")) % {"phone": b.customer_phone})
    if b.customer_note:
        lines.append(t.gettext(N_("Message from the customer: %(text)s")) % {"text": b.customer_note})
    lines.append(t.gettext(N_("Open in the back office: %(url)s")) % {"url": backoffice_url})
    return "\n".join(lines)


def feed_ics(
    *,
    name: str,
    bookings: Iterable[FeedBooking],
    host: str,
    address: str,
    backoffice_url: Callable[[FeedBooking], str],
    show_resource: bool,
    language: str = "nb",
) -> bytes:
    """The feed: a VCALENDAR with one VEVENT per booking, times in UTC."""
    t = translations(language)
    cal = Calendar()
    cal.add("prodid", "-//portal//calendar feed//NB")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Europe/Oslo")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT15M")
    for b in bookings:
        url = backoffice_url(b)
        event = Event()
        event.add("uid", event_uid(b.reservation_id, host))
        event.add("dtstamp", b.updated_at.astimezone(clock.UTC))
        event.add("last-modified", b.updated_at.astimezone(clock.UTC))
        event.add("dtstart", b.start.astimezone(clock.UTC))
        event.add("dtend", b.end.astimezone(clock.UTC))
        event.add("sequence", b.sequence)
        event.add("summary", summary(b))
        event.add("description", description(b, backoffice_url=url, show_resource=show_resource, language=language))
        event.add("location", t.gettext(N_("Online")) if b.online else address)
        event.add("url", url)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()


# ---------------------------------------------------------------- the agenda


def agenda_day(now: datetime) -> date | None:
    """The local day whose agenda is due now (07:00–10:00 Europe/Oslo), else None."""
    local = clock.to_local(now)
    return local.date() if AGENDA_FROM <= local.time() < AGENDA_UNTIL else None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local day as UTC times [start, end): 23 or 25 hours on the days the clocks change."""
    start = datetime.combine(day, time(0), clock.OSLO).astimezone(clock.UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), clock.OSLO).astimezone(clock.UTC)
    return start, end


def agenda_stale_at(day: date) -> datetime:
    """An agenda not sent by noon of its day is not sent at all."""
    return datetime.combine(day, AGENDA_STALE, clock.OSLO).astimezone(clock.UTC)


def agenda_dedupe_key(account_id: int, supplier_id: int, day: date) -> str:
    """One agenda per member and day, however often the job runs."""
    return f"agenda:{account_id}:{supplier_id}:{day.isoformat()}"

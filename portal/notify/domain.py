"""Message rules as pure functions: who may get an SMS, when a reminder is
due, what a message is called and keyed by. No I/O here; `now` is an
argument. How a message row lives and is retried is the outbox's
(portal.outbox.domain)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import phonenumbers

from portal.lib.i18n import N_
from portal.outbox.domain import Status  # noqa: F401 - message rows' states, used with these rules


class Topic(StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    CHANGE = "change"
    CANCELLATION = "cancellation"
    CODE = "code"
    #: Approved in Vipps after the hold expired and someone else took the time; the reservation is cancelled.
    SLOT_LOST = "slot_lost"
    #: Taking the payment in Vipps failed (e.g. the reservation lapsed before capture); the supplier is told too.
    PAYMENT_PROBLEM = "payment_problem"
    #: A customer's complaint, forwarded to the supplier; the supplier's answer, to the customer (portal.complaints).
    COMPLAINT = "complaint"
    COMPLAINT_ANSWER = "complaint_answer"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


#: The topics a booking's state change can cause (the reminder is scheduled by the confirmation).
BOOKING_TOPICS = (Topic.CONFIRMATION, Topic.CHANGE, Topic.CANCELLATION)

#: Topics the payments code causes. No reminders, no calendar file; they leave reminders alone.
PAYMENT_TOPICS = (Topic.SLOT_LOST, Topic.PAYMENT_PROBLEM)

#: Who an outbox row is for. Every topic goes to the customer; a payment problem also to the supplier.
CUSTOMER = "customer"
SUPPLIER = "supplier"

#: In the dedupe key of every row for the supplier, and in no customer's key.
SUPPLIER_KEY_MARK = ":supplier:"

#: L31: SMS goes only to numbers of these countries (phonenumbers region codes).
#: One table, so a country is added or removed in one place.
SMS_REGIONS = frozenset({"NO", "DK", "SE", "PL", "GB", "PT", "GR", "HR", "CZ", "FO", "GL", "LT", "US", "TR"})

#: L31: the sender name every SMS carries (alphanumeric sender ID).
SMS_SENDER = "Reservation"

#: Hours before the start a reminder goes out, unless the booking's frozen terms
#: say otherwise (`terms["reminder_hours"]`).
DEFAULT_REMINDER_HOURS = 24

def sms_allowed(e164: str) -> bool:
    """May this number get an SMS from us (L31)? A valid number of a served country."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    return phonenumbers.region_code_for_number(number) in SMS_REGIONS


def reminder_at(start: datetime, hours: int) -> datetime:
    return start - timedelta(hours=hours)


def wants_reminder(start: datetime, hours: int, now: datetime) -> bool:
    """A reminder only if the booking was made before the reminder time."""
    return hours > 0 and now < reminder_at(start, hours)


def _minute(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass UTC-aware datetimes")
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%MZ")


#: A caller's dedupe suffix goes into the key as it is when it looks like this; otherwise as a hash.
_PLAIN_SUFFIX = re.compile(r"[A-Za-z0-9._-]{1,80}")


def _suffix_part(suffix: str) -> str:
    if _PLAIN_SUFFIX.fullmatch(suffix):
        return suffix
    return "h-" + hashlib.sha256(suffix.encode()).hexdigest()[:32]


def _stamp(moment: datetime | str | None) -> str:
    if moment is None:
        return "none"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass UTC-aware datetimes")
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def booking_dedupe_key(
    booking: dict,
    topic: Topic | str,
    channel: Channel | str,
    *,
    suffix: str = "",
    audience: str = CUSTOMER,
) -> str:
    """One row per (booking, event, channel); enqueuing the same event twice is a no-op.

    Confirmation and cancellation happen once in a booking's life. A change and
    the reminder belong to one version of the booking: the calendar SEQUENCE
    (the caller bumps `ics_sequence` on every change) and the start time.
    A lost slot happens at most once (the booking was never confirmed).

    A payment problem can happen again later for the same booking, so its key
    names the event: `suffix` (the caller passes something that is the same
    when the same event is enqueued again, e.g. the failed operation's
    idempotency key), or, without one, the booking's `updated_at`. Its
    Other topics ignore `suffix`. The supplier's email about a booking has a
    key of its own (`audience="supplier"`); the customer's keys are as they
    always were.
    """
    topic, channel = Topic(topic), Channel(channel)
    if audience not in (CUSTOMER, SUPPLIER):
        raise ValueError(f"unknown audience {audience!r}")
    separator = SUPPLIER_KEY_MARK if audience == SUPPLIER else ":"
    if topic in (Topic.CHANGE, Topic.REMINDER):
        return f"booking:{booking['id']}:{topic}:{booking['ics_sequence']}:{_minute(booking['start'])}{separator}{channel}"
    if topic is Topic.PAYMENT_PROBLEM:
        event = _suffix_part(suffix) if suffix else f"updated-{_stamp(booking.get('updated_at'))}"
        return f"booking:{booking['id']}:{topic}:{event}{separator}{channel}"
    return f"booking:{booking['id']}:{topic}{separator}{channel}"


def code_dedupe_key(phone: str, code: str, now: datetime) -> str:
    """A hash, so the code itself is not readable from the key."""
    digest = hashlib.sha256(f"{phone}\x1f{code}\x1f{now.isoformat()}".encode()).hexdigest()[:32]
    return f"code:{digest}"


def message_id(outbox_id: int, dedupe_key: str, host: str) -> str:
    """The Message-ID of an outbox email: the same on every try of the same row,
    so a mail store (or a person) can tell a resend from a new message."""
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:16]
    return f"<outbox-{outbox_id}-{digest}@{host}>"


#: Twilio delivery states in the order they happen; a callback never moves a message backwards.
DELIVERY_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "read": 6,
    "canceled": 5,
}


def newer_delivery_status(current: str, incoming: str) -> bool:
    """Should a status callback saying `incoming` replace `current`? (late or repeated callbacks change nothing)"""
    if incoming not in DELIVERY_RANK:
        return False
    return DELIVERY_RANK[incoming] > DELIVERY_RANK.get(current, 0)


TOPIC_LABELS = {
    Topic.CONFIRMATION: N_("Booking confirmation"),
    Topic.REMINDER: N_("Reminder"),
    Topic.CHANGE: N_("Booking changed"),
    Topic.CANCELLATION: N_("Cancellation"),
    Topic.CODE: N_("One-time code"),
    Topic.SLOT_LOST: N_("Time taken"),
    Topic.PAYMENT_PROBLEM: N_("Payment problem"),
    Topic.COMPLAINT: N_("Complaint"),
    Topic.COMPLAINT_ANSWER: N_("Answer to your complaint"),
}

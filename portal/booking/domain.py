"""Booking rules: states and their transitions, holds, references, claims.

Pure: no Litestar, no Piccolo, no clock — `now` is an argument.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from enum import StrEnum

from portal.availability.holidays import norwegian_holidays
from portal.lib.i18n import N_, Nn_

OSLO = ZoneInfo("Europe/Oslo")

#: Claims are taken in units of this many minutes (durations, buffers and
#: slot steps are multiples of it).
CLAIM_UNIT_MIN = 5

#: No 0/O or 1/I/L: references are read aloud over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6


class Status(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_SUPPLIER = "cancelled_by_supplier"
    WITHDRAWN = "withdrawn"


class Event(StrEnum):
    CONFIRM = "confirm"
    EXPIRE = "expire"
    ABANDON = "abandon"  # the customer picked another time
    COMPLETE = "complete"
    MARK_NO_SHOW = "mark_no_show"
    CUSTOMER_CANCEL = "customer_cancel"
    SUPPLIER_CANCEL = "supplier_cancel"
    WITHDRAW = "withdraw"


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.HELD, Event.CONFIRM): Status.CONFIRMED,
    (Status.HELD, Event.EXPIRE): Status.RELEASED,
    (Status.HELD, Event.ABANDON): Status.RELEASED,
    (Status.CONFIRMED, Event.COMPLETE): Status.COMPLETED,
    (Status.CONFIRMED, Event.MARK_NO_SHOW): Status.NO_SHOW,
    (Status.CONFIRMED, Event.CUSTOMER_CANCEL): Status.CANCELLED_BY_CUSTOMER,
    (Status.CONFIRMED, Event.SUPPLIER_CANCEL): Status.CANCELLED_BY_SUPPLIER,
    (Status.CONFIRMED, Event.WITHDRAW): Status.WITHDRAWN,
}

#: States whose booking occupies its time.
OCCUPYING = frozenset({Status.HELD, Status.CONFIRMED})


class TransitionRefused(Exception):
    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{event} is not allowed from {status}")
        self.status = status
        self.event = event


def transition(status: Status, event: Event) -> Status:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise TransitionRefused(status, event) from None


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def hold_expiry(now: datetime, hold_minutes: int) -> datetime:
    return now + timedelta(minutes=hold_minutes)


def is_live_hold(status: str, hold_expires_at: datetime | None, now: datetime) -> bool:
    return status == Status.HELD and hold_expires_at is not None and hold_expires_at > now


def occupies(status: str, hold_expires_at: datetime | None, now: datetime) -> bool:
    """Does a booking in this state still block its time?"""
    if status == Status.CONFIRMED:
        return True
    return is_live_hold(status, hold_expires_at, now)


def claim_units(resource_id: int, start: datetime, end: datetime, buffer_before_min: int, buffer_after_min: int) -> list[str]:
    """Unique claim keys covering [start - before, end + after) in whole units.

    Two bookings whose occupied intervals overlap share at least one key, so
    the database's unique index lets only one of them exist.
    """
    unit = CLAIM_UNIT_MIN * 60
    first = int((start - timedelta(minutes=buffer_before_min)).timestamp()) // unit
    last_exclusive = -(-int((end + timedelta(minutes=buffer_after_min)).timestamp()) // unit)
    return [f"{resource_id}:{u * CLAIM_UNIT_MIN}" for u in range(first, last_exclusive)]


def session_key(offering_id: int, resource_id: int, start: datetime) -> str:
    return f"{offering_id}:{resource_id}:{int(start.timestamp()) // 60}"


@dataclass(frozen=True)
class WithdrawalInfo:
    """What the customer is told about the right of withdrawal (L4, L6)."""

    applies: bool
    message: str


WITHDRAWAL_MESSAGES = {
    "standard": N_(
        "You have a right of withdrawal for 14 days after the booking. If the appointment is "
        "within those 14 days, you must ask for it to start early; the right then lapses once "
        "the service has been fully performed."
    ),
    "exempt_dated_leisure": N_(
        "No right of withdrawal: this is a leisure activity on a specific date (angrerettloven § 22)."
    ),
    "exempt_custom": N_("No right of withdrawal: the service is made to your specification."),
    "digital_content": N_(
        "The right of withdrawal lapses when delivery of the digital content starts with your consent."
    ),
}


def withdrawal_info(withdrawal_class: str) -> WithdrawalInfo:
    if withdrawal_class not in WITHDRAWAL_MESSAGES:
        raise ValueError(f"unknown withdrawal class {withdrawal_class!r}")
    return WithdrawalInfo(applies=withdrawal_class in {"standard", "digital_content"}, message=WITHDRAWAL_MESSAGES[withdrawal_class])


WITHDRAWAL_DAYS = 14


def withdrawal_deadline(contract_at: datetime) -> date:
    """L5: the last local day of the withdrawal period. The day of contract
    does not count; a deadline on a Saturday, Sunday or Norwegian public
    holiday moves to the next working day."""
    deadline = contract_at.astimezone(OSLO).date() + timedelta(days=WITHDRAWAL_DAYS)
    closed = norwegian_holidays(deadline, deadline + timedelta(days=14))
    while deadline.weekday() >= 5 or deadline in closed:
        deadline += timedelta(days=1)
    return deadline


def needs_early_start_request(withdrawal_class: str, start: datetime, contract_at: datetime) -> bool:
    """L7: a `standard` service that starts before the withdrawal deadline has
    ended needs the customer's own request to start early."""
    if withdrawal_class != "standard":
        return False
    return start.astimezone(OSLO).date() <= withdrawal_deadline(contract_at)


@dataclass(frozen=True)
class PluralText:
    """A message to show with ngettext(singular, plural, count) % args."""

    singular: str
    plural: str
    count: int
    args: dict


def cancellation_terms_text(free_hours: int, fee_percent: int) -> PluralText:
    if fee_percent <= 0:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment.",
            "Free cancellation until %(hours)s hours before the appointment.",
        )
    else:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
            "Free cancellation until %(hours)s hours before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
        )
    return PluralText(singular, plural, free_hours, {"hours": free_hours, "fee": fee_percent})


#: Why a time or a day is not offered, keyed by availability Reason name.
REASON_TEXT = {
    "PAST": N_("This time has passed."),
    "NOTICE": N_("Too soon: this must be booked further in advance."),
    "TOO_FAR_AHEAD": N_("Too far ahead: booking for this date has not opened yet."),
    "CLOSED": N_("Closed this day."),
    "HOLIDAY": N_("Closed for a public holiday."),
    "OUTSIDE_HOURS": N_("Outside opening hours."),
    "BREAK": N_("During a break."),
    "BOOKED": N_("Already booked."),
    "BUFFER": N_("Too close to another booking (preparation time)."),
    "FULL": N_("Fully booked."),
    "OFF_GRID": N_("Not a start time this offering uses."),
}


def reason_text(reason: object) -> str:
    name = getattr(reason, "name", str(reason))
    return REASON_TEXT.get(name, REASON_TEXT["CLOSED"])

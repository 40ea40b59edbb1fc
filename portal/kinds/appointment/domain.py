"""Appointment rules: a reservation's states and transitions, what still
occupies a time, what the customer is told. Pure: `now` is an argument."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from portal.legal.cancellation import PluralText, cancellation_terms_text  # noqa: F401 - shown with appointments
from portal.lib.i18n import N_
from portal.orders.domain import OrderState, TransitionRefused


class ReservationStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class ReservationEvent(StrEnum):
    CONFIRM = "confirm"
    RELEASE = "release"
    RECLAIM = "reclaim"
    COMPLETE = "complete"
    NO_SHOW = "no_show"
    CANCEL = "cancel"


RESERVATION_TRANSITIONS: dict[tuple[ReservationStatus, ReservationEvent], ReservationStatus] = {
    (ReservationStatus.HELD, ReservationEvent.CONFIRM): ReservationStatus.CONFIRMED,
    (ReservationStatus.HELD, ReservationEvent.RELEASE): ReservationStatus.RELEASED,
    (ReservationStatus.RELEASED, ReservationEvent.RECLAIM): ReservationStatus.HELD,
    (ReservationStatus.CONFIRMED, ReservationEvent.COMPLETE): ReservationStatus.COMPLETED,
    (ReservationStatus.CONFIRMED, ReservationEvent.NO_SHOW): ReservationStatus.NO_SHOW,
    (ReservationStatus.CONFIRMED, ReservationEvent.CANCEL): ReservationStatus.CANCELLED,
}

#: How an order's end moves its reservations.
END_EVENTS: dict[OrderState, ReservationEvent] = {
    OrderState.COMPLETED: ReservationEvent.COMPLETE,
    OrderState.NO_SHOW: ReservationEvent.NO_SHOW,
    OrderState.CANCELLED_BY_CUSTOMER: ReservationEvent.CANCEL,
    OrderState.CANCELLED_BY_SUPPLIER: ReservationEvent.CANCEL,
    OrderState.WITHDRAWN: ReservationEvent.CANCEL,
}

#: States whose reservation occupies its time.
OCCUPYING = frozenset({ReservationStatus.HELD, ReservationStatus.CONFIRMED})


def transition(status: ReservationStatus | str, event: ReservationEvent) -> ReservationStatus:
    try:
        return RESERVATION_TRANSITIONS[(ReservationStatus(status), event)]
    except (KeyError, ValueError):
        raise TransitionRefused(status, event) from None  # type: ignore[arg-type]


def is_live_hold(status: str, hold_expires_at: datetime | None, now: datetime) -> bool:
    return status == ReservationStatus.HELD and hold_expires_at is not None and hold_expires_at > now


def occupies(status: str, hold_expires_at: datetime | None, now: datetime) -> bool:
    """Does a reservation in this state still block its time?"""
    if status == ReservationStatus.CONFIRMED:
        return True
    return is_live_hold(status, hold_expires_at, now)


def may_deliver(start: datetime, now: datetime) -> bool:
    """Delivered (and money captured) once it has started, never before."""
    return now >= start


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


def may_reschedule(start: datetime, now: datetime, notice_hours: int) -> bool:
    """The customer may move the booking themselves until `notice_hours`
    before it starts (the free-cancellation limit they accepted at checkout)."""
    return now < start and (start - now).total_seconds() >= notice_hours * 3600


def reason_text(reason: object) -> str:
    name = getattr(reason, "name", str(reason))
    return REASON_TEXT.get(name, REASON_TEXT["CLOSED"])

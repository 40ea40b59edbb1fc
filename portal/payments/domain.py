"""Payment rules: the state machine every path into a payment feeds, and what
to charge, release or give back when a booking ends.

Pure: no Litestar, no Piccolo, no clock — `now` is an argument.

A payment's state and money are never updated by increments. They are folded
from the set of distinct events Vipps reported (webhooks and the events API
both feed that set), sorted by their own time. A duplicated, late or
out-of-order delivery therefore cannot change the outcome: the set is the
same, and so is the fold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from portal.payments.pricing import Means


class PaymentState(StrEnum):
    CREATED = "created"  # sent to Vipps, the customer has not answered yet
    AUTHORIZED = "authorized"  # money reserved; Vipps never changes the state again
    ABORTED = "aborted"  # the customer said no
    EXPIRED = "expired"  # the customer did nothing in time
    TERMINATED = "terminated"  # we cancelled before authorisation
    FAILED = "failed"  # Vipps refused to create it: nothing exists there


class PaymentEventName(StrEnum):
    CREATED = "CREATED"
    AUTHORIZED = "AUTHORIZED"
    ABORTED = "ABORTED"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"
    CAPTURED = "CAPTURED"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"


#: The payment has ended without money: the held time must be given back.
ENDED_WITHOUT_MONEY = frozenset({PaymentState.ABORTED, PaymentState.EXPIRED, PaymentState.TERMINATED, PaymentState.FAILED})
FINAL_BEFORE_MONEY = {
    PaymentEventName.ABORTED: PaymentState.ABORTED,
    PaymentEventName.EXPIRED: PaymentState.EXPIRED,
    PaymentEventName.TERMINATED: PaymentState.TERMINATED,
}
MONEY_EVENTS = frozenset({PaymentEventName.CAPTURED, PaymentEventName.REFUNDED, PaymentEventName.CANCELLED})


class Refused(StrEnum):
    """Why an event does not fit the state it met (the payment is then read
    again from Vipps; nothing is changed on the strength of that event)."""

    BEFORE_AUTHORISATION = "money moved before an authorisation was seen"
    AFTER_AUTHORISATION = "the payment was already authorised"
    ALREADY_ENDED = "the payment had already ended"
    NEVER_CREATED = "Vipps never created this payment"


def _build_table() -> dict[tuple[PaymentState, PaymentEventName], PaymentState | Refused]:
    table: dict[tuple[PaymentState, PaymentEventName], PaymentState | Refused] = {}
    for event in PaymentEventName:
        # CREATED: waiting for the customer.
        if event is PaymentEventName.CREATED:
            table[(PaymentState.CREATED, event)] = PaymentState.CREATED
        elif event is PaymentEventName.AUTHORIZED:
            table[(PaymentState.CREATED, event)] = PaymentState.AUTHORIZED
        elif event in FINAL_BEFORE_MONEY:
            table[(PaymentState.CREATED, event)] = FINAL_BEFORE_MONEY[event]
        else:
            table[(PaymentState.CREATED, event)] = Refused.BEFORE_AUTHORISATION
        # AUTHORIZED: the state stays; money events only move amounts.
        if event in (PaymentEventName.CREATED, PaymentEventName.AUTHORIZED) or event in MONEY_EVENTS:
            table[(PaymentState.AUTHORIZED, event)] = PaymentState.AUTHORIZED
        else:
            table[(PaymentState.AUTHORIZED, event)] = Refused.AFTER_AUTHORISATION
        # Ended without money: only a repeat of its own end (or a stale CREATED) fits.
        for state in (PaymentState.ABORTED, PaymentState.EXPIRED, PaymentState.TERMINATED):
            same_end = FINAL_BEFORE_MONEY.get(event) is state
            table[(state, event)] = state if (event is PaymentEventName.CREATED or same_end) else Refused.ALREADY_ENDED
        table[(PaymentState.FAILED, event)] = Refused.NEVER_CREATED
    return table


#: Every (state, event) pair: the next state, or why the event is refused.
TRANSITIONS = _build_table()


def transition(state: PaymentState, event: PaymentEventName) -> PaymentState | Refused:
    return TRANSITIONS[(state, event)]


@dataclass(frozen=True)
class Event:
    """One thing Vipps reported about a payment."""

    name: PaymentEventName
    amount_ore: int
    success: bool
    at: datetime
    psp_reference: str
    idempotency_key: str | None = None

    @property
    def key(self) -> str:
        """Identity of an event, the same whether it came by webhook or from
        the events API: a repeat delivery has the same key."""
        return f"{self.name}:{self.psp_reference}:{self.amount_ore}:{self.idempotency_key or ''}:{int(self.success)}"


#: Order of events reported at the same instant.
_RANK = {
    PaymentEventName.CREATED: 0,
    PaymentEventName.AUTHORIZED: 1,
    PaymentEventName.ABORTED: 1,
    PaymentEventName.EXPIRED: 1,
    PaymentEventName.TERMINATED: 1,
    PaymentEventName.CAPTURED: 2,
    PaymentEventName.CANCELLED: 3,
    PaymentEventName.REFUNDED: 3,
}


@dataclass(frozen=True)
class Ledger:
    authorized_ore: int = 0
    captured_ore: int = 0
    refunded_ore: int = 0
    cancelled_ore: int = 0

    @property
    def reserved_ore(self) -> int:
        """Still reserved: may be captured or cancelled."""
        return max(self.authorized_ore - self.captured_ore - self.cancelled_ore, 0)

    @property
    def refundable_ore(self) -> int:
        return max(self.captured_ore - self.refunded_ore, 0)


@dataclass(frozen=True)
class Folded:
    state: PaymentState
    ledger: Ledger
    refused: tuple[tuple[Event, Refused], ...]
    failed: tuple[Event, ...]  # operations Vipps reported with success = false


def fold(events: Iterable[Event], start: PaymentState = PaymentState.CREATED) -> Folded:
    """The payment as the distinct events say it is, whatever order they came in."""
    distinct = {event.key: event for event in events}
    state, ledger = start, Ledger()
    refused: list[tuple[Event, Refused]] = []
    failed: list[Event] = []
    for event in sorted(distinct.values(), key=lambda e: (e.at, _RANK[e.name], e.key)):
        if not event.success:
            failed.append(event)
            continue
        outcome = transition(state, event.name)
        if isinstance(outcome, Refused):
            refused.append((event, outcome))
            continue
        state = outcome
        amount = event.amount_ore
        if event.name is PaymentEventName.AUTHORIZED:
            ledger = Ledger(amount, ledger.captured_ore, ledger.refunded_ore, ledger.cancelled_ore)
        elif event.name is PaymentEventName.CAPTURED:
            ledger = Ledger(ledger.authorized_ore, ledger.captured_ore + amount, ledger.refunded_ore, ledger.cancelled_ore)
        elif event.name is PaymentEventName.REFUNDED:
            ledger = Ledger(ledger.authorized_ore, ledger.captured_ore, ledger.refunded_ore + amount, ledger.cancelled_ore)
        elif event.name is PaymentEventName.CANCELLED:
            ledger = Ledger(ledger.authorized_ore, ledger.captured_ore, ledger.refunded_ore, ledger.cancelled_ore + amount)
    return Folded(state, ledger, tuple(refused), tuple(failed))


WEBHOOK_NAMES = {f"epayments.payment.{name.value.lower()}.v1": name for name in PaymentEventName}


def event_name(raw: str) -> PaymentEventName | None:
    """`AUTHORIZED` (events API) or `epayments.payment.authorized.v1` (webhook event type)."""
    text = (raw or "").strip()
    if text in WEBHOOK_NAMES:
        return WEBHOOK_NAMES[text]
    try:
        return PaymentEventName(text.upper())
    except ValueError:
        return None


def state_from_vipps(raw: str) -> PaymentState | None:
    """Vipps' own state word (`AUTHORIZED`) as ours."""
    try:
        return PaymentState(raw.strip().lower())
    except (ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- references


REFERENCE_PATTERN = r"^[a-zA-Z0-9-]{8,50}$"


def payment_reference(booking_reference: str, attempt: int) -> str:
    """`<booking>-<attempt>`: unique per sales unit and never reused (booking
    references are unique and never deleted; attempts only count up)."""
    reference = f"{booking_reference}-{attempt}"
    if not re.fullmatch(REFERENCE_PATTERN, reference):
        raise ValueError(f"not a valid Vipps reference: {reference!r}")
    return reference


def vipps_phone(e164: str) -> str:
    """`+4791234567` → `4791234567` (Vipps wants digits with the country code)."""
    digits = e164.removeprefix("+")
    # str.isdigit() also accepts non-ASCII digits ('٤', '９', '²'): Vipps wants 0-9 only.
    if not re.fullmatch(r"[0-9]+", digits):
        raise ValueError(f"not an E.164 number: {e164!r}")
    return digits


# ---------------------------------------------------------------- settling a booking


class Outcome(StrEnum):
    """How a booking with a Vipps reservation ended (or was cut short)."""

    DELIVERED = "delivered"  # the supplier marked it done, or it ended and nobody objected
    NO_SHOW = "no_show"
    CUSTOMER_CANCEL_FREE = "customer_cancel_free"
    CUSTOMER_CANCEL_LATE = "customer_cancel_late"
    SUPPLIER_CANCEL = "supplier_cancel"
    HOLD_LOST = "hold_lost"  # authorised after the time had gone to someone else
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Settlement:
    """What to ask Vipps for, in this order: capture, then cancel the rest,
    then refund."""

    capture_ore: int = 0
    cancel_rest: bool = False
    refund_ore: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.capture_ore or self.cancel_rest or self.refund_ore)


def settlement(outcome: Outcome, ledger: Ledger, *, due_ore: int, fee_ore: int, keep_ore: int = 0) -> Settlement:
    """What a booking's end means for its Vipps money.

    `due_ore` is what delivery costs from the reservation (the total, or the
    deposit); `fee_ore` the cancellation or no-show fee the customer accepted
    when booking; `keep_ore` what the customer pays after a withdrawal (L8:
    the part delivered after an early-start request, else 0). Nothing is
    ever captured beyond what is still reserved.
    """
    reserved = ledger.reserved_ore
    if outcome is Outcome.WITHDRAWN and keep_ore > 0:
        # L8: the part delivered is kept (captured if it was not yet), the rest released or refunded.
        capture = min(max(keep_ore - ledger.captured_ore, 0), reserved)
        refund = max(ledger.refundable_ore - keep_ore, 0) if ledger.captured_ore > keep_ore else 0
        return Settlement(capture_ore=capture, cancel_rest=reserved - capture > 0, refund_ore=refund)
    if outcome is Outcome.DELIVERED:
        capture = min(max(due_ore - ledger.captured_ore, 0), reserved)
        return Settlement(capture_ore=capture, cancel_rest=reserved - capture > 0)
    if outcome in (Outcome.NO_SHOW, Outcome.CUSTOMER_CANCEL_LATE):
        capture = min(max(fee_ore - ledger.captured_ore, 0), reserved)
        return Settlement(capture_ore=capture, cancel_rest=reserved - capture > 0)
    if outcome in (Outcome.CUSTOMER_CANCEL_FREE, Outcome.HOLD_LOST):
        return Settlement(cancel_rest=reserved > 0)
    if outcome in (Outcome.SUPPLIER_CANCEL, Outcome.WITHDRAWN):
        # L8/L9: everything back, by the same means, without fees.
        return Settlement(cancel_rest=reserved > 0, refund_ore=ledger.refundable_ore)
    raise ValueError(outcome)


def in_free_window(start: datetime, now: datetime, free_hours: int) -> bool:
    """May the customer still cancel without a fee?"""
    return now < start - timedelta(hours=free_hours)


def may_deliver(start: datetime, now: datetime) -> bool:
    """Money is captured only once the service has been delivered: never
    before the appointment has begun."""
    return now >= start


def auto_complete_due(end: datetime, now: datetime, after_hours: int) -> bool:
    """A confirmed booking nobody marked counts as delivered this long after its end."""
    return now >= end + timedelta(hours=after_hours)


def reconcile_due(created_at: datetime, now: datetime, after_minutes: int) -> bool:
    """A payment still waiting this long is read from Vipps by the reconciler."""
    return now >= created_at + timedelta(minutes=after_minutes)


# ---------------------------------------------------------------- means of payment


def available_means(supplier_methods: Iterable[str], deposit_kind: str) -> list[Means]:
    """How a customer may pay for an offering, in the order shown.

    An offering with a deposit takes the deposit with Vipps (the rest on
    site) when the supplier accepts Vipps; otherwise the supplier's methods,
    Vipps first. A supplier with none configured is paid on site.
    """
    methods = set(supplier_methods)
    if "vipps" in methods and deposit_kind not in ("", "none"):
        return [Means.DEPOSIT]
    means = [m for m in (Means.VIPPS, Means.ONSITE) if m.value in methods]
    return means or [Means.ONSITE]

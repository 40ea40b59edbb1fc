"""Order rules: states and their one transition table, references, tokens.

Pure: no Litestar, no Piccolo, no clock — `now` is an argument.

    held ──confirm──> confirmed ──complete──> completed
      │  ──release──> released ──reclaim──> held        (the customer, or money, came back)
      │                 confirmed ──no_show──> no_show
      │                 confirmed ──customer_cancel──> cancelled_by_customer
      │                 confirmed ──supplier_cancel──> cancelled_by_supplier
      │                 confirmed ──withdraw──> withdrawn  (angrerett)
      │                 completed ──withdraw──> withdrawn  (after delivery: an unused gift card)

An order is `held` while the customer is in checkout (its lines' capacity
held until `expires_at`), `confirmed` once the contract is made, and ends in
one of the final states. No code writes a state around `transition`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

#: No 0/O or 1/I/L: references are read aloud over the phone.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6


class OrderState(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_SUPPLIER = "cancelled_by_supplier"
    WITHDRAWN = "withdrawn"


class OrderEvent(StrEnum):
    CONFIRM = "confirm"
    EXPIRE = "expire"  # the hold ran out
    ABANDON = "abandon"  # the customer chose another time, or the payment ended without money
    RECLAIM = "reclaim"  # a released hold is taken up again (its capacity was still free)
    COMPLETE = "complete"
    MARK_NO_SHOW = "mark_no_show"
    CUSTOMER_CANCEL = "customer_cancel"
    SUPPLIER_CANCEL = "supplier_cancel"
    WITHDRAW = "withdraw"


ORDER_TRANSITIONS: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (OrderState.HELD, OrderEvent.CONFIRM): OrderState.CONFIRMED,
    (OrderState.HELD, OrderEvent.EXPIRE): OrderState.RELEASED,
    (OrderState.HELD, OrderEvent.ABANDON): OrderState.RELEASED,
    (OrderState.RELEASED, OrderEvent.RECLAIM): OrderState.HELD,
    (OrderState.CONFIRMED, OrderEvent.COMPLETE): OrderState.COMPLETED,
    (OrderState.CONFIRMED, OrderEvent.MARK_NO_SHOW): OrderState.NO_SHOW,
    (OrderState.CONFIRMED, OrderEvent.CUSTOMER_CANCEL): OrderState.CANCELLED_BY_CUSTOMER,
    (OrderState.CONFIRMED, OrderEvent.SUPPLIER_CANCEL): OrderState.CANCELLED_BY_SUPPLIER,
    (OrderState.CONFIRMED, OrderEvent.WITHDRAW): OrderState.WITHDRAWN,
    # L8: a withdrawal may come after delivery (an unused gift card, within 14 days).
    (OrderState.COMPLETED, OrderEvent.WITHDRAW): OrderState.WITHDRAWN,
}

#: Ends that give the order's capacity back to others.
FREES_CAPACITY = frozenset({OrderState.CANCELLED_BY_CUSTOMER, OrderState.CANCELLED_BY_SUPPLIER, OrderState.WITHDRAWN})

#: The states an order can end in (nothing follows them, but a withdrawal
#: after delivery: completed → withdrawn).
FINAL = frozenset(
    {
        OrderState.COMPLETED,
        OrderState.NO_SHOW,
        OrderState.CANCELLED_BY_CUSTOMER,
        OrderState.CANCELLED_BY_SUPPLIER,
        OrderState.WITHDRAWN,
    }
)


class TransitionRefused(Exception):
    def __init__(self, state: StrEnum, event: StrEnum) -> None:
        super().__init__(f"{event} is not allowed from {state}")
        self.state = state
        self.event = event


def transition(state: OrderState | str, event: OrderEvent) -> OrderState:
    """The state `event` leads to from `state`; TransitionRefused if the table has no such move."""
    try:
        return ORDER_TRANSITIONS[(OrderState(state), event)]
    except (KeyError, ValueError):
        raise TransitionRefused(state, event) from None  # type: ignore[arg-type]


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def hold_expiry(now: datetime, hold_minutes: int) -> datetime:
    return now + timedelta(minutes=hold_minutes)


def is_live_hold(state: str, expires_at: datetime | None, now: datetime) -> bool:
    return state == OrderState.HELD and expires_at is not None and expires_at > now

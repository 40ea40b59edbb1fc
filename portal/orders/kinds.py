"""One registry of offering kinds.

A kind says how the customer chooses (its picker and routes, in its own
module under portal.kinds), what capacity a line takes (claims on resource
× time, seats, none — later unit × night) and gives it back, the lines it
produces, when it counts as delivered (the moment money may be captured and
the receipt issued), its default withdrawal class and its templates. The
order code, the checkout and the settlement call kinds only through this
registry; the composition root (portal.wiring) registers them.

Every hook that changes something runs inside the caller's write
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from portal.orders.domain import OrderState


@dataclass(frozen=True)
class LineView:
    """What pages, messages and documents show of one order line."""

    kind: str
    title: str
    quantity: int = 1
    starts_at: datetime | None = None  # appointments: the start, UTC
    ends_at: datetime | None = None
    where: str = ""  # address, or "video meeting"
    who: str = ""  # the person or room
    details: dict | None = None  # kind-specific extras for its own templates


class Kind(Protocol):
    name: str
    #: The withdrawal class (LEGAL.md L4) an offering of this kind has unless it says otherwise.
    default_withdrawal_class: str
    #: What a line takes: "claims" (resource × time), "seats", "none".
    capacity: str
    #: Captured as soon as the payment is reserved (a gift card is delivered when issued).
    delivered_when_paid: bool
    #: The partial that shows a line on checkout, order page and confirmation.
    line_template: str
    #: The partial shown when what a checkout held is gone (with `gone_context`).
    gone_template: str
    #: The means of payment (portal.payments.pricing.Means values) a line of this kind may be paid by.
    means_allowed: frozenset[str]
    #: May a gift card pay for it (a gift card cannot be bought with one)?
    giftcard_payable: bool

    async def lines(self, order: dict) -> list[LineView]:
        """The order's lines of this kind as the customer sees them."""

    def needs_early_start(self, lines: list[LineView], withdrawal_class: str, contract_at: datetime) -> bool:
        """L7: does the service start inside the withdrawal period?"""

    def may_deliver(self, lines: list[LineView], now: datetime) -> bool:
        """May the supplier mark it delivered (and money be captured) now?"""

    async def due_to_complete(self, now: datetime, after_hours: int) -> list[int]:
        """Confirmed orders of this kind that count as delivered by time alone."""

    async def gone_context(self, order: dict, reason: object, now: datetime) -> dict:
        """What `gone_template` shows (the nearest free times, say)."""

    async def hold_again(self, order: dict, now: datetime) -> bool:
        """A released order is taken up again: take its capacity back if it is
        still free (False: it is gone, nothing changed)."""

    async def confirm(self, order: dict, now: datetime) -> None:
        """The order is confirmed: what its lines hold becomes theirs."""

    async def release(self, order: dict, now: datetime) -> None:
        """The held order was let go: give back what its lines held."""

    async def end(self, order: dict, state: OrderState, now: datetime) -> None:
        """The confirmed order ended in `state` (completed, no-show, cancelled …)."""

    async def held_until(self, order: dict, until: datetime) -> None:
        """The order's hold now lasts until `until` (the customer is paying)."""

    async def paid(self, order: dict, now: datetime, receipt: object | None) -> bool:
        """Money for the order was taken (inside the transaction that records
        it; `receipt` is its issued receipt). True when the kind has sent the
        receipt to the customer itself (with what it delivers)."""

    async def messages(self, order: dict, topic: str, now: datetime, *, dedupe_suffix: str = "") -> list:
        """The outbox drafts (portal.outbox.domain.Draft) an order event causes:
        confirmation, cancellation, change, slot_lost, payment_problem."""


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _kinds[kind.name] = kind


def kind(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"offering kind {name!r} is not registered (portal.wiring.configure)") from None


def registered() -> tuple[str, ...]:
    return tuple(_kinds)

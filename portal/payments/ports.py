"""What payments tell the order side, without knowing it: the composition
root (portal.wiring) plugs in the implementation (portal.sales.payment_news).
Payments know orders (the tables), not kinds or the rules of an order's
life; these calls run inside the payment code's own write transactions."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from portal.payments.domain import Ledger, PaymentState


class OrderEffects(Protocol):
    async def after_fold(self, payment: dict, state: PaymentState, ledger: Ledger, now: datetime) -> str:
        """The payment's folded state is new: carry out what it means for the
        order, once. Returns what was done (stored as `Payment.outcome_applied`;
        "" when nothing is to be done yet)."""

    async def may_capture(self, order_id: int, reason: str, now: datetime) -> bool:
        """May money be captured for this reason now (not before delivery)?"""

    async def money_moved(self, order_id: int, movement: dict, now: datetime) -> None:
        """Money was captured or refunded (`movement` is its MoneyMovement row):
        the receipt or credit note, and what the order's kinds do on payment."""

    async def payment_problem(self, order_id: int, dedupe_suffix: str, now: datetime) -> None:
        """Taking the money failed: tell the customer and the supplier."""


_effects: OrderEffects | None = None


def plug(effects: OrderEffects) -> None:
    global _effects
    _effects = effects


def effects() -> OrderEffects:
    if _effects is None:
        raise RuntimeError("payments have no order effects plugged in: call portal.wiring.configure() at start")
    return _effects

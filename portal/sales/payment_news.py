"""What a payment's news does to its order (portal.payments.ports.OrderEffects),
plugged in at the composition root. Runs inside the payment code's write
transactions: once per payment (`Payment.outcome_applied`)."""

from __future__ import annotations

from datetime import datetime

from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import OrderEvent, OrderState
from portal.payments import domain as payment_rules
from portal.payments import service as payments
from portal.payments.domain import Ledger, Outcome, PaymentState
from portal.payments.pricing import Means
from portal.payments.tables import MoneyMovement
from portal.sales import lifecycle, receipts


async def confirm_paid(order_id: int, now: datetime, order_kinds: list[kinds.Kind]) -> dict | None:
    """The order's money is reserved: confirm it. A hold that was released
    meanwhile takes its capacity again if it is still free. Returns None when
    it has gone to someone else; an order confirmed already is returned as it is."""
    order = await orders.get(order_id)
    if order["state"] == OrderState.RELEASED.value:
        if not await lifecycle.hold_again(order, now):
            return None
        order = None  # held again: read as it is now
    elif order["state"] != OrderState.HELD.value:
        return order
    return await lifecycle.confirm(order_id, now, order=order, order_kinds=order_kinds)


async def release_hold(order_id: int, now: datetime) -> bool:
    """The payment ended without money: free the held capacity (and give the discounts back)."""
    order = await orders.get(order_id)
    if order is not None and order["state"] == OrderState.RELEASED.value:
        # Freed meanwhile (the customer held another time, or the sweeper took
        # the expired hold): no money will come, so its coupon use comes back too.
        await lifecycle.give_back_discounts(order_id, now)
        return False
    if order is None or order["state"] != OrderState.HELD.value:
        return False
    await lifecycle.release(order_id, OrderEvent.ABANDON, now)
    await lifecycle.give_back_discounts(order_id, now)
    return True


def _delivered_when_paid(order_kinds: list[kinds.Kind]) -> bool:
    return bool(order_kinds) and all(k.delivered_when_paid for k in order_kinds)


class PaymentNews:
    async def after_fold(self, payment: dict, state: PaymentState, ledger: Ledger, now: datetime) -> str:
        order_id = payment["order"]
        if state is PaymentState.AUTHORIZED and ledger.authorized_ore < payment["amount_ore"]:
            # Less reserved than asked for: never confirm on it; give it back and free the hold.
            await payments.record_short_authorisation(payment, ledger.authorized_ore)
            await payments.plan(payment, Outcome.HOLD_LOST, now)
            await release_hold(order_id, now)
            return "short"
        if state is PaymentState.AUTHORIZED:
            other = await payments.other_payment_confirmed(payment)
            order_kinds = await lifecycle.kinds_of({"id": order_id})
            confirmed = None if other else await confirm_paid(order_id, now, order_kinds)
            paid_by_vipps = confirmed is not None and confirmed["means"] in (Means.VIPPS.value, Means.DEPOSIT.value)
            if paid_by_vipps and confirmed["state"] == OrderState.CONFIRMED.value:
                if _delivered_when_paid(order_kinds):
                    # Delivered when paid (a gift card): the money is taken at once.
                    await payments.plan(payment, Outcome.DELIVERED, now)
                return "confirmed"
            if confirmed is not None and not paid_by_vipps:
                # The customer came back and chose to pay on site meanwhile: this reservation is not needed.
                await payments.plan(payment, Outcome.HOLD_LOST, now)
                return "not_needed"
            # What the order held went to someone else (or another attempt already paid): release the money at once.
            await payments.plan(payment, Outcome.HOLD_LOST, now)
            if not other:
                order = await orders.get(order_id)
                await lifecycle.queue_messages(order, "slot_lost", now, order_kinds=order_kinds)
            return "hold_lost"
        if state in payment_rules.ENDED_WITHOUT_MONEY:
            latest = await payments.latest_payment(order_id)
            if latest and latest["id"] == payment["id"]:
                await release_hold(order_id, now)
            return "released"
        return ""

    async def may_capture(self, order_id: int, reason: str, now: datetime) -> bool:
        order = await orders.get(order_id)
        for name in await orders.kinds_of(order_id):
            kind = kinds.kind(name)
            if not kind.may_deliver(await kind.lines(order), now):
                return False
        return True

    async def money_moved(self, order_id: int, movement: dict, now: datetime) -> None:
        """A capture gets its receipt, a refund its credit note, in this transaction (L13, L16)."""
        order = await orders.get(order_id)
        movement = await MoneyMovement.select().output(load_json=True).where(MoneyMovement.id == movement["id"]).first()
        document = await receipts.for_movement(order, movement, now)
        if movement["kind"] == "capture":
            sent = await lifecycle.paid(order, now, document)
            if document is not None and not sent:
                await receipts.email(order, document, now)
            if order["state"] == OrderState.CONFIRMED.value and _delivered_when_paid(await lifecycle.kinds_of(order)):
                await lifecycle.end(order_id, OrderEvent.COMPLETE, now)
        elif document is not None:
            await receipts.email(order, document, now)

    async def payment_problem(self, order_id: int, dedupe_suffix: str, now: datetime) -> None:
        order = await orders.get(order_id)
        await lifecycle.queue_messages(order, "payment_problem", now, dedupe_suffix=dedupe_suffix)

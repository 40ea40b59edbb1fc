"""Settling an order when it ends: delivered, no-show, cancelled by the
customer or the supplier, refunded — and orders that count as delivered by
time alone. Each use case moves the order (portal.sales.lifecycle) and plans
what its Vipps payment must do (portal.payments.service.plan) in one
transaction; the outbox worker carries the money operations out."""

from __future__ import annotations

from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import job, query, record, use_case
from portal.legal.withdrawal import late_fee_may_apply
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import OrderEvent, OrderState
from portal.payments import domain as payment_rules
from portal.payments import service as payments
from portal.payments.domain import Outcome
from portal.sales import receipts, withdrawal
from portal.sales.lifecycle import NotAllowed, end
from portal.settings import load as load_settings

__all__ = ["NotAllowed"]


async def _lines(order: dict) -> list:
    views = []
    for name in await orders.kinds_of(order["id"]):
        views += await kinds.kind(name).lines(order)
    return views


def _first_start(views: list) -> datetime | None:
    return min((v.starts_at for v in views if v.starts_at), default=None)


async def _order(order_id: int, actor: Actor) -> dict:
    """The order, if the actor may act on it: staff only on their own supplier's (tenants are sealed here too)."""
    order = await orders.get(order_id)
    if order is None:
        raise NotAllowed("no such order")
    if actor.kind is ActorKind.STAFF and actor.supplier_id != order["supplier"]:
        raise NotAllowed("no such order")
    return order


async def _end(actor: Actor, action: str, order: dict, event: OrderEvent, outcome: Outcome | None, now: datetime, **after) -> dict:
    ended = await end(order["id"], event, now)
    if outcome is not None:
        await payments.plan_for_order(order["id"], outcome, now)
    if outcome is Outcome.DELIVERED:
        # Paid on site, partly with a gift card: the receipt for the card's part (L13, L21).
        document = await receipts.for_gift_card_part(ended, now)
        if document is not None:
            await receipts.email(ended, document, now)
    await record(
        actor, action, now=now, order_id=order["id"], supplier_id=order["supplier"],
        before={"state": order["state"]}, after={"state": ended["state"], **after},
    )
    return ended


@use_case("order.delivered")
async def mark_delivered(actor: Actor, order_id: int, now: datetime) -> dict:
    """The supplier says it was delivered: capture what is due, release the rest."""
    order = await _order(order_id, actor)
    for name in await orders.kinds_of(order_id):
        kind = kinds.kind(name)
        if not kind.may_deliver(await kind.lines(order), now):
            raise NotAllowed("not delivered before it starts")
    ended = await _end(actor, "order.delivered", order, OrderEvent.COMPLETE, Outcome.DELIVERED, now)
    return ended


@use_case("order.no_show")
async def mark_no_show(actor: Actor, order_id: int, now: datetime) -> dict:
    """The customer did not come: capture the accepted fee, release the rest."""
    order = await _order(order_id, actor)
    start = _first_start(await _lines(order))
    if start is None or now < start:
        raise NotAllowed("no-show before the start")
    ended = await _end(actor, "order.no_show", order, OrderEvent.MARK_NO_SHOW, Outcome.NO_SHOW, now)
    return ended


@query
async def cancellation_costs(order: dict, now: datetime) -> int:
    """What cancelling now costs the customer: 0 inside the free window, and
    0 inside the withdrawal period of a standard-class service — that
    cancellation is a withdrawal (L32)."""
    terms = order["terms"] or {}
    contract_at = order.get("contract_at")
    informed = await withdrawal.informed_at(order) if contract_at is not None else None
    if not late_fee_may_apply(terms.get("withdrawal_class", "standard"), contract_at, informed, now):
        return 0
    start = _first_start(await _lines(order))
    if start is not None and payment_rules.in_free_window(start, now, int(terms.get("cancel_free_hours", 0))):
        return 0
    return payments.fee_of(order)


@query
async def may_cancel(order: dict, now: datetime) -> bool:
    """May the customer cancel it now (confirmed, not started)?"""
    if order["state"] != OrderState.CONFIRMED.value:
        return False
    start = _first_start(await _lines(order))
    return start is not None and now < start


@use_case("order.customer_cancel")
async def customer_cancel(actor: Actor, order_id: int, now: datetime) -> dict:
    order = await _order(order_id, actor)
    start = _first_start(await _lines(order))
    if start is None or now >= start:
        raise NotAllowed("the appointment has started")
    fee = await cancellation_costs(order, now)
    outcome = Outcome.CUSTOMER_CANCEL_LATE if fee > 0 else Outcome.CUSTOMER_CANCEL_FREE
    ended = await _end(actor, "order.customer_cancel", order, OrderEvent.CUSTOMER_CANCEL, outcome, now, fee_ore=fee)
    return ended


@use_case("order.supplier_cancel")
async def supplier_cancel(actor: Actor, order_id: int, now: datetime, *, reason: str = "") -> dict:
    """The supplier cancels: everything reserved is released, what was captured refunded (L-rules of payments.plan)."""
    order = await _order(order_id, actor)
    ended = await _end(actor, "order.supplier_cancel", order, OrderEvent.SUPPLIER_CANCEL, Outcome.SUPPLIER_CANCEL, now, reason=reason[:500])
    return ended


@use_case("order.refund")
async def refund(actor: Actor, order_id: int, amount_ore: int, now: datetime, *, request_id: str = "") -> list[int]:
    """Give back part or all of what was captured (the supplier's decision).
    Sending the same form (`request_id`) twice plans one refund."""
    order = await _order(order_id, actor)
    try:
        ids = await payments.plan_refund(order_id, amount_ore, now, request_id=request_id)
    except payments.NotAllowed as refused:
        raise NotAllowed(str(refused)) from None
    if ids:
        await record(actor, "order.refund", now=now, order_id=order_id, supplier_id=order["supplier"], after={"amount_ore": amount_ore})
    return ids


@use_case("order.auto_complete")
async def auto_complete_one(actor: Actor, order_id: int, now: datetime) -> bool:
    order = await _order(order_id, actor)
    if order["state"] != OrderState.CONFIRMED.value:
        return False
    await _end(actor, "order.auto_complete", order, OrderEvent.COMPLETE, Outcome.DELIVERED, now)
    return True


#: Orders one sweep completes at most: a backlog (after the portal was down) is
#: worked off over a few passes instead of starving the requests of one process.
AUTO_COMPLETE_BATCH = 200


@job
async def auto_complete(actor: Actor, now: datetime, *, batch: int = AUTO_COMPLETE_BATCH) -> int:
    """Confirmed orders nobody marked count as delivered (and are captured)
    `PORTAL_AUTO_COMPLETE_HOURS` after they end, unless no-show or cancelled;
    at most `batch` of them per call, oldest order first."""
    hours = load_settings().vipps.auto_complete_hours
    due: list[int] = []
    for name in kinds.registered():
        due += await kinds.kind(name).due_to_complete(now, hours)
    done = 0
    for order_id in sorted(set(due))[:batch]:
        try:
            done += bool(await auto_complete_one(actor, order_id, now))
        except NotAllowed:
            pass
    return done

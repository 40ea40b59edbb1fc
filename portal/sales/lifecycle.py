"""The moves of an order's life that every kind shares, as primitives for a
use case's write transaction: release a hold, take a released one up again,
confirm, end. Each moves the order through its transition table
(portal.orders.service.move) and then lets the order's kinds do their part
(portal.orders.kinds): free or keep capacity, queue their messages."""

from __future__ import annotations

from datetime import datetime

from portal.audit.service import after_commit
from portal.identity import store as customers
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import FREES_CAPACITY, OrderEvent, OrderState, new_token
from portal.orders.tables import Order
from portal.outbox import service as outbox
from portal.payments import coupon_store, giftcard_store


class NotAllowed(Exception):
    """The order is not in a state (or at a time) that allows this."""


class CapacityLost(Exception):
    """What the order held has gone to someone else."""


async def kinds_of(order: dict) -> list[kinds.Kind]:
    """The kinds of the order's lines (in line order, each once)."""
    return [kinds.kind(name) for name in await orders.kinds_of(order["id"])]


async def release(order_id: int, event: OrderEvent, now: datetime, *, only_if_expired: bool = False) -> bool:
    """held → released: its capacity is given back. Only if it is still held
    (a conditional update: a confirmation that commits meanwhile wins)."""
    if await orders.move(order_id, event, now, only_if_expired=only_if_expired) is None:
        return False
    order = await orders.get(order_id)
    for k in await kinds_of(order):
        await k.release(order, now)
    return True


async def give_back_discounts(order_id: int, now: datetime) -> None:
    """No money will come for this order: its coupon use and what a gift card paid come back."""
    await coupon_store.release(order_id)
    await giftcard_store.restore(order_id, now)


async def hold_again(order: dict, now: datetime) -> bool:
    """released → held, if every line's capacity is still free. Never raises
    for a lost time (the caller's transaction stays usable on PostgreSQL)."""
    if order["state"] != OrderState.RELEASED.value:
        return order["state"] == OrderState.HELD.value
    for k in await kinds_of(order):
        if not await k.hold_again(order, now):
            return False
    return await orders.move(order["id"], OrderEvent.RECLAIM, now) is not None


async def hold_until(order: dict, until: datetime, now: datetime) -> None:
    await orders.update(order["id"], {Order.expires_at: until}, now, state=OrderState.HELD)
    for k in await kinds_of(order):
        await k.held_until(order, until)


async def confirm(order_id: int, now: datetime, *, order: dict | None = None, order_kinds: list[kinds.Kind] | None = None) -> dict:
    """held → confirmed with the customer's details already stored: the
    customer is created or updated, the contract moment and the private link
    set, the lines' capacity kept, the confirmation queued. `order` and
    `order_kinds`: the row and its kinds as the caller read them in this
    transaction (not read again). Returns the confirmed row."""
    if order is None:
        order = await orders.get(order_id)
    customer_id = await customers.customer_for_order(
        phone=order["phone"],
        name=order["customer_name"],
        email=order["email"],
        language=order["language"],
        supplier_id=order["supplier"],
        now=now,
        marketing=(order.get("consents") or {}).get("marketing"),
    )
    values = {Order.customer: customer_id, Order.contract_at: now, Order.manage_token: new_token(), Order.expires_at: None}
    moved = await orders.move(order_id, OrderEvent.CONFIRM, now, values=values, current=order["state"])
    if moved is None:
        raise NotAllowed(f"order {order_id} is {order['state']}, not held")
    # The conditional update succeeded on the row read: the row now is that row with these values.
    confirmed = {**order, **{column._meta.name: value for column, value in values.items()}, "state": moved.value, "updated_at": now}
    order_kinds = order_kinds if order_kinds is not None else await kinds_of(confirmed)
    for k in order_kinds:
        await k.confirm(confirmed, now)
    await queue_messages(confirmed, "confirmation", now, order_kinds=order_kinds)
    return confirmed


async def end(order_id: int, event: OrderEvent, now: datetime) -> dict:
    """confirmed → completed | no_show | cancelled | withdrawn. A conditional
    update: two clicks or two staff members cannot apply two ends. An end
    that frees capacity queues the cancellation messages."""
    state = await orders.move(order_id, event, now)
    if state is None:
        raise NotAllowed(event)
    order = await orders.get(order_id)
    for k in await kinds_of(order):
        await k.end(order, state, now)
    order = await orders.get(order_id)
    if state in FREES_CAPACITY:
        # Cancelled or withdrawn: what a gift card paid goes back onto the card.
        await giftcard_store.restore(order_id, now)
        await queue_messages(order, "cancellation", now)
    return order


async def queue_messages(
    order: dict, topic: str, now: datetime, *, dedupe_suffix: str = "", order_kinds: list[kinds.Kind] | None = None
) -> None:
    """The messages of an order event, from each of its kinds, into the outbox (this transaction)."""
    drafts = []
    for k in order_kinds if order_kinds is not None else await kinds_of(order):
        drafts += await k.messages(order, topic, now, dedupe_suffix=dedupe_suffix)
    await outbox.insert(drafts, now)
    after_commit(outbox.wake)


async def paid(order: dict, now: datetime, receipt: object | None = None) -> bool:
    """Money was taken: each kind does its part. True when a kind sent the receipt itself."""
    sent = False
    for k in await kinds_of(order):
        sent |= bool(await k.paid(order, now, receipt))
    return sent

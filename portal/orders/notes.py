"""Internal notes on orders: the supplier's staff writing to each other."""

from __future__ import annotations

from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, use_case
from portal.orders.tables import Order, OrderNote

MAX_NOTE = 2000


class NoteRefused(Exception):
    pass


@use_case("order.note")
async def add_note(actor: Actor, order_id: int, text: str, now: datetime) -> int:
    """A note on an order of the actor's own supplier."""
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise NoteRefused("empty or too long")
    order = await Order.select(Order.id, Order.supplier).where(Order.id == order_id).first()
    if order is None or actor.kind is not ActorKind.STAFF or actor.supplier_id != order["supplier"]:
        raise NoteRefused("no such order")
    rows = await OrderNote.insert(OrderNote(order=order_id, supplier=order["supplier"], author=actor.name[:120], text=text, created_at=now)).returning(OrderNote.id)
    await record(actor, "order.note", now=now, order_id=order_id, supplier_id=order["supplier"], after={"chars": len(text)})
    return rows[0]["id"]


@query
async def notes_of(order_id: int, supplier_id: int) -> list[dict]:
    return await OrderNote.select().where((OrderNote.order == order_id) & (OrderNote.supplier == supplier_id)).order_by(OrderNote.id)

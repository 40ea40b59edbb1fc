"""Reading orders, the primitives that change them — called inside a use
case's write transaction (portal.sales, portal.kinds). Every state change
goes through portal.orders.domain.transition and is a conditional UPDATE on
the state read, so two clicks or two processes cannot apply two moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, step, use_case
from portal.orders import domain
from portal.orders.domain import OrderEvent, OrderState
from portal.orders.tables import Order, OrderLine, OrderNote


@query
async def get(order_id: int) -> dict | None:
    return await Order.select().output(load_json=True).where(Order.id == order_id).first()


@query
async def by_checkout_token(token: str) -> dict | None:
    if not token:
        return None
    return await Order.select().output(load_json=True).where(Order.checkout_token == token).first()


@query
async def by_manage_token(token: str) -> dict | None:
    if not token:
        return None
    return await Order.select().output(load_json=True).where(Order.manage_token == token).first()


@query
async def by_reference(reference: str) -> dict | None:
    return await Order.select().output(load_json=True).where(Order.reference == reference.upper()).first()


@query
async def lines_of(order_id: int) -> list[dict]:
    return await OrderLine.select().output(load_json=True).where(OrderLine.order == order_id).order_by(OrderLine.position)


@query
async def kinds_of(order_id: int) -> list[str]:
    """The kinds of the order's lines, in line order, each once."""
    rows = await OrderLine.select(OrderLine.kind).where(OrderLine.order == order_id).order_by(OrderLine.position)
    seen: list[str] = []
    for row in rows:
        if row["kind"] not in seen:
            seen.append(row["kind"])
    return seen


@query
async def unused_reference() -> str:
    while True:
        reference = domain.new_reference()
        if not await Order.exists().where(Order.reference == reference):
            return reference


@dataclass(frozen=True)
class NewLine:
    kind: str
    offering_id: int
    description: str
    unit_price_ore: int
    vat_rate_bp: int
    quantity: int = 1
    details: dict | None = None


@step
async def create_held(
    *,
    supplier_id: int,
    visitor: str,
    terms: dict,
    lines: list[NewLine],
    expires_at: datetime,
    now: datetime,
    language: str = "nb",
    reference: str | None = None,
) -> tuple[int, list[int]]:
    """A new order in checkout (`held` until `expires_at`) with its lines: (order id, line ids).
    `reference`: one from `unused_reference()` the caller drew before its write
    transaction (so the transaction, which other writers wait for, is shorter)."""
    inserted = await Order.insert(
        Order(
            reference=reference or await unused_reference(),
            supplier=supplier_id,
            state=OrderState.HELD.value,
            checkout_token=domain.new_token(),
            visitor=visitor,
            expires_at=expires_at,
            language=language,
            means="onsite",
            terms=terms,
            consents={},
            created_at=now,
            updated_at=now,
        )
    ).returning(Order.id)
    order_id = inserted[0]["id"]
    line_ids = []
    for position, line in enumerate(lines):
        row = await OrderLine.insert(
            OrderLine(
                order=order_id,
                position=position,
                kind=line.kind,
                offering=line.offering_id,
                quantity=line.quantity,
                description=line.description[:300],
                unit_price_ore=line.unit_price_ore,
                vat_rate_bp=line.vat_rate_bp,
                price={},
                details=line.details or {},
            )
        ).returning(OrderLine.id)
        line_ids.append(row[0]["id"])
    return order_id, line_ids


@step
async def move(
    order_id: int, event: OrderEvent, now: datetime, *, only_if_expired: bool = False, values: dict | None = None, current: str | None = None
) -> OrderState | None:
    """Apply `event` to the order if its state (read now, or `current` as the
    caller read it in this transaction) allows it: one conditional UPDATE on
    that state. Returns the new state, or None when the order was not in a
    state that allows it (or another writer moved it first).
    `only_if_expired` adds "and its hold has run out" to the condition."""
    if current is None:
        row = await Order.select(Order.state).where(Order.id == order_id).first()
        if row is None:
            return None
        current = row["state"]
    try:
        new_state = domain.transition(current, event)
    except domain.TransitionRefused:
        return None
    condition = (Order.id == order_id) & (Order.state == current)
    if only_if_expired:
        condition &= Order.expires_at <= now
    changed = await (
        Order.update({Order.state: new_state.value, Order.updated_at: now, **(values or {})}).where(condition).returning(Order.id)
    )
    return new_state if changed else None


@step
async def update(order_id: int, values: dict, now: datetime, *, state: OrderState | None = None) -> bool:
    """Write fields (not the state); with `state`, only while the order is in it."""
    condition = Order.id == order_id
    if state is not None:
        condition &= Order.state == state.value
    changed = await Order.update({**values, Order.updated_at: now}).where(condition).returning(Order.id)
    return bool(changed)


@step
async def freeze_lines(order_id: int, priced: list[dict]) -> None:
    """Store each line's frozen priced line (from the order's quote, in line order)."""
    lines = await lines_of(order_id)
    for line, price in zip(lines, priced, strict=False):
        await OrderLine.update({OrderLine.price: price}).where(OrderLine.id == line["id"])


# ---------------------------------------------------------------- internal notes

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

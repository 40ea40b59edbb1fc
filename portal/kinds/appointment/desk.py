"""What the back office does with the calendar itself: book a customer who
phoned or walked in, and block time (absence, a meeting). Staff actors only,
on their own supplier. (Moving a booking: portal.kinds.appointment.moves.)

The same engine judges every time (`service.slots_between` with
`desk=True`: no online notice or horizon), and the same claims make the
database the judge of a race."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, use_case
from portal.capacity import store as capacity
from portal.capacity.domain import claim_units
from portal.catalogue.service import OfferingContext
from portal.kinds.appointment import service
from portal.kinds.appointment.domain import ReservationStatus
from portal.kinds.appointment.service import SlotTaken
from portal.kinds.appointment.tables import Reservation, TimeBlock
from portal.lib.db import write_transaction
from portal.orders import service as orders
from portal.orders.domain import OrderState
from portal.orders.tables import Order
from portal.payments.domain import Means
from portal.sales import checkout, lifecycle
from portal.sales.lifecycle import NotAllowed

#: A block is for hours (a meeting, a dentist); whole days off are closed days in the opening hours.
MAX_BLOCK = timedelta(hours=24)
#: How long the desk's own hold lasts between taking the time and confirming it (one request).
DESK_HOLD_MINUTES = 5


def _staff_of(actor: Actor, supplier_id: int) -> None:
    if actor.kind is not ActorKind.STAFF or actor.supplier_id != supplier_id:
        raise NotAllowed("no such booking")


# ---------------------------------------------------------------- a booking taken by the desk


@dataclass(frozen=True)
class DeskCustomer:
    name: str
    phone: str  # E.164
    email: str = ""
    note: str = ""


@use_case("order.book_at_desk", transaction=False)
async def book_at_desk(actor: Actor, ctx: OfferingContext, start: datetime, resource_id: int | None, customer: DeskCustomer, now: datetime) -> dict:
    """A booking the staff take by phone or at the counter: the time held by
    the same engine (desk rules), the customer's name and number as the staff
    wrote them (no SMS code: the staff vouch for it, and the audit says so),
    paid on site, confirmed at once; the customer gets the confirmation.
    Raises SlotTaken or NotAllowed."""
    _staff_of(actor, ctx.supplier["id"])
    held = await service.hold(actor, ctx, start, resource_id, f"desk:{secrets.token_hex(8)}", now, DESK_HOLD_MINUTES, desk=True)
    async with write_transaction():
        c = await checkout.checkout_of(held, now)
        if c is None:
            raise NotAllowed("no checkout")
        frozen = await checkout.price(c, means=Means.ONSITE)
        await orders.update(
            held["id"],
            {
                Order.phone_verified_at: None,
                Order.customer_name: customer.name,
                Order.phone: customer.phone,
                Order.email: customer.email,
                Order.note: customer.note,
                Order.language: "nb",
                Order.consents: {"booked_by_staff": {"at": now.isoformat(), "by": actor.name}},
                Order.means: frozen.means.value,
                Order.quote: frozen.to_json(),
            },
            now,
            state=OrderState.HELD,
        )
        await orders.freeze_lines(held["id"], frozen.to_json()["lines"])
        confirmed = await lifecycle.confirm(held["id"], now)
        await record(
            actor, "order.book_at_desk", now=now, order_id=held["id"], supplier_id=held["supplier"],
            before={"state": held["state"]}, after={"state": confirmed["state"], "made_by": "staff", "phone_verified": False, "means": Means.ONSITE.value},
        )
    return await orders.get(held["id"])


# ---------------------------------------------------------------- blocked time


def _block_owner(block_id: int) -> str:
    return f"b:{block_id}"


class BlockRefused(Exception):
    """The block cannot be put in; `bookings` are those in its way."""

    def __init__(self, why: str, bookings: list[dict] | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.bookings = bookings or []


@query
async def in_the_way(resource_id: int, start: datetime, end: datetime, now: datetime) -> list[dict]:
    """Live bookings (and holds) on the resource that overlap [start, end), with their buffers."""
    rows = await Reservation.select(
        Reservation.order, Reservation.start, Reservation.end, Reservation.buffer_before_min, Reservation.buffer_after_min,
        Reservation.status, Reservation.hold_expires_at, Reservation.order.reference, Reservation.order.customer_name,
    ).where(
        (Reservation.resource == resource_id)
        & Reservation.status.is_in([ReservationStatus.HELD.value, ReservationStatus.CONFIRMED.value])
        & (Reservation.start < end + timedelta(hours=2))
        & (Reservation.end > start - timedelta(hours=2))
    )
    out = []
    for r in rows:
        if r["status"] == ReservationStatus.HELD.value and (r["hold_expires_at"] is None or r["hold_expires_at"] <= now):
            continue
        lo = r["start"] - timedelta(minutes=r["buffer_before_min"])
        hi = r["end"] + timedelta(minutes=r["buffer_after_min"])
        if lo < end and hi > start:
            out.append({"order_id": r["order"], "reference": r["order.reference"], "customer_name": r["order.customer_name"], "start": r["start"], "end": r["end"]})
    return sorted(out, key=lambda b: b["start"])


@use_case("calendar.block")
async def block_time(actor: Actor, supplier_id: int, resource_id: int, start: datetime, end: datetime, note: str, now: datetime) -> int:
    """Take [start, end) of a staff member's or room's time without a booking.
    Raises BlockRefused when it is in the past, too long, or bookings are in its way."""
    _staff_of(actor, supplier_id)
    if end <= start:
        raise BlockRefused("end_before_start")
    if end <= now:
        raise BlockRefused("past")
    if end - start > MAX_BLOCK:
        raise BlockRefused("too_long")
    blocking = await in_the_way(resource_id, start, end, now)
    if blocking:
        raise BlockRefused("booked", blocking)
    inserted = await TimeBlock.insert(
        TimeBlock(supplier=supplier_id, resource=resource_id, start=start, end=end, note=note[:200], created_by=actor.name[:200], created_at=now)
    ).returning(TimeBlock.id)
    block_id = inserted[0]["id"]
    try:
        await capacity.claim(claim_units(resource_id, start, end, 0, 0), _block_owner(block_id))
    except capacity.Taken as exc:
        raise BlockRefused("booked") from exc  # taken a moment ago: the transaction rolls back
    await record(actor, "calendar.block", now=now, supplier_id=supplier_id, subject="time_block", subject_id=block_id, after={"resource": resource_id, "start": start, "end": end})
    return block_id


@use_case("calendar.unblock")
async def remove_block(actor: Actor, block_id: int, now: datetime) -> bool:
    """Give a block's time back to the calendar."""
    row = await TimeBlock.select().where((TimeBlock.id == block_id) & TimeBlock.removed_at.is_null()).first()
    if row is None:
        return False
    _staff_of(actor, row["supplier"])
    await TimeBlock.update({TimeBlock.removed_at: now}).where(TimeBlock.id == block_id)
    await capacity.free(_block_owner(block_id))
    await record(actor, "calendar.unblock", now=now, supplier_id=row["supplier"], subject="time_block", subject_id=block_id, before={"start": row["start"], "end": row["end"]})
    return True


@query
async def block(block_id: int) -> dict | None:
    """A live block, whoever's."""
    return await TimeBlock.select().where((TimeBlock.id == block_id) & TimeBlock.removed_at.is_null()).first()


@query
async def blocks_between(supplier_id: int, resource_ids: list[int], start: datetime, end: datetime) -> list[dict]:
    """The live blocks of these resources overlapping [start, end)."""
    if not resource_ids:
        return []
    return await TimeBlock.select().where(
        (TimeBlock.supplier == supplier_id) & TimeBlock.resource.is_in(resource_ids) & TimeBlock.removed_at.is_null() & (TimeBlock.start < end) & (TimeBlock.end > start)
    ).order_by(TimeBlock.start)


__all__ = ["BlockRefused", "DeskCustomer", "NotAllowed", "SlotTaken", "block_time", "book_at_desk", "remove_block"]

"""Moving a confirmed booking to another time or staff member: by the back
office (`move`: any free time by the desk's rules) or by the customer from
their booking's page (`reschedule`: the times customers are offered, while
the booking's accepted policy allows it). Both free the old time and claim
the new one in one transaction, so a lost race leaves the booking where it
was; the calendar SEQUENCE grows and the change message (with the updated
.ics) goes to the customer and the supplier. The order, its reference and
its private link stay the same, so every old link leads to the booking as
it is now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, use_case
from portal.catalogue.service import OfferingContext, offering_context_by_id
from portal.kinds.appointment import domain, service
from portal.kinds.appointment.domain import ReservationStatus
from portal.kinds.appointment.service import SlotTaken
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.orders import service as orders
from portal.orders.domain import OrderState
from portal.sales import lifecycle
from portal.sales.lifecycle import NotAllowed

__all__ = ["Movable", "NotAllowed", "PolicyRefused", "SlotTaken", "movable", "move", "reschedule"]


class PolicyRefused(Exception):
    """Too close to the start for the customer to move it themselves (`hours`: the policy)."""

    def __init__(self, hours: int) -> None:
        super().__init__(f"{hours} hours")
        self.hours = hours


@dataclass(frozen=True)
class Movable:
    """A booking that can be moved: its order, its reservation and its offering."""

    order: dict
    reservation: dict
    ctx: OfferingContext

    @property
    def notice_hours(self) -> int:
        """The policy the customer accepted: moving (like free cancellation) until this many hours before."""
        return int((self.order["terms"] or {}).get("cancel_free_hours", 0))


async def _movable(order: dict | None) -> Movable:
    if order is None or order["state"] != OrderState.CONFIRMED.value:
        raise NotAllowed("not confirmed")
    rows = [r for r in await service.reservations_of(order["id"]) if r["status"] == ReservationStatus.CONFIRMED.value]
    if len(rows) != 1:
        raise NotAllowed("no single appointment")
    ctx = await offering_context_by_id(rows[0]["offering"])
    if ctx is None or ctx.offering["capacity"] > 1:
        raise NotAllowed("a class seat is not moved")  # a seat in a class: cancel and book again
    return Movable(order=order, reservation=rows[0], ctx=ctx)


@query
async def movable(actor: Actor, order_id: int) -> Movable:
    """The confirmed one-person appointment of this order, for staff of its supplier; else NotAllowed."""
    order = await orders.get(order_id)
    if order is None or actor.kind is not ActorKind.STAFF or actor.supplier_id != order["supplier"]:
        raise NotAllowed("no such booking")
    return await _movable(order)


@query
async def movable_by_customer(manage_token: str) -> Movable:
    """The booking behind a private link, if it is one that can be moved at all."""
    return await _movable(await orders.by_manage_token(manage_token))


async def _shift(actor: Actor, action: str, m: Movable, start: datetime, resource_id: int | None, now: datetime, *, desk: bool) -> dict:
    row = m.reservation
    target = row["resource"] if resource_id is None else resource_id
    if target not in m.ctx.resource_ids:
        raise NotAllowed("that staff member does not do this")
    if start == row["start"] and target == row["resource"]:
        raise NotAllowed("that is its time already")
    day = clock.to_local(start).date()
    offered = await service.slots_between(m.ctx, day, day, now, target, desk=desk, ignore_reservation=row["id"])
    if not any(s.start == start and target in s.resource_ids for s in offered):
        raise SlotTaken(await service.explain(m.ctx, target, start, now, desk=desk, ignore_reservation=row["id"]))
    end = start + (row["end"] - row["start"])
    await service.free_time(row, False)
    moved = await (
        Reservation.update(
            {
                Reservation.start: start,
                Reservation.end: end,
                Reservation.resource: target,
                Reservation.ics_sequence: row["ics_sequence"] + 1,
                Reservation.updated_at: now,
            }
        )
        .where((Reservation.id == row["id"]) & (Reservation.status == ReservationStatus.CONFIRMED.value) & (Reservation.start == row["start"]))
        .returning(*Reservation.all_columns())
    )
    if not moved:
        raise SlotTaken()  # moved or ended by someone else a moment ago
    await service.claim_time(1, moved[0])
    order_id = m.order["id"]
    await orders.update(order_id, {}, now)
    order = await orders.get(order_id)
    await lifecycle.queue_messages(order, "change", now)
    await record(
        actor, action, now=now, order_id=order_id, supplier_id=order["supplier"],
        before={"start": row["start"], "resource": row["resource"]}, after={"start": start, "resource": target},
    )
    return order


@use_case("appointment.move")
async def move(actor: Actor, order_id: int, start: datetime, resource_id: int | None, now: datetime) -> dict:
    """The back office moves a confirmed booking to `start` on `resource_id`
    (None: the same staff member), by the desk's rules. Raises SlotTaken (the
    booking stays where it was) or NotAllowed."""
    return await _shift(actor, "appointment.move", await movable(actor, order_id), start, resource_id, now, desk=True)


@use_case("appointment.reschedule")
async def reschedule(actor: Actor, manage_token: str, start: datetime, resource_id: int | None, now: datetime) -> dict:
    """The customer moves their booking to a time customers are offered (same
    offering; any of its staff, or the same), while the policy they accepted
    allows it. Raises PolicyRefused, SlotTaken or NotAllowed."""
    m = await movable_by_customer(manage_token)
    if not domain.may_reschedule(m.reservation["start"], now, m.notice_hours):
        raise PolicyRefused(m.notice_hours)
    return await _shift(actor, "appointment.reschedule", m, start, resource_id, now, desk=False)

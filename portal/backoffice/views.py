"""What the back office pages show, read for one workplace (a staff member
at one supplier): the day's and the week's columns, one booking with all
that belongs to it. Every read is bounded by the workplace's supplier, and
for the staff role by their own calendar; an id from elsewhere reads as
nothing (the routes answer 404)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from portal.audit import service as audit
from portal.backoffice import calendar
from portal.backoffice.access import Workplace
from portal.catalogue import service as catalogue
from portal.catalogue.tables import Offering, Resource
from portal.identity.staff.domain import Permission, sees_booking
from portal.kinds.appointment import desk
from portal.kinds.appointment.domain import ReservationStatus
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.orders.tables import Order
from portal.outbox.tables import OutboxMessage
from portal.payments import service as payments
from portal.sales import receipts

SHOWN = (ReservationStatus.HELD.value, ReservationStatus.CONFIRMED.value, ReservationStatus.COMPLETED.value, ReservationStatus.NO_SHOW.value)


async def resources(wp: Workplace) -> list[dict]:
    """The calendars this user may see: all of the supplier's for owners and
    the front desk, their own for staff."""
    rows = await Resource.select(Resource.id, Resource.name, Resource.title).where((Resource.supplier == wp.supplier["id"]) & (Resource.active == True)).order_by(Resource.id)  # noqa: E712
    if wp.may(Permission.SEE_ALL_CALENDARS):
        return rows
    return [r for r in rows if r["id"] == wp.own_resource]


def _local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(0), calendar.OSLO).astimezone(clock.UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), calendar.OSLO).astimezone(clock.UTC)
    return start, end


async def _bookings(supplier_id: int, resource_ids: list[int], first: date, last: date) -> list[dict]:
    if not resource_ids:
        return []
    start, end = _local_bounds(first, last)
    return await (
        Reservation.select(
            Reservation.id,
            Reservation.order,
            Reservation.resource,
            Reservation.start,
            Reservation.end,
            Reservation.status,
            Reservation.offering.title,
            Reservation.order.customer_name,
            Reservation.order.reference,
            Reservation.order.state,
        )
        .where(
            (Reservation.supplier == supplier_id)
            & Reservation.resource.is_in(resource_ids)
            & (Reservation.start < end)
            & (Reservation.end > start)
            & Reservation.status.is_in(list(SHOWN))
        )
        .order_by(Reservation.start)
    )


async def _blocks(supplier_id: int, resource_ids: list[int], first: date, last: date) -> list[dict]:
    start, end = _local_bounds(first, last)
    return await desk.blocks_between(supplier_id, resource_ids, start, end)


def _blocked(row: dict) -> calendar.Booking:
    return calendar.Booking(order_id=None, start=row["start"], end=row["end"], title=row["note"], customer="", state="blocked", blocked=True, block_id=row["id"])


def _booking(row: dict) -> calendar.Booking:
    return calendar.Booking(
        order_id=row["order"],
        start=row["start"],
        end=row["end"],
        title=row["offering.title"],
        customer=row["order.customer_name"],
        state=row["status"],
    )


async def day(wp: Workplace, on: date, now: datetime, only: int | None = None, visible: list[dict] | None = None) -> calendar.Grid:
    """One column per calendar the user may see (or the one asked for);
    `visible`: those calendars, if the caller read them already (`resources`)."""
    shown = visible if visible is not None else await resources(wp)
    if only is not None:
        shown = [r for r in shown if r["id"] == only]
    ids = [r["id"] for r in shown]
    schedules = {s.resource_id: s for s in await catalogue.schedules(ids)}
    rows = await _bookings(wp.supplier["id"], ids, on, on)
    blocks = await _blocks(wp.supplier["id"], ids, on, on)
    by_resource: dict[int, list[calendar.Booking]] = defaultdict(list)  # one pass, not one per column
    for b in rows:
        by_resource[b["resource"]].append(_booking(b))
    for b in blocks:
        by_resource[b["resource"]].append(_blocked(b))
    columns = []
    for r in shown:
        spans, breaks = calendar.day_hours(schedules[r["id"]], on) if r["id"] in schedules else ([], [])
        columns.append(calendar.ColumnInput(key=str(r["id"]), title=r["name"], day=on, spans=spans, breaks=breaks, bookings=by_resource.get(r["id"], [])))
    return calendar.build(columns, now)


async def week(wp: Workplace, resource_id: int, on: date, now: datetime, language: str) -> calendar.Grid:
    """One calendar's seven days, Monday first."""
    days = calendar.week_of(on)
    schedule = next(iter(await catalogue.schedules([resource_id])), None)
    rows = await _bookings(wp.supplier["id"], [resource_id], days[0], days[-1])
    blocks = await _blocks(wp.supplier["id"], [resource_id], days[0], days[-1])
    columns = []
    for d in days:
        spans, breaks = calendar.day_hours(schedule, d) if schedule else ([], [])
        mine = [_booking(b) for b in rows if clock.to_local(b["start"]).date() == d] + [_blocked(b) for b in blocks if clock.to_local(b["start"]).date() == d]
        columns.append(calendar.ColumnInput(key=d.isoformat(), title=clock.fmt_date(d, language, "short"), day=d, spans=spans, breaks=breaks, bookings=mine))
    return calendar.build(columns, now)


async def booking_at(wp: Workplace, resource_id: int, moment: datetime, ctx) -> dict | None:
    """The booking whose time (with its buffers and the offering's) covers `moment` on this calendar."""
    rules = ctx.rules
    start = moment - timedelta(minutes=rules.buffer_before_min + 240)
    end = moment + timedelta(minutes=rules.duration_min + rules.buffer_after_min)
    rows = await _bookings(wp.supplier["id"], [resource_id], clock.to_local(start).date(), clock.to_local(end).date())
    for row in rows:
        if row["status"] in (ReservationStatus.HELD.value, ReservationStatus.CONFIRMED.value) and row["start"] < end and row["end"] > moment - timedelta(minutes=rules.buffer_before_min):
            return row
    return None


async def order_of(wp: Workplace, order_id: int) -> dict | None:
    """The supplier's order, if this user may see it (staff: a reservation on their calendar)."""
    order = await Order.select().where((Order.id == order_id) & (Order.supplier == wp.supplier["id"])).output(load_json=True).first()
    if order is None:
        return None
    reservations = await Reservation.select().where((Reservation.order == order_id) & (Reservation.supplier == wp.supplier["id"])).order_by(Reservation.start)
    if not sees_booking(wp.role, wp.own_resource, [r["resource"] for r in reservations]):
        return None
    order["reservations"] = reservations
    return order


async def order_detail(wp: Workplace, order: dict) -> dict:
    """Everything the booking page shows: money, documents, messages, the trail."""
    payment = await payments.payment_of_record(order["id"])
    names = {r["id"]: r["name"] for r in await Resource.select(Resource.id, Resource.name).where(Resource.supplier == wp.supplier["id"])}
    offerings = {o["id"]: o["title"] for o in await Offering.select(Offering.id, Offering.title).where(Offering.supplier == wp.supplier["id"])}
    return {
        "reservations": [{**r, "resource_name": names.get(r["resource"], ""), "title": offerings.get(r["offering"], "")} for r in order["reservations"]],
        "payment": payment,
        "operations": await payments.operations(payment["id"]) if payment else [],
        "movements": await payments.movements(order["id"]),
        "documents": await receipts.listing(order),  # ready or being prepared, labelled
        "messages": await OutboxMessage.select(
            OutboxMessage.id, OutboxMessage.channel, OutboxMessage.topic, OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.created_at, OutboxMessage.sent_at
        )
        .where(OutboxMessage.order_id == order["id"])
        .order_by(OutboxMessage.id),
        "trail": await audit.entries(order_id=order["id"]),
    }

"""Appointment use cases and queries: the free times of an offering, holding
one (a new order in checkout with its reservation), freeing holds that ran
out. Each write runs in one write transaction; the unique claim keys and the
conditional seat update (portal.capacity) make the database the judge of who
got a time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from portal.audit.domain import Actor
from portal.audit.service import job, query, record, step, use_case
from portal.availability.domain import Claim, OfferingRules, Reason, SeatUse, Slot, day_reasons, free_slots, why_not
from portal.availability.holidays import norwegian_holidays
from portal.capacity import store as capacity
from portal.capacity.domain import claim_units, session_key
from portal.catalogue.service import OfferingContext, schedules
from portal.kinds.appointment import domain
from portal.kinds.appointment.domain import ReservationEvent, ReservationStatus
from portal.kinds.appointment.tables import Reservation, TimeBlock
from portal.lib import clock
from portal.lib.db import write_transaction
from portal.orders import service as orders
from portal.orders.domain import OrderEvent, OrderState, hold_expiry
from portal.orders.tables import Order
from portal.payments.vat import vat_rate_bp
from portal.sales import lifecycle

KIND = "appointment"


class SlotTaken(Exception):
    """Someone else got there first, or the time is not offered at all.

    `reason` is None for a lost race; otherwise why the time is not offered
    (past, outside hours, …) so the customer gets the right message.
    """

    def __init__(self, reason: Reason | None = None) -> None:
        super().__init__(reason.value if reason else "taken")
        self.reason = reason

    @property
    def was_taken(self) -> bool:
        return self.reason in (None, Reason.BOOKED, Reason.BUFFER, Reason.FULL)


@dataclass(frozen=True)
class DayInfo:
    day: date
    free: int
    reason: Reason | None


# ---------------------------------------------------------------- reading


async def _occupancy(
    ctx: OfferingContext, start: datetime, end: datetime, now: datetime, *, ignore_reservation: int | None = None
) -> tuple[list[Claim], list[SeatUse]]:
    """Live reservations and time blocks on the offering's resources around
    [start, end); `ignore_reservation` is left out (a booking being moved
    does not stand in its own way)."""
    if not ctx.resource_ids:
        return [], []
    # Appointments (with buffers) last well under a day: bounding `start` on
    # both sides lets the database use the start index instead of reading
    # every past reservation of the resource.
    margin = timedelta(hours=36)
    rows = await Reservation.select(
        Reservation.id,
        Reservation.offering,
        Reservation.resource,
        Reservation.start,
        Reservation.end,
        Reservation.buffer_before_min,
        Reservation.buffer_after_min,
        Reservation.seats,
        Reservation.status,
        Reservation.hold_expires_at,
    ).where(
        Reservation.resource.is_in(ctx.resource_ids)
        & Reservation.status.is_in([s.value for s in domain.OCCUPYING])
        & (Reservation.start < end + margin)
        & (Reservation.start > start - margin)
        & (Reservation.end > start - margin)
    )
    claims: list[Claim] = []
    seats: dict[tuple[int, datetime], int] = {}
    class_offering = ctx.offering["capacity"] > 1
    for row in rows:
        if row["id"] == ignore_reservation or not domain.occupies(row["status"], row["hold_expires_at"], now):
            continue
        if class_offering and row["offering"] == ctx.offering["id"]:
            key = (row["resource"], row["start"])
            seats[key] = seats.get(key, 0) + row["seats"]
        else:
            claims.append(Claim(row["resource"], row["start"], row["end"], row["buffer_before_min"], row["buffer_after_min"]))
    blocks = await TimeBlock.select(TimeBlock.resource, TimeBlock.start, TimeBlock.end).where(
        TimeBlock.resource.is_in(ctx.resource_ids) & TimeBlock.removed_at.is_null() & (TimeBlock.start < end) & (TimeBlock.end > start)
    )
    claims += [Claim(b["resource"], b["start"], b["end"]) for b in blocks]
    return claims, [SeatUse(rid, start_, taken) for (rid, start_), taken in seats.items()]


def _local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, datetime.min.time(), tzinfo=clock.OSLO).astimezone(clock.UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=clock.OSLO).astimezone(clock.UTC)
    return start, end


def desk_rules(ctx: OfferingContext) -> OfferingRules:
    """The offering's rules as the back office books by them: the staff can
    take a walk-in now and book as far ahead as a year (no online notice or
    horizon); hours, breaks, buffers and other bookings still hold."""
    return replace(ctx.rules, min_notice_min=0, max_advance_days=max(ctx.rules.max_advance_days, 366))


@query
async def slots_between(
    ctx: OfferingContext,
    first: date,
    last: date,
    now: datetime,
    resource_id: int | None = None,
    *,
    desk: bool = False,
    ignore_reservation: int | None = None,
) -> list[Slot]:
    """Free times on the offering's resources (or one of them); `desk`: by the
    back office's rules (`desk_rules`)."""
    if not ctx.bookable:
        return []
    ids = [resource_id] if resource_id in ctx.resource_ids else ctx.resource_ids
    start, end = _local_bounds(first, last)
    claims, seats = await _occupancy(ctx, start, end, now, ignore_reservation=ignore_reservation)
    return free_slots(
        desk_rules(ctx) if desk else ctx.rules,
        await schedules(ids),
        claims,
        seats,
        first_day=first,
        last_day=last,
        now=now,
        holidays=norwegian_holidays(first, last),
    )


@dataclass(frozen=True)
class PickerView:
    strip: list[DayInfo]  # empty when only the day's slot list was asked for
    slots: list[Slot]  # free times of the chosen day
    day_reason: Reason | None  # why the chosen day has none


@query
async def picker_view(
    ctx: OfferingContext,
    day: date,
    now: datetime,
    *,
    strip_start: date | None = None,
    strip_days: int = 14,
    resource_id: int | None = None,
) -> PickerView:
    """The chosen day's free times and, when `strip_start` is given, the strip
    of days with their counts — from one read of reservations and rules."""
    first, last = (strip_start, strip_start + timedelta(days=strip_days - 1)) if strip_start else (day, day)
    first, last = min(first, day), max(last, day)
    if not ctx.bookable:
        days_ = [first + timedelta(days=i) for i in range(strip_days)] if strip_start else []
        return PickerView([DayInfo(d, 0, Reason.CLOSED) for d in days_], [], Reason.CLOSED)
    ids = [resource_id] if resource_id in ctx.resource_ids else ctx.resource_ids
    lo, hi = _local_bounds(first, last)
    claims, seats = await _occupancy(ctx, lo, hi, now)
    sched = await schedules(ids)
    hol = norwegian_holidays(first, last)
    slots = free_slots(ctx.rules, sched, claims, seats, first_day=first, last_day=last, now=now, holidays=hol)
    by_day: dict[date, list[Slot]] = {}
    for slot in slots:
        by_day.setdefault(clock.to_local(slot.start).date(), []).append(slot)
    # Reasons cost a second pass of the engine: only when some day is empty.
    shown = [strip_start + timedelta(days=i) for i in range(strip_days)] if strip_start else [day]
    reasons: dict[date, Reason] = {}
    if any(d not in by_day for d in shown):
        reasons = day_reasons(ctx.rules, sched, claims, seats, first_day=first, last_day=last, now=now, holidays=hol)
    strip = []
    if strip_start:
        for i in range(strip_days):
            d = strip_start + timedelta(days=i)
            free = len(by_day.get(d, []))
            strip.append(DayInfo(d, free, None if free else reasons.get(d, Reason.CLOSED)))
    chosen = by_day.get(day, [])
    return PickerView(strip, chosen, None if chosen else reasons.get(day, Reason.CLOSED))


@query
async def nearest_free(
    ctx: OfferingContext, wanted: datetime, now: datetime, limit: int = 3, resource_id: int | None = None, *, desk: bool = False, ignore_reservation: int | None = None
) -> list[Slot]:
    """The free times closest to the one the customer lost, within two weeks."""
    day = clock.to_local(wanted).date()
    first = max(day - timedelta(days=7), clock.local_today(now))
    slots = await slots_between(ctx, first, day + timedelta(days=7), now, resource_id, desk=desk, ignore_reservation=ignore_reservation)
    slots.sort(key=lambda s: abs((s.start - wanted).total_seconds()))
    return sorted(slots[:limit], key=lambda s: s.start)


@query
async def explain(
    ctx: OfferingContext, resource_id: int, start: datetime, now: datetime, *, desk: bool = False, ignore_reservation: int | None = None
) -> Reason | None:
    """Why this start on this resource is not offered (None: it is)."""
    day = clock.to_local(start).date()
    lo, hi = _local_bounds(day, day)
    claims, seats = await _occupancy(ctx, lo, hi, now, ignore_reservation=ignore_reservation)
    (schedule,) = await schedules([resource_id])
    return why_not(
        desk_rules(ctx) if desk else ctx.rules,
        schedule,
        claims,
        seats,
        resource_id=resource_id,
        start=start,
        now=now,
        holidays=norwegian_holidays(day, day),
    )


@query
async def live_hold(visitor: str | None, offering_id: int, now: datetime) -> dict | None:
    """This browser's unexpired hold on the offering, if any: its checkout token, start and expiry."""
    if not visitor:
        return None
    row = await (
        Reservation.select(Reservation.order.checkout_token, Reservation.start, Reservation.hold_expires_at)
        .where(
            (Reservation.order.visitor == visitor)
            & (Reservation.offering == offering_id)
            & (Reservation.status == ReservationStatus.HELD.value)
            & (Reservation.hold_expires_at > now)
        )
        .first()
    )
    if row is None:
        return None
    return {"checkout_token": row["order.checkout_token"], "start": row["start"], "hold_expires_at": row["hold_expires_at"]}


@query
async def reservations_of(order_id: int) -> list[dict]:
    return await Reservation.select().where(Reservation.order == order_id).order_by(Reservation.id)


# ---------------------------------------------------------------- capacity of one reservation


def _claim_keys(row: dict) -> list[str]:
    return claim_units(row["resource"], row["start"], row["end"], row["buffer_before_min"], row["buffer_after_min"])


@step
async def claim_time(capacity_of_offering: int, row: dict) -> None:
    """Take the reservation's time in the database; raises SlotTaken on a lost race."""
    keys = _claim_keys(row)
    if capacity_of_offering > 1:
        taken = await capacity.take_seats(session_key(row["offering"], row["resource"], row["start"]), capacity_of_offering, row["seats"])
        if taken is None:
            raise SlotTaken()
        session_id, now_taken = taken
        if now_taken == row["seats"]:  # first seat: the session takes the resource's time
            try:
                await capacity.claim(keys, capacity.session_owner(session_id))
            except capacity.Taken as exc:
                raise SlotTaken() from exc
    else:
        try:
            await capacity.claim(keys, capacity.reservation_owner(row["id"]))
        except capacity.Taken as exc:
            raise SlotTaken() from exc


@step
async def claim_time_if_free(row: dict) -> bool:
    """Take a single-capacity reservation's time again without raising (so the
    caller's transaction stays usable on PostgreSQL): False when it is gone."""
    return await capacity.claim_if_free(_claim_keys(row), capacity.reservation_owner(row["id"]))


@step
async def free_time(row: dict, class_session: bool) -> None:
    """Give the reservation's time (or its seats) back."""
    await capacity.free(capacity.reservation_owner(row["id"]))
    if class_session and row["seats"]:
        await capacity.give_seats(session_key(row["offering"], row["resource"], row["start"]), row["seats"])


@step
async def set_status(reservation_id: int, event: ReservationEvent, now: datetime, values: dict | None = None, *, current: str | None = None) -> bool:
    """Move a reservation through its table: a conditional update on the status
    read now (or `current`, as the caller read it in this transaction)."""
    if current is None:
        row = await Reservation.select(Reservation.status).where(Reservation.id == reservation_id).first()
        if row is None:
            return False
        current = row["status"]
    new_status = domain.transition(current, event)
    changed = await (
        Reservation.update({Reservation.status: new_status.value, Reservation.updated_at: now, **(values or {})})
        .where((Reservation.id == reservation_id) & (Reservation.status == current))
        .returning(Reservation.id)
    )
    return bool(changed)


# ---------------------------------------------------------------- holding a time


def _terms_snapshot(ctx: OfferingContext) -> dict:
    s, o = ctx.supplier, ctx.offering
    return {
        "supplier": {k: s[k] for k in ("legal_name", "org_number", "company_form", "vat_registered", "street", "postcode", "town", "phone", "email")},
        "supplier_name": s["name"],
        "offering_title": o["title"],
        "kind": o["kind"],
        "online": o["online"],
        "capacity": o["capacity"],
        "cancel_free_hours": o["cancel_free_hours"],
        "cancel_fee_percent": o["cancel_fee_percent"],
        "cancel_fee_ore": o["cancel_fee_ore"],
        "reminder_hours": o["reminder_hours"],
        "withdrawal_class": o["withdrawal_class"],
        "supplier_terms": s["terms"],
    }



def lifecycle_actor() -> Actor:
    from portal.audit.domain import system

    return system("hold-sweeper")


@use_case("appointment.hold", transaction=False)
async def hold(
    actor: Actor,
    ctx: OfferingContext,
    start: datetime,
    resource_id: int | None,
    visitor: str,
    now: datetime,
    hold_minutes: int,
    *,
    desk: bool = False,
) -> dict:
    """Hold a time for this visitor: a new order in checkout with one
    appointment line and its reservation; reuse their live hold of the same
    time; let go of their other holds on this offering. Returns the order.

    Raises SlotTaken when the time is not offered or was just taken. `desk`:
    the back office holds it for a booking it takes itself (`desk_rules`).
    """
    if not ctx.bookable:
        raise SlotTaken()
    day = clock.to_local(start).date()
    offered = [s for s in await slots_between(ctx, day, day, now, desk=desk) if s.start == start]
    candidates = list(offered[0].resource_ids) if offered else []
    if resource_id is not None:
        candidates = [r for r in candidates if r == resource_id]

    existing = await (
        Reservation.select(Reservation.id, Reservation.order, Reservation.start, Reservation.resource)
        .where(
            (Reservation.order.visitor == visitor)
            & (Reservation.offering == ctx.offering["id"])
            & (Reservation.status == ReservationStatus.HELD.value)
            & (Reservation.hold_expires_at > now)
        )
    )
    for row in existing:
        if row["start"] == start and (resource_id is None or row["resource"] == resource_id):
            return await orders.get(row["order"])
    if not candidates:
        probe = resource_id if resource_id is not None else ctx.resource_ids[0]
        raise SlotTaken(await explain(ctx, probe, start, now, desk=desk))

    o, s = ctx.offering, ctx.supplier
    end = start + timedelta(minutes=o["duration_min"])
    rate = vat_rate_bp(o["vat_category"], day, vat_registered=s["vat_registered"])
    expires_at = hold_expiry(now, hold_minutes)
    reference = await orders.unused_reference()
    for candidate in candidates:
        for retry in (False, True):
            try:
                async with write_transaction():
                    for row in existing:
                        await lifecycle.release(row["order"], OrderEvent.ABANDON, now)
                    order_id, (line_id,) = await orders.create_held(
                        supplier_id=s["id"],
                        visitor=visitor,
                        terms=_terms_snapshot(ctx),
                        lines=[orders.NewLine(KIND, o["id"], o["title"], o["price_ore"], rate)],
                        expires_at=expires_at,
                        now=now,
                        reference=reference,
                    )
                    inserted = await Reservation.insert(
                        Reservation(
                            order=order_id,
                            line=line_id,
                            supplier=s["id"],
                            offering=o["id"],
                            resource=candidate,
                            start=start,
                            end=end,
                            buffer_before_min=o["buffer_before_min"],
                            buffer_after_min=o["buffer_after_min"],
                            seats=1,
                            status=ReservationStatus.HELD.value,
                            hold_expires_at=expires_at,
                            created_at=now,
                            updated_at=now,
                        )
                    ).returning(*Reservation.all_columns())
                    await claim_time(o["capacity"], inserted[0])
                    await record(
                        actor,
                        "appointment.hold",
                        now=now,
                        order_id=order_id,
                        supplier_id=s["id"],
                        after={"state": OrderState.HELD, "offering": o["id"], "resource": candidate, "start": start},
                    )
                # Committed: the old holds are released for good.
                return await orders.get(order_id)
            except SlotTaken:
                # The engine already ignores expired holds, but their claims
                # stay until released: free them and try this resource again.
                if not retry and await release_expired(lifecycle_actor(), now):
                    continue
                break
    raise SlotTaken()


@use_case("order.expire")
async def expire(actor: Actor, order_id: int, now: datetime) -> bool:
    """A hold past its expiry: the order is released and its time freed."""
    if not await lifecycle.release(order_id, OrderEvent.EXPIRE, now, only_if_expired=True):
        return False
    await record(actor, "order.expire", now=now, order_id=order_id, before={"state": OrderState.HELD}, after={"state": OrderState.RELEASED})
    return True


@job
async def release_expired(actor: Actor, now: datetime) -> int:
    """Release every order whose hold has run out (each in its own transaction)."""
    expired = await Order.select(Order.id).where((Order.state == OrderState.HELD.value) & (Order.expires_at <= now))
    released = 0
    for row in expired:
        released += bool(await expire(actor, row["id"], now))
    return released

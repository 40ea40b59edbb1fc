"""The calendars appointments are booked on (a staff member's, a room's) and
their opening hours: the week's hours and breaks, dated exceptions, a new
calendar. Use cases with an actor and one audit entry each.

Every change of a calendar's hours or exceptions
- names the version of the calendar it was made from (`Resource.version`):
  a form from a stale second tab raises `Stale` and changes nothing;
- is refused with `Orphans` (and rolled back) when confirmed future bookings
  of the calendar would fall outside the new hours (portal.availability.hours);
- bumps the catalogue version (portal.catalogue.service.changed), so every
  process offers customers the new times at once.

Here (not in portal.catalogue) because the orphan check reads the
appointment reservations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.audit.domain import Actor
from portal.audit.service import query, record, use_case
from portal.availability import hours as rules
from portal.availability.domain import DayException, ResourceSchedule
from portal.availability.domain import HoursRule as HoursSpec
from portal.availability.holidays import norwegian_holidays
from portal.catalogue import service as catalogue
from portal.catalogue.tables import DateException, HoursRule, Offering, OfferingResource, Resource
from portal.kinds.appointment.domain import ReservationStatus
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock

MAX_NAME = 120


class Stale(Exception):
    """The calendar changed since the form was opened (`current` is its version now)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"calendar is at version {current}")
        self.current = current


class Orphans(Exception):
    """The change would leave these confirmed bookings outside the hours (dicts as `future_bookings` gives them)."""

    def __init__(self, bookings: list[dict]) -> None:
        super().__init__(f"{len(bookings)} booking(s) would fall outside the new hours")
        self.bookings = bookings


# ---------------------------------------------------------------- reading


@query
async def calendars(supplier_id: int) -> list[dict]:
    """The supplier's active calendars, in the order they were made."""
    return await (
        Resource.select(Resource.id, Resource.name, Resource.title, Resource.version)
        .where((Resource.supplier == supplier_id) & (Resource.active == True))  # noqa: E712
        .order_by(Resource.id)
    )


@query
async def calendar(supplier_id: int, resource_id: int) -> dict | None:
    """One active calendar of this supplier, or None (another supplier's is None too)."""
    return await (
        Resource.select(Resource.id, Resource.name, Resource.title, Resource.version)
        .where((Resource.id == resource_id) & (Resource.supplier == supplier_id) & (Resource.active == True))  # noqa: E712
        .first()
    )


@query
async def week_of(resource_id: int) -> tuple[list[dict], list[dict]]:
    """The calendar's weekly (opening hours, breaks) rows, by weekday and time."""
    rows = await HoursRule.select().where(HoursRule.resource == resource_id).order_by(HoursRule.weekday).order_by(HoursRule.start)
    return [r for r in rows if not r["is_break"]], [r for r in rows if r["is_break"]]


@query
async def exceptions_of(resource_id: int, today: date) -> list[dict]:
    """The calendar's dated exceptions from today on, by date."""
    return await (
        DateException.select()
        .where((DateException.resource == resource_id) & (DateException.day >= today))
        .order_by(DateException.day)
        .order_by(DateException.start)
    )


@query
async def future_bookings(supplier_id: int, resource_id: int, now: datetime) -> list[dict]:
    """Confirmed bookings on the calendar that start after `now`, in time
    order: reference, start, end, service, customer, order id."""
    rows = await (
        Reservation.select(
            Reservation.id,
            Reservation.order,
            Reservation.start,
            Reservation.end,
            Reservation.offering.title,
            Reservation.offering.open_on_holidays,
            Reservation.order.reference,
            Reservation.order.customer_name,
        )
        .where(
            (Reservation.supplier == supplier_id)
            & (Reservation.resource == resource_id)
            & (Reservation.status == ReservationStatus.CONFIRMED.value)
            & (Reservation.start > now)
        )
        .order_by(Reservation.start)
    )
    return [
        {
            "id": r["id"],
            "order_id": r["order"],
            "start": r["start"],
            "end": r["end"],
            "title": r["offering.title"],
            "open_on_holidays": bool(r["offering.open_on_holidays"]),
            "reference": r["order.reference"],
            "customer_name": r["order.customer_name"],
        }
        for r in rows
    ]


@query
async def open_on_holidays(resource_id: int) -> list[str]:
    """Titles of the active offerings on this calendar that open on public holidays."""
    links = await OfferingResource.select(OfferingResource.offering).where(OfferingResource.resource == resource_id)
    if not links:
        return []
    rows = await (
        Offering.select(Offering.title)
        .where(Offering.id.is_in([link["offering"] for link in links]) & (Offering.active == True) & (Offering.open_on_holidays == True))  # noqa: E712
        .order_by(Offering.title)
    )
    return [r["title"] for r in rows]


# ---------------------------------------------------------------- the guard of every change


async def _claim_version(supplier_id: int, resource_id: int, version: int) -> int:
    """Bump the calendar's version if it is still `version` (the database
    decides, so of two tabs one wins); else Stale. LookupError: not this
    supplier's calendar."""
    bumped = await (
        Resource.update({Resource.version: Resource.version + 1})
        .where((Resource.id == resource_id) & (Resource.supplier == supplier_id) & (Resource.version == version))
        .returning(Resource.version)
    )
    if bumped:
        return bumped[0]["version"]
    row = await Resource.select(Resource.version).where((Resource.id == resource_id) & (Resource.supplier == supplier_id)).first()
    if row is None:
        raise LookupError(resource_id)
    raise Stale(row["version"])


async def _schedule(resource_id: int) -> ResourceSchedule:
    # Straight from the tables (inside this transaction), never from the per-process cache.
    return (await catalogue._load_schedules([resource_id]))[0]


async def _refuse_orphans(supplier_id: int, resource_id: int, before: ResourceSchedule, now: datetime) -> None:
    """Raise Orphans (rolling the change back) if the new hours leave confirmed bookings outside."""
    bookings = await future_bookings(supplier_id, resource_id, now)
    if not bookings:
        return
    after = await _schedule(resource_id)
    first = clock.to_local(bookings[0]["start"]).date()
    last = clock.to_local(bookings[-1]["start"]).date()
    by_id = {b["id"]: b for b in bookings}
    outside = rules.newly_outside(
        [rules.Booking(key=b["id"], start=b["start"], end=b["end"], open_on_holidays=b["open_on_holidays"]) for b in bookings],
        before,
        after,
        holidays=norwegian_holidays(first, last),
    )
    if outside:
        raise Orphans([by_id[b.key] for b in outside])


def _as_text(rules_: tuple[HoursSpec, ...]) -> list[str]:
    return [f"{r.weekday}:{r.start:%H:%M}-{r.end:%H:%M}" for r in rules_]


# ---------------------------------------------------------------- use cases


@use_case("hours.set_week")
async def set_week(
    actor: Actor, *, supplier_id: int, resource_id: int, version: int, hours: tuple[HoursSpec, ...], breaks: tuple[HoursSpec, ...], now: datetime
) -> int:
    """Replace the calendar's weekly hours and breaks (checked by
    portal.availability.hours.check_week). Returns the new version; raises
    Stale, Orphans, or LookupError (not this supplier's calendar)."""
    new_version = await _claim_version(supplier_id, resource_id, version)
    before = await _schedule(resource_id)
    await HoursRule.delete().where(HoursRule.resource == resource_id)
    rows = [HoursRule(resource=resource_id, weekday=r.weekday, start=r.start, end=r.end, is_break=False) for r in hours]
    rows += [HoursRule(resource=resource_id, weekday=r.weekday, start=r.start, end=r.end, is_break=True) for r in breaks]
    if rows:
        await HoursRule.insert(*rows)
    await _refuse_orphans(supplier_id, resource_id, before, now)
    await record(
        actor, "hours.set_week", now=now, supplier_id=supplier_id, subject="resource", subject_id=resource_id,
        before={"hours": _as_text(before.hours), "breaks": _as_text(before.breaks)}, after={"hours": _as_text(hours), "breaks": _as_text(breaks), "version": new_version},
    )  # fmt: skip
    await catalogue.changed()
    return new_version


@use_case("hours.add_exception")
async def add_exception(actor: Actor, *, supplier_id: int, resource_id: int, version: int, exception: DayException, note: str, now: datetime) -> int:
    """A closed date, or changed hours on one date (checked by
    portal.availability.hours.check_exception). Returns the new version;
    raises Stale, Orphans or LookupError."""
    new_version = await _claim_version(supplier_id, resource_id, version)
    before = await _schedule(resource_id)
    start, end = exception.hours[0] if exception.hours and not exception.closed else (None, None)
    await DateException.insert(DateException(resource=resource_id, day=exception.day, closed=exception.closed, start=start, end=end, note=note[:200]))
    await _refuse_orphans(supplier_id, resource_id, before, now)
    after = {"day": exception.day.isoformat(), "closed": exception.closed, "start": f"{start:%H:%M}" if start else None, "end": f"{end:%H:%M}" if end else None}
    await record(actor, "hours.add_exception", now=now, supplier_id=supplier_id, subject="resource", subject_id=resource_id, after={**after, "note": note[:200], "version": new_version})
    await catalogue.changed()
    return new_version


@use_case("hours.remove_exception")
async def remove_exception(actor: Actor, *, supplier_id: int, resource_id: int, version: int, exception_id: int, now: datetime) -> int:
    """Remove one dated exception (the weekly hours apply that date again).
    Returns the new version; raises Stale, Orphans or LookupError (not an
    exception of this supplier's calendar)."""
    row = await DateException.select().where((DateException.id == exception_id) & (DateException.resource == resource_id)).first()
    if row is None:
        raise LookupError(exception_id)
    new_version = await _claim_version(supplier_id, resource_id, version)
    before = await _schedule(resource_id)
    await DateException.delete().where(DateException.id == exception_id)
    await _refuse_orphans(supplier_id, resource_id, before, now)
    await record(
        actor, "hours.remove_exception", now=now, supplier_id=supplier_id, subject="resource", subject_id=resource_id,
        before={"day": str(row["day"]), "closed": row["closed"], "start": str(row["start"] or ""), "end": str(row["end"] or ""), "note": row["note"]},
        after={"version": new_version},
    )  # fmt: skip
    await catalogue.changed()
    return new_version


@dataclass(frozen=True)
class NewCalendar:
    id: int
    name: str


@use_case("calendar.add")
async def add_calendar(actor: Actor, *, supplier_id: int, name: str, title: str, now: datetime) -> NewCalendar:
    """A new calendar (a staff member's or a room's), closed until it is given
    hours; it is booked once an offering names it."""
    rows = await Resource.insert(Resource(supplier=supplier_id, name=name.strip()[:MAX_NAME], title=title.strip()[:MAX_NAME], active=True)).returning(Resource.id)
    resource_id = rows[0]["id"]
    await record(actor, "calendar.add", now=now, supplier_id=supplier_id, subject="resource", subject_id=resource_id, after={"name": name.strip()[:MAX_NAME], "title": title.strip()[:MAX_NAME]})
    await catalogue.changed()
    return NewCalendar(id=resource_id, name=name.strip()[:MAX_NAME])


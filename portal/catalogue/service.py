"""Reading the catalogue: suppliers, offerings, resources and their schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from time import monotonic

from portal.audit.service import query, step
from portal.availability.domain import DayException, OfferingRules, ResourceSchedule
from portal.availability.domain import HoursRule as HoursSpec
from portal.catalogue.domain import search_matches
from portal.catalogue.tables import DateException, HoursRule, Offering, OfferingResource, Resource, Supplier
from portal.settings import load as load_settings

#: Catalogue rows change rarely and are read on every slot list: each process
#: keeps them for `PORTAL_CATALOGUE_CACHE_SECONDS` (0 turns this off), and
#: uses them only while the database's catalogue version is the one they were
#: read under. Every change bumps the version (`changed`), so no process ever
#: offers times from hours that were changed elsewhere.
_cache: dict[tuple, tuple[float, int, object]] = {}


@query
async def version() -> int:
    """The catalogue's version: one indexed row, read before a cached value is used."""
    rows = await Supplier.raw("SELECT version FROM catalogue_version WHERE id = 1")
    return int(rows[0]["version"]) if rows else 0


@step
async def changed() -> None:
    """Call after every write to suppliers, offerings, resources, hours or exceptions."""
    await Supplier.raw("UPDATE catalogue_version SET version = version + 1 WHERE id = 1")
    _cache.clear()


async def _cached(key: tuple, load):
    ttl = load_settings().catalogue_cache_seconds
    if ttl <= 0:
        return await load()
    current = await version()
    hit = _cache.get(key)
    now = monotonic()
    if hit is not None and hit[0] > now and hit[1] == current:
        return hit[2]
    value = await load()
    _cache[key] = (now + ttl, current, value)
    return value


def clear_cache() -> None:
    _cache.clear()


@dataclass(frozen=True)
class OfferingContext:
    """Everything the slot picker and checkout need about one offering."""

    supplier: dict
    offering: dict
    resources: list[dict]

    @property
    def resource_ids(self) -> list[int]:
        return [r["id"] for r in self.resources]

    @property
    def rules(self) -> OfferingRules:
        o = self.offering
        return OfferingRules(
            duration_min=o["duration_min"],
            step_min=o["step_min"],
            buffer_before_min=o["buffer_before_min"],
            buffer_after_min=o["buffer_after_min"],
            capacity=o["capacity"],
            min_notice_min=o["min_notice_min"],
            max_advance_days=o["max_advance_days"],
            open_on_holidays=o["open_on_holidays"],
        )

    @property
    def bookable(self) -> bool:
        return self.offering["kind"] == "appointment" and bool(self.offering["duration_min"]) and bool(self.resources)


@query
async def list_suppliers(text: str = "", category: str = "", town: str = "") -> list[dict]:
    """Active suppliers matching the search, ordered by name (said on the page, L3)."""
    rows = await Supplier.select().where(Supplier.active == True).order_by(Supplier.name).output(load_json=True)  # noqa: E712
    offerings = await Offering.select(Offering.supplier, Offering.title).where(Offering.active == True)  # noqa: E712
    titles: dict[int, list[str]] = {}
    for o in offerings:
        titles.setdefault(o["supplier"], []).append(o["title"])
    return [
        row
        for row in rows
        if search_matches(row, titles.get(row["id"], []), text=text, category=category, town=town)
    ]


@query
async def facets() -> tuple[list[str], list[str]]:
    rows = await Supplier.select(Supplier.category, Supplier.town).where(Supplier.active == True)  # noqa: E712
    return sorted({r["category"] for r in rows}), sorted({r["town"] for r in rows})


@query
async def get_supplier(slug: str) -> dict | None:
    return await Supplier.select().where((Supplier.slug == slug) & (Supplier.active == True)).output(load_json=True).first()  # noqa: E712


@query
async def supplier_offerings(supplier_id: int) -> list[dict]:
    return await (
        Offering.select()
        .where((Offering.supplier == supplier_id) & (Offering.active == True))  # noqa: E712
        .order_by(Offering.position)
        .order_by(Offering.title)
    )


@query
async def offering_context(supplier_slug: str, offering_slug: str) -> OfferingContext | None:
    return await _cached(("offering", supplier_slug, offering_slug), lambda: _load_offering_context(supplier_slug, offering_slug))


async def _load_offering_context(supplier_slug: str, offering_slug: str) -> OfferingContext | None:
    supplier = await get_supplier(supplier_slug)
    if supplier is None:
        return None
    offering = await (
        Offering.select()
        .where((Offering.supplier == supplier["id"]) & (Offering.slug == offering_slug) & (Offering.active == True))  # noqa: E712
        .first()
    )
    if offering is None:
        return None
    return await _with_resources(supplier, offering)


@query
async def offering_context_by_id(offering_id: int) -> OfferingContext | None:
    """For a booking: its offering even if since deactivated."""
    offering = await Offering.select().where(Offering.id == offering_id).first()
    if offering is None:
        return None
    supplier = await Supplier.select().where(Supplier.id == offering["supplier"]).output(load_json=True).first()
    return await _with_resources(supplier, offering)


async def _with_resources(supplier: dict, offering: dict) -> OfferingContext:
    links = await OfferingResource.select(OfferingResource.resource).where(OfferingResource.offering == offering["id"])
    ids = [link["resource"] for link in links]
    resources = []
    if ids:
        resources = await (
            Resource.select()
            .where(Resource.id.is_in(ids) & (Resource.active == True))  # noqa: E712
            .order_by(Resource.name)
        )
    return OfferingContext(supplier=supplier, offering=offering, resources=resources)


def _as_time(value) -> time:
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


@query
async def schedules(resource_ids: list[int]) -> list[ResourceSchedule]:
    return await _cached(("schedules", tuple(resource_ids)), lambda: _load_schedules(resource_ids))


async def _load_schedules(resource_ids: list[int]) -> list[ResourceSchedule]:
    if not resource_ids:
        return []
    hours = await HoursRule.select().where(HoursRule.resource.is_in(resource_ids))
    exceptions = await DateException.select().where(DateException.resource.is_in(resource_ids))
    result = []
    for rid in resource_ids:
        mine = [h for h in hours if h["resource"] == rid]
        by_day: dict = {}
        for e in (e for e in exceptions if e["resource"] == rid):
            by_day.setdefault(e["day"], []).append(e)
        dated = []
        for day, rows in sorted(by_day.items()):
            closed = any(r["closed"] for r in rows)
            spans = tuple(
                sorted((_as_time(r["start"]), _as_time(r["end"])) for r in rows if not r["closed"] and r["start"] and r["end"])
            )
            dated.append(DayException(day=day, closed=closed, hours=() if closed else spans))
        result.append(
            ResourceSchedule(
                resource_id=rid,
                hours=tuple(HoursSpec(h["weekday"], _as_time(h["start"]), _as_time(h["end"])) for h in mine if not h["is_break"]),
                breaks=tuple(HoursSpec(h["weekday"], _as_time(h["start"]), _as_time(h["end"])) for h in mine if h["is_break"]),
                exceptions=tuple(dated),
            )
        )
    return result

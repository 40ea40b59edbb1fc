"""The customer moves their own booking from its private link
(`/b/<token>/flytt`): a day and a staff member, the free times customers are
offered then, one press. Outside the policy the page shows the policy instead
of acting; a time just taken answers with the nearest free ones."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.kinds.appointment import domain, moves, service
from portal.lib import clock
from portal.lib.forms import offset_moment, small_int
from portal.lib.i18n import N_
from portal.web.render import page
from portal.web.security import visitor_of

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
TAKEN = N_("That time was just taken. The nearest free times are below.")


def _actor(request: Request, m: moves.Movable) -> actors.Actor:
    return actors.customer(visitor=visitor_of(request), customer_id=m.order.get("customer"))


def _day(raw: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat((raw or "").strip()) if raw else fallback
    except ValueError:
        return fallback


def _resource(raw: str | None, m: moves.Movable) -> int | None:
    """A staff member of this offering, or None: anyone free."""
    chosen = small_int(raw)
    return chosen if chosen in m.ctx.resource_ids else None


async def _movable(token: str) -> moves.Movable:
    try:
        return await moves.movable_by_customer(token)
    except moves.NotAllowed:
        raise NotFoundException() from None


async def _page(request: Request, m: moves.Movable, *, on: date | None = None, resource_id: int | None = None, error: str | None = None, nearest: list | None = None, status_code: int = 200) -> object:
    now = clock.now()
    today = clock.local_today(now)
    row = m.reservation
    allowed = domain.may_reschedule(row["start"], now, m.notice_hours)
    on = on if on is not None and on >= today else max(today, clock.to_local(row["start"]).date())
    slots = []
    if allowed:
        slots = await service.slots_between(m.ctx, on, on, now, resource_id, ignore_reservation=row["id"])
        slots = [s for s in slots if not (s.start == row["start"] and row["resource"] in s.resource_ids and resource_id in (None, row["resource"]))]
    return page(
        request,
        "pages/appointment/reschedule.html",
        status_code=status_code,
        order=m.order,
        reservation=row,
        offering=m.ctx.offering,
        staff=m.ctx.resources,
        resource_id=resource_id,
        allowed=allowed,
        notice_hours=m.notice_hours,
        shown_day=on,
        today=today,
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
        slots=slots,
        nearest=nearest or [],
        error=error,
    )


@get("/b/{token:str}/flytt", name="reschedule_page")
async def reschedule_page(request: Request, token: str, dato: str | None = None, ressurs: str | None = None) -> object:
    m = await _movable(token)
    return await _page(request, m, on=_day(dato, clock.local_today(clock.now())) if dato else None, resource_id=_resource(ressurs, m))


@post("/b/{token:str}/flytt", name="reschedule")
async def reschedule_post(request: Request, token: str, data: dict = FORM) -> object:
    m = await _movable(token)
    raw_start = data.get("start") if isinstance(data.get("start"), str) else ""
    resource_id = _resource(data.get("ressurs") if isinstance(data.get("ressurs"), str) else "", m)
    start = offset_moment(raw_start)
    if start is None:
        return await _page(request, m, resource_id=resource_id, error=N_("Choose one of the free times."), status_code=422)
    now = clock.now()
    # "Anyone free": the staff member who is free then, the current one first.
    try:
        await moves.reschedule(_actor(request, m), token, start, resource_id or await _free_resource(m, start, now), now)
    except moves.PolicyRefused:
        return await _page(request, m, status_code=409)
    except moves.SlotTaken:
        nearest = await service.nearest_free(m.ctx, start, now, limit=4, resource_id=resource_id, ignore_reservation=m.reservation["id"])
        return await _page(request, m, on=clock.to_local(start).date(), resource_id=resource_id, error=TAKEN, nearest=nearest, status_code=409)
    except moves.NotAllowed:
        return await _page(request, m, resource_id=resource_id, error=N_("That is the time it has already. Choose another."), status_code=422)
    return Redirect(path=f"/b/{token}?flyttet=1", status_code=303)


async def _free_resource(m: moves.Movable, start: datetime, now: datetime) -> int | None:
    day = clock.to_local(start).date()
    for s in await service.slots_between(m.ctx, day, day, now, ignore_reservation=m.reservation["id"]):
        if s.start == start:
            ids = list(s.resource_ids)
            return m.reservation["resource"] if m.reservation["resource"] in ids else ids[0]
    return None


ROUTES = [reschedule_page, reschedule_post]

"""The slot picker, holding a time, the calendar file, and (dev) why a time
is not offered. Handlers parse input, call portal.kinds.appointment.service,
and render; no rules here."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.availability.domain import Reason
from portal.catalogue.domain import CATEGORIES
from portal.catalogue.service import OfferingContext, offering_context, offering_context_by_id
from portal.kinds.appointment import domain, service
from portal.kinds.appointment.calendar import booking_ics
from portal.legal.withdrawal import withdrawal_info
from portal.lib import clock
from portal.lib.i18n import translations
from portal.orders import kinds
from portal.orders import service as orders
from portal.settings import load as load_settings
from portal.web.render import language_of, page, wants_fragment
from portal.web.security import new_visitor, visitor_of

STRIP_DAYS = 14
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

#: Times outside these years are never offered; near the calendar's ends
#: they would overflow time-zone arithmetic, so they are answered early.
SANE_YEARS = range(1900, 9000)


async def _context(supplier_slug: str, offering_slug: str) -> OfferingContext:
    ctx = await offering_context(supplier_slug, offering_slug)
    if ctx is None:
        raise NotFoundException()
    return ctx


def _single(raw: object) -> str:
    """A form or query value sent more than once counts as not sent."""
    return raw if isinstance(raw, str) else ""


def _parse_day(raw: object, today: date) -> date:
    try:
        day = date.fromisoformat(_single(raw))
    except ValueError:
        return today
    return day if day.year in SANE_YEARS else today


def _parse_resource(raw: object, ctx: OfferingContext) -> int | None:
    """`None` means "any available"."""
    text = _single(raw)
    value = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None
    return value if value in ctx.resource_ids else None


def _parse_start(raw: object) -> datetime | None:
    """An aware ISO time in UTC, or None for anything else."""
    try:
        moment = datetime.fromisoformat(_single(raw))
        return moment.astimezone(clock.UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


async def picker_context(ctx: OfferingContext, day: date, resource_id: int | None, now: datetime, *, with_strip: bool = True) -> dict:
    today = clock.local_today(now)
    last_day = today + timedelta(days=ctx.offering["max_advance_days"])
    day = min(max(day, today), last_day)
    # 14-day pages of the strip, starting today.
    strip_start = today + timedelta(days=((day - today).days // STRIP_DAYS) * STRIP_DAYS)
    view = await service.picker_view(
        ctx, day, now, strip_start=strip_start if with_strip else None, strip_days=STRIP_DAYS, resource_id=resource_id
    )
    return {
        "ctx": ctx,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "resources": ctx.resources,
        "resource_id": resource_id,
        "day": day,
        "today": today,
        "strip": view.strip,
        "slots": view.slots,
        "day_reason": view.day_reason,
        "prev_page": strip_start - timedelta(days=STRIP_DAYS) if strip_start > today else None,
        "next_page": strip_start + timedelta(days=STRIP_DAYS) if strip_start + timedelta(days=STRIP_DAYS) <= last_day else None,
        "withdrawal": withdrawal_info(ctx.offering["withdrawal_class"]),
        "category_labels": CATEGORIES,
        "reason_text": domain.reason_text,
    }


@get("/s/{supplier_slug:str}/{offering_slug:str}", name="offering")
async def offering_page(
    request: Request, supplier_slug: str, offering_slug: str, day: str | None = None, resource: str | None = None
) -> object:
    ctx = await offering_context(supplier_slug, offering_slug)
    if ctx is None:
        raise NotFoundException()
    if ctx.offering["kind"] != service.KIND and ctx.offering["kind"] in kinds.registered():
        # Another kind's page (a gift card, …): its own module serves it.
        return Redirect(path=f"/s/{supplier_slug}/{offering_slug}/{ctx.offering['kind']}", status_code=303)
    now = clock.now()
    # A day link swaps only the slot list; choosing a person swaps strip + slots.
    only_slots = wants_fragment(request) and request.headers.get("hx-target") == "slots"
    resource_id = _parse_resource(resource, ctx)
    context = await picker_context(ctx, _parse_day(day, clock.local_today(now)), resource_id, now, with_strip=not only_slots)
    if day is None and not context["slots"]:
        # No day chosen and nothing free today: open the first day with free times.
        first_free = next((d.day for d in context["strip"] if d.free), None)
        if first_free is not None:
            context = await picker_context(ctx, first_free, resource_id, now)
    held = None if only_slots else await service.live_hold(visitor_of(request), ctx.offering["id"], now)
    return page(request, "pages/appointment/offering.html", block="slots" if only_slots else "picker", held=held, **context)


async def _taken_page(
    request: Request, ctx: OfferingContext, wanted: datetime, resource_id: int | None, now: datetime, refused: service.SlotTaken
) -> object:
    """409: the time was just taken (or is not offered), with the nearest free times."""
    nearest = await service.nearest_free(ctx, wanted, now, resource_id=resource_id)
    context = await picker_context(ctx, clock.to_local(wanted).date(), resource_id, now)
    return page(
        request,
        "pages/appointment/offering.html",
        status_code=409,
        taken=True,
        not_offered_reason=None if refused.was_taken else refused.reason,
        nearest=nearest,
        **context,
    )


@post("/s/{supplier_slug:str}/{offering_slug:str}/hold", name="hold")
async def hold_time(request: Request, supplier_slug: str, offering_slug: str, data: dict = FORM) -> object:
    ctx = await _context(supplier_slug, offering_slug)
    now = clock.now()
    start = _parse_start(data.get("start"))
    resource_id = _parse_resource(data.get("resource"), ctx)
    if start is None:
        context = await picker_context(ctx, clock.local_today(now), resource_id, now)
        return page(request, "pages/appointment/offering.html", status_code=422, bad_time=True, **context)
    if start.year not in SANE_YEARS:
        refused = service.SlotTaken(Reason.PAST if start < now else Reason.TOO_FAR_AHEAD)
        return await _taken_page(request, ctx, now, resource_id, now, refused)
    visitor = visitor_of(request)
    cookies = []
    if visitor is None:
        visitor, visitor_cookie = new_visitor()
        cookies.append(visitor_cookie)
    try:
        held = await service.hold(actors.customer(visitor=visitor), ctx, start, resource_id, visitor, now, load_settings().hold_minutes)
    except service.SlotTaken as refused:
        return await _taken_page(request, ctx, start, resource_id, now, refused)
    return Redirect(path=f"/checkout/{held['checkout_token']}", status_code=303, cookies=cookies)


@get("/b/{token:str}/booking.ics", name="booking_ics")
async def booking_calendar(request: Request, token: str) -> Response:
    """The order's appointment as a calendar file (same UID for its whole life)."""
    order = await orders.by_manage_token(token)
    reservations = await service.reservations_of(order["id"]) if order else []
    if not reservations:
        raise NotFoundException()
    reservation = reservations[0]
    ctx = await offering_context_by_id(reservation["offering"])
    if ctx is None:
        raise NotFoundException()
    t = translations(order["language"] or language_of(request))
    s = ctx.supplier
    location = t.gettext("Video meeting (link follows)") if ctx.offering["online"] else f"{s['street']}, {s['postcode']} {s['town']}"
    base = load_settings().base_url
    body = booking_ics(
        {**reservation, "reference": order["reference"]},
        summary=f"{ctx.offering['title']} – {s['name']}",
        location=location,
        description=t.gettext("Booking reference %(ref)s. Manage your booking: %(url)s") % {"ref": order["reference"], "url": f"{base}/b/{token}"},
        host=urlparse(base).hostname or "portal",
        now=clock.now(),
    )
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="booking-{order["reference"]}.ics"'},
    )


ROUTES = [offering_page, hold_time, booking_calendar]

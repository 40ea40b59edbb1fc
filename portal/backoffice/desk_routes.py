"""The desk's own calendar work: move a booking (its picker and its post are
reached through the booking's actions in portal.backoffice.routes), book a
customer who phoned or walked in, and block a staff member's time. Each
form lists free times from the same engine as the customers' (desk rules:
no online notice), and the database still judges the last click."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from email_validator import EmailNotValidError, validate_email
from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.backoffice import access, common, views
from portal.backoffice.access import Workplace
from portal.backoffice.common import FORM, base
from portal.catalogue import service as catalogue
from portal.identity.staff.domain import Permission
from portal.kinds.appointment import desk, moves
from portal.kinds.appointment import service as appointments
from portal.kinds.appointment.domain import reason_text
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.sales.forms import parse_phone
from portal.web.render import page

TAKEN = N_("That time was just taken. The nearest free times are below.")


def _slot_choices(slots: list, resource_id: int | None) -> list[dict]:
    """Free times as the pages list them: the moment (ISO, with offset) and the staff who are free then."""
    return [{"value": s.start.isoformat(), "start": s.start, "resource_ids": list(s.resource_ids)} for s in slots if resource_id is None or resource_id in s.resource_ids]


def _day(raw: str | None, today: date) -> tuple[date, str | None]:
    chosen = common.day_param(raw, today)
    if chosen is None:
        return today, N_("That is not a date. Showing today.")
    return chosen, None


# ---------------------------------------------------------------- moving a booking


async def move_page(request: Request, wp: Workplace, order: dict, *, errors: dict | None = None, nearest: list | None = None, status_code: int = 200) -> object:
    """The picker: a day and a staff member, the free times then (the booking's own time does not count against it)."""
    now = clock.now()
    try:
        m = await moves.movable(wp.actor, order["id"])
    except desk.NotAllowed:
        raise NotFoundException() from None
    row = m.reservation
    today = clock.local_today(now)
    on, date_error = _day(request.query_params.get("dato") or clock.to_local(row["start"]).date().isoformat(), today)
    staff = [r for r in await views.resources(wp) if r["id"] in m.ctx.resource_ids]
    if not wp.may(Permission.SEE_ALL_CALENDARS):
        staff = [r for r in staff if r["id"] == row["resource"]]
    chosen = common.int_param(request.query_params.get("ressurs")) or row["resource"]
    if chosen not in {r["id"] for r in staff}:
        raise NotFoundException()
    slots = await appointments.slots_between(m.ctx, on, on, now, chosen, desk=True, ignore_reservation=row["id"]) if on >= today else []
    if chosen == row["resource"]:
        slots = [s for s in slots if s.start != row["start"]]  # its own time is no move
    return page(
        request,
        "pages/backoffice/move.html",
        status_code=status_code,
        **base(wp),
        order=order,
        reservation=row,
        offering=m.ctx.offering,
        staff=staff,
        chosen=chosen,
        shown_day=on,
        today=today,
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
        choices=_slot_choices(slots, chosen),
        nearest=_slot_choices(nearest or [], None),
        errors={**(errors or {}), **({"dato": date_error} if date_error else {})},
    )


async def move_post(request: Request, wp: Workplace, order: dict, data: dict) -> object:
    now = clock.now()
    start = common.utc_moment(form_text(data, "start", 40))
    resource_id = common.int_param(form_text(data, "ressurs", 10))
    if start is None:
        return await move_page(request, wp, order, errors={"start": N_("Choose one of the free times.")}, status_code=422)
    try:
        m = await moves.movable(wp.actor, order["id"])
    except desk.NotAllowed:
        raise NotFoundException() from None
    staff_ids = {r["id"] for r in await views.resources(wp)} & set(m.ctx.resource_ids)
    if resource_id not in staff_ids:
        raise NotFoundException()
    try:
        await moves.move(wp.actor, order["id"], start, resource_id, now)
    except moves.SlotTaken as taken:
        nearest = await appointments.nearest_free(m.ctx, start, now, limit=5, resource_id=resource_id, desk=True, ignore_reservation=m.reservation["id"])
        nearest = [s for s in nearest if not (s.start == m.reservation["start"] and resource_id == m.reservation["resource"])][:4]
        message = TAKEN if taken.was_taken else reason_text(taken.reason)
        return await move_page(request, wp, order, errors={"start": message}, nearest=nearest, status_code=409)
    except desk.NotAllowed:
        return await move_page(request, wp, order, errors={"start": N_("That is the time it has already. Choose another.")}, status_code=422)
    return Redirect(path=f"/kontor/{wp.supplier['slug']}/ordre/{order['id']}?flyttet=1", status_code=303)


# ---------------------------------------------------------------- a new booking by the desk


def _parse_customer(data: dict) -> tuple[desk.DeskCustomer | None, dict, dict]:
    values = {k: form_text(data, k, 1000 if k == "note" else 200) for k in ("name", "phone", "email", "note")}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = N_("Write the customer's name.")
    phone = parse_phone(values["phone"]) if values["phone"] else None
    if not values["phone"]:
        errors["phone"] = N_("Write the customer's mobile number: the confirmation goes there.")
    elif phone is None:
        errors["phone"] = N_("That is not a valid mobile number. Norwegian numbers have 8 digits; use +country code for others.")
    email = ""
    if values["email"]:
        try:
            email = validate_email(values["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = N_("That is not a valid email address.")
    if len(values["note"]) > 1000:
        errors["note"] = N_("The note is too long (at most 1000 characters).")
    if errors:
        return None, errors, values
    return desk.DeskCustomer(name=values["name"], phone=phone or "", email=email, note=values["note"]), errors, values


async def _new_booking_page(request: Request, wp: Workplace, source: dict, *, errors: dict | None = None, values: dict | None = None, nearest: list | None = None, status_code: int = 200) -> object:
    now = clock.now()
    today = clock.local_today(now)
    offerings = [o for o in await catalogue.supplier_offerings(wp.supplier["id"]) if o["kind"] == "appointment" and o["duration_min"]]
    chosen = next((o for o in offerings if o["slug"] == source.get("tilbud")), offerings[0] if offerings else None)
    ctx = await catalogue.offering_context(wp.supplier["slug"], chosen["slug"]) if chosen else None
    if chosen and source.get("tilbud") and chosen["slug"] != source.get("tilbud"):
        raise NotFoundException()
    staff = [r for r in await views.resources(wp) if ctx and r["id"] in ctx.resource_ids]
    resource_id = common.int_param(source.get("ressurs"))
    if resource_id is not None and resource_id not in {r["id"] for r in staff}:
        raise NotFoundException()
    if resource_id is None and not wp.may(Permission.SEE_ALL_CALENDARS):
        resource_id = wp.own_resource
    on, date_error = _day(source.get("dato"), today)
    slots = await appointments.slots_between(ctx, on, on, now, resource_id, desk=True) if ctx and on >= today else []
    if resource_id is None:
        visible = {r["id"] for r in staff}
        slots = [s for s in slots if visible & set(s.resource_ids)]
    return page(
        request,
        "pages/backoffice/new_booking.html",
        status_code=status_code,
        **base(wp),
        offerings=offerings,
        offering=chosen,
        staff=staff,
        staff_names={r["id"]: r["name"] for r in staff},
        resource_id=resource_id,
        shown_day=on,
        today=today,
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
        choices=_slot_choices(slots, resource_id),
        nearest=_slot_choices(nearest or [], resource_id),
        chosen_start=source.get("start", ""),
        errors={**(errors or {}), **({"dato": date_error} if date_error else {})},
        values=values or {},
    )


@get("/kontor/{slug:str}/ny", name="bo_new_booking")
async def new_booking_page(request: Request, slug: str) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    return await _new_booking_page(request, wp, dict(request.query_params))


@post("/kontor/{slug:str}/ny", name="bo_new_booking_post")
async def new_booking_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    source = {k: form_text(data, k, 80) for k in ("tilbud", "ressurs", "dato", "start")}
    customer, errors, values = _parse_customer(data)
    start = common.utc_moment(source["start"])
    if start is None:
        errors["start"] = N_("Choose one of the free times.")
    if errors:
        return await _new_booking_page(request, wp, source, errors=errors, values=values, status_code=422)
    offering = next((o for o in await catalogue.supplier_offerings(wp.supplier["id"]) if o["slug"] == source["tilbud"]), None)
    ctx = await catalogue.offering_context(slug, offering["slug"]) if offering else None
    if ctx is None:
        raise NotFoundException()
    resource_id = common.int_param(source["ressurs"])
    visible = {r["id"] for r in await views.resources(wp)}
    if resource_id is not None and resource_id not in visible:
        raise NotFoundException()
    if resource_id is None and not wp.may(Permission.SEE_ALL_CALENDARS):
        resource_id = wp.own_resource
    now = clock.now()
    try:
        order = await desk.book_at_desk(wp.actor, ctx, start, resource_id, customer, now)
    except desk.SlotTaken as taken:
        nearest = await appointments.nearest_free(ctx, start, now, limit=4, resource_id=resource_id, desk=True)
        message = TAKEN if taken.was_taken else reason_text(taken.reason)
        return await _new_booking_page(request, wp, source, errors={"start": message}, values=values, nearest=nearest, status_code=409)
    return Redirect(path=f"/kontor/{slug}/ordre/{order['id']}", status_code=303)


# ---------------------------------------------------------------- blocked time


def _clock_time(raw: str) -> time | None:
    raw = raw.strip().replace(".", ":")
    if raw.isascii() and raw.isdigit() and len(raw) in (3, 4):
        raw = f"{raw[:-2]}:{raw[-2:]}"
    try:
        return time.fromisoformat(raw) if raw.isascii() else None
    except ValueError:
        return None


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, clock.OSLO).astimezone(clock.UTC)


BLOCK_REFUSALS = {
    "end_before_start": N_("The end must be after the start."),
    "past": N_("That time has passed already."),
    "too_long": N_("A block can be at most 24 hours. For days off, close the days in the opening hours."),
    "booked": N_("Bookings are in the way: move or cancel them first."),
}


async def _block_page(request: Request, wp: Workplace, source: dict, *, errors: dict | None = None, in_the_way: list | None = None, status_code: int = 200) -> object:
    now = clock.now()
    today = clock.local_today(now)
    staff = await views.resources(wp)
    if not staff:
        raise NotFoundException()
    resource_id = common.int_param(source.get("ressurs")) or (wp.own_resource if wp.own_resource in {r["id"] for r in staff} else staff[0]["id"])
    if resource_id not in {r["id"] for r in staff}:
        raise NotFoundException()
    on, date_error = _day(source.get("dato"), today)
    lo, hi = _at(on, time(0)), _at(on + timedelta(days=1), time(0))
    return page(
        request,
        "pages/backoffice/block.html",
        status_code=status_code,
        **base(wp),
        staff=staff,
        resource_id=resource_id,
        shown_day=on,
        blocks=await desk.blocks_between(wp.supplier["id"], [resource_id], lo, hi),
        values={"fra": source.get("fra", ""), "til": source.get("til", ""), "note": source.get("note", "")},
        errors={**(errors or {}), **({"dato": date_error} if date_error else {})},
        in_the_way=in_the_way or [],
    )


@get("/kontor/{slug:str}/blokker", name="bo_block")
async def block_page(request: Request, slug: str) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    return await _block_page(request, wp, dict(request.query_params))


@post("/kontor/{slug:str}/blokker", name="bo_block_post")
async def block_post(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    source = {k: form_text(data, k, 200) for k in ("ressurs", "dato", "fra", "til", "note")}
    visible = {r["id"] for r in await views.resources(wp)}
    resource_id = common.int_param(source["ressurs"])
    if resource_id not in visible:
        raise NotFoundException()
    errors: dict[str, str] = {}
    day = common.day_param(source["dato"], clock.local_today(clock.now())) if source["dato"] else None
    if day is None:
        errors["dato"] = N_("Choose the date.")
    start, end = _clock_time(source["fra"]), _clock_time(source["til"])
    if start is None:
        errors["fra"] = N_("Write the time as HH:MM, like 09:30.")
    if end is None:
        errors["til"] = N_("Write the time as HH:MM, like 09:30.")
    if errors:
        return await _block_page(request, wp, source, errors=errors, status_code=422)
    begins = _at(day, start)
    ends = _at(day + timedelta(days=1), time(0)) if end == time(0) else _at(day, end)
    try:
        await desk.block_time(wp.actor, wp.supplier["id"], resource_id, begins, ends, source["note"], clock.now())
    except desk.BlockRefused as refused:
        field = "til" if refused.why in ("end_before_start", "too_long") else "fra"
        return await _block_page(request, wp, source, errors={field: BLOCK_REFUSALS[refused.why]}, in_the_way=refused.bookings, status_code=409 if refused.why == "booked" else 422)
    return Redirect(path=f"/kontor/{slug}?{urlencode({'dato': day.isoformat()})}", status_code=303)


async def _own_block(wp: Workplace, block_id: int) -> dict:
    visible = {r["id"] for r in await views.resources(wp)}
    row = await desk.block(block_id)
    if row is None or row["supplier"] != wp.supplier["id"] or row["resource"] not in visible:
        raise NotFoundException()
    return row


@get("/kontor/{slug:str}/blokker/{block_id:int}", name="bo_block_one")
async def one_block_page(request: Request, slug: str, block_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    row = await _own_block(wp, block_id)
    names = {r["id"]: r["name"] for r in await views.resources(wp)}
    return page(request, "pages/backoffice/block_one.html", **base(wp), blocked=row, block_day=clock.to_local(row["start"]).date().isoformat(), resource_name=names.get(row["resource"], ""))


@post("/kontor/{slug:str}/blokker/{block_id:int}", name="bo_block_remove")
async def remove_block_post(request: Request, slug: str, block_id: int, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    row = await _own_block(wp, block_id)
    await desk.remove_block(wp.actor, block_id, clock.now())
    return Redirect(path=f"/kontor/{slug}?{urlencode({'dato': clock.to_local(row['start']).date().isoformat()})}", status_code=303)


ROUTES = [new_booking_page, new_booking_post, block_page, block_post, one_block_page, remove_block_post]

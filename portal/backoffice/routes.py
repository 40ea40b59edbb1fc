"""The back office of one supplier: the day (all calendars side by side),
a calendar's week, one booking and what can be done with it. Handlers parse,
go through the guard (portal.backoffice.access.workplace), call the sales
use cases with the staff member as actor, and render."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response

from portal.backoffice import (
    access,
    common,
    complaint_routes,
    customer_routes,
    desk_routes,
    feed_routes,
    labels,
    login_routes,
    news_routes,
    operator_routes,
    report_routes,
    schedule_routes,
    settings_routes,
    team_routes,
    views,
    withdrawal_routes,
)
from portal.backoffice.access import Workplace
from portal.catalogue import service as catalogue
from portal.documents import service as documents
from portal.documents.render import filename_of
from portal.identity.staff.domain import Permission
from portal.kinds.appointment import desk, moves
from portal.kinds.appointment import service as appointments
from portal.kinds.appointment.domain import reason_text
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.lib.money import parse_kroner
from portal.orders import service as orders_service
from portal.orders.domain import OrderState
from portal.payments import service as payments
from portal.sales import settlement
from portal.web.render import language_of, page

FORM = common.FORM
ROLE_LABELS = common.ROLE_LABELS
STATE_LABELS = common.STATE_LABELS

MEANS_LABELS = common.MEANS_LABELS

#: What can be done with a booking: the label of its button, and whether it needs a permission beyond acting on bookings.
ACTIONS = {
    "delivered": {"label": N_("Mark as delivered"), "permission": Permission.ACT_ON_BOOKINGS, "confirm": N_("Mark this booking as delivered? A Vipps payment is charged now and the receipt is sent to the customer.")},
    "no_show": {"label": N_("Mark as no-show"), "permission": Permission.ACT_ON_BOOKINGS, "confirm": N_("Mark the customer as not having come? The no-show fee in the booking's terms is charged, the rest released.")},
    "cancel": {"label": N_("Cancel the booking"), "permission": Permission.ACT_ON_BOOKINGS, "confirm": N_("Cancel this booking? The customer is told at once, and everything reserved or paid is given back.")},
    "refund": {"label": N_("Refund"), "permission": Permission.REFUND, "confirm": N_("Refund part or all of what was charged? The customer gets a credit note.")},
    "move": {"label": N_("Move to another time"), "permission": Permission.ACT_ON_BOOKINGS, "confirm": N_("Choose the new time. The customer gets the change by SMS and email with an updated calendar file.")},
}


_day_param = common.day_param
_int_param = common.int_param
_base = common.base
_local_moment = common.local_moment


@get("/kontor/{slug:str}", name="bo_day")
async def day_page(request: Request, slug: str, dato: str | None = None, ressurs: str | None = None) -> object:
    wp = await access.workplace(request, slug)
    now = clock.now()
    today = clock.local_today(now)
    on = _day_param(dato, today)
    error = None
    if on is None:
        on, error = today, N_("That is not a date. Showing today.")
    resources = await views.resources(wp)
    only = _int_param(ressurs)
    if only is not None and only not in {r["id"] for r in resources}:
        raise NotFoundException()
    grid = await views.day(wp, on, now, only=only, visible=resources)
    return page(
        request,
        "pages/backoffice/day.html",
        block="calendar",
        **_base(wp),
        grid=grid,
        shown_day=on,
        today=today,
        previous=on - timedelta(days=1),
        next=on + timedelta(days=1),
        resources=resources,
        only=only,
        error=error,
        col_links=[f"/kontor/{slug}/uke?{urlencode({'ressurs': c.key, 'dato': on.isoformat()})}" for c in grid.columns],
    )


@get("/kontor/{slug:str}/uke", name="bo_week")
async def week_page(request: Request, slug: str, dato: str | None = None, ressurs: str | None = None) -> object:
    wp = await access.workplace(request, slug)
    now = clock.now()
    today = clock.local_today(now)
    on = _day_param(dato, today) or today
    resources = await views.resources(wp)
    if not resources:
        raise NotFoundException()
    chosen = _int_param(ressurs) or (wp.own_resource if wp.own_resource in {r["id"] for r in resources} else resources[0]["id"])
    if chosen not in {r["id"] for r in resources}:
        raise NotFoundException()
    grid = await views.week(wp, chosen, on, now, language_of(request))
    return page(
        request,
        "pages/backoffice/week.html",
        block="calendar",
        **_base(wp),
        grid=grid,
        shown_day=on,
        today=today,
        previous=on - timedelta(days=7),
        next=on + timedelta(days=7),
        resources=resources,
        chosen=chosen,
        chosen_name=next(r["name"] for r in resources if r["id"] == chosen),
        col_links=[f"/kontor/{slug}?{urlencode({'dato': c.key})}" for c in grid.columns],
    )


async def _order(wp: Workplace, order_id: int) -> dict:
    order = await views.order_of(wp, order_id)
    if order is None:
        raise NotFoundException()
    return order


async def _movable(wp: Workplace, order: dict) -> bool:
    try:
        await moves.movable(wp.actor, order["id"])
    except moves.NotAllowed:
        return False
    return True


async def _available(wp: Workplace, order: dict) -> list[str]:
    """The actions this user may take on this booking now (a refund only of money the portal took)."""
    confirmed = order["state"] == OrderState.CONFIRMED.value
    payment = await payments.payment_of_record(order["id"])
    refundable = bool(payment) and payment["captured_ore"] > payment["refunded_ore"]
    out = []
    for name, spec in ACTIONS.items():
        if not wp.may(spec["permission"]):
            continue
        if name in ("delivered", "no_show", "cancel", "move") and not confirmed:
            continue
        if name == "move" and not await _movable(wp, order):
            continue
        if name == "refund" and not refundable:
            continue
        out.append(name)
    return out


async def _order_page(request: Request, wp: Workplace, order: dict, *, status_code: int = 200, error: str | None = None, note_error: str | None = None) -> object:
    detail = await views.order_detail(wp, order)
    return page(
        request,
        "pages/backoffice/order.html",
        status_code=status_code,
        **_base(wp),
        order=order,
        **detail,
        notes=await orders_service.notes_of(order["id"], wp.supplier["id"]),
        actions={name: ACTIONS[name] for name in await _available(wp, order)},
        error=error,
        note_error=note_error,
        max_note=orders_service.MAX_NOTE,
        means_labels=MEANS_LABELS,
        **labels.context(),
        **await complaint_routes.order_context(order),
        first_day=clock.to_local(order["reservations"][0]["start"]).date().isoformat() if order["reservations"] else "",
    )


@get("/kontor/{slug:str}/ordre/{order_id:int}", name="bo_order")
async def order_page(request: Request, slug: str, order_id: int) -> object:
    wp = await access.workplace(request, slug)
    return await _order_page(request, wp, await _order(wp, order_id))


@get("/kontor/{slug:str}/ordre/{order_id:int}/{action:str}", name="bo_confirm")
async def confirm_page(request: Request, slug: str, order_id: int, action: str) -> object:
    wp = await access.workplace(request, slug)
    order = await _order(wp, order_id)
    # A refund's form opens even when nothing is left to refund (an old link): sending it says so.
    if action not in await _available(wp, order) and not (action == "refund" and wp.may(Permission.REFUND)):
        raise NotFoundException()
    if action == "move":
        return await desk_routes.move_page(request, wp, order)
    return page(request, "pages/backoffice/confirm.html", **_base(wp), order=order, action=action, spec=ACTIONS[action], errors={}, values={}, request_id=secrets.token_hex(8))


@post("/kontor/{slug:str}/ordre/{order_id:int}/{action:str}", name="bo_action")
async def action_post(request: Request, slug: str, order_id: int, action: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug)
    order = await _order(wp, order_id)
    now = clock.now()
    if action == "note":
        text = form_text(data, "text", orders_service.MAX_NOTE)
        if not text:
            return await _order_page(request, wp, order, status_code=422, note_error=N_("Write the note first."))
        if len(text) > orders_service.MAX_NOTE:
            return await _order_page(request, wp, order, status_code=422, note_error=N_("A note can be at most 2000 characters."))
        await orders_service.add_note(wp.actor, order_id, text, now)
        return Redirect(path=f"/kontor/{slug}/ordre/{order_id}#notes", status_code=303)
    if action not in ACTIONS or not wp.may(ACTIONS[action]["permission"]):
        raise NotFoundException()
    if action == "move":
        return await desk_routes.move_post(request, wp, order, data)
    errors: dict[str, str] = {}
    values = {"reason": form_text(data, "reason", 500), "amount": form_text(data, "amount", 20)}
    try:
        if action == "delivered":
            await settlement.mark_delivered(wp.actor, order_id, now)
        elif action == "no_show":
            await settlement.mark_no_show(wp.actor, order_id, now)
        elif action == "cancel":
            if not values["reason"]:
                errors["reason"] = N_("Say why, in a few words: the customer is told.")
            else:
                await settlement.supplier_cancel(wp.actor, order_id, now, reason=values["reason"])
        elif action == "refund":
            amount = parse_kroner(values["amount"])
            if amount is None or amount <= 0:
                errors["amount"] = N_("Enter an amount in kroner, like 150 or 150,50.")
            else:
                await settlement.refund(wp.actor, order_id, amount, now, request_id=form_text(data, "request_id", 32))
    except settlement.NotAllowed:
        errors["form"] = N_("That is not possible for this booking now.")
    if errors:
        return page(
            request, "pages/backoffice/confirm.html", status_code=422, **_base(wp), order=await _order(wp, order_id), action=action, spec=ACTIONS[action], errors=errors, values=values,
            request_id=form_text(data, "request_id", 32) or secrets.token_hex(8),
        )
    return Redirect(path=f"/kontor/{slug}/ordre/{order_id}", status_code=303)


@get("/kontor/{slug:str}/dokument/{name:str}", name="bo_document")
async def document_pdf(request: Request, slug: str, name: str) -> object:
    """One of the supplier's issued documents, for staff who may see its order."""
    wp = await access.workplace(request, slug)
    stem = name.removesuffix(".pdf")
    if not name.endswith(".pdf") or not (stem.isascii() and stem.isdigit()) or len(stem) > 12:
        raise NotFoundException()
    document = await documents.get(int(stem))
    if document is None or document.supplier_id != wp.supplier["id"] or document.order_id is None or await views.order_of(wp, document.order_id) is None:
        raise NotFoundException()
    content = await documents.pdf_of(document.id)
    if content is None:
        return page(request, "pages/backoffice/preparing.html", status_code=202, **_base(wp), headers={"Retry-After": "5"})
    return Response(content=content, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename_of(document)}"', "Cache-Control": "private, no-store"})


@get("/kontor/{slug:str}/hvorfor", name="bo_why")
async def why_page(request: Request, slug: str, tilbud: str | None = None, ressurs: str | None = None, tid: str | None = None) -> object:
    """Why a time is not offered, in the engine's words; a booked time names its booking."""
    wp = await access.workplace(request, slug)
    offerings = [o for o in await catalogue.supplier_offerings(wp.supplier["id"]) if o["kind"] == "appointment"]
    chosen = next((o for o in offerings if o["slug"] == tilbud), offerings[0] if offerings else None)
    ctx = await catalogue.offering_context(slug, chosen["slug"]) if chosen else None
    resources = [r for r in await views.resources(wp) if ctx and r["id"] in ctx.resource_ids]
    resource_id = _int_param(ressurs)
    if resource_id is None and resources:
        resource_id = wp.own_resource if wp.own_resource in {r["id"] for r in resources} else resources[0]["id"]
    if resource_id is not None and resource_id not in {r["id"] for r in resources}:
        raise NotFoundException()
    moment, reason, error, booked, blocked = None, None, False, None, None
    if tid:
        moment = _local_moment(tid)
        error = moment is None
    if moment is not None and ctx is not None and resource_id is not None:
        now = clock.now()
        reason = await appointments.explain(ctx, resource_id, moment, now)
        if reason is not None and reason.name in ("BOOKED", "FULL", "BUFFER"):
            booked = await views.booking_at(wp, resource_id, moment, ctx)
            if booked is None:
                end = moment + timedelta(minutes=ctx.rules.duration_min)
                blocked = next(iter(await desk.blocks_between(wp.supplier["id"], [resource_id], moment, end)), None)
    return page(
        request,
        "pages/backoffice/why.html",
        **_base(wp),
        offerings=offerings,
        offering=chosen,
        resources=resources,
        resource_id=resource_id,
        at=tid or "",
        moment=moment,
        reason=reason,
        reason_text=reason_text,
        error=error,
        booked=booked,
        blocked=blocked,
    )


def router() -> Router:
    """Every back-office route; a page that needs a login sends the visitor to it."""
    return Router(
        path="/",
        route_handlers=[*login_routes.ROUTES, *desk_routes.ROUTES, *operator_routes.ROUTES, *settings_routes.ROUTES, *schedule_routes.ROUTES, *team_routes.ROUTES, *customer_routes.ROUTES, *report_routes.ROUTES, *feed_routes.ROUTES, *withdrawal_routes.ROUTES, *complaint_routes.ROUTES, *news_routes.ROUTES, day_page, week_page, why_page, document_pdf, order_page, confirm_page, action_post],
        exception_handlers={access.LoginRequired: login_routes.login_required_handler},
    )

"""Vipps return page (polled with htmx), the webhook, cancelling a booking,
and the dev back office's booking actions. Handlers only parse and render."""

from __future__ import annotations

import logging
import secrets

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.booking import service as booking_service
from portal.booking.domain import Status as BookingStatus
from portal.booking.tables import Booking
from portal.catalogue.service import offering_context_by_id
from portal.lib import clock
from portal.lib.i18n import N_
from portal.payments import service
from portal.payments.domain import PaymentState
from portal.payments.vipps.client import VippsError
from portal.settings import load as load_settings
from portal.web.render import page

log = logging.getLogger("portal.payments")

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

#: Polling the return page: first look after 5 s, then every 2 s; slower once
#: Vipps asks us to (429), and slower still after a minute.
FIRST_POLL_SECONDS = 5
POLL_SECONDS = 2


async def _booking_for_return(signed: str) -> dict:
    hold_token = service.hold_token_from(signed)
    booking = await booking_service.get_by_hold_token(hold_token) if hold_token else None
    if booking is None:
        raise NotFoundException()
    return booking


async def _return_state(signed: str, *, read: bool) -> dict:
    """The booking and its payment as the server knows them; `read` asks Vipps first."""
    booking = await _booking_for_return(signed)
    payment = await service.latest_payment(booking["id"])
    backoff = False
    if read and payment and payment["state"] == PaymentState.CREATED.value and payment["redirect_url"]:
        try:
            await service.sync(payment["reference"], clock.now())
        except VippsError as exc:
            backoff = exc.status == 429
            log.info("return page: payment %s not read (%s)", payment["reference"], exc.status)
        booking = await booking_service.get_by_hold_token(booking["hold_token"])
        payment = await service.latest_payment(booking["id"])
    ctx = await offering_context_by_id(booking["offering"])
    nearest = []
    if payment and payment["outcome_applied"] == "hold_lost":
        # The time went to someone else: offer the ones closest to it.
        nearest = await booking_service.nearest_free(ctx, booking["start"], clock.now())
    return {
        "booking": booking,
        "payment": payment,
        "ctx": ctx,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "backoff": backoff,
        "nearest": nearest,
    }


def _booking_page(booking: dict) -> str | None:
    """Once the booking was confirmed, its own page tells what became of it and
    its money — also after it ended (an old return link in the history must
    not say "nothing is charged" about a booking that was charged)."""
    if not booking["manage_token"]:
        return None
    return f"/b/{booking['manage_token']}" + ("?new=1" if booking["status"] == BookingStatus.CONFIRMED.value else "")


def _waiting(state: dict) -> bool:
    payment = state["payment"]
    return bool(payment) and payment["state"] == PaymentState.CREATED.value and state["booking"]["status"] == BookingStatus.HELD.value


@get("/pay/{signed:str}", name="payment_return")
async def payment_return(request: Request, signed: str) -> object:
    """Where Vipps sends the customer back — maybe in another browser, with
    no session. Arriving here does not mean paid: the payment is read."""
    state = await _return_state(signed, read=True)
    target = _booking_page(state["booking"])
    if target:
        return Redirect(path=target, status_code=303)
    return page(
        request,
        "pages/payments/return.html",
        signed=signed,
        waiting=_waiting(state),
        poll_seconds=FIRST_POLL_SECONDS,
        attempt=0,
        **state,
    )


@get("/pay/{signed:str}/status", name="payment_status")
async def payment_status(request: Request, signed: str, n: int = 0) -> object:
    """The status block, polled by htmx until the payment is decided; then the
    browser is sent to the booking page."""
    state = await _return_state(signed, read=True)
    target = _booking_page(state["booking"])
    if target:
        return Response(content="", status_code=200, headers={"HX-Redirect": target})
    attempt = min(max(n, 0), 10_000) + 1
    delay = POLL_SECONDS * (4 if state["backoff"] else 1) * (3 if attempt > 30 else 1)
    return page(
        request,
        "pages/payments/return.html",
        block="status",
        signed=signed,
        waiting=_waiting(state),
        poll_seconds=delay,
        attempt=attempt,
        **state,
    )


@post("/hooks/vipps", name="vipps_webhook", exclude_from_csrf=True)
async def vipps_webhook(request: Request) -> Response:
    """Authenticate, store, answer 2xx fast. Forged or stale: 401, nothing changed."""
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        outcome = await service.take_webhook(path_and_query=path, headers=dict(request.headers), body=body, now=clock.now())
    except service.WebhookRefused as refused:
        log.warning("vipps webhook refused: %s", refused.reason)
        return Response(content={"error": "unauthorized"}, status_code=401)
    return Response(content={"status": outcome}, status_code=200)


# ---------------------------------------------------------------- the customer cancels


async def _managed(token: str) -> dict:
    booking = await booking_service.get_by_manage_token(token)
    if booking is None:
        raise NotFoundException()
    return booking


@get("/b/{token:str}/cancel", name="cancel_booking_page")
async def cancel_page(request: Request, token: str) -> object:
    """The separate confirm step: what cancelling now costs, and one button."""
    booking = await _managed(token)
    ctx = await offering_context_by_id(booking["offering"])
    now = clock.now()
    return page(
        request,
        "pages/payments/cancel.html",
        booking=booking,
        supplier=ctx.supplier,
        offering=ctx.offering,
        fee=service.cancellation_costs(booking, now),
        can_cancel=booking["status"] == BookingStatus.CONFIRMED.value and booking["start"] > now,
        payment=await service.payment_of_record(booking["id"]),
    )


@post("/b/{token:str}/cancel", name="cancel_booking")
async def cancel_booking(request: Request, token: str, data: dict = FORM) -> object:
    booking = await _managed(token)
    try:
        await service.customer_cancel(booking["id"], clock.now())
    except booking_service.NotAllowed:
        return Redirect(path=f"/b/{token}/cancel", status_code=303)
    return Redirect(path=f"/b/{token}?cancelled=1", status_code=303)


# ---------------------------------------------------------------- dev back office


ACTIONS = {
    "delivered": N_("Mark as delivered"),
    "no_show": N_("Mark as no-show"),
    "supplier_cancel": N_("Cancel the booking (seller)"),
    "refund": N_("Refund"),
}


async def _by_reference(reference: str) -> dict:
    if not load_settings().is_dev:
        raise NotFoundException()
    booking = await Booking.select().output(load_json=True).where(Booking.reference == reference.upper()).first()
    if booking is None:
        raise NotFoundException()
    return booking


async def _backoffice_context(booking: dict) -> dict:
    ctx = await offering_context_by_id(booking["offering"])
    payment = await service.payment_of_record(booking["id"])
    return {
        "booking": booking,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "payment": payment,
        "operations": await service.operations(payment["id"]) if payment else [],
        "events": await service.events_of(payment["id"]) if payment else [],
        "movements": await service.movements(booking["id"]),
        "actions": ACTIONS,
        "request_id": secrets.token_hex(8),
    }


@get("/dev/backoffice/{reference:str}", name="dev_backoffice_booking")
async def backoffice_booking(request: Request, reference: str) -> object:
    """For the supplier: one booking, its money and what can be done. Dev-only
    until the back office has logins."""
    booking = await _by_reference(reference)
    return page(request, "pages/payments/backoffice.html", error=None, **await _backoffice_context(booking))


@post("/dev/backoffice/{reference:str}", name="dev_backoffice_action")
async def backoffice_action(request: Request, reference: str, data: dict = FORM) -> object:
    booking = await _by_reference(reference)
    action = data.get("action")
    now = clock.now()
    error = None
    try:
        if action == "delivered":
            await service.mark_delivered(booking["id"], now)
        elif action == "no_show":
            await service.mark_no_show(booking["id"], now)
        elif action == "supplier_cancel":
            await service.supplier_cancel(booking["id"], now)
        elif action == "refund":
            amount = _parse_kroner(data.get("amount"))
            if amount is None:
                error = N_("Enter an amount in kroner, like 150 or 150,50.")
            else:
                await service.refund(booking["id"], amount, now, request_id=str(data.get("request_id") or ""))
        else:
            error = N_("Unknown action.")
    except booking_service.NotAllowed:
        error = N_("That is not possible for this booking now.")
    if error is None:
        return Redirect(path=f"/dev/backoffice/{booking['reference']}", status_code=303)
    booking = await Booking.select().output(load_json=True).where(Booking.id == booking["id"]).first()
    return page(request, "pages/payments/backoffice.html", status_code=422, error=error, **await _backoffice_context(booking))


def _parse_kroner(raw: object) -> int | None:
    """'150', '150,50', '1 234.5' → øre; None for anything else."""
    text = str(raw or "").strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not text or text.count(".") > 1:
        return None
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)) or len(whole) > 9:
        return None
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))

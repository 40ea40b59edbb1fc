"""The checkout, the customer's order page, the Vipps return page and
webhook, cancelling, and the dev back office's order actions. Handlers parse
input, call portal.sales (and the payment and identity use cases), render."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.complaints import service as complaints
from portal.documents import service as documents
from portal.documents.render import filename_of
from portal.identity import service as identity
from portal.identity.domain import Refusal
from portal.legal.cancellation import cancellation_terms_text
from portal.legal.terms import TERMS
from portal.legal.withdrawal import withdrawal_deadline, withdrawal_info
from portal.lib import clock
from portal.notify import service as notify
from portal.notify.domain import TOPIC_LABELS, Topic
from portal.notify.messages import NOT_ALLOWED_SMS
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import OrderState
from portal.outbox.domain import Status as RowStatus
from portal.payments import giftcards
from portal.payments import service as payments
from portal.payments.coupons import normalise_code
from portal.payments.domain import PaymentState
from portal.payments.pricing import Means, Quote
from portal.payments.vipps.client import VippsError
from portal.sales import checkout, receipts, settlement, withdrawal
from portal.sales.forms import parse_checkout
from portal.settings import load as load_settings
from portal.web.render import language_of, page
from portal.web.security import device_cookie, device_token_of, vipps_form_headers, visitor_of

log = logging.getLogger("portal.sales")

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

#: Polling the return page: first look after 5 s, then every 2 s; slower once
#: Vipps asks us to (429), and slower still after a minute.
FIRST_POLL_SECONDS = 5
POLL_SECONDS = 2


def customer_actor(request: Request, order: dict | None = None) -> actors.Actor:
    customer_id = order.get("customer") if order else None
    return actors.customer(visitor=visitor_of(request), customer_id=customer_id)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


# ---------------------------------------------------------------- the checkout


async def _checkout(token: str, now: datetime) -> checkout.Checkout:
    order = await orders.by_checkout_token(token)
    c = await checkout.checkout_of(order, now) if order else None
    if c is None:
        raise NotFoundException()
    return c


def _terms_context(c: checkout.Checkout) -> dict:
    """What every page of an order shows of its terms (L1, L4, L6)."""
    terms = c.order["terms"] or {}
    withdrawal_class = terms.get("withdrawal_class", c.ctx.offering["withdrawal_class"])
    context = {"withdrawal": withdrawal_info(withdrawal_class), "cancellation": None, "terms_of_use": TERMS}
    # L5: until when the right lasts (at checkout: if the contract is made now).
    context["withdrawal_until"] = withdrawal_deadline(c.order["contract_at"] or clock.now()) if withdrawal_class == "standard" else None
    if "cancel_free_hours" in terms:
        context["cancellation"] = cancellation_terms_text(int(terms.get("cancel_free_hours", 0)), int(terms.get("cancel_fee_percent", 0)), int(terms.get("cancel_fee_ore", 0)))
    return context


def _page_context(c: checkout.Checkout) -> dict:
    first = c.lines[0] if c.lines else None
    return {
        "order": c.order,
        "c": c,
        "lines": c.lines,
        "line_template": c.line_template,
        "kind": c.kind,
        "ctx": c.ctx,
        "supplier": c.ctx.supplier,
        "offering": c.ctx.offering,
        "needs_early_start": c.needs_early_start,
        "expired": not c.live,
        "consent_texts": checkout.CONSENT_TEXTS,
        "local_day": clock.to_local(first.starts_at).date() if first and first.starts_at else None,
        **_terms_context(c),
    }


async def _payment_context(c: checkout.Checkout, chosen: str, now: datetime, language: str) -> dict:
    """The ways to pay, the price as the pipeline makes it (with the order's
    coupon and gift card), and what is paid when — for the means chosen, or the first."""
    options = checkout.means_for(c)
    means = next((m for m in options if m.value == chosen), options[0])
    due = await checkout.payable(c, means, now, language)
    return {
        "means_options": options,
        "means_chosen": chosen if chosen in [m.value for m in options] else (options[0].value if len(options) == 1 else ""),
        "price": due.price,
        "coupon_error": due.coupon_error,
        "giftcard_error": due.giftcard_error,
        "giftcard_balance_ore": due.giftcard_balance_ore,
        "giftcard_payable": kinds.kind(c.kind).giftcard_payable,
        "payment_problem": None,
    }


async def _phone_state(order: dict, phone: str | None, device: dict | None) -> dict:
    """What the phone part of the checkout shows: verified, remembered, or the code sent."""
    verified = bool(phone) and checkout.phone_is_verified(order, phone)
    remembered = bool(phone) and device is not None and device["phone"] == phone
    sent = None
    if phone and not (verified or remembered):
        sent = await identity.latest_code_sent(phone=phone, purpose=checkout.CODE_PURPOSE, subject=order["checkout_token"])
    return {"phone_verified": verified, "phone_remembered": remembered, "code_sent": sent, "device": device}


def _checkout_headers(c: checkout.Checkout) -> dict[str, str] | None:
    """The checkout form (and every re-render or fragment of it) may be answered
    with a redirect to Vipps when the order can be paid with Vipps: its CSP says so."""
    return vipps_form_headers() if any(m is not Means.ONSITE for m in checkout.means_for(c)) else None


def _confirmed_redirect(order: dict) -> Redirect | None:
    if order["state"] != OrderState.HELD.value and order["state"] != OrderState.RELEASED.value and order["manage_token"]:
        return Redirect(path=f"/b/{order['manage_token']}", status_code=303)
    return None


@get("/checkout/{token:str}", name="checkout")
async def checkout_page(request: Request, token: str) -> object:
    now = clock.now()
    c = await _checkout(token, now)
    if (redirect := _confirmed_redirect(c.order)) is not None:
        return redirect
    device = await identity.device_customer(device_token_of(request), now)
    # A remembered device fills in what we know; the customer can change it.
    values = {"name": device["name"], "phone": device["phone"], "email": device["email"]} if device else {}
    phone = device["phone"] if device else None
    return page(
        request,
        "pages/sales/checkout.html",
        headers=_checkout_headers(c),
        values=values,
        errors={},
        **_page_context(c),
        **await _payment_context(c, "", now, language_of(request)),
        **await _phone_state(c.order, phone, device),
    )


async def _gone_page(request: Request, c: checkout.Checkout, gone: checkout.CapacityGone, now: datetime) -> object:
    """409: what the checkout held was just taken (or its time has passed), with what can be had instead."""
    kind = kinds.kind(c.kind)
    # The kind's context names some of the page's own (ctx, supplier, offering): one dict, the kind's win.
    context = {**_page_context(c), **await kind.gone_context(c.order, gone.reason, now)}
    return page(request, "pages/sales/gone.html", status_code=409, gone_template=kind.gone_template, **context)


@post("/checkout/{token:str}", name="confirm")
async def confirm_order(request: Request, token: str, data: dict = FORM) -> object:
    """One form, several buttons: `action=send_code` sends a code by SMS (the
    page, or with htmx only its phone block, comes back with a code field);
    `apply_coupon`/`remove_coupon`/`apply_giftcard`/`remove_giftcard` change
    the price block; anything else submits (portal.sales.checkout.submit)."""
    now = clock.now()
    c = await _checkout(token, now)
    if (redirect := _confirmed_redirect(c.order)) is not None:
        return redirect
    language = language_of(request)
    actor = customer_actor(request)
    device = await identity.device_customer(device_token_of(request), now)
    options = tuple(m.value for m in checkout.means_for(c))
    result = parse_checkout(data, needs_early_start=c.needs_early_start, means=options)
    action = data.get("action")

    if action in ("apply_coupon", "remove_coupon", "apply_giftcard", "remove_giftcard"):
        return await _code_action(request, actor, c, result, device, action, now)

    if action == "send_code":
        errors: dict[str, str] = {}
        status = 200
        if "phone" in result.errors:
            errors["phone"], status = result.errors["phone"], 422
        else:
            sent = await identity.request_code(
                actor, phone=result.phone_e164, purpose=checkout.CODE_PURPOSE, subject=token, client_ip=_client_ip(request),
                language=language, now=now,
            )
            if not sent.ok:
                errors["phone"] = identity.refusal_text(language, sent.refusal, sent.retry_at)
                status = 422 if sent.refusal is Refusal.COUNTRY else 429
        return page(
            request,
            "pages/sales/checkout.html",
            headers=_checkout_headers(c),
            block="phone_block",
            status_code=status,
            values=result.values,
            errors=errors,
            **_page_context(c),
            **await _payment_context(c, result.values.means, now, language),
            **await _phone_state(c.order, result.phone_e164, device),
        )

    submission = checkout.Submission(
        form=result,
        language=language,
        trusted_phone=device["phone"] if device else None,
        hold_minutes_for_payment=load_settings().vipps.payment_hold_minutes,
        client_ip=_client_ip(request),
    )
    outcome = await checkout.submit(actor, c, submission, now)
    if outcome.capacity_gone is not None:
        return await _gone_page(request, replace(c, order=outcome.order), outcome.capacity_gone, now)
    if outcome.redirect is not None:
        cookies = []
        confirmed = outcome.order
        if (
            confirmed["state"] == OrderState.CONFIRMED.value
            and result.values.remember_device
            and confirmed["customer"]
            and not (device and device["id"] == confirmed["customer"])
        ):
            cookies.append(device_cookie(await identity.remember_device(actor, confirmed["customer"], now)))
        return Redirect(path=outcome.redirect, status_code=303, cookies=cookies)
    current = replace(c, order=outcome.order)
    payment = await _payment_context(current, result.values.means, now, language)
    payment["payment_problem"] = outcome.problem
    return page(
        request,
        "pages/sales/checkout.html",
        headers=_checkout_headers(c),
        status_code=outcome.status,
        values=result.values,
        errors=outcome.errors,
        **_page_context(current),
        **payment,
        **await _phone_state(current.order, result.phone_e164, device),
    )


async def _code_action(request: Request, actor, c: checkout.Checkout, result, device: dict | None, action: str, now: datetime) -> object:
    """Apply or remove a coupon or gift card on the held order; the page (or,
    with htmx, the payment block) comes back with the new price or a clear reason."""
    language = language_of(request)
    errors: dict[str, str] = {}
    status = 200
    if action in ("apply_coupon", "remove_coupon"):
        code = ""
        if action == "apply_coupon":
            code = normalise_code(result.values.coupon) or result.values.coupon
            tried = await checkout.try_coupon(actor, c, code, now, language)
            if tried.problem is not None:
                errors["coupon"], status, code = tried.problem, tried.status, ""
        if c.order["state"] == OrderState.HELD.value:
            await checkout.set_codes(actor, c.order["id"], now, coupon=code)
    else:
        code = ""
        if action == "apply_giftcard":
            code = result.values.giftcard
            tried = await checkout.try_giftcard(actor, c, code, now, language, _client_ip(request))
            if tried.problem is not None:
                errors["giftcard"], status, code = tried.problem, tried.status, ""
        if c.order["state"] == OrderState.HELD.value:
            await checkout.set_codes(actor, c.order["id"], now, giftcard=giftcards.normalise_code(code) or code if code else "")
    current = replace(c, order=await orders.get(c.order["id"]))
    return page(
        request,
        "pages/sales/checkout.html",
        headers=_checkout_headers(c),
        block="payment_block",
        status_code=status,
        values=result.values,
        errors=errors,
        **_page_context(current),
        **await _payment_context(current, result.values.means, now, language),
        **await _phone_state(current.order, result.phone_e164, device),
    )


# ---------------------------------------------------------------- the order page


async def _managed(token: str, now: datetime) -> checkout.Checkout:
    order = await orders.by_manage_token(token)
    c = await checkout.checkout_of(order, now) if order else None
    if c is None:
        raise NotFoundException()
    return c


@get("/b/{token:str}", name="order")
async def order_page(request: Request, token: str, new: str | None = None) -> object:
    now = clock.now()
    c = await _managed(token, now)
    order = c.order
    price = Quote.from_json(order["quote"]) if order["quote"] else None
    payment = await payments.payment_of_record(order["id"]) if order["means"] != Means.ONSITE.value else None
    return page(
        request,
        "pages/sales/order.html",
        is_new=bool(new),
        price=price,
        payment=payment,
        may_cancel=await settlement.may_cancel(order, now),
        withdrawal_status=await withdrawal.status(order, now),
        documents=await receipts.listing(order),
        now=now,
        **await complaints.order_context(order, now),
        **_page_context(c),
    )


@get("/b/{token:str}/documents/{name:str}", name="order_document")
async def order_document(request: Request, token: str, name: str) -> object:
    """One of the order's documents (`<id>.pdf`) as its stored PDF (the same
    bytes every time); while the worker has not rendered it yet, a page that says so."""
    order = await orders.by_manage_token(token)
    stem = name.removesuffix(".pdf")
    if order is None or not name.endswith(".pdf") or not (stem.isascii() and stem.isdigit()) or len(stem) > 12:
        raise NotFoundException()
    document_id = int(stem)
    found = next((d for d in await receipts.of_order(order) if d.id == document_id), None)
    if found is None:
        raise NotFoundException()
    content = await documents.pdf_of(document_id)
    if content is None:
        return page(request, "pages/sales/preparing.html", status_code=202, order=order, headers={"Retry-After": "5"})
    return Response(
        content=content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename_of(found)}"', "Cache-Control": "private, max-age=3600"},
    )


def _entry(row: dict, now: datetime) -> dict:
    """One line of the customer's message log: what, how, to whom, and a status they can read."""
    status = row["status"]
    if status == RowStatus.SENT.value:
        state = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}.get(row["delivery_status"], "sent")
    elif status == RowStatus.PENDING.value:
        state = "scheduled" if row["attempts"] == 0 and row["next_attempt_at"] > now else "retrying" if row["attempts"] else "queued"
    elif status == RowStatus.SENDING.value:
        state = "queued"
    elif status == RowStatus.FAILED.value and row["last_error"].startswith(NOT_ALLOWED_SMS):
        state = "country"
    else:
        state = status  # failed | cancelled
    try:
        label = TOPIC_LABELS.get(Topic(row["topic"]), row["topic"])
    except ValueError:
        label = row["topic"]
    return {**row, "topic_label": label, "state": state}


@get("/b/{token:str}/messages", name="order_messages")
async def order_messages(request: Request, token: str) -> object:
    """The messages sent (or scheduled) about this order, for whoever holds its secret link."""
    order = await orders.by_manage_token(token)
    if order is None:
        raise NotFoundException()
    now = clock.now()
    entries = [_entry(row, now) for row in await notify.delivery_log(order["id"])]
    return page(request, "pages/sales/messages.html", order=order, entries=entries)


# ---------------------------------------------------------------- the customer cancels


@get("/b/{token:str}/cancel", name="cancel_order_page")
async def cancel_page(request: Request, token: str) -> object:
    """The separate confirm step: what cancelling now costs, and one button."""
    now = clock.now()
    c = await _managed(token, now)
    return page(
        request,
        "pages/sales/cancel.html",
        fee=await settlement.cancellation_costs(c.order, now),
        can_cancel=await settlement.may_cancel(c.order, now),
        payment=await payments.payment_of_record(c.order["id"]),
        **_page_context(c),
    )


@post("/b/{token:str}/cancel", name="cancel_order")
async def cancel_order(request: Request, token: str, data: dict = FORM) -> object:
    now = clock.now()
    c = await _managed(token, now)
    try:
        await settlement.customer_cancel(customer_actor(request, c.order), c.order["id"], now)
    except settlement.NotAllowed:
        return Redirect(path=f"/b/{token}/cancel", status_code=303)
    return Redirect(path=f"/b/{token}?cancelled=1", status_code=303)


# ---------------------------------------------------------------- back from Vipps


async def _order_for_return(signed: str) -> dict:
    checkout_token = payments.checkout_token_from(signed)
    order = await orders.by_checkout_token(checkout_token) if checkout_token else None
    if order is None:
        raise NotFoundException()
    return order


async def _return_state(request: Request, signed: str, *, read: bool) -> dict:
    """The order and its payment as the server knows them; `read` asks Vipps first."""
    order = await _order_for_return(signed)
    payment = await payments.latest_payment(order["id"])
    backoff = False
    now = clock.now()
    if read and payment and payment["state"] == PaymentState.CREATED.value and payment["redirect_url"]:
        try:
            await payments.sync(customer_actor(request, order), payment["reference"], now)
        except VippsError as exc:
            backoff = exc.status == 429
            log.info("return page: payment %s not read (%s)", payment["reference"], exc.status)
        order = await orders.get(order["id"])
        payment = await payments.latest_payment(order["id"])
    c = await checkout.checkout_of(order, now)
    gone: dict = {}
    if payment and payment["outcome_applied"] == "hold_lost":
        # What the order held went to someone else: offer what is closest to it.
        gone = await kinds.kind(c.kind).gone_context(order, None, now)
    return {
        **_page_context(c),
        "payment": payment,
        "backoff": backoff,
        "nearest": gone.get("nearest", []),
    }


def _order_page_of(order: dict) -> str | None:
    """Once the order was confirmed, its own page tells what became of it and
    its money — also after it ended (an old return link in the history must
    not say "nothing is charged" about an order that was charged)."""
    if not order["manage_token"]:
        return None
    return f"/b/{order['manage_token']}" + ("?new=1" if order["state"] == OrderState.CONFIRMED.value else "")


def _waiting(state: dict) -> bool:
    payment = state["payment"]
    return bool(payment) and payment["state"] == PaymentState.CREATED.value and state["order"]["state"] == OrderState.HELD.value


@get("/pay/{signed:str}", name="payment_return")
async def payment_return(request: Request, signed: str) -> object:
    """Where Vipps sends the customer back — maybe in another browser, with
    no session. Arriving here does not mean paid: the payment is read."""
    state = await _return_state(request, signed, read=True)
    target = _order_page_of(state["order"])
    if target:
        return Redirect(path=target, status_code=303)
    return page(request, "pages/sales/return.html", signed=signed, waiting=_waiting(state), poll_seconds=FIRST_POLL_SECONDS, attempt=0, **state)


@get("/pay/{signed:str}/status", name="payment_status")
async def payment_status(request: Request, signed: str, n: int = 0) -> object:
    """The status block, polled by htmx until the payment is decided; then the
    browser is sent to the order page."""
    state = await _return_state(request, signed, read=True)
    target = _order_page_of(state["order"])
    if target:
        return Response(content="", status_code=200, headers={"HX-Redirect": target})
    attempt = min(max(n, 0), 10_000) + 1
    delay = POLL_SECONDS * (4 if state["backoff"] else 1) * (3 if attempt > 30 else 1)
    return page(
        request, "pages/sales/return.html", block="status", signed=signed, waiting=_waiting(state), poll_seconds=delay, attempt=attempt, **state
    )


WEBHOOK_ACTOR = actors.system("vipps-webhook")


@post("/hooks/vipps", name="vipps_webhook", exclude_from_csrf=True)
async def vipps_webhook(request: Request) -> Response:
    """Authenticate, store, answer 2xx fast. Forged or stale: 401, nothing changed."""
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        outcome = await payments.take_webhook(WEBHOOK_ACTOR, path_and_query=path, headers=dict(request.headers), body=body, now=clock.now())
    except payments.WebhookRefused as refused:
        log.warning("vipps webhook refused: %s", refused.reason)
        return Response(content={"error": "unauthorized"}, status_code=401)
    return Response(content={"status": outcome}, status_code=200)


# ---------------------------------------------------------------- dev back office


ROUTES = [
    checkout_page,
    confirm_order,
    order_page,
    order_document,
    order_messages,
    cancel_page,
    cancel_order,
    payment_return,
    payment_status,
    vipps_webhook,
]

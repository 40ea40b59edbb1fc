"""Buying gift cards, and the public balance page. Handlers parse, call
portal.kinds.giftcard.service, render."""

from __future__ import annotations

from datetime import datetime

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.catalogue.service import OfferingContext, offering_context
from portal.kinds.giftcard import service
from portal.kinds.giftcard.domain import PurchaseInput, parse_purchase
from portal.legal.withdrawal import withdrawal_info
from portal.lib import clock
from portal.lib.i18n import N_
from portal.orders import service as orders
from portal.payments import giftcards
from portal.payments.giftcards import CardKind, ValueKind
from portal.settings import load as load_settings
from portal.web.render import language_of, page
from portal.web.security import new_visitor, visitor_of

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


async def _context(supplier_slug: str, offering_slug: str) -> OfferingContext:
    ctx = await offering_context(supplier_slug, offering_slug)
    if ctx is None or ctx.offering["kind"] != service.KIND or not ctx.offering["active"]:
        raise NotFoundException()
    return ctx


async def _page_context(ctx: OfferingContext, now: datetime, language: str) -> dict:
    try:
        offer = await service.offer_of(ctx.offering)
    except service.NotForSale:
        raise NotFoundException() from None
    title = await service.service_title(offer)
    last_day = giftcards.last_valid_day(now, offer.validity_months)
    kind = CardKind.SERVICE if offer.value_kind is ValueKind.SERVICE else CardKind.VALUE
    terms = giftcards.TERMS_TEXT[kind]
    return {
        "ctx": ctx,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "offer": offer,
        "service_title": title,
        "last_day": last_day,
        "validity_stated": offer.validity_months is not None,
        "card_terms": terms,
        "card_terms_args": {"date": clock.fmt_date(last_day, language), "supplier": ctx.supplier["name"], "service": title},
        "withdrawal": withdrawal_info("standard"),
        "today": clock.local_today(now),
        "takes_vipps": "vipps" in (ctx.supplier["payment_methods"] or []),
    }


@get("/s/{supplier_slug:str}/{offering_slug:str}/giftcard", name="giftcard_offering")
async def giftcard_page(request: Request, supplier_slug: str, offering_slug: str) -> object:
    ctx = await _context(supplier_slug, offering_slug)
    now = clock.now()
    return page(
        request, "pages/giftcard/offering.html", values=PurchaseInput(), errors={}, **await _page_context(ctx, now, language_of(request))
    )


@post("/s/{supplier_slug:str}/{offering_slug:str}/giftcard", name="giftcard_buy")
async def giftcard_buy(request: Request, supplier_slug: str, offering_slug: str, data: dict = FORM) -> object:
    ctx = await _context(supplier_slug, offering_slug)
    now = clock.now()
    language = language_of(request)
    context = await _page_context(ctx, now, language)
    bought = parse_purchase(data, context["offer"], clock.local_today(now))
    if not context["takes_vipps"]:
        bought.errors["form"] = giftcards.Message(N_("This seller does not sell gift cards online right now."))
    if not bought.ok:
        errors = {k: (v.text(language) if isinstance(v, giftcards.Message) else v) for k, v in bought.errors.items()}
        return page(request, "pages/giftcard/offering.html", status_code=422, values=bought.values, errors=errors, **context)
    visitor = visitor_of(request)
    cookies = []
    if visitor is None:
        visitor, visitor_cookie = new_visitor()
        cookies.append(visitor_cookie)
    order = await service.purchase(actors.customer(visitor=visitor), ctx, bought, visitor, now, load_settings().hold_minutes)
    return Redirect(path=f"/checkout/{order['checkout_token']}", status_code=303, cookies=cookies)


@get("/gavekort", name="giftcard_balance")
async def balance_page(request: Request) -> object:
    return page(request, "pages/giftcard/balance.html", code="", result=None, error=None)


@post("/gavekort", name="giftcard_balance_check")
async def balance_check(request: Request, data: dict = FORM) -> object:
    raw = str(data.get("code") or "")[:60] if isinstance(data.get("code"), str) else ""
    visitor = visitor_of(request) or ""
    ip = request.client.host if request.client else ""
    now = clock.now()
    result = await service.check_balance(actors.customer(visitor=visitor or None), raw, visitor=visitor, ip=ip, now=now)
    language = language_of(request)
    if result.card is None:
        status = 429 if result.refusal is giftcards.Refusal.TOO_MANY_TRIES else 422
        return page(request, "pages/giftcard/balance.html", status_code=status, code=raw, result=None, error=result.message.text(language))
    card = result.card
    return page(
        request,
        "pages/giftcard/balance.html",
        code=giftcards.masked(card.code_last4),
        result={
            "card": card,
            "supplier_name": result.supplier_name,
            "service_title": result.service_title,
            "last_day": giftcards.expiry_day(card.valid_until),
            "expired": card.valid_until <= now,
            "withdrawn": card.state is giftcards.CardState.WITHDRAWN,
        },
        error=None,
    )


async def _gift_order(token: str) -> dict:
    order = await orders.by_manage_token(token)
    if order is None or service.KIND not in await orders.kinds_of(order["id"]):
        raise NotFoundException()
    return order


async def _withdraw_context(order: dict, now: datetime, language: str) -> dict:
    may, why, deadline = await service.withdrawal_state(order, now)
    cards = await service.cards_of(order["id"])
    return {
        "order": order,
        "may_withdraw": may,
        "why_not": why.text(language) if why else None,
        "deadline": deadline,
        "cards": cards,
        "refund_ore": sum(c.initial_ore for c in cards),
        "masked": giftcards.masked,
    }


@get("/b/{token:str}/giftcards/withdraw", name="giftcard_withdraw_page")
async def withdraw_page(request: Request, token: str) -> object:
    """The separate confirm step of withdrawing from an unused gift card purchase."""
    order = await _gift_order(token)
    return page(request, "pages/giftcard/withdraw.html", error=None, **await _withdraw_context(order, clock.now(), language_of(request)))


@post("/b/{token:str}/giftcards/withdraw", name="giftcard_withdraw")
async def withdraw_purchase(request: Request, token: str, data: dict = FORM) -> object:
    order = await _gift_order(token)
    now = clock.now()
    language = language_of(request)
    try:
        await service.withdraw(actors.customer(visitor=visitor_of(request), customer_id=order["customer"]), order["id"], now)
    except service.WithdrawalNotPossible as refused:
        return page(
            request, "pages/giftcard/withdraw.html", status_code=409, error=refused.message.text(language),
            **await _withdraw_context(await orders.get(order["id"]), now, language),
        )
    return Redirect(path=f"/b/{token}?withdrawn=1", status_code=303)


ROUTES = [giftcard_page, giftcard_buy, balance_page, balance_check, withdraw_page, withdraw_purchase]

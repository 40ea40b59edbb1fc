"""“Mine bookinger”: log in with mobile number + SMS code, see every booking
across suppliers with its private link, forget remembered devices. The
customer's data (export, erasure) is portal.account.rights_routes."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.response import Redirect

from portal.account import rights, rights_routes
from portal.audit import domain as actors
from portal.identity import service as identity
from portal.identity.domain import Refusal
from portal.lib import clock
from portal.sales.forms import phone_error
from portal.web.render import language_of, page
from portal.web.security import (
    ACCOUNT_COOKIE,
    DEVICE_COOKIE,
    account_cookie,
    account_of,
    device_token_of,
    expired_cookie,
    visitor_of,
)

CODE_PURPOSE = "login"
FORM_ROUTE = "/mine"


@get("/mine", name="mine")
async def mine(request: Request) -> object:
    now = clock.now()
    customer_id = account_of(request)
    customer = await identity.customer_by_id(customer_id) if customer_id else None
    if customer is None:
        device = await identity.device_customer(device_token_of(request), now)
        return page(request, "pages/account/mine.html", customer=None, step="phone", values={"phone": device["phone"] if device else ""}, errors={})
    bookings = await rights.bookings(customer["id"])
    return page(
        request,
        "pages/account/mine.html",
        customer=customer,
        upcoming=[b for b in bookings if rights.is_upcoming(b, now)],
        past=[b for b in bookings if not rights.is_upcoming(b, now)],
        device_remembered=device_token_of(request) is not None,
        values={},
        errors={},
    )


@post("/mine/code", name="mine_code")
async def mine_code(request: Request) -> object:
    data = await request.form()
    raw = str(data.get("phone", ""))[:40]
    language = language_of(request)
    phone, problem = phone_error(raw.strip())
    if problem:
        return page(request, "pages/account/mine.html", status_code=422, customer=None, step="phone", values={"phone": raw}, errors={"phone": problem})
    now = clock.now()
    sent = await identity.request_code(
        actors.customer(visitor=visitor_of(request)),
        phone=phone, purpose=CODE_PURPOSE, subject=phone, client_ip=request.client.host if request.client else "", language=language, now=now
    )
    if not sent.ok:
        status = 422 if sent.refusal is Refusal.COUNTRY else 429
        return page(
            request, "pages/account/mine.html", status_code=status, customer=None, step="phone",
            values={"phone": raw}, errors={"phone": identity.refusal_text(language, sent.refusal, sent.retry_at)},
        )
    return page(request, "pages/account/mine.html", customer=None, step="code", values={"phone": phone}, errors={}, expires_at=sent.expires_at)


@post("/mine/login", name="mine_login")
async def mine_login(request: Request) -> object:
    data = await request.form()
    language = language_of(request)
    phone, problem = phone_error(str(data.get("phone", ""))[:40].strip())
    if problem:
        return page(request, "pages/account/mine.html", status_code=422, customer=None, step="phone", values={}, errors={"phone": problem})
    now = clock.now()
    checked = await identity.check_code(actors.customer(visitor=visitor_of(request)), phone=phone, purpose=CODE_PURPOSE, subject=phone, code=str(data.get("code", ""))[:20], now=now)
    if not checked.ok:
        return page(
            request, "pages/account/mine.html", status_code=422, customer=None, step="code",
            values={"phone": phone}, errors={"code": identity.refusal_text(language, checked.refusal, None)},
        )
    customer = await identity.customer_by_phone(phone)
    if customer is None:
        # A verified number with no bookings yet: nothing to show, say so.
        return page(request, "pages/account/mine.html", customer=None, step="none", values={"phone": phone}, errors={})
    return Redirect(path=FORM_ROUTE, status_code=303, cookies=[account_cookie(customer["id"])])


@post("/mine/logout", name="mine_logout")
async def mine_logout() -> Redirect:
    return Redirect(path=FORM_ROUTE, status_code=303, cookies=[expired_cookie(ACCOUNT_COOKIE)])


@post("/mine/forget-devices", name="mine_forget_devices")
async def mine_forget_devices(request: Request) -> Redirect:
    """Revoke every remembered device of this customer (this one included)."""
    customer_id = account_of(request)
    if customer_id:
        await identity.forget_all_devices(actors.customer(customer_id=customer_id), customer_id, clock.now())
    return Redirect(path=f"{FORM_ROUTE}?forgotten=1", status_code=303, cookies=[expired_cookie(DEVICE_COOKIE)])


ROUTES = [mine, mine_code, mine_login, mine_logout, mine_forget_devices, *rights_routes.ROUTES]

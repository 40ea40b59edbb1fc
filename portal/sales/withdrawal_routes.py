"""The customer's "Withdraw from the contract here" (angrerett, L10): a page
with name, order and contact filled in, a separate "Confirm withdrawal"
step, then the withdrawal (portal.sales.withdrawal). Works without
JavaScript: plain posts, a 303 to the order page at the end."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.orders import service as orders
from portal.sales import withdrawal
from portal.web.render import language_of, page
from portal.web.security import visitor_of

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
TEMPLATE = "pages/sales/withdraw.html"


async def _order(token: str) -> dict:
    order = await orders.by_manage_token(token)
    if order is None or "appointment" not in await orders.kinds_of(order["id"]):
        raise NotFoundException()
    return order


def _values(order: dict, data: dict | None = None) -> dict:
    if data is None:
        return {"name": order["customer_name"], "contact": order["email"] or order["phone"]}
    return {"name": form_text(data, "name", 200), "contact": form_text(data, "contact", 254)}


def _errors(values: dict) -> dict:
    errors = {}
    if not values["name"]:
        errors["name"] = N_("Enter your name.")
    if not values["contact"]:
        errors["contact"] = N_("Enter an email address or a mobile number we can reach you at.")
    return errors


async def _page(request: Request, order: dict, *, step: str = "details", values: dict | None = None, errors: dict | None = None, error: str | None = None, status_code: int = 200):
    now = clock.now()
    status = await withdrawal.status(order, now)
    return page(
        request,
        TEMPLATE,
        status_code=status_code,
        order=order,
        status=status,
        period_over=bool(status.deadline) and clock.local_today(now) > status.deadline,
        services=await withdrawal.services_of(order),
        step=step,
        values=values or _values(order),
        errors=errors or {},
        error=error,
    )


@get("/b/{token:str}/angre", name="withdraw_page")
async def withdraw_page(request: Request, token: str) -> object:
    return await _page(request, await _order(token))


@post("/b/{token:str}/angre", name="withdraw_post")
async def withdraw_post(request: Request, token: str, data: dict = FORM) -> object:
    """First post: the details checked, then the separate confirm step. With
    `confirm`: the withdrawal itself."""
    order = await _order(token)
    values = _values(order, data)
    errors = _errors(values)
    if errors:
        return await _page(request, order, values=values, errors=errors, status_code=422)
    if data.get("confirm") != "yes":
        return await _page(request, order, step="confirm", values=values)
    actor = actors.customer(visitor=visitor_of(request), customer_id=order["customer"])
    try:
        await withdrawal.withdraw(actor, order["id"], clock.now(), name=values["name"], contact=values["contact"], via="online")
    except withdrawal.Refused as refused:
        return await _page(request, await orders.get(order["id"]), values=values, error=refused.text(language_of(request)), status_code=409)
    return Redirect(path=f"/b/{token}?angret=1", status_code=303)


ROUTES = [withdraw_page, withdraw_post]

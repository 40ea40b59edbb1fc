"""The right of withdrawal in the back office (L8, L10): register a
withdrawal that came another way (an email, the paper form) — it gets the
same acknowledgement as one made on the order page — and, after a
withdrawal that followed an early start, state the part delivered."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.backoffice import access, common, views
from portal.backoffice.access import Workplace
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.lib.money import parse_kroner
from portal.sales import withdrawal
from portal.web.render import language_of, page

FORM = common.FORM
TEMPLATE = "pages/backoffice/withdrawal.html"

#: How a withdrawal can reach the supplier (the order page's own is "online").
VIA_CHOICES = {"email": N_("By email"), "paper": N_("On the withdrawal form, on paper"), "other": N_("Another clear message")}


async def _order(wp: Workplace, order_id: int) -> dict:
    order = await views.order_of(wp, order_id)
    if order is None:
        raise NotFoundException()
    return order


async def _page(request: Request, wp: Workplace, order: dict, *, values: dict | None = None, errors: dict | None = None, status_code: int = 200) -> object:
    now = clock.now()
    status = await withdrawal.status(order, now)
    defaults = {
        "received_at": clock.to_local(now).strftime("%Y-%m-%dT%H:%M"),
        "via": "email",
        "name": order["customer_name"],
        "contact": order["email"] or order["phone"],
        "amount": "",
    }
    return page(
        request,
        TEMPLATE,
        status_code=status_code,
        **common.base(wp),
        order=order,
        status=status,
        services=await withdrawal.services_of(order),
        via_choices=VIA_CHOICES,
        may_settle=wp.may(Permission.REFUND),
        values={**defaults, **(values or {})},
        errors=errors or {},
    )


@get("/kontor/{slug:str}/angring/{order_id:int}", name="bo_withdrawal")
async def withdrawal_page(request: Request, slug: str, order_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    return await _page(request, wp, await _order(wp, order_id))


@post("/kontor/{slug:str}/angring/{order_id:int}", name="bo_withdrawal_post")
async def withdrawal_post(request: Request, slug: str, order_id: int, data: dict = FORM) -> object:
    """`action=register`: a withdrawal received another way; `action=settle`: the part delivered."""
    wp = await access.workplace(request, slug, Permission.ACT_ON_BOOKINGS)
    await _order(wp, order_id)  # another supplier's (or another calendar's) booking: 404
    now = clock.now()
    action = form_text(data, "action", 20)
    values = {k: form_text(data, k, 254) for k in ("received_at", "via", "name", "contact", "amount")}
    errors: dict[str, str] = {}
    try:
        if action == "settle":
            if not wp.may(Permission.REFUND):
                raise NotFoundException()
            amount = parse_kroner(values["amount"])
            if amount is None or amount < 0:
                errors["amount"] = N_("Enter an amount in kroner, like 150 or 150,50.")
            else:
                await withdrawal.settle_delivered_part(wp.actor, order_id, amount, now)
        elif action == "register":
            received = common.local_moment(values["received_at"])
            if received is None:
                errors["received_at"] = N_("Enter the date and time the withdrawal was received.")
            if values["via"] not in VIA_CHOICES:
                errors["via"] = N_("Choose how the withdrawal came.")
            if not values["name"]:
                errors["name"] = N_("Enter the customer's name.")
            if not errors:
                await withdrawal.withdraw(wp.actor, order_id, now, name=values["name"], contact=values["contact"], via=values["via"], received_at=received)
        else:
            raise NotFoundException()
    except withdrawal.Refused as refused:
        errors["form"] = refused.text(language_of(request))
    if errors:
        return await _page(request, wp, await _order(wp, order_id), values=values, errors=errors, status_code=422)
    return Redirect(path=f"/kontor/{slug}/angring/{order_id}", status_code=303)


ROUTES = [withdrawal_page, withdrawal_post]

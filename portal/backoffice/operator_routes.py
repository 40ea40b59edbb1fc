"""The portal operator's page: every supplier, listed or not, and the two
things only the operator does with one — approve it (listed for customers)
and suspend it (hidden at once in every process). Each with a confirm step;
anyone who is not an operator gets 404."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.backoffice import access
from portal.backoffice.common import FORM
from portal.catalogue import onboarding
from portal.catalogue.tables import Supplier
from portal.lib import clock
from portal.lib.i18n import N_
from portal.web.render import page

OPERATOR_PATH = "/kontor/drift"
ACTIONS = {
    "godkjenn": {"label": N_("Approve and list"), "confirm": N_("List %(name)s for customers? Its offerings can be found and booked at once."), "listed": True},
    "steng": {"label": N_("Suspend"), "confirm": N_("Hide %(name)s from customers? Nobody can book it until it is approved again. Bookings already made are kept."), "listed": False},
}


async def _operator(request: Request):
    user = await access.logged_in(request)
    if not user.operator:
        raise NotFoundException()
    return user


def _actor(user) -> actors.Actor:
    return actors.Actor(actors.ActorKind.OPERATOR, str(user.account_id), label=user.name or user.email)


async def _supplier(slug: str) -> dict:
    row = await Supplier.select(Supplier.id, Supplier.slug, Supplier.name, Supplier.legal_name, Supplier.org_number, Supplier.town, Supplier.active).where(Supplier.slug == slug).first()
    if row is None:
        raise NotFoundException()
    return row


@get(OPERATOR_PATH, name="operator_home")
async def operator_page(request: Request, q: str | None = None) -> object:
    user = await _operator(request)
    rows = await Supplier.select(Supplier.id, Supplier.slug, Supplier.name, Supplier.legal_name, Supplier.org_number, Supplier.town, Supplier.active, Supplier.created_at).order_by(Supplier.active).order_by(Supplier.name)
    text = (q or "").strip().lower()[:100]
    if text:
        rows = [r for r in rows if text in r["name"].lower() or text in r["legal_name"].lower() or text in r["org_number"] or text in r["town"].lower()]
    return page(request, "pages/backoffice/operator.html", user=user, suppliers=rows, q=text, actions=ACTIONS)


@get(OPERATOR_PATH + "/{slug:str}/{action:str}", name="operator_confirm")
async def operator_confirm(request: Request, slug: str, action: str) -> object:
    user = await _operator(request)
    if action not in ACTIONS:
        raise NotFoundException()
    return page(request, "pages/backoffice/operator_confirm.html", user=user, supplier=await _supplier(slug), action=action, spec=ACTIONS[action])


@post(OPERATOR_PATH + "/{slug:str}/{action:str}", name="operator_act")
async def operator_act(request: Request, slug: str, action: str, data: dict = FORM) -> object:
    user = await _operator(request)
    if action not in ACTIONS:
        raise NotFoundException()
    await _supplier(slug)
    use = onboarding.approve if ACTIONS[action]["listed"] else onboarding.suspend
    await use(_actor(user), slug, clock.now())
    return Redirect(path=OPERATOR_PATH, status_code=303)


ROUTES = [operator_page, operator_confirm, operator_act]

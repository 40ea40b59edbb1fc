"""Calendar feeds and the morning agenda in the back office (`/kontor/{slug}/kalender`),
and the feed itself (`/kalender/<token>.ics`: no login, the token is the key).

A new address is shown once: the form's answer redirects to the page with
the token in a short-lived, signed, HttpOnly cookie that the page reads and
clears (only the token's hash is stored, so it cannot be shown again later).
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from litestar import Request, get, post, route
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Response

from portal.backoffice import access
from portal.calendarfeed import domain
from portal.calendarfeed import service as feeds
from portal.catalogue.tables import Resource
from portal.lib import clock
from portal.lib.forms import form_text
from portal.settings import load as load_settings
from portal.web.render import page
from portal.web.security import cookie, expired_cookie

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
SHOWN_COOKIE = "pkf"
SHOWN_SECONDS = 300
SCOPES = ("own", "supplier")


def _shown_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(load_settings().secret_key, salt="feed-shown")


def _feed_url(token: str) -> str:
    return f"{load_settings().base_url}/kalender/{token}.ics"


async def _just_made(request: Request, wp: access.Workplace) -> dict:
    """{scope: (https url, webcal url)} of the address made a moment ago, if it is still live."""
    raw = request.cookies.get(SHOWN_COOKIE)
    if not raw:
        return {}
    try:
        value = _shown_serializer().loads(raw, max_age=SHOWN_SECONDS)
    except BadSignature:
        return {}
    if not isinstance(value, dict) or value.get("scope") not in SCOPES or not isinstance(value.get("token"), str):
        return {}
    scope, token = value["scope"], value["token"]
    account_id = None if scope == "supplier" else wp.user.account_id
    if value.get("supplier") != wp.supplier["id"] or not await feeds.is_live(token, wp.supplier["id"], account_id):
        return {}
    url = _feed_url(token)
    return {scope: (url, domain.webcal(url))}


@get("/kontor/{slug:str}/kalender", name="bo_feeds")
async def feeds_page(request: Request, slug: str) -> object:
    wp = await access.workplace(request, slug)
    current = await feeds.feeds_of(wp.supplier["id"], wp.user.account_id)
    resource = None
    if wp.own_resource is not None:
        resource = await Resource.select(Resource.name).where((Resource.id == wp.own_resource) & (Resource.supplier == wp.supplier["id"])).first()
    response = page(
        request,
        "pages/backoffice/feeds/page.html",
        wp=wp,
        feeds=current,
        own_calendar=resource["name"] if resource else None,
        manages_supplier=domain.may_manage_supplier_feed(wp.role),
        chooses_phone=domain.may_choose_phone(wp.role),
        agenda=await feeds.agenda_wanted(wp.user.account_id, wp.supplier["id"]),
        agenda_whole=domain.sees_all(wp.role),
        new=await _just_made(request, wp),
        headers={"Cache-Control": "private, no-store"},
    )
    if SHOWN_COOKIE in request.cookies:
        response.set_cookie(expired_cookie(SHOWN_COOKIE))
    return response


@post("/kontor/{slug:str}/kalender", name="bo_feeds_post")
async def feeds_post(request: Request, slug: str, data: dict = FORM) -> object:
    """One form per button: make a new address, stop a feed, the phone-number choice, the agenda."""
    wp = await access.workplace(request, slug)
    action = form_text(data, "action", 20)
    scope = form_text(data, "scope", 20) or "own"
    if scope not in SCOPES:
        raise NotFoundException()
    account_id = None if scope == "supplier" else wp.user.account_id
    now = clock.now()
    response = Redirect(path=f"/kontor/{slug}/kalender#{'agenda' if action == 'agenda' else scope}", status_code=303)
    try:
        if action == "create":
            token = await feeds.create_feed(wp.actor, supplier_id=wp.supplier["id"], account_id=account_id, now=now)
            shown = _shown_serializer().dumps({"scope": scope, "token": token, "supplier": wp.supplier["id"]})
            response.set_cookie(cookie(SHOWN_COOKIE, shown, max_age=SHOWN_SECONDS))
        elif action == "revoke":
            await feeds.revoke_feed(wp.actor, supplier_id=wp.supplier["id"], account_id=account_id, now=now)
        elif action == "phone":
            await feeds.set_phone(wp.actor, supplier_id=wp.supplier["id"], account_id=account_id, include_phone=bool(form_text(data, "include_phone", 5)), now=now)
        elif action == "agenda":
            await feeds.choose_agenda(wp.actor, supplier_id=wp.supplier["id"], account_id=wp.user.account_id, wanted=bool(form_text(data, "wanted", 5)), now=now)
        else:
            raise NotFoundException()
    except feeds.NotAllowed:
        raise NotFoundException() from None
    return response


@route("/kalender/{name:str}", http_method=["GET", "HEAD"], name="calendar_feed", exclude_from_csrf=True)
async def feed_file(name: str) -> Response:
    """The feed a calendar app subscribes to (HEAD too: some apps ask first); 404 for an unknown or stopped address."""
    token = domain.token_of(name)
    body = await feeds.feed_calendar(token, clock.now()) if token else None
    if body is None:
        raise NotFoundException()
    return Response(content=body, media_type="text/calendar", headers={"Cache-Control": "private, max-age=300"})


ROUTES = [feeds_page, feeds_post, feed_file]

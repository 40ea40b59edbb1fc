"""News to customers who said yes (`/kontor/{slug}/nyheter`, owners only; L28):
write a message, see how many take it, send it through the outbox (once a day)."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from portal.backoffice import access
from portal.identity import marketing
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.web.render import page

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
TEMPLATE = "pages/backoffice/news.html"


def parse_news(data: dict) -> tuple[marketing.News, dict[str, str]]:
    """The form's news and its field messages (msgids)."""
    subject, text = form_text(data, "subject", marketing.MAX_SUBJECT), form_text(data, "text", marketing.MAX_TEXT)
    news = marketing.News(subject=subject, text=text, email=data.get("email") == "on", sms=data.get("sms") == "on")
    errors = {}
    if news.email and not subject:
        errors["subject"] = N_("Write a subject for the email.")
    elif len(subject) > marketing.MAX_SUBJECT:
        errors["subject"] = N_("The subject is too long (at most 150 characters).")
    if not text:
        errors["text"] = N_("Write the message.")
    elif len(text) > marketing.MAX_TEXT:
        errors["text"] = N_("The message is too long (at most 1000 characters).")
    if not (news.email or news.sms):
        errors["channels"] = N_("Choose email, SMS or both.")
    return news, errors


async def _context(wp: access.Workplace) -> dict:
    now = clock.now()
    return {"wp": wp, "audience": len(await marketing.audience(wp.supplier["id"])), "next_at": await marketing.next_allowed(wp.supplier["id"], now)}


@get("/kontor/{slug:str}/nyheter", name="bo_news")
async def news_page(request: Request, slug: str, sent: int | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    return page(request, TEMPLATE, values={"email": True}, errors={}, sent=sent, **await _context(wp))


@post("/kontor/{slug:str}/nyheter", name="bo_news_send")
async def news_send(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await access.workplace(request, slug, Permission.SETTINGS)
    news, errors = parse_news(data)
    values = {"subject": news.subject, "text": news.text, "email": news.email, "sms": news.sms}
    if errors:
        return page(request, TEMPLATE, status_code=422, values=values, errors=errors, sent=None, **await _context(wp))
    try:
        count = await marketing.send(wp.actor, wp.supplier["id"], news, clock.now())
    except marketing.TooSoon:
        return page(request, TEMPLATE, status_code=429, values=values, errors={}, sent=None, **await _context(wp))
    return Redirect(path=f"/kontor/{slug}/nyheter?sent={count}", status_code=303)


ROUTES = [news_page, news_send]

"""The dev mailbox and Twilio's status callbacks (an order's message log is
on the order's pages, portal.sales.routes).

Thin handlers: they parse, call portal.notify.service, and render.
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException

from portal.audit.domain import system
from portal.documents import service as documents
from portal.lib import clock
from portal.notify import service
from portal.notify.backends import dev_backend_active
from portal.notify.tables import DevMessage
from portal.settings import load as load_settings
from portal.web.render import page

MAILBOX_LIMIT = 200

#: The dev mailbox's HTML view shows our own email HTML, sandboxed: no scripts, no requests out.
HTML_PREVIEW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@get("/dev/mailbox", name="dev_mailbox")
async def dev_mailbox(request: Request) -> object:
    """Every email and SMS the dev backends 'sent', newest first. Only while a dev backend is active."""
    if not dev_backend_active(load_settings()):
        raise NotFoundException()
    rows = await DevMessage.select().order_by(DevMessage.id, ascending=False).limit(MAILBOX_LIMIT).output(load_json=True)
    return page(request, "pages/notify/mailbox.html", messages=rows, limit=MAILBOX_LIMIT)


@get("/dev/mailbox/{message_id:int}/html", name="dev_mailbox_html")
async def dev_mailbox_html(message_id: int) -> Response:
    """The HTML part of a dev email as the customer's mail client would show it."""
    if not dev_backend_active(load_settings()):
        raise NotFoundException()
    row = await DevMessage.select(DevMessage.html).where(DevMessage.id == message_id).first()
    if row is None or not row["html"]:
        raise NotFoundException()
    return Response(
        content=row["html"],
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": HTML_PREVIEW_CSP, "X-Frame-Options": "DENY"},
    )


@get("/dev/mailbox/documents/{name:str}", name="dev_mailbox_document")
async def dev_mailbox_document(name: str) -> Response:
    """A PDF the dev email backend attached, as it was sent. Only while a dev backend is active."""
    stem = name.removesuffix(".pdf")
    if not dev_backend_active(load_settings()) or not (stem.isascii() and stem.isdigit()) or len(stem) > 12:
        raise NotFoundException()
    content = await documents.pdf_of(int(stem))
    if content is None:
        raise NotFoundException()
    return Response(content=content, media_type="application/pdf")


TWILIO = system("twilio-callback")


@post("/hooks/twilio/status", name="twilio_status", exclude_from_csrf=True)
async def twilio_status_hook(request: Request) -> Response:
    """Twilio's delivery status callback: 204 when the signature is valid, 403 otherwise."""
    form = await request.form()
    params: dict = {}
    for key in form:
        values = form.getall(key)
        params[key] = values if len(values) > 1 else values[0]
    url = load_settings().sms.status_callback_url or str(request.url)
    ok = await service.twilio_status(TWILIO, url, params, request.headers.get("x-twilio-signature", ""), clock.now())
    return Response(content=None, status_code=204 if ok else 403)


ROUTES = [dev_mailbox, dev_mailbox_html, dev_mailbox_document, twilio_status_hook]
"""Everything to add to create_app's route_handlers."""

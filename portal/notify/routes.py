"""The customer's own message log, the dev mailbox, Twilio's status callbacks.

Thin handlers: they parse, call portal.notify.service, and render.
"""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException

from portal.booking.service import get_by_manage_token
from portal.lib import clock
from portal.notify import service
from portal.notify.backends import dev_backend_active
from portal.notify.domain import TOPIC_LABELS, Status, Topic
from portal.notify.messages import NOT_ALLOWED_SMS
from portal.notify.tables import DevMessage
from portal.settings import load as load_settings
from portal.web.render import page

MAILBOX_LIMIT = 200

#: The dev mailbox's HTML view shows our own email HTML, sandboxed: no scripts, no requests out.
HTML_PREVIEW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _entry(row: dict, now) -> dict:
    """One line of the customer's message log: what, how, to whom, and a status they can read."""
    status = row["status"]
    if status == Status.SENT.value:
        state = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}.get(row["delivery_status"], "sent")
    elif status == Status.PENDING.value:
        state = "scheduled" if row["attempts"] == 0 and row["next_attempt_at"] > now else "retrying" if row["attempts"] else "queued"
    elif status == Status.SENDING.value:
        state = "queued"
    elif status == Status.FAILED.value and row["last_error"].startswith(NOT_ALLOWED_SMS):
        state = "country"
    else:
        state = status  # failed | cancelled
    return {
        **row,
        "topic_label": TOPIC_LABELS.get(Topic(row["topic"]), row["topic"]),
        "state": state,
    }


@get("/b/{token:str}/messages", name="booking_messages")
async def booking_messages(request: Request, token: str) -> object:
    """The messages sent (or scheduled) about this booking, for whoever holds its secret link."""
    booking = await get_by_manage_token(token)
    if booking is None:
        raise NotFoundException()
    now = clock.now()
    entries = [_entry(row, now) for row in await service.delivery_log(booking["id"])]
    return page(request, "pages/notify/messages.html", booking=booking, entries=entries)


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


@post("/hooks/twilio/status", name="twilio_status", exclude_from_csrf=True)
async def twilio_status_hook(request: Request) -> Response:
    """Twilio's delivery status callback: 204 when the signature is valid, 403 otherwise."""
    form = await request.form()
    params: dict = {}
    for key in form:
        values = form.getall(key)
        params[key] = values if len(values) > 1 else values[0]
    url = load_settings().sms.status_callback_url or str(request.url)
    ok = await service.twilio_status(url, params, request.headers.get("x-twilio-signature", ""))
    return Response(content=None, status_code=204 if ok else 403)


ROUTES = [booking_messages, dev_mailbox, dev_mailbox_html, twilio_status_hook]
"""Everything to add to create_app's route_handlers."""

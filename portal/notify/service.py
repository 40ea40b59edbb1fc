"""Messages through the outbox: the one-time code SMS, an order's message
log, Twilio's delivery callbacks.

Enqueueing only inserts outbox rows, inside the CALLER's open write
transaction (portal.outbox.service.insert): the messages exist if and only if
the change was committed, and no request waits on SMTP or SMS. The kinds
build their order messages themselves (portal.kinds.*.messages).

Reminders are rows too: a confirmation inserts them with `next_attempt_at =
start − reminder_hours`; the worker sends them when they fall due like any
other row. A change or a cancellation sets the pending reminders of the old
time to `cancelled` in the same transaction (portal.outbox.service.cancel_pending).
"""

from __future__ import annotations

import logging
from datetime import datetime

from portal.audit.domain import Actor
from portal.audit.service import query, record, use_case
from portal.notify.domain import DELIVERY_RANK, SUPPLIER_KEY_MARK, Channel, newer_delivery_status
from portal.outbox import service as outbox
from portal.outbox.tables import OutboxMessage
from portal.settings import load as load_settings

log = logging.getLogger("portal.notify")


@query
async def delivery_log(order_id: int) -> list[dict]:
    """What was sent to the customer about an order, when, to whom, and how it
    went; oldest first. Messages to the supplier about it (a payment problem)
    are not listed: this is the customer's log.

    Each entry: id, channel, topic, recipient, language, status, attempts,
    next_attempt_at (when a pending row is due: the reminder's time, or the
    next retry), created_at, sent_at, provider_id, delivery_status (from
    Twilio callbacks), last_error, subject (emails).
    """
    return await outbox.rows_of_order(order_id, (Channel.EMAIL.value, Channel.SMS.value), exclude_key_part=SUPPLIER_KEY_MARK)


@use_case("sms.delivery_status")
async def twilio_status(actor: Actor, url: str, params: dict, signature: str, now: datetime) -> bool:
    """A Twilio delivery status callback: True if the signature is valid.

    `url` is the full URL Twilio called (the configured status callback
    URL), `params` the POSTed form fields, `signature` the
    X-Twilio-Signature header. A valid callback records `MessageStatus` on
    the row whose provider_id is `MessageSid` unless the row already has a
    later status (callbacks arrive twice, late or out of order: `delivered`
    is never turned back into `sent`). An invalid one changes nothing.
    """
    settings = load_settings()
    if not settings.sms.auth_token or not signature:
        return False
    from twilio.request_validator import RequestValidator

    if not RequestValidator(settings.sms.auth_token).validate(url, params, signature):
        return False
    sid = str(params.get("MessageSid") or params.get("SmsSid") or "")
    status = str(params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or status not in DELIVERY_RANK:
        return True
    # Only move forwards, in one conditional UPDATE: no read-then-write race between two callbacks.
    earlier = [""] + [name for name in DELIVERY_RANK if newer_delivery_status(name, status)]
    values = {OutboxMessage.delivery_status: status}
    if status in ("undelivered", "failed") and params.get("ErrorCode"):
        values[OutboxMessage.last_error] = f"Twilio delivery error {params['ErrorCode']}"
    changed = await (
        OutboxMessage.update(values)
        .where(
            (OutboxMessage.provider_id == sid)
            & (OutboxMessage.channel == Channel.SMS.value)
            & OutboxMessage.delivery_status.is_in(earlier)
        )
        .returning(OutboxMessage.id, OutboxMessage.order_id)
    )
    if changed:
        await record(
            actor, "sms.delivery_status", now=now, order_id=changed[0]["order_id"], subject="message", subject_id=changed[0]["id"],
            after={"delivery_status": status},
        )
    return True

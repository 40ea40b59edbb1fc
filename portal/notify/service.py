"""The outbox's use cases: enqueue messages with the change that causes them,
read a booking's delivery log, record Twilio delivery callbacks.

Enqueueing only inserts rows, inside the CALLER's open write transaction
(`async with write_transaction(): ...change...; await enqueue_booking_messages(...)`):
the messages exist if and only if the change was committed, and no request
waits on SMTP or SMS. Each row has a unique dedupe key and is inserted with
`INSERT … ON CONFLICT (dedupe_key) DO NOTHING`, so enqueuing the same event
twice (a double submit, a retried request) is a no-op.

Reminders are rows too: the confirmation inserts them with
`next_attempt_at = start − reminder_hours` (24 h unless the booking's frozen
terms carry `reminder_hours`); the worker sends them when they fall due like
any other row. A change or a cancellation sets the pending reminders of the
old time to `cancelled` (a change enqueues new ones for the new time). No
scheduler, nothing to keep in sync: a reminder is cancelled in the same
transaction that cancels the booking.

The payments code enqueues two more topics the same way: `slot_lost` (the
customer approved in Vipps after the hold had expired and the time was
taken; the reservation is cancelled) and `payment_problem` (taking the
payment failed; the supplier gets an email too). Neither schedules nor
cancels reminders, and neither carries a calendar file.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from portal.catalogue.tables import Offering, Supplier
from portal.lib import clock
from portal.notify import messages
from portal.notify.domain import DELIVERY_RANK, SUPPLIER_KEY_MARK, Channel, Status, Topic, newer_delivery_status
from portal.notify.tables import OutboxMessage
from portal.settings import load as load_settings

log = logging.getLogger("portal.notify")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass UTC-aware datetimes")
    return moment.astimezone(clock.UTC)


async def insert_drafts(drafts: list[messages.Draft], now: datetime) -> None:
    """Insert rows; a row whose dedupe key exists already is skipped (ON CONFLICT DO NOTHING)."""
    if not drafts:
        return
    now = _utc(now)
    await OutboxMessage.insert(
        *[
            OutboxMessage(
                dedupe_key=d.dedupe_key,
                channel=d.channel.value,
                topic=d.topic.value,
                booking=d.booking_id,
                recipient=d.recipient,
                language=d.language,
                payload=d.payload,
                status=d.status.value,
                attempts=0,
                next_attempt_at=_utc(d.next_attempt_at),
                last_error=d.last_error,
                created_at=now,
            )
            for d in drafts
        ]
    ).on_conflict(target=OutboxMessage.dedupe_key, action="DO NOTHING")


def _id_of(value: object) -> object:
    """A foreign key as a row holds it: the id, or a joined dict with an id."""
    return value.get("id") if isinstance(value, dict) else value


async def _supplier(booking: dict) -> dict:
    """The supplier's display name, slug and email ({} when the booking has none)."""
    supplier_id = _id_of(booking.get("supplier"))
    if supplier_id is None:
        return {}
    row = await Supplier.select(Supplier.name, Supplier.slug, Supplier.email).where(Supplier.id == supplier_id).first()
    return row or {}


async def _offering_slug(booking: dict) -> str:
    offering_id = _id_of(booking.get("offering"))
    if offering_id is None:
        return ""
    row = await Offering.select(Offering.slug).where(Offering.id == offering_id).first()
    return row["slug"] if row else ""


async def enqueue_booking_messages(booking: dict, topic: str, now: datetime, *, dedupe_suffix: str = "") -> None:
    """Call INSIDE the write transaction that confirms, changes or cancels the booking
    (or, for the payment topics, that records what happened to its payment).

    `booking` is the booking row as it is after the change (a dict from
    `Booking.select()`: id, reference, supplier, offering, start, end,
    language, phone, email, customer_name, price_ore, manage_token,
    ics_sequence, terms, updated_at; `manage_token` may be None for a
    booking that was never confirmed).
    `topic`: confirmation | change | cancellation | slot_lost | payment_problem.
    Bump `ics_sequence` before calling for a change or a cancellation
    (calendars ignore an update with an old SEQUENCE, and the change's dedupe
    key includes it).

    Email when the booking has an email address, SMS when it has a phone
    number in an L31 country (otherwise the SMS row is parked as failed with
    the reason); a confirmation or change also schedules the reminders.

    - slot_lost: the time was taken before the Vipps payment was finished and
      the reservation is cancelled; links to the offering's page to choose
      another time. At most once per booking.
    - payment_problem: taking the payment in Vipps failed; the customer is
      told the supplier will be in touch, and the supplier (Supplier.email)
      gets an email in Bokmål with the customer's contact details. It may
      happen more than once for a booking: pass `dedupe_suffix`, the same
      for the same failure (e.g. the failed operation's idempotency key), a
      new one for a new failure. Without it the booking's `updated_at` tells
      failures apart.

    `dedupe_suffix` is used by payment_problem only; the other topics' keys
    do not change.
    """
    topic = Topic(topic)
    now = _utc(now)
    settings = load_settings()
    supplier = await _supplier(booking)
    offering_slug = await _offering_slug(booking) if topic is Topic.SLOT_LOST else ""
    if topic is Topic.PAYMENT_PROBLEM and not supplier.get("email"):
        log.warning("booking %s: payment problem, but the supplier has no email address to tell", booking["id"])
    drafts = messages.booking_drafts(
        booking,
        topic,
        supplier_name=supplier.get("name", ""),
        base_url=settings.base_url,
        now=now,
        supplier_slug=supplier.get("slug", ""),
        offering_slug=offering_slug,
        supplier_email=supplier.get("email", "") if topic is Topic.PAYMENT_PROBLEM else "",
        dedupe_suffix=dedupe_suffix,
    )
    if topic in (Topic.CHANGE, Topic.CANCELLATION):
        keep = [d.dedupe_key for d in drafts if d.topic is Topic.REMINDER]
        reason = "booking cancelled" if topic is Topic.CANCELLATION else "booking changed"
        query = OutboxMessage.update({OutboxMessage.status: Status.CANCELLED.value, OutboxMessage.last_error: reason}).where(
            (OutboxMessage.booking == booking["id"])
            & (OutboxMessage.topic == Topic.REMINDER.value)
            & (OutboxMessage.status == Status.PENDING.value)
        )
        if keep:
            query = query.where(OutboxMessage.dedupe_key.not_in(keep))
        await query
    await insert_drafts(drafts, now)


async def enqueue_code_sms(phone: str, code: str, language: str, now: datetime) -> None:
    """A one-time code by SMS, inside the caller's transaction.

    Due at once and first in line for the worker; retried quickly (2 s, 4 s …
    at most 20 s apart) but never after the code expires
    (`CodeSettings.valid_seconds` after `now`): then it is parked as failed.
    Twilio gets the same limit as `ValidityPeriod`. The code is wiped from
    the row once the message is sent or given up.
    """
    now = _utc(now)
    draft = messages.code_draft(phone, code, language, now, load_settings().codes.valid_seconds)
    await insert_drafts([draft], now)
    from portal.notify import worker

    worker.wake()


LOG_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.channel,
    OutboxMessage.topic,
    OutboxMessage.recipient,
    OutboxMessage.language,
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.next_attempt_at,
    OutboxMessage.created_at,
    OutboxMessage.sent_at,
    OutboxMessage.provider_id,
    OutboxMessage.delivery_status,
    OutboxMessage.last_error,
    OutboxMessage.payload,
)


async def delivery_log(booking_id: int) -> list[dict]:
    """What was sent to the customer about a booking, when, to whom, and how it
    went; oldest first. Messages to the supplier about it (a payment problem)
    are not listed: this is the customer's log.

    Each entry: id, channel, topic, recipient, language, status, attempts,
    next_attempt_at (when a pending row is due: the reminder's time, or the
    next retry), created_at, sent_at, provider_id, delivery_status (from
    Twilio callbacks), last_error, subject (emails).
    """
    rows = await (
        OutboxMessage.select(*LOG_COLUMNS)
        .where(OutboxMessage.booking == booking_id)
        .where(OutboxMessage.dedupe_key.not_like(f"%{SUPPLIER_KEY_MARK}%"))
        .order_by(OutboxMessage.created_at)
        .order_by(OutboxMessage.id)
        .output(load_json=True)
    )
    log_rows = []
    for row in rows:
        payload = row.pop("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        row["subject"] = payload.get("subject", "")
        log_rows.append(row)
    return log_rows


async def twilio_status(url: str, params: dict, signature: str) -> bool:
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
    await OutboxMessage.update(values).where(
        (OutboxMessage.provider_id == sid)
        & (OutboxMessage.channel == Channel.SMS.value)
        & OutboxMessage.delivery_status.is_in(earlier)
    )
    return True


async def requeue_failed(ids: list[int], now: datetime) -> int:
    """Operations: try parked (failed) rows again from scratch, e.g. after fixing SMTP credentials."""
    if not ids:
        return 0
    done = await OutboxMessage.update(
        {
            OutboxMessage.status: Status.PENDING.value,
            OutboxMessage.attempts: 0,
            OutboxMessage.next_attempt_at: _utc(now),
            OutboxMessage.locked_until: None,
        }
    ).where(OutboxMessage.id.is_in(ids) & (OutboxMessage.status == Status.FAILED.value)).returning(OutboxMessage.id)
    return len(done)

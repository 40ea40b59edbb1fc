"""Payment use cases: send the customer to Vipps, take in what Vipps reports,
plan the captures, cancels and refunds an order's end asks for, carry them
out, and reconcile what was missed.

Three paths feed one idempotent state machine (portal.payments.domain.fold):
the return page (`sync`), the webhook (`take_webhook`) and the reconciler
(`reconcile`). Each stores the events it learns (a unique key per distinct
event), then `apply` folds ALL of the payment's events again and lets the
order side carry out what that means for the order once
(portal.payments.ports; `Payment.outcome_applied` records it).

Captures, refunds and cancels are `PaymentOperation` rows with an
idempotency key, written with the order change that causes them, and an
outbox row (channel `payment`) that makes the worker carry them out in
order (`execute`), retrying with the same keys. Every capture and refund
writes a `MoneyMovement` and tells the order side in the same transaction
(the receipt or credit note is issued there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from portal.audit.domain import Actor
from portal.audit.service import after_commit, job, query, record, step, use_case
from portal.lib import clock
from portal.lib.db import write_transaction
from portal.orders.tables import Order, OrderLine
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.payments import domain
from portal.payments.domain import Outcome, PaymentState
from portal.payments.ports import effects
from portal.payments.pricing import Means, Quote, allocate, cancellation_fee, vat_summary
from portal.payments.tables import MoneyMovement, Payment, PaymentEvent, PaymentOperation, WebhookDelivery
from portal.payments.vipps import signing
from portal.payments.vipps.client import VippsClient, VippsConfig, VippsError
from portal.settings import Settings
from portal.settings import load as load_settings

log = logging.getLogger("portal.payments")

PAYMENT_CHANNEL = "payment"
SETTLE_TOPIC = "settle"


class PaymentUnavailable(Exception):
    """Vipps did not answer in time (or answered 5xx); the same attempt can be retried."""


class PaymentRefused(Exception):
    """Vipps refused to create the payment; the customer must choose again."""


class NotAllowed(Exception):
    """The order's money is not in a state that allows this."""


# ---------------------------------------------------------------- the client


_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vipps_config(settings: Settings) -> VippsConfig:
    v = settings.vipps
    return VippsConfig(
        base_url=v.base_url,
        client_id=v.client_id,
        client_secret=v.client_secret,
        subscription_key=v.subscription_key,
        merchant_serial_number=v.merchant_serial_number,
        timeout_seconds=v.timeout_seconds,
    )


def vipps() -> VippsClient:
    """The process's client for the running event loop (httpx pools are per loop)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = VippsClient(vipps_config(load_settings()))
        _clients[loop] = client
    return client


def use_client(client: VippsClient | None) -> None:
    """Tests: talk to another (local) Vipps from this event loop."""
    loop = asyncio.get_running_loop()
    if client is None:
        _clients.pop(loop, None)
    else:
        _clients[loop] = client


# ---------------------------------------------------------------- return links


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(load_settings().secret_key, salt="payment-return")


def return_token(checkout_token: str) -> str:
    return _signer().dumps(checkout_token)


def checkout_token_from(signed: str) -> str | None:
    try:
        value = _signer().loads(signed)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- reading


@query
async def latest_payment(order_id: int) -> dict | None:
    return await Payment.select().where(Payment.order == order_id).order_by(Payment.attempt, ascending=False).first()


@query
async def payment_of_record(order_id: int) -> dict | None:
    """The payment that holds the order's money (the one that confirmed it)."""
    row = await (
        Payment.select()
        .where((Payment.order == order_id) & (Payment.outcome_applied == "confirmed"))
        .first()
    )
    return row or await latest_payment(order_id)


@query
async def operations(payment_id: int) -> list[dict]:
    return await PaymentOperation.select().where(PaymentOperation.payment == payment_id).order_by(PaymentOperation.id)


@query
async def events_of(payment_id: int) -> list[dict]:
    return await PaymentEvent.select().where(PaymentEvent.payment == payment_id).order_by(PaymentEvent.occurred_at).order_by(PaymentEvent.id)


@query
async def movements(order_id: int) -> list[dict]:
    return await MoneyMovement.select().output(load_json=True).where(MoneyMovement.order == order_id).order_by(MoneyMovement.id)


async def _order(order_id: int) -> dict:
    return await Order.select().output(load_json=True).where(Order.id == order_id).first()


# ---------------------------------------------------------------- starting a payment


async def _description(order: dict) -> str:
    line = await OrderLine.select(OrderLine.description).where(OrderLine.order == order["id"]).order_by(OrderLine.position).first()
    what = line["description"] if line else (order["terms"] or {}).get("offering_title", "")
    text = f"{what or 'Booking'} {order['reference']}"
    return text[:100] if len(text) >= 3 else f"Booking {order['reference']}"


@use_case("payment.start", transaction=False)
async def start(actor: Actor, order_id: int, now: datetime) -> str:
    """Create (or resume) the order's Vipps payment; returns where to send the browser.

    The payment row and its create key are committed BEFORE Vipps is asked,
    so a timeout leaves a record to retry with the same key: the customer
    pressing "pay" again resumes this attempt instead of making a second
    payment. Raises PaymentUnavailable (try again) or PaymentRefused.
    """
    settings = load_settings()
    # The customer may press "pay" again after leaving Vipps: ask Vipps whether
    # the payment they were sent to is still open before sending them back to it.
    ended_at_vipps = None
    sent_before = await latest_payment(order_id)
    if sent_before and sent_before["state"] == PaymentState.CREATED.value and sent_before["redirect_url"]:
        try:
            seen = (await vipps().get_payment(sent_before["reference"])).state
        except VippsError:
            seen = PaymentState.CREATED.name  # cannot tell: resume it
        if seen == PaymentState.AUTHORIZED.name:  # approved already: the return page confirms the order
            checkout_token = (await Order.select(Order.checkout_token).where(Order.id == order_id).first())["checkout_token"]
            return f"{settings.base_url}/pay/{return_token(checkout_token)}"
        if seen != PaymentState.CREATED.name:  # rejected or expired there: a new attempt
            ended_at_vipps = sent_before["id"]
    async with write_transaction():
        order = await _order(order_id)
        current = await latest_payment(order_id)
        amount = Quote.from_json(order["quote"]).pay_now_ore
        superseded = None
        open_here = current and current["state"] == PaymentState.CREATED.value and current["id"] != ended_at_vipps
        if open_here and current["amount_ore"] == amount:
            payment = current
        else:
            if open_here:
                superseded = current  # the price changed (a coupon) since the customer was sent to Vipps
            attempt = current["attempt"] + 1 if current else 1
            inserted = await Payment.insert(
                Payment(
                    order=order_id,
                    supplier=order["supplier"],
                    reference=domain.payment_reference(order["reference"], attempt),
                    attempt=attempt,
                    purpose=order["means"],
                    amount_ore=amount,
                    state=PaymentState.CREATED.value,
                    create_key=f"create-{secrets.token_hex(16)}",
                    created_at=now,
                    updated_at=now,
                )
            ).returning(Payment.id)
            payment = await Payment.select().where(Payment.id == inserted[0]["id"]).first()
            await record(
                actor, "payment.start", now=now, order_id=order_id, supplier_id=order["supplier"],
                after={"payment": payment["reference"], "amount_ore": amount, "superseded": superseded["reference"] if superseded else None},
            )
    if superseded is not None:
        try:
            await vipps().cancel(superseded["reference"], f"{superseded['reference']}-superseded")
        except VippsError as exc:
            log.warning("payment %s: superseded but not cancelled (%s); Vipps expires it", superseded["reference"], exc)
    if payment["redirect_url"]:
        return payment["redirect_url"]
    return_url = f"{settings.base_url}/pay/{return_token(order['checkout_token'])}"
    description = await _description(order)
    last: VippsError | None = None
    for _ in range(2):  # one quick retry with the same key
        try:
            created = await vipps().create_payment(
                reference=payment["reference"],
                amount_ore=payment["amount_ore"],
                phone_number=domain.vipps_phone(order["phone"]),
                return_url=return_url,
                description=description,
                idempotency_key=payment["create_key"],
            )
        except VippsError as exc:
            last = exc
            if exc.retryable:
                continue
            await Payment.update(
                {Payment.state: PaymentState.FAILED.value, Payment.problem: _problem_text(exc), Payment.updated_at: clock.now()}
            ).where((Payment.id == payment["id"]) & (Payment.state == PaymentState.CREATED.value))
            raise PaymentRefused(str(exc)) from exc
        await Payment.update({Payment.redirect_url: created.redirect_url, Payment.updated_at: clock.now()}).where(
            Payment.id == payment["id"]
        )
        return created.redirect_url
    raise PaymentUnavailable(str(last))


def _problem_text(exc: VippsError) -> str:
    problem = exc.problem or {}
    detail = problem.get("detail") or problem.get("title") or str(exc)
    trace = f" (traceId {exc.trace_id})" if exc.trace_id else ""
    return f"{detail}{trace}"[:1000]


# ---------------------------------------------------------------- taking in events


@dataclass(frozen=True)
class Applied:
    state: PaymentState
    refused: int  # events that did not fit: the payment should be read again
    known: bool  # the reference is one of ours
    order_id: int | None = None  # the payment's order and supplier (None when not known)
    supplier_id: int | None = None


def _event_row(reference: str, payment_id: int | None, event: domain.Event, source: str, now: datetime) -> PaymentEvent:
    return PaymentEvent(
        payment=payment_id,
        reference=reference,
        key=f"{reference}|{event.key}"[:300],
        name=event.name.value,
        amount_ore=event.amount_ore,
        success=event.success,
        psp_reference=event.psp_reference,
        idempotency_key=event.idempotency_key or "",
        occurred_at=event.at,
        source=source,
        received_at=now,
    )


async def _store_events(reference: str, events: list[domain.Event], source: str, now: datetime) -> Applied:
    """Store what Vipps reported (each distinct event once) and apply it, in the caller's transaction."""
    query = Payment.select().where(Payment.reference == reference)
    if load_settings().is_postgres:
        # The payment's row lock first, then the events' unique keys, as `sync` (which updates
        # the payment first) and `apply` take them: a webhook and a sync of the same event
        # would otherwise each hold what the other waits for (deadlock).
        query = query.lock_rows("UPDATE")
    payment = await query.first()
    payment_id = payment["id"] if payment else None
    if events:
        await PaymentEvent.insert(*[_event_row(reference, payment_id, e, source, now) for e in events]).on_conflict(
            target=PaymentEvent.key, action="DO NOTHING"
        )
    if payment_id is None:
        log.warning("events for unknown payment %s stored", reference)
        return Applied(PaymentState.FAILED, 0, False)
    return await apply(payment_id, now, locked=payment)


def _as_domain(row: dict) -> domain.Event:
    return domain.Event(
        name=domain.PaymentEventName(row["name"]),
        amount_ore=row["amount_ore"],
        success=row["success"],
        at=row["occurred_at"],
        psp_reference=row["psp_reference"],
        idempotency_key=row["idempotency_key"] or None,
    )


@step
async def apply(payment_id: int, now: datetime, *, locked: dict | None = None) -> Applied:
    """Fold the payment's events and let the order side carry out what the
    result means for the order — once. Safe to call any number of times, in
    any order; joins the caller's write transaction. `locked`: the payment's
    row as the caller read it under its row lock in this transaction (not read again)."""
    async with write_transaction():
        payment = locked
        if payment is None:
            query = Payment.select().where(Payment.id == payment_id)
            if load_settings().is_postgres:
                # Concurrent applies of one payment take turns, so the last to write has folded
                # every event stored before it (SQLite's IMMEDIATE transaction does the same).
                # NO KEY UPDATE, not UPDATE: the caller may have just stored an event, whose
                # foreign key holds KEY SHARE on this row; FOR UPDATE would wait for the other
                # applier's KEY SHARE while it waits for ours (a deadlock).
                query = query.lock_rows("NO KEY UPDATE")
            payment = await query.first()
        start_state = PaymentState.FAILED if payment["state"] == PaymentState.FAILED.value else PaymentState.CREATED
        folded = domain.fold([_as_domain(r) for r in await events_of(payment_id)], start=start_state)
        ledger = folded.ledger
        values = {
            Payment.state: folded.state.value,
            Payment.authorized_ore: ledger.authorized_ore,
            Payment.captured_ore: ledger.captured_ore,
            Payment.refunded_ore: ledger.refunded_ore,
            Payment.cancelled_ore: ledger.cancelled_ore,
            Payment.updated_at: now,
        }
        if folded.state is PaymentState.AUTHORIZED and payment["authorized_at"] is None:
            values[Payment.authorized_at] = now
        for failed in folded.failed:
            if failed.idempotency_key:
                await PaymentOperation.update(
                    {PaymentOperation.status: "failed", PaymentOperation.error: f"Vipps reported {failed.name} as not successful"}
                ).where(PaymentOperation.idempotency_key == failed.idempotency_key)
            if failed.name is domain.PaymentEventName.CAPTURED and not payment["problem"]:
                values[Payment.problem] = "capture failed"
        await Payment.update(values).where(Payment.id == payment_id)
        if not payment["outcome_applied"]:
            outcome = await effects().after_fold({**payment, "state": folded.state.value}, folded.state, folded.ledger, now)
            if outcome:
                await Payment.update({Payment.outcome_applied: outcome}).where(Payment.id == payment_id)
    if folded.refused:
        log.warning("payment %s: %d event(s) did not fit: %s", payment["reference"], len(folded.refused), folded.refused[0][1])
    return Applied(folded.state, len(folded.refused), True, payment["order"], payment["supplier"])


@step
async def record_short_authorisation(payment: dict, authorized_ore: int) -> None:
    """Less was reserved than asked for: say so on the payment (the order side never confirms on it)."""
    log.error("payment %s: %s øre authorised, %s asked", payment["reference"], authorized_ore, payment["amount_ore"])
    await Payment.update({Payment.problem: f"authorised {authorized_ore} øre of {payment['amount_ore']}"}).where(Payment.id == payment["id"])


@step
async def other_payment_confirmed(payment: dict) -> bool:
    """Did another attempt of this order already confirm it?"""
    return await Payment.exists().where(
        (Payment.order == payment["order"]) & (Payment.outcome_applied == "confirmed") & (Payment.id != payment["id"])
    )


def _parse_time(raw: object) -> datetime:
    if isinstance(raw, datetime):
        return raw.astimezone(clock.UTC)
    text = str(raw or "")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=clock.UTC)).astimezone(clock.UTC)


#: The largest amount the payment tables hold (a 32-bit integer column).
_MAX_ORE = 2**31 - 1


def _reference_of(payload: object) -> str:
    """The payload's reference if it can be one of ours (Vipps' pattern), else ''."""
    raw = payload.get("reference") if isinstance(payload, dict) else None
    return raw if isinstance(raw, str) and re.fullmatch(domain.REFERENCE_PATTERN, raw) else ""


def event_from_webhook(payload: dict) -> tuple[str, domain.Event] | None:
    """(reference, event) from a webhook body; None if it is not one we understand.

    Every field must have Vipps' type and fit our columns: a signed body
    that does not (an amount of 1e400, a 500-character key) is stored as
    not understood, never answered 500 (which would block the payment's
    later webhooks at Vipps for days)."""
    try:
        name = domain.event_name(str(payload.get("name", "")))
        reference = _reference_of(payload)
        amount = payload.get("amount") or {}
        value = amount.get("value", 0)
        success = payload.get("success", True)
        psp = payload.get("pspReference") or ""
        key = payload.get("idempotencyKey") or None
        if name is None or not reference:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ORE:
            return None
        if not isinstance(success, bool) or not isinstance(psp, (str, int)) or len(str(psp)) > 100 or "\x00" in str(psp):
            return None
        if key is not None and (not isinstance(key, str) or len(key) > 100 or "\x00" in key):
            return None
        return reference, domain.Event(
            name=name,
            amount_ore=value,
            success=success,
            at=_parse_time(payload.get("timestamp")),
            psp_reference=str(psp),
            idempotency_key=key,
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return None


class WebhookRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _audit_payment(actor: Actor, action: str, reference: str, applied: Applied, now: datetime, **after) -> None:
    await record(
        actor, action, now=now, order_id=applied.order_id, supplier_id=applied.supplier_id,
        subject="payment", subject_id=reference, after={"state": applied.state, "known": applied.known, **after},
    )


@use_case("payment.webhook", transaction=False)
async def take_webhook(actor: Actor, *, path_and_query: str, headers: dict, body: bytes, now: datetime) -> str:
    """Authenticate, store, apply. Raises WebhookRefused (answer 401) for a
    forged or stale delivery, which changes nothing. Anything else (an
    unknown reference, a body we do not understand) is stored and answered
    2xx so Vipps' queue for the payment is never blocked."""
    settings = load_settings()
    host = settings.base_url.split("://", 1)[-1].split("/", 1)[0]
    try:
        signing.verify(settings.vipps.webhook_secret, path_and_query=path_and_query, host=host, headers=headers, body=body, now=now)
    except signing.WebhookRejected as exc:
        raise WebhookRefused(exc.reason) from None
    # PostgreSQL text cannot hold NUL: the only change made to what is stored.
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        payload = None
    parsed = event_from_webhook(payload) if isinstance(payload, dict) else None
    reference = parsed[0] if parsed else _reference_of(payload)
    if parsed is None:
        async with write_transaction():
            inserted = await WebhookDelivery.insert(
                WebhookDelivery(reference=reference[:100], body=text, received_at=now, processed_at=now, error="not understood")
            ).returning(WebhookDelivery.id)
            await record(actor, "payment.webhook", now=now, subject="webhook", subject_id=inserted[0]["id"], after={"understood": False})
        return "ignored"
    # Stored (committed) before it is applied: if applying fails, the reconciler applies it later.
    inserted = await WebhookDelivery.insert(WebhookDelivery(reference=reference[:100], body=text, received_at=now)).returning(WebhookDelivery.id)
    async with write_transaction():
        applied = await _store_events(parsed[0], [parsed[1]], "webhook", now)
        await WebhookDelivery.update({WebhookDelivery.processed_at: now}).where(WebhookDelivery.id == inserted[0]["id"])
        await _audit_payment(actor, "payment.webhook", parsed[0], applied, now, event=parsed[1].name)
    if applied.refused:
        # Something arrived that does not fit what we know: ask Vipps for the whole story.
        try:
            await sync(actor, parsed[0], now)
        except VippsError:
            log.warning("payment %s: could not read events after an out-of-order webhook", parsed[0])
    return "stored" if applied.known else "unknown reference"


@use_case("payment.sync", transaction=False)
async def sync(actor: Actor, reference: str, now: datetime) -> Applied:
    """Read the payment's events from Vipps (the authoritative history) and apply them."""
    infos = await vipps().get_events(reference)
    events = []
    for info in infos:
        name = domain.event_name(info.name)
        if name is None:
            continue
        events.append(
            domain.Event(
                name=name,
                amount_ore=info.amount_ore,
                success=info.success,
                at=info.timestamp,
                psp_reference=info.psp_reference,
                idempotency_key=info.idempotency_key,
            )
        )
    async with write_transaction():
        await Payment.update({Payment.synced_at: now}).where(Payment.reference == reference)
        applied = await _store_events(reference, events, "events", now)
        await _audit_payment(actor, "payment.sync", reference, applied, now, events=len(events))
    return applied


# ---------------------------------------------------------------- settling


def fee_of(order: dict) -> int:
    """The late-cancellation / no-show fee the customer accepted. With a
    deposit, the fee is at most the deposit: the deposit is what is forfeited."""
    terms = order["terms"] or {}
    quote = Quote.from_json(order["quote"]) if order["quote"] else None
    total = quote.total_ore if quote else 0
    fee = cancellation_fee(total_ore=total, fee_percent=int(terms.get("cancel_fee_percent", 0)), fee_fixed_ore=int(terms.get("cancel_fee_ore", 0)))
    if quote is not None and quote.means is Means.DEPOSIT:
        fee = min(fee, quote.pay_now_ore)
    return fee


@step
async def plan(payment: dict, outcome: Outcome, now: datetime, *, refund_ore: int | None = None, request_id: str = "", keep_ore: int = 0) -> list[int]:
    """Write the operations an order's end asks of Vipps, and the outbox row
    that carries them out. Inside the caller's transaction. Planning the same
    outcome twice adds nothing (the keys are derived from it)."""
    order = await _order(payment["order"])
    fresh = await Payment.select().where(Payment.id == payment["id"]).first()
    ledger = domain.Ledger(fresh["authorized_ore"], fresh["captured_ore"], fresh["refunded_ore"], fresh["cancelled_ore"])
    if fresh["state"] != PaymentState.AUTHORIZED.value:
        return []
    due = Quote.from_json(order["quote"]).pay_now_ore if order["quote"] else fresh["amount_ore"]
    settlement = domain.settlement(outcome, ledger, due_ore=due, fee_ore=fee_of(order), keep_ore=keep_ore)
    if refund_ore is not None:
        settlement = domain.Settlement(refund_ore=refund_ore)
    steps = []
    if settlement.capture_ore:
        steps.append(("capture", settlement.capture_ore))
    if settlement.cancel_rest:
        steps.append(("cancel", 0))
    if settlement.refund_ore:
        steps.append(("refund", settlement.refund_ore))
    if not steps:
        return []
    tag = outcome.value.replace("_", "")[:14]
    if refund_ore is not None:
        # One key per refund the supplier asked for: the form's request id makes a
        # double click (or a retried POST) the same refund, never a second one.
        tag = f"rf{(request_id or secrets.token_hex(8))[:16]}"
    ids = []
    for sequence, (kind, amount) in enumerate(steps):
        key = f"{fresh['reference']}-{tag}-{kind}"[:50]
        got = await (
            PaymentOperation.insert(
                PaymentOperation(
                    payment=payment["id"],
                    kind=kind,
                    amount_ore=amount,
                    reason=outcome.value if refund_ore is None else "refund",
                    idempotency_key=key,
                    sequence=sequence,
                    status="pending",
                    created_at=now,
                )
            )
            .on_conflict(target=PaymentOperation.idempotency_key, action="DO NOTHING")
            .returning(PaymentOperation.id)
        )
        ids += [r["id"] for r in got]
    if ids:
        await outbox.insert(
            [
                Draft(
                    channel=PAYMENT_CHANNEL,
                    topic=SETTLE_TOPIC,
                    recipient=fresh["reference"],
                    dedupe_key=f"payment:{fresh['reference']}:{tag}",
                    language=order["language"] or "nb",
                    payload={"operations": ids},
                    next_attempt_at=now,
                    order_id=order["id"],
                )
            ],
            now,
        )
        after_commit(outbox.wake)
    return ids


@step
async def plan_for_order(order_id: int, outcome: Outcome, now: datetime, *, keep_ore: int = 0) -> list[int]:
    """The order ended: plan what its confirmed payment (if any) must do
    (`keep_ore`: what a withdrawal leaves the customer to pay). Inside the caller's transaction."""
    payment = await payment_of_record(order_id)
    if payment and payment["outcome_applied"] == "confirmed":
        return await plan(payment, outcome, now, keep_ore=keep_ore)
    return []


@step
async def plan_refund(order_id: int, amount_ore: int, now: datetime, *, request_id: str = "") -> list[int]:
    """Give back part or all of what was captured (the supplier's decision),
    inside the caller's transaction. `request_id` comes with the form that
    asked: sending the same form twice plans one refund."""
    payment = await payment_of_record(order_id)
    if payment is None or payment["state"] != PaymentState.AUTHORIZED.value:
        raise NotAllowed("no Vipps payment")
    pending = await PaymentOperation.select(PaymentOperation.amount_ore).where(
        (PaymentOperation.payment == payment["id"]) & (PaymentOperation.kind == "refund") & (PaymentOperation.status == "pending")
    )
    refundable = payment["captured_ore"] - payment["refunded_ore"] - sum(r["amount_ore"] for r in pending)
    if not 0 < amount_ore <= refundable:
        raise NotAllowed(f"refund must be between 1 and {refundable} øre")
    return await plan(payment, Outcome.SUPPLIER_CANCEL, now, refund_ore=amount_ore, request_id=_safe_id(request_id))


def _safe_id(raw: str) -> str:
    return "".join(ch for ch in (raw or "") if ch.isascii() and ch.isalnum())[:16]


# ---------------------------------------------------------------- carrying out operations


class OperationDeferred(Exception):
    """Vipps did not answer; try the same operation (same key) later."""


@job
async def execute(actor: Actor, operation_ids: list[int], now: datetime | None = None) -> str:
    """Carry out planned operations in order, each with its stored key.
    Called by the outbox worker; raises OperationDeferred to be retried."""
    rows = await PaymentOperation.select().where(PaymentOperation.id.is_in(operation_ids)).order_by(PaymentOperation.sequence)
    done = []
    references = set()
    for op in rows:
        if op["status"] != "pending":
            continue
        payment = await Payment.select().where(Payment.id == op["payment"]).first()
        references.add(payment["reference"])
        moment = now or clock.now()
        if op["kind"] == "capture" and op["reason"] == Outcome.DELIVERED.value and not await effects().may_capture(payment["order"], op["reason"], moment):
            await _fail(actor, op, payment, "refused: no capture before the service is delivered", "")
            continue
        try:
            if op["kind"] == "capture":
                await vipps().capture(payment["reference"], op["amount_ore"], op["idempotency_key"])
            elif op["kind"] == "refund":
                await vipps().refund(payment["reference"], op["amount_ore"], op["idempotency_key"])
            else:
                await vipps().cancel(payment["reference"], op["idempotency_key"])
        except VippsError as exc:
            if exc.retryable:
                raise OperationDeferred(str(exc)) from exc
            await _fail(actor, op, payment, _problem_text(exc), exc.trace_id or "")
            continue
        await _succeed(actor, op, payment, now or clock.now())
        done.append(op["id"])
    for reference in references:
        try:
            await sync(actor, reference, now or clock.now())
        except VippsError:
            log.warning("payment %s: events not read after operations; the reconciler will", reference)
    return ",".join(str(i) for i in done) or "nothing to do"


@job
async def fail_operation(actor: Actor, op: dict, payment: dict, error: str, trace_id: str = "") -> None:
    """The outbox gave up on an operation: mark it failed and tell, like a refusal."""
    await _fail(actor, op, payment, error, trace_id)


@use_case("payment.operation_failed")
async def _fail(actor: Actor, op: dict, payment: dict, error: str, trace_id: str) -> None:
    """Visible to supplier and customer: the operation, the payment's problem and a message."""
    log.warning("payment %s: %s failed: %s", payment["reference"], op["kind"], error)
    now = clock.now()
    changed = await (
        PaymentOperation.update(
            {PaymentOperation.status: "failed", PaymentOperation.error: error[:1000], PaymentOperation.trace_id: trace_id[:100]}
        )
        .where((PaymentOperation.id == op["id"]) & (PaymentOperation.status == "pending"))
        .returning(PaymentOperation.id)
    )
    await Payment.update({Payment.problem: f"{op['kind']} failed: {error}"[:1000]}).where(Payment.id == payment["id"])
    if op["kind"] == "capture":
        await effects().payment_problem(payment["order"], op["idempotency_key"], now)
    if changed:
        await record(
            actor, "payment.operation_failed", now=now, order_id=payment["order"], supplier_id=payment["supplier"],
            subject="payment", subject_id=payment["reference"], after={"operation": op["kind"], "status": "failed", "error": error[:200]},
        )


@use_case("payment.operation_done")
async def _succeed(actor: Actor, op: dict, payment: dict, now: datetime) -> None:
    """Vipps accepted: mark it done and, for money that moved, record what the
    receipt or credit note needs and tell the order side — in one transaction."""
    changed = await (
        PaymentOperation.update({PaymentOperation.status: "done", PaymentOperation.done_at: now})
        .where((PaymentOperation.id == op["id"]) & (PaymentOperation.status == "pending"))
        .returning(PaymentOperation.id)
    )
    if not changed:
        return
    after = {"operation": op["kind"], "status": "done", "amount_ore": op["amount_ore"]}
    if op["kind"] != "cancel":
        order = await _order(payment["order"])
        quote = Quote.from_json(order["quote"])
        lines = allocate(quote, op["amount_ore"])
        inserted = await MoneyMovement.insert(
            MoneyMovement(
                order=order["id"],
                supplier=order["supplier"],
                payment=payment["id"],
                operation=op["id"],
                kind=op["kind"],
                means=Means.VIPPS.value,
                amount_ore=op["amount_ore"],
                reason=op["reason"],
                seller=(order["terms"] or {}).get("supplier", {}),
                lines=[_line_json(line) for line in lines],
                vat=[_vat_json(v) for v in vat_summary(lines)],
                at=now,
            )
        ).returning(*MoneyMovement.all_columns())
        movement = inserted[0]
        await effects().money_moved(order["id"], movement, now)
    await record(
        actor, "payment.operation_done", now=now, order_id=payment["order"], supplier_id=payment["supplier"],
        subject="payment", subject_id=payment["reference"], after=after,
    )


def _line_json(line) -> dict:
    return {
        "description": line.description,
        "quantity": line.quantity,
        "unit_price_ore": line.unit_price_ore,
        "gross_ore": line.gross_ore,
        "vat_rate_bp": line.vat_rate_bp,
        "vat_ore": line.vat_ore,
        "net_ore": line.net_ore,
    }


def _vat_json(v) -> dict:
    return {"rate_bp": v.rate_bp, "base_ore": v.base_ore, "vat_ore": v.vat_ore, "gross_ore": v.gross_ore}


# ---------------------------------------------------------------- the reconciler


@job
async def reconcile(actor: Actor, now: datetime) -> dict:
    """What webhooks may have missed:

    * payments still CREATED `reconcile_after_minutes` after creation are read
      from Vipps (a payment Vipps never created — no redirect URL, unknown
      there — is ended as failed and its hold released);
    * operations Vipps accepted whose outcome has not shown in the events
      (a capture reported later as not successful) are read again;
    * webhook deliveries stored but not processed are processed.

    (Orders that count as delivered by time alone are completed by
    portal.sales.settlement.auto_complete.)
    """
    settings = load_settings()
    counts = {"synced": 0, "failed": 0, "webhooks": 0}
    cutoff = now - timedelta(minutes=settings.vipps.reconcile_after_minutes)
    stale = await Payment.select().where((Payment.state == PaymentState.CREATED.value) & (Payment.created_at <= cutoff))
    for payment in stale:
        try:
            applied = await sync(actor, payment["reference"], now)
            counts["synced"] += 1
            if applied.state is PaymentState.CREATED and not payment["redirect_url"]:
                await give_up(actor, payment, now)
                counts["failed"] += 1
        except VippsError as exc:
            if exc.status == 404:
                await give_up(actor, payment, now)
                counts["failed"] += 1
            else:
                log.warning("reconciler: %s not read: %s", payment["reference"], exc)
    recent = await PaymentOperation.select(PaymentOperation.payment, PaymentOperation.idempotency_key).where(
        (PaymentOperation.status == "done") & (PaymentOperation.done_at >= now - timedelta(days=2)) & (PaymentOperation.kind == "capture")
    )
    reported = {
        r["idempotency_key"]
        for r in await PaymentEvent.select(PaymentEvent.idempotency_key).where(
            PaymentEvent.idempotency_key.is_in([r["idempotency_key"] for r in recent] or [""])
        )
    }
    for payment_id in {r["payment"] for r in recent if r["idempotency_key"] not in reported}:
        payment = await Payment.select(Payment.reference).where(Payment.id == payment_id).first()
        try:
            await sync(actor, payment["reference"], now)
            counts["synced"] += 1
        except VippsError as exc:
            log.warning("reconciler: %s not read: %s", payment["reference"], exc)
    for delivery in await WebhookDelivery.select().where(WebhookDelivery.processed_at.is_null()):
        await process_stored_webhook(actor, delivery["id"], now)
        counts["webhooks"] += 1
    return counts


@use_case("payment.stored_webhook")
async def process_stored_webhook(actor: Actor, delivery_id: int, now: datetime) -> None:
    """A webhook stored but not applied (the process died in between): apply it now, once."""
    delivery = await WebhookDelivery.select().where((WebhookDelivery.id == delivery_id) & WebhookDelivery.processed_at.is_null()).first()
    if delivery is None:
        return
    parsed = event_from_webhook(json.loads(delivery["body"])) if delivery["body"].startswith("{") else None
    applied = None
    if parsed:
        applied = await _store_events(parsed[0], [parsed[1]], "webhook", now)
    await WebhookDelivery.update({WebhookDelivery.processed_at: now}).where(WebhookDelivery.id == delivery_id)
    if applied is not None:
        await _audit_payment(actor, "payment.stored_webhook", parsed[0], applied, now)
    else:
        await record(actor, "payment.stored_webhook", now=now, subject="webhook", subject_id=delivery_id, after={"understood": False})


@use_case("payment.give_up")
async def give_up(actor: Actor, payment: dict, now: datetime) -> None:
    """Vipps never created the payment: it ends as failed (and its hold is released)."""
    changed = await (
        Payment.update({Payment.state: PaymentState.FAILED.value, Payment.problem: "Vipps never created the payment", Payment.updated_at: now})
        .where((Payment.id == payment["id"]) & (Payment.state == PaymentState.CREATED.value))
        .returning(Payment.id)
    )
    if changed:
        applied = await apply(payment["id"], now)
        await _audit_payment(actor, "payment.give_up", payment["reference"], applied, now)

"""Vipps webhooks into the app: authenticated, stored, applied once, in any order.

Payments are made the way a customer makes them (checkout with means=vipps,
against the session's dev Vipps over HTTP). The dev Vipps sends no webhooks
here: each test builds the deliveries Vipps would send — the body
`{msn, reference, pspReference, name, amount, timestamp, idempotencyKey,
success}` of an event the dev Vipps really recorded — signs them with the
installation's webhook secret and POSTs them to /hooks/vipps itself.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from portal.audit.domain import system
from portal.audit.service import acting
from portal.audit.tables import AuditEntry
from portal.capacity.tables import SlotClaim
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.notify.domain import SUPPLIER_KEY_MARK
from portal.orders.tables import Order, OrderLine
from portal.outbox.tables import OutboxMessage
from portal.payments import service as payments
from portal.payments.tables import (
    CouponRedemption,
    MoneyMovement,
    Payment,
    PaymentEvent,
    PaymentOperation,
    WebhookDelivery,
)
from portal.payments.vipps import signing
from portal.settings import load as load_settings
from tests.integration.helpers import confirm_with_code, first_free_slot, slots

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"  # three stylists, kr 549,00
VIDEO = "/s/lunde-radgivning/videokonsultasjon"  # one resource, kr 1 250,00
HOOK_URL = "http://127.0.0.1:8000/hooks/vipps"
PHONES = ["412 34 567", "412 34 568", "412 34 569", "412 34 570", "412 34 571", "412 34 572"]
#: Who the tests act as when they call a payment use case directly (the webhook's own actor, the reconciler).
WEBHOOK = system("vipps-webhook")
RECONCILER = system("test")


def secret() -> str:
    return load_settings().vipps.webhook_secret


# ---------------------------------------------------------------- making payments


async def vipps_payment(client, path: str = HAIRCUT, phone: str = PHONES[0]) -> dict:
    """A new visitor holds the first free time and goes to Vipps: the Payment row (state created)."""
    client.cookies.clear()  # a new visitor: a second hold must not abandon the first
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303, held.text[-1500:]
    checkout = held.headers["location"]
    sent = await confirm_with_code(client, checkout, {"means": "vipps", "phone": phone})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"], sent.text[-3000:]
    checkout_token = checkout.rsplit("/", 1)[-1]
    order = await Order.select().where(Order.checkout_token == checkout_token).first()
    payment = await Payment.select().where(Payment.order == order["id"]).first()
    assert payment["state"] == "created" and order["state"] == "held"
    return payment


async def capture(reference: str, amount_ore: int, key: str) -> None:
    """Take money the way the settlement worker does (the app's own client)."""
    await payments.vipps().capture(reference, amount_ore, key)


async def cancel(reference: str, key: str) -> None:
    await payments.vipps().cancel(reference, key)


def events_of(vipps, reference: str, name: str | None = None) -> list[dict]:
    """What the dev Vipps recorded (what Vipps would send as webhooks)."""
    recorded = list(vipps.payments[reference].events)
    return [e for e in recorded if name is None or e["name"] == name]


def body_of(event: dict, **changes) -> bytes:
    payload = {
        "msn": "123456",
        "reference": event["reference"],
        "pspReference": event["pspReference"],
        "name": event["name"],
        "amount": event["amount"],
        "timestamp": event["timestamp"],
        "idempotencyKey": event["idempotencyKey"],
        "success": event["success"],
    }
    payload.update(changes)
    return json.dumps(payload, separators=(",", ":")).encode()


async def deliver(client, body: bytes, *, key: str | None = None, url: str = HOOK_URL, date: str | None = None, headers: dict | None = None):
    signed = signing.sign(secret() if key is None else key, url=url, body=body, date=date)
    return await client.post(
        "/hooks/vipps", content=body, headers={"Content-Type": "application/json", **signed, **(headers or {})}
    )


async def take_at_once(bodies: list[bytes]) -> list[str]:
    """Signed deliveries handed to the webhook's service all at the same
    moment, each on its own connections. (The test client handles one
    request at a time, so concurrency has to be made here.)"""

    async def one(body: bytes) -> str:
        headers = signing.sign(secret(), url=HOOK_URL, body=body)
        return await payments.take_webhook(WEBHOOK, path_and_query="/hooks/vipps", headers=headers, body=body, now=clock.now())

    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def deliver_event(client, event: dict):
    response = await deliver(client, body_of(event))
    assert response.status_code == 200, response.text
    return response


async def payment_row(reference: str) -> dict:
    return await Payment.select().where(Payment.reference == reference).first()


async def order_of(payment: dict) -> dict:
    return await Order.select().output(load_json=True).where(Order.id == payment["order"]).first()


async def reservation_of(order_id: int) -> dict:
    """The order's (one) appointment reservation: its time and status."""
    (row,) = await Reservation.select().where(Reservation.order == order_id)
    return row


async def confirmations(order_id: int, *, audience: str = "customer") -> list[dict]:
    """The confirmation rows of the order for the customer (or, with
    audience="supplier", the email that tells the supplier)."""
    mark = f"%{SUPPLIER_KEY_MARK}%"
    whose = OutboxMessage.dedupe_key.like(mark) if audience == "supplier" else OutboxMessage.dedupe_key.not_like(mark)
    return await (
        OutboxMessage.select()
        .output(load_json=True)
        .where((OutboxMessage.order_id == order_id) & (OutboxMessage.topic == "confirmation") & whose)
        .order_by(OutboxMessage.id)
    )


async def assert_confirmed_once(order_id: int) -> None:
    """Confirmed, one set of confirmation messages, and the link in them is the order's."""
    order = await Order.select().where(Order.id == order_id).first()
    assert order["state"] == "confirmed" and order["manage_token"], order
    messages = await confirmations(order_id)
    assert messages, "no confirmation queued"
    channels = [m["channel"] for m in messages]
    assert len(channels) == len(set(channels)), f"confirmation queued more than once: {channels}"
    for message in messages:
        assert order["manage_token"] in json.dumps(message["payload"]), "the confirmation links to a manage token the order no longer has"
    told = await confirmations(order_id, audience="supplier")
    assert [m["channel"] for m in told] == ["email"], f"the supplier is told of a new booking once: {told}"


#: Everything a delivery could change (the booking is now an order, its line and its reservation; every change writes an audit entry).
TABLES = (
    Order,
    OrderLine,
    Reservation,
    SlotClaim,
    Payment,
    PaymentEvent,
    PaymentOperation,
    WebhookDelivery,
    OutboxMessage,
    MoneyMovement,
    CouponRedemption,
    AuditEntry,
)


async def snapshot() -> dict:
    return {table._meta.tablename: await table.select().order_by(table.id) for table in TABLES}


@pytest.fixture()
async def events_api_down(vipps):
    """Vipps' events API answers 500: only the webhooks tell the app anything."""
    vipps.fail_next("events", 500, count=10_000)
    yield
    vipps.reset()


# ---------------------------------------------------------------- the happy path


async def test_authorized_webhook_confirms_the_booking(client, vipps):
    payment = await vipps_payment(client)
    assert vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")

    response = await deliver_event(client, authorized)
    assert response.json() == {"status": "stored"}

    after = await payment_row(payment["reference"])
    assert (after["state"], after["authorized_ore"], after["captured_ore"], after["outcome_applied"]) == ("authorized", 549_00, 0, "confirmed")
    await assert_confirmed_once(payment["order"])
    channels = {m["channel"] for m in await confirmations(payment["order"])}
    assert {"email", "sms"} <= channels
    (stored,) = await PaymentEvent.select().where(PaymentEvent.payment == payment["id"])
    assert (stored["name"], stored["amount_ore"], stored["source"], stored["psp_reference"]) == ("AUTHORIZED", 549_00, "webhook", authorized["pspReference"])
    (received,) = await WebhookDelivery.select()
    assert received["reference"] == payment["reference"] and received["processed_at"] is not None and received["error"] == ""
    assert json.loads(received["body"])["pspReference"] == authorized["pspReference"]


async def test_an_authorisation_for_less_than_asked_never_confirms(client, vipps, events_api_down):
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    short = {**authorized, "amount": {"currency": "NOK", "value": 100}}
    await deliver_event(client, short)
    after = await payment_row(payment["reference"])
    assert after["outcome_applied"] == "short" and "100" in after["problem"]
    order = await order_of(after)
    assert order["state"] == "released" and order["manage_token"] is None
    assert await confirmations(payment["order"]) == []
    ops = await PaymentOperation.select().where(PaymentOperation.payment == payment["id"])
    assert [o["kind"] for o in ops] == ["cancel"]


async def test_the_webhook_event_type_name_is_understood_too(client, vipps):
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    await deliver(client, body_of(authorized, name="epayments.payment.authorized.v1"))
    assert (await payment_row(payment["reference"]))["state"] == "authorized"
    await assert_confirmed_once(payment["order"])


async def test_the_same_delivery_twice_is_applied_once(client, vipps):
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")

    await deliver_event(client, authorized)
    first = await order_of(payment)
    sent_first = await confirmations(payment["order"])
    await deliver_event(client, authorized)

    assert await PaymentEvent.count().where(PaymentEvent.payment == payment["id"]) == 1
    assert await WebhookDelivery.count() == 2  # every delivery is kept as it came
    assert (await order_of(payment))["manage_token"] == first["manage_token"]
    assert [m["id"] for m in await confirmations(payment["order"])] == [m["id"] for m in sent_first]
    await assert_confirmed_once(payment["order"])
    after = await payment_row(payment["reference"])
    assert after["authorized_ore"] == 549_00


async def test_duplicates_delivered_at_the_same_moment_confirm_once(client, vipps):
    """Vipps retries while the first delivery is still being handled (and the
    return page reads the payment at the same time): one confirmation, and
    the link in it still works."""
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    body = body_of(authorized)
    assert await take_at_once([body] * 6) == ["stored"] * 6
    assert await PaymentEvent.count().where(PaymentEvent.payment == payment["id"]) == 1
    await assert_confirmed_once(payment["order"])
    order = await order_of(payment)
    page = await client.get(f"/b/{order['manage_token']}")
    assert page.status_code == 200


async def test_concurrent_applies_of_one_payment_confirm_once(client, vipps):
    """The webhook, the return page and the reconciler may all apply the same
    authorisation at the same moment (separate connections): the booking is
    confirmed once, with one manage token, and the confirmation links to it."""
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    parsed = payments.event_from_webhook(json.loads(body_of(authorized)))
    assert parsed is not None
    reference, event = parsed
    now = clock.now()
    async def record_events() -> payments.Applied:
        # What the webhook use case does once it has stored the delivery.
        async with acting(system("test"), "test.webhook", now=now):
            return await payments._store_events(reference, [event], "webhook", now)

    results = await asyncio.gather(*(record_events() for _ in range(8)), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert await PaymentEvent.count().where(PaymentEvent.payment == payment["id"]) == 1
    await assert_confirmed_once(payment["order"])
    assert (await payment_row(reference))["outcome_applied"] == "confirmed"


# ---------------------------------------------------------------- out of order


async def test_captured_before_authorized(client, vipps, events_api_down):
    payment = await vipps_payment(client)
    reference = payment["reference"]
    vipps.approve(reference)
    await capture(reference, 100_00, "test-capture-1")
    created, authorized, captured = (events_of(vipps, reference, n)[0] for n in ("CREATED", "AUTHORIZED", "CAPTURED"))

    await deliver_event(client, captured)
    early = await payment_row(reference)
    assert (early["state"], early["captured_ore"]) == ("created", 0), "money counted before an authorisation"
    assert (await order_of(payment))["state"] == "held"

    for event in (authorized, captured, created, captured, authorized):
        await deliver_event(client, event)

    after = await payment_row(reference)
    assert (after["state"], after["authorized_ore"], after["captured_ore"], after["cancelled_ore"]) == ("authorized", 549_00, 100_00, 0)
    assert await PaymentEvent.count().where(PaymentEvent.payment == payment["id"]) == 3
    await assert_confirmed_once(payment["order"])


async def test_cancelled_before_authorized(client, vipps, events_api_down):
    payment = await vipps_payment(client)
    reference = payment["reference"]
    vipps.approve(reference)
    await cancel(reference, "test-cancel-1")
    authorized, cancelled = events_of(vipps, reference, "AUTHORIZED")[0], events_of(vipps, reference, "CANCELLED")[0]

    await deliver_event(client, cancelled)
    await deliver_event(client, authorized)
    await deliver_event(client, cancelled)

    after = await payment_row(reference)
    assert (after["state"], after["authorized_ore"], after["captured_ore"], after["cancelled_ore"]) == ("authorized", 549_00, 0, 549_00)


async def test_created_after_authorized(client, vipps, events_api_down):
    payment = await vipps_payment(client)
    reference = payment["reference"]
    vipps.approve(reference)
    created, authorized = events_of(vipps, reference, "CREATED")[0], events_of(vipps, reference, "AUTHORIZED")[0]
    await deliver_event(client, authorized)
    await deliver_event(client, created)
    after = await payment_row(reference)
    assert (after["state"], after["authorized_ore"]) == ("authorized", 549_00)
    await assert_confirmed_once(payment["order"])


async def test_an_event_that_does_not_fit_makes_the_app_read_the_payment(client, vipps):
    """Out of order with the events API up: the app asks Vipps for the whole story at once."""
    payment = await vipps_payment(client)
    reference = payment["reference"]
    vipps.approve(reference)
    await capture(reference, 200_00, "test-capture-2")
    (captured,) = events_of(vipps, reference, "CAPTURED")
    before = len(vipps.requests_for("events"))
    await deliver_event(client, captured)
    assert len(vipps.requests_for("events")) > before
    after = await payment_row(reference)
    assert (after["state"], after["authorized_ore"], after["captured_ore"]) == ("authorized", 549_00, 200_00)
    await assert_confirmed_once(payment["order"])


async def test_a_stale_fold_never_has_the_last_word(client, vipps, events_api_down, monkeypatch):
    """Forced interleaving: delivery k starts once delivery k-1 has read the
    payment's events, and they write in reverse order, so the first reader
    (which saw only the authorisation) would write last. Whatever the
    engine lets through, the stored payment must be the fold of every event."""
    import contextvars

    payment = await vipps_payment(client)
    reference = payment["reference"]
    vipps.approve(reference)
    await capture(reference, 200_00, "stale-capture-1")
    await capture(reference, 100_00, "stale-capture-2")
    await cancel(reference, "stale-cancel")
    recorded = {e["name"] + str(i): e for i, e in enumerate(events_of(vipps, reference))}
    order = [recorded["AUTHORIZED1"], recorded["CAPTURED2"], recorded["CAPTURED3"], recorded["CANCELLED4"], recorded["CREATED0"]]
    count = len(order)
    index: contextvars.ContextVar[int | None] = contextvars.ContextVar("delivery", default=None)
    may_start = [asyncio.Event() for _ in range(count)]
    everyone_read = asyncio.Event()
    have_read: list[int] = []
    real_events_of = payments.events_of

    async def events_then_wait(payment_id: int) -> list[dict]:
        rows = await real_events_of(payment_id)
        k = index.get()
        if k is None:
            return rows
        have_read.append(k)
        if k + 1 < count:
            may_start[k + 1].set()
        if len(have_read) >= count:
            everyone_read.set()
        try:  # a lock may keep the others from reading: do not wait for ever
            await asyncio.wait_for(everyone_read.wait(), timeout=0.25)
        except TimeoutError:
            pass
        await asyncio.sleep((count - 1 - k) * 0.05)  # the first reader writes last
        return rows

    monkeypatch.setattr(payments, "events_of", events_then_wait)

    async def delivery(k: int, event: dict) -> str:
        index.set(k)
        if k:
            try:
                await asyncio.wait_for(may_start[k].wait(), timeout=2)
            except TimeoutError:
                pass
        body = body_of(event)
        headers = signing.sign(secret(), url=HOOK_URL, body=body)
        return await payments.take_webhook(WEBHOOK, path_and_query="/hooks/vipps", headers=headers, body=body, now=clock.now())

    results = await asyncio.gather(*(delivery(k, e) for k, e in enumerate(order)))
    assert results == ["stored"] * count
    row = await payment_row(reference)
    assert (row["state"], row["authorized_ore"], row["captured_ore"], row["cancelled_ore"]) == ("authorized", 549_00, 300_00, 249_00)
    await assert_confirmed_once(payment["order"])


# ---------------------------------------------------------------- ended without money


async def test_aborted_releases_the_hold_and_the_time_is_offered_again(client, vipps):
    payment = await vipps_payment(client, VIDEO)
    order = await order_of(payment)
    reserved = await reservation_of(order["id"])
    day = clock.to_local(reserved["start"]).date().isoformat()

    async def offered() -> list[str]:
        page = await client.get(f"{VIDEO}?day={day}")
        assert page.status_code == 200
        return [datetime.fromisoformat(s).astimezone(timezone.utc) for s in slots(page.text)]

    assert reserved["start"] not in await offered(), "the held time is still offered"
    assert vipps.reject(payment["reference"])
    (aborted,) = events_of(vipps, payment["reference"], "ABORTED")
    await deliver_event(client, aborted)

    after = await order_of(payment)
    assert after["state"] == "released" and after["manage_token"] is None
    assert (await payment_row(payment["reference"]))["state"] == "aborted"
    assert await SlotClaim.count().where(SlotClaim.owner == f"r:{reserved['id']}") == 0
    assert reserved["start"] in await offered(), "the time is not offered again"
    assert await confirmations(order["id"]) == []


async def test_expired_releases_the_hold(client, vipps):
    payment = await vipps_payment(client)
    vipps.expire(payment["reference"])
    (expired,) = events_of(vipps, payment["reference"], "EXPIRED")
    await deliver_event(client, expired)
    assert (await order_of(payment))["state"] == "released"
    assert (await payment_row(payment["reference"]))["state"] == "expired"


async def test_a_delivery_stored_but_not_processed_is_processed_by_the_reconciler(client, vipps, events_api_down):
    """The process died between storing a delivery and applying it: the
    reconciler applies it (once)."""
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    now = clock.now()
    await WebhookDelivery.insert(WebhookDelivery(reference=payment["reference"], body=body_of(authorized).decode(), received_at=now))
    counts = await payments.reconcile(RECONCILER, now)
    assert counts["webhooks"] == 1
    assert (await payment_row(payment["reference"]))["state"] == "authorized"
    await assert_confirmed_once(payment["order"])
    assert await WebhookDelivery.count().where(WebhookDelivery.processed_at.is_null()) == 0
    assert (await payments.reconcile(RECONCILER, now))["webhooks"] == 0


# ---------------------------------------------------------------- forged and stale


async def _authorized_body(client, vipps) -> tuple[dict, bytes]:
    payment = await vipps_payment(client)
    vipps.approve(payment["reference"])
    (authorized,) = events_of(vipps, payment["reference"], "AUTHORIZED")
    return payment, body_of(authorized)


def _flip_signature(headers: dict) -> dict:
    auth = headers["Authorization"]
    head, _, sig = auth.rpartition("Signature=")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    return {**headers, "Authorization": f"{head}Signature={flipped}"}


async def test_forged_deliveries_are_refused_and_change_nothing(client, vipps):
    payment, body = await _authorized_body(client, vipps)
    before = await snapshot()
    good = signing.sign(secret(), url=HOOK_URL, body=body)
    changed = body.replace(b'"success":true', b'"success":false') if b'"success":true' in body else body[:-2] + b" }"
    attempts = {
        "bad signature": (body, _flip_signature(good)),
        "a byte of the body changed": (changed, good),
        "a byte changed and the content hash fixed up": (changed, {**good, "x-ms-content-sha256": signing.content_hash(changed)}),
        "wrong secret": (body, signing.sign("not-the-secret", url=HOOK_URL, body=body)),
        "signed for another host": (body, signing.sign(secret(), url="https://evil.example/hooks/vipps", body=body)),
        "signed for another path": (body, signing.sign(secret(), url="http://127.0.0.1:8000/hooks/other", body=body)),
        "no authorization": (body, {k: v for k, v in good.items() if k != "Authorization"}),
        "no date": (body, {k: v for k, v in good.items() if k != "x-ms-date"}),
        "no content hash": (body, {k: v for k, v in good.items() if k != "x-ms-content-sha256"}),
        "unsigned": (body, {}),
    }
    for what, (sent, headers) in attempts.items():
        response = await client.post("/hooks/vipps", content=sent, headers={"Content-Type": "application/json", **headers})
        assert response.status_code == 401, what
    assert await snapshot() == before
    assert (await order_of(payment))["state"] == "held"


async def test_stale_deliveries_are_refused(client, vipps):
    payment, body = await _authorized_body(client, vipps)
    before = await snapshot()
    for skew in (timedelta(minutes=-10), timedelta(minutes=-5, seconds=-2), timedelta(minutes=10), timedelta(hours=-25)):
        stale = signing.http_date(datetime.now(timezone.utc) + skew)
        response = await deliver(client, body, date=stale)
        assert response.status_code == 401, skew
    for malformed in ("yesterday", "Thu, 30 Mar 2023 08:38:32", ""):
        response = await deliver(client, body, date=malformed)
        assert response.status_code == 401, malformed
    assert await snapshot() == before


async def test_a_delivery_received_later_than_five_minutes_after_signing_is_refused(client, vipps):
    import time_machine

    payment, body = await _authorized_body(client, vipps)
    signed = signing.sign(secret(), url=HOOK_URL, body=body)
    before = await snapshot()
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=6), tick=True):
        response = await client.post("/hooks/vipps", content=body, headers={"Content-Type": "application/json", **signed})
    assert response.status_code == 401
    assert await snapshot() == before
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=4), tick=True):
        response = await client.post("/hooks/vipps", content=body, headers={"Content-Type": "application/json", **signed})
    assert response.status_code == 200


# ---------------------------------------------------------------- what is not ours


async def test_unknown_reference_is_stored_and_answered(client, vipps):
    body = json.dumps(
        {
            "msn": "123456",
            "reference": "ZZZZZZ-99",
            "pspReference": "7777777777",
            "name": "AUTHORIZED",
            "amount": {"currency": "NOK", "value": 1000},
            "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "idempotencyKey": None,
            "success": True,
        }
    ).encode()
    response = await deliver(client, body)
    assert response.status_code == 200
    (event,) = await PaymentEvent.select().where(PaymentEvent.reference == "ZZZZZZ-99")
    assert event["payment"] is None and event["name"] == "AUTHORIZED" and event["amount_ore"] == 1000
    (received,) = await WebhookDelivery.select()
    assert received["reference"] == "ZZZZZZ-99" and received["body"] == body.decode() and received["processed_at"] is not None
    assert await Payment.count() == 0


GARBAGE = {
    "not json": b"this is not json",
    "empty": b"",
    "a list": b"[1, 2, 3]",
    "a string": b'"AUTHORIZED"',
    "no reference": b'{"name": "AUTHORIZED", "amount": {"currency": "NOK", "value": 100}}',
    "unknown name": b'{"reference": "ZZZZZZ-1", "name": "PAID", "amount": {"value": 100}, "timestamp": "2026-11-20T10:00:00Z"}',
    "amount not a number": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": "lots"}, "timestamp": "2026-11-20T10:00:00Z"}',
    "amount a list": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": [], "timestamp": "2026-11-20T10:00:00Z"}',
    "amount infinite": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1e400}, "timestamp": "2026-11-20T10:00:00Z"}',
    "amount huge": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 99999999999999999999}, "timestamp": "2026-11-20T10:00:00Z"}',
    "amount negative": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": -500}, "timestamp": "2026-11-20T10:00:00Z"}',
    "bad timestamp": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "yesterday"}',
    "timestamp out of range": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "0001-01-01T00:00:00+23:59"}',
    "reference too long": json.dumps({"reference": "R" * 120, "name": "AUTHORIZED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z"}).encode(),
    "reference an object": b'{"reference": {"a": 1}, "name": "AUTHORIZED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z"}',
    "psp reference too long": json.dumps({"reference": "ZZZZZZ-1", "pspReference": "9" * 500, "name": "AUTHORIZED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z"}).encode(),
    "idempotency key an object": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z", "idempotencyKey": {"k": 1}}',
    "idempotency key too long": json.dumps({"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z", "idempotencyKey": "k" * 500}).encode(),
    "nul bytes": b'{"reference": "ZZZZZZ-1\\u0000", "name": "AUTHORIZED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z"}',
    "invalid utf-8": b'{"reference": "\xff\xfe", "name": "AUTHORIZED"}',
    "raw nul bytes": b'{"reference": "ZZZZZZ-1", "name": "\x00AUTHORIZED"}\x00',
    "nul in the psp reference": b'{"reference": "ZZZZZZ-1", "pspReference": "12\\u0000", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z"}',
    "nul in the idempotency key": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z", "idempotencyKey": "k\\u0000"}',
    "success a string": b'{"reference": "ZZZZZZ-1", "name": "CAPTURED", "amount": {"value": 1}, "timestamp": "2026-11-20T10:00:00Z", "success": "false"}',
    "deeply nested": b"[" * 5000 + b"]" * 5000,
}


async def test_garbage_correctly_signed_is_answered_2xx_and_stored(client, vipps):
    for what, body in GARBAGE.items():
        response = await deliver(client, body)
        assert 200 <= response.status_code < 300, (what, response.text[:500])
        received = await WebhookDelivery.select().order_by(WebhookDelivery.id, ascending=False).first()
        assert received is not None and received["processed_at"] is not None, f"{what}: not stored, or left for the reconciler to choke on"
    assert await WebhookDelivery.count() == len(GARBAGE)
    assert await Payment.count() == 0
    assert await MoneyMovement.count() == 0
    counts = await payments.reconcile(RECONCILER, clock.now())  # nothing left to redo, and it does not choke
    assert counts["webhooks"] == 0


async def test_garbage_about_a_real_payment_changes_nothing_of_it(client, vipps):
    payment = await vipps_payment(client)
    reference = payment["reference"]
    before = await payment_row(reference)
    for raw in (
        {"reference": reference, "name": "CAPTURED", "amount": {"value": 1e400}, "timestamp": "2026-11-20T10:00:00Z"},
        {"reference": reference, "name": "AUTHORIZED", "amount": {"value": 2**40}, "timestamp": "2026-11-20T10:00:00Z"},
        {"reference": reference, "name": "AUTHORIZED", "amount": {"value": 549_00}, "timestamp": "not a time"},
    ):
        body = json.dumps(raw).encode() if "e400" not in str(raw) else json.dumps(raw).replace("Infinity", "1e400").encode()
        response = await deliver(client, body)
        assert 200 <= response.status_code < 300, response.text[:500]
    after = await payment_row(reference)
    assert (after["state"], after["authorized_ore"]) == (before["state"], 0)
    assert (await order_of(payment))["state"] == "held"


# ---------------------------------------------------------------- a burst


async def test_a_burst_of_shuffled_duplicated_deliveries(client, vipps, events_api_down):
    """Four payments, every event of theirs delivered at least once, 50
    deliveries in all, shuffled, forty of them at the same moment. Vipps' events API is down,
    so the webhooks alone must bring each payment to the end Vipps reports."""
    paid, captured, rejected, expired = [await vipps_payment(client, phone=PHONES[i]) for i in range(4)]
    vipps.approve(paid["reference"])
    vipps.approve(captured["reference"])
    await capture(captured["reference"], 300_00, "burst-capture-1")
    await capture(captured["reference"], 49_00, "burst-capture-2")
    await cancel(captured["reference"], "burst-cancel")
    vipps.reject(rejected["reference"])
    vipps.expire(expired["reference"])

    everything = [e for p in (paid, captured, rejected, expired) for e in events_of(vipps, p["reference"])]
    rng = random.Random(4)
    deliveries = list(everything)
    while len(deliveries) < 50:
        deliveries.append(rng.choice(everything))
    rng.shuffle(deliveries)
    # The first ten through the app over HTTP, the other forty all at once.
    for event in deliveries[:10]:
        await deliver_event(client, event)
    assert await take_at_once([body_of(e) for e in deliveries[10:]]) == ["stored"] * 40

    expected = {
        paid["reference"]: ("authorized", 549_00, 0, 0, "confirmed"),
        captured["reference"]: ("authorized", 549_00, 349_00, 200_00, "confirmed"),
        rejected["reference"]: ("aborted", 0, 0, 0, "released"),
        expired["reference"]: ("expired", 0, 0, 0, "released"),
    }
    for reference, want in expected.items():
        row = await payment_row(reference)
        assert (row["state"], row["authorized_ore"], row["captured_ore"], row["cancelled_ore"], row["outcome_applied"]) == want, reference
        assert await PaymentEvent.count().where(PaymentEvent.payment == row["id"]) == len(events_of(vipps, reference))
    for p in (paid, captured):
        await assert_confirmed_once(p["order"])
    for p in (rejected, expired):
        order = await order_of(p)
        assert order["state"] == "released" and await confirmations(order["id"]) == []
    assert await WebhookDelivery.count() == 50
    assert await WebhookDelivery.count().where(WebhookDelivery.processed_at.is_null()) == 0
    # money never counted twice
    assert sum(r["captured_ore"] for r in await Payment.select(Payment.captured_ore)) == 349_00


"""When Vipps fails: 5xx answers, timeouts, answers lost after the work was
done, refused captures — and the paths that learn what happened anyway (the
reconciler, the return page, webhooks), which must agree.

Against the session's dev Vipps over real HTTP, with injected faults
(`fail_next`, `delay_next`, `fail_captures`). PORTAL_VIPPS_TIMEOUT is 2 s here.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlparse

import pytest

from portal.catalogue.tables import Supplier
from portal.lib import clock
from portal.orders.tables import Order
from portal.outbox.tables import OutboxMessage
from portal.payments import service
from portal.payments.tables import MoneyMovement, Payment, PaymentEvent
from portal.payments.vipps import signing
from portal.sales import settlement
from portal.settings import load as load_settings
from tests.integration.helpers import confirm_with_code
from tests.integration.staff import slug_of, staff_login
from tests.integration.test_payment_lifecycle import (
    ACTOR,
    HAIRCUT,
    Booked,
    aggregate,
    book_with_vipps,
    by_checkout,
    calls,
    claims,
    come_back,
    drain,
    hold_time,
    messages,
    offered,
    ops,
    order_row,
    payment,
    press_confirm,
    requests,
    reservation,
    says,
    submit_to_vipps,
    sweep,
    travel,
)

UNAVAILABLE = "Vipps is not answering right now. Nothing has been charged; your time is still held. Try again in a moment."


async def _checkout(client) -> tuple[str, dict]:
    """A held checkout: (its URL, its order with the reservation's "start")."""
    checkout, _ = await hold_time(client)
    held = await by_checkout(checkout)
    return checkout, {**held, "start": (await reservation(held["id"]))["start"]}


def _create_calls(vipps) -> list[dict]:
    return [e for e in vipps.requests_for("create") if (e["response"] or {}).get("status") != 401]


async def _assert_unavailable_then_recovered(client, vipps, checkout: str, row: dict, answered: object) -> None:
    """The 503 page left a payment to resume; pressing confirm again resumes it."""
    assert answered.status_code == 503
    assert says(answered.text, UNAVAILABLE)
    held = await order_row(row["id"])
    assert held["state"] == "held" and held["expires_at"] > clock.now()
    assert await claims(row["id"]) > 0
    (stored,) = await Payment.select().where(Payment.order == row["id"])
    assert stored["state"] == "created" and stored["redirect_url"] == ""
    assert stored["create_key"].startswith("create-")
    sent = _create_calls(vipps)
    assert {e["headers"]["idempotency-key"] for e in sent} == {stored["create_key"]}
    assert {e["json"]["reference"] for e in sent} == {stored["reference"]}

    again = await press_confirm(client, checkout)
    assert again.status_code == 303 and "/landing/" in again.headers["location"], again.text[-1500:]
    (resumed,) = await Payment.select().where(Payment.order == row["id"])
    assert (resumed["id"], resumed["reference"], resumed["create_key"]) == (stored["id"], stored["reference"], stored["create_key"])
    assert resumed["redirect_url"] == again.headers["location"]
    sent = _create_calls(vipps)
    assert len(sent) > 2
    assert {e["headers"]["idempotency-key"] for e in sent} == {stored["create_key"]}
    assert {e["json"]["reference"] for e in sent} == {stored["reference"]}
    assert list(vipps.payments) == [stored["reference"]]

    # And it is a payment like any other.
    assert vipps.approve(stored["reference"])
    booked = Booked(checkout, row["checkout_token"], row["start"], row["id"], stored["reference"])
    assert (await come_back(client, booked)).status_code == 303
    assert (await order_row(row["id"]))["state"] == "confirmed"


# ---------------------------------------------------------------- creating the payment


async def test_one_5xx_on_create_is_retried_at_once_with_the_same_key(client, vipps):
    checkout, row = await _checkout(client)
    vipps.fail_next("create", 503)
    sent = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"], sent.text[-1500:]
    first, second = _create_calls(vipps)
    assert first["response"]["status"] == 503 and second["response"]["status"] == 201
    assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"]
    assert first["json"] == second["json"]
    (stored,) = await Payment.select().where(Payment.order == row["id"])
    assert stored["create_key"] == first["headers"]["idempotency-key"]
    assert list(vipps.payments) == [stored["reference"]]

    # Pressing confirm again (the back button) sends the customer to the same payment.
    again = await press_confirm(client, checkout)
    assert again.status_code == 303 and again.headers["location"] == sent.headers["location"]
    assert len(_create_calls(vipps)) == 2 and list(vipps.payments) == [stored["reference"]]
    assert await Payment.count().where(Payment.order == row["id"]) == 1


async def test_two_5xx_on_create_give_a_clear_503_and_pressing_again_resumes_the_same_payment(client, vipps):
    checkout, row = await _checkout(client)
    vipps.fail_next("create", 500, count=2)
    answered = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert len(_create_calls(vipps)) == 2 and vipps.payments == {}
    await _assert_unavailable_then_recovered(client, vipps, checkout, row, answered)


async def test_a_create_that_times_out_is_resumed_with_the_same_key(client, vipps):
    checkout, row = await _checkout(client)
    timeout = load_settings().vipps.timeout_seconds
    # The first try: Vipps creates the payment, its answer comes after our timeout.
    # The quick retry (same key): Vipps answers it, the answer is lost on the way.
    vipps.delay_next("create", timeout + 0.3)
    vipps.fail_next("create", 502, count=2, after_effect=True)
    answered = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert len(_create_calls(vipps)) == 2
    assert len(vipps.payments) == 1
    await _assert_unavailable_then_recovered(client, vipps, checkout, row, answered)


async def test_a_create_whose_answer_was_lost_is_not_made_twice(client, vipps):
    checkout, row = await _checkout(client)
    vipps.fail_next("create", 502, count=2, after_effect=True)
    answered = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert len(vipps.payments) == 1
    await _assert_unavailable_then_recovered(client, vipps, checkout, row, answered)


# ---------------------------------------------------------------- taking the money


async def _deliver(booked: Booked) -> dt.datetime:
    at = booked.start + dt.timedelta(minutes=30)
    await settlement.mark_delivered(ACTOR, booked.order_id, at)
    return at


async def test_a_refused_capture_is_shown_to_customer_and_supplier(client, vipps):
    booked = await book_with_vipps(client, vipps)
    row = await order_row(booked.order_id)
    vipps.fail_captures()
    with travel(booked.start + dt.timedelta(minutes=30)):
        await _deliver(booked)
        await drain()
    (capture,) = await ops(booked.reference)
    assert (capture["kind"], capture["status"]) == ("capture", "failed")
    assert capture["error"]
    p = await payment(booked.reference)
    assert p["problem"] and p["captured_ore"] == 0
    assert aggregate(vipps, booked.reference)["captured"] == 0
    assert await MoneyMovement.count().where(MoneyMovement.order == booked.order_id) == 0

    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "We could not take the payment with Vipps. The seller has been told and will contact you about another way to pay.")
    slug = await slug_of(row["supplier"])
    await staff_login(client, slug)
    office = await client.get(f"/kontor/{slug}/ordre/{booked.order_id}")
    assert office.status_code == 200
    assert says(office.text, "Problem with the payment:")
    assert "failed" in office.text

    supplier = await Supplier.select(Supplier.email).where(Supplier.id == row["supplier"]).first()
    problems = await messages(booked.order_id, "payment_problem", audience="all")
    assert {(m["channel"], m["recipient"]) for m in problems} == {
        ("email", "kari@example.no"),
        ("sms", "+4741234567"),
        ("email", supplier["email"]),
    }

    # Reading Vipps again (the reconciler, a later sync) does not tell them twice.
    later = booked.start + dt.timedelta(hours=1)
    with travel(later):
        await sweep(later)
        await service.sync(ACTOR, booked.reference, later)
        await drain()
    assert len(await messages(booked.order_id, "payment_problem", audience="all")) == 3
    assert (await payment(booked.reference))["problem"]


@pytest.mark.parametrize("after_effect", [False, True], ids=["not-done", "done-but-answer-lost"])
async def test_a_capture_vipps_did_not_answer_is_retried_later_with_the_same_key(client, vipps, after_effect):
    booked = await book_with_vipps(client, vipps)
    vipps.fail_next("capture", 503, after_effect=after_effect)
    at = booked.start + dt.timedelta(minutes=30)
    with travel(at):
        await _deliver(booked)
        await drain()
        (row,) = await OutboxMessage.select().where(OutboxMessage.channel == "payment")
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"] and row["next_attempt_at"] > clock.now()
        (capture,) = await ops(booked.reference)
        assert capture["status"] == "pending"
        assert (await payment(booked.reference))["problem"] == ""
        assert await drain() == 0  # not due yet
    retry_at = row["next_attempt_at"] + dt.timedelta(seconds=1)
    with travel(retry_at):
        await drain()
    first, second = requests(vipps, booked.reference, "capture")
    assert first["response"]["status"] == 503 and second["response"]["status"] == 200
    assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"] == capture["idempotency_key"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 0}
    (capture,) = await ops(booked.reference)
    assert capture["status"] == "done"
    (row,) = await OutboxMessage.select().where(OutboxMessage.channel == "payment")
    assert row["status"] == "sent"
    assert (await payment(booked.reference))["captured_ore"] == 549_00
    assert [m["amount_ore"] for m in await service.movements(booked.order_id)] == [549_00]


# ---------------------------------------------------------------- the reconciler


async def test_the_reconciler_confirms_a_payment_approved_without_the_return_page(client, vipps):
    booked = await submit_to_vipps(client)
    created = (await payment(booked.reference))["created_at"]
    assert vipps.approve(booked.reference)  # the customer never came back to us

    early = created + dt.timedelta(minutes=11, seconds=59)
    counts = await sweep(early)
    assert counts["synced"] == 0
    assert (await order_row(booked.order_id))["state"] == "held"

    due = created + dt.timedelta(minutes=13)
    counts = await sweep(due)
    assert counts["synced"] == 1 and counts["failed"] == 0
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed" and row["manage_token"]
    p = await payment(booked.reference)
    assert (p["state"], p["authorized_ore"], p["outcome_applied"]) == ("authorized", 549_00, "confirmed")
    assert {m["channel"] for m in await messages(booked.order_id, "confirmation")} == {"email", "sms"}
    # The reconciler no longer looks at it.
    assert (await sweep(due + dt.timedelta(minutes=5)))["synced"] == 0


async def test_the_reconciler_ends_a_payment_vipps_never_created_and_frees_the_time(client, vipps):
    checkout, row = await _checkout(client)
    vipps.fail_next("create", 504, count=2)  # nothing reached Vipps
    answered = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert answered.status_code == 503 and vipps.payments == {}
    (stored,) = await Payment.select().where(Payment.order == row["id"])
    day = clock.to_local(row["start"]).date()
    assert row["start"].isoformat() not in (await offered(client, HAIRCUT, day))[0]

    counts = await sweep(stored["created_at"] + dt.timedelta(minutes=11))
    assert counts["failed"] == 0 and (await payment(stored["reference"]))["state"] == "created"

    counts = await sweep(stored["created_at"] + dt.timedelta(minutes=13))
    assert counts["failed"] == 1
    p = await payment(stored["reference"])
    assert (p["state"], p["outcome_applied"]) == ("failed", "released")
    assert p["problem"]
    assert (await order_row(row["id"]))["state"] == "released"
    assert await claims(row["id"]) == 0
    assert row["start"].isoformat() in (await offered(client, HAIRCUT, day))[0]
    assert calls(vipps, stored["reference"], "capture", "cancel", "refund") == []


# ---------------------------------------------------------------- every path, any order


def _webhook_body(event: dict) -> bytes:
    keys = ("reference", "pspReference", "name", "amount", "timestamp", "idempotencyKey", "success")
    return json.dumps({"msn": load_settings().vipps.merchant_serial_number, **{k: event[k] for k in keys}}).encode()


async def _webhooks(client, vipps, reference: str) -> None:
    """Vipps' webhooks for every event so far, delivered newest first."""
    for event in reversed(list(vipps.payments[reference].events)):
        body = _webhook_body(event)
        signed = signing.sign(load_settings().vipps.webhook_secret, url="http://127.0.0.1:8000/hooks/vipps", body=body)
        answered = await client.post("/hooks/vipps", content=body, headers={"Content-Type": "application/json", **signed})
        assert answered.status_code == 200, answered.text


ORDERS = [
    ("sync", "return", "reconcile", "webhook"),
    ("webhook", "reconcile", "return", "sync"),
    ("reconcile", "webhook", "sync", "return"),
    ("return", "sync", "webhook", "reconcile"),
]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
async def test_every_path_in_any_order_gives_the_same_payment_and_one_confirmation(client, vipps, order):
    booked = await submit_to_vipps(client)
    assert vipps.approve(booked.reference)
    created = (await payment(booked.reference))["created_at"]
    for path in order:
        if path == "sync":
            await service.sync(ACTOR, booked.reference, clock.now())
        elif path == "return":
            assert (await come_back(client, booked)).status_code == 303
        elif path == "reconcile":
            await sweep(created + dt.timedelta(minutes=13))
        else:
            await _webhooks(client, vipps, booked.reference)
    p = await payment(booked.reference)
    assert {k: p[k] for k in ("state", "amount_ore", "authorized_ore", "captured_ore", "refunded_ore", "cancelled_ore", "problem", "outcome_applied")} == {
        "state": "authorized",
        "amount_ore": 549_00,
        "authorized_ore": 549_00,
        "captured_ore": 0,
        "refunded_ore": 0,
        "cancelled_ore": 0,
        "problem": "",
        "outcome_applied": "confirmed",
    }
    assert p["authorized_at"] is not None
    names = sorted(e["name"] for e in await PaymentEvent.select(PaymentEvent.name).where(PaymentEvent.payment == p["id"]))
    assert names == ["AUTHORIZED", "CREATED"]
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed"
    assert sorted(m["channel"] for m in await messages(booked.order_id, "confirmation")) == ["email", "sms"]
    assert [m["channel"] for m in await messages(booked.order_id, "confirmation", audience="supplier")] == ["email"]
    assert await ops(booked.reference) == []
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []

    # The money later moves the same way whichever path tells us.
    at = booked.start + dt.timedelta(minutes=30)
    with travel(at):
        await settlement.mark_delivered(ACTOR, booked.order_id, at)
        await drain()
        for path in order:
            if path == "webhook":
                await _webhooks(client, vipps, booked.reference)
            else:
                await service.sync(ACTOR, booked.reference, clock.now())
    p = await payment(booked.reference)
    assert (p["captured_ore"], p["cancelled_ore"], p["problem"]) == (549_00, 0, "")
    assert await MoneyMovement.count().where(MoneyMovement.order == booked.order_id) == 1
    assert await Order.count().where(Order.id == booked.order_id) == 1


async def test_a_capture_vipps_never_answers_is_not_lost_silently_when_the_outbox_gives_up(client, vipps):
    """Vipps answers 5xx to every try until the outbox stops trying: the
    capture must not stay "pending" with nobody told — it is marked failed
    and the supplier and the customer hear of it, like a refused capture."""
    booked = await book_with_vipps(client, vipps)
    tries = load_settings().outbox.max_attempts
    vipps.fail_next("capture", 503, count=tries)
    moment = booked.start + dt.timedelta(minutes=30)
    with travel(moment):
        await _deliver(booked)
    for _ in range(tries):
        with travel(moment):
            await drain()
        (row,) = await OutboxMessage.select().where(OutboxMessage.channel == "payment")
        if row["status"] != "pending":
            break
        moment = row["next_attempt_at"] + dt.timedelta(seconds=1)
    assert row["status"] == "failed" and row["attempts"] == tries
    assert len(requests(vipps, booked.reference, "capture")) == tries
    (capture,) = await ops(booked.reference)
    assert capture["status"] == "failed", "the worker gave up, but the capture still says pending"
    assert (await payment(booked.reference))["problem"]
    assert len(await messages(booked.order_id, "payment_problem", audience="all")) == 3


async def test_the_return_page_waits_when_vipps_cannot_be_read_and_polls_slower_on_429(client, vipps):
    booked = await submit_to_vipps(client)
    assert vipps.approve(booked.reference)
    vipps.fail_next("events", 500)
    page = await come_back(client, booked)
    assert page.status_code == 200 and says(page.text, "Waiting for Vipps …")
    assert (await order_row(booked.order_id))["state"] == "held"

    vipps.fail_next("events", 429)
    polled = await client.get(f"/pay/{booked.signed}/status?n=3", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "HX-Redirect" not in polled.headers
    assert 'hx-trigger="load delay:8s"' in polled.text  # 2 s × 4 after a 429

    polled = await client.get(f"/pay/{booked.signed}/status?n=4", headers={"HX-Request": "true"})
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed" and polled.headers["HX-Redirect"] == f"/b/{row['manage_token']}?new=1"


async def test_a_fee_capture_vipps_did_not_answer_is_retried_before_the_rest_is_released(client, vipps):
    booked = await book_with_vipps(client, vipps)
    vipps.fail_next("capture", 500)
    at = booked.start + dt.timedelta(minutes=10)
    with travel(at):
        await settlement.mark_no_show(ACTOR, booked.order_id, at)
        await drain()
        assert calls(vipps, booked.reference, "capture", "cancel") == ["capture"]  # the release waits for the fee
        assert [o["status"] for o in await ops(booked.reference)] == ["pending", "pending"]
        (row,) = await OutboxMessage.select().where(OutboxMessage.channel == "payment")
    with travel(row["next_attempt_at"] + dt.timedelta(seconds=1)):
        await drain()
    assert calls(vipps, booked.reference, "capture", "cancel") == ["capture", "capture", "cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 274_50, "cancelled": 274_50, "refunded": 0}
    assert [o["status"] for o in await ops(booked.reference)] == ["done", "done"]
    assert [m["amount_ore"] for m in await service.movements(booked.order_id)] == [274_50]


@pytest.mark.parametrize("ended", ["expired", "rejected"])
async def test_paying_again_after_the_vipps_payment_ended_makes_a_new_attempt(client, vipps, ended):
    """The customer left Vipps without paying (said no, or let Vipps' 10
    minutes run out) and, still inside the hold, presses "pay" again on the
    checkout: they must get a payment they can approve, not the dead one."""
    booked = await submit_to_vipps(client)
    row = await order_row(booked.order_id)
    moment = clock.now() + dt.timedelta(minutes=11 if ended == "expired" else 1)
    assert moment < row["expires_at"]
    with travel(moment):
        if ended == "rejected":
            assert vipps.reject(booked.reference)
        again = await press_confirm(client, booked.checkout)
        assert again.status_code == 303, again.text[-1500:]
        second = await service.latest_payment(booked.order_id)
        assert second["reference"] == f"{row['reference']}-2"
        assert again.headers["location"] == second["redirect_url"] != booked.landing
        assert vipps.payments[second["reference"]].state == "CREATED"
        assert vipps.approve(second["reference"])
        assert (await come_back(client, booked)).status_code == 303
        assert (await order_row(booked.order_id))["state"] == "confirmed"
        # The first attempt, read later by the reconciler, changes nothing.
        await sweep(moment + dt.timedelta(minutes=13))
    first = await payment(booked.reference)
    assert first["state"] == ("expired" if ended == "expired" else "aborted")
    assert (await order_row(booked.order_id))["state"] == "confirmed"
    assert (await payment(second["reference"]))["outcome_applied"] == "confirmed"
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []


async def test_paying_again_after_approving_in_vipps_confirms_without_a_second_payment(client, vipps):
    booked = await submit_to_vipps(client)
    assert vipps.approve(booked.reference)  # approved, but the customer came back with the back button
    again = await press_confirm(client, booked.checkout)
    assert again.status_code == 303
    landed = await client.get(again.headers["location"], follow_redirects=True)
    assert landed.status_code == 200
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed" and urlparse(str(landed.url)).path == f"/b/{row['manage_token']}"
    assert list(vipps.payments) == [booked.reference]
    assert await Payment.count().where(Payment.order == booked.order_id) == 1

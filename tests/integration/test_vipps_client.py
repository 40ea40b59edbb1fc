"""The real VippsClient against the dev Vipps over real HTTP (uvicorn in a
thread): tokens, the whole money flow, idempotent retries after errors and
timeouts, conflicts, lapsed reservations, signed webhooks, the landing page."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from portal.payments.vipps import signing
from portal.payments.vipps.client import VippsClient, VippsConfig, VippsError, VippsUnavailable
from portal.payments.vipps.devserver import WEBHOOK_EVENT_TYPES, DevVipps, dev_vipps_router
from tests.integration.vipps_support import (  # noqa: F401 - fixtures
    Clock,
    WebhookReceiver,
    config_for,
    dev_vipps,
    dev_vipps_module,
    dev_vipps_server,
    free_port,
    serve_in_thread,
    vipps_client,
)

PHONE = "4791234567"
RETURN_URL = "http://shop.invalid/pay/return?b=signed-token"


async def create(client: VippsClient, reference: str = "booking-42-1", amount: int = 49900, key: str = "create-booking-42-1"):
    return await client.create_payment(
        reference=reference,
        amount_ore=amount,
        phone_number=PHONE,
        return_url=RETURN_URL,
        description="Klipp hos Salong Nord, 12. desember",
        idempotency_key=key,
    )


async def authorized(client: VippsClient, dev: DevVipps, reference: str = "booking-42-1", amount: int = 49900) -> None:
    await create(client, reference, amount, key=f"create-{reference}")
    assert dev.approve(reference)


# -- access token --------------------------------------------------------


async def test_token_cached_then_refreshed_five_minutes_before_expiry():
    clock = Clock()
    with dev_vipps_server(now=clock) as (dev, base_url):
        async with VippsClient(config_for(dev, base_url), now=clock) as client:
            first = await client.access_token()
            await create(client)
            await client.get_payment("booking-42-1")
            assert await client.access_token() == first
            clock.advance(minutes=54, seconds=59)
            assert await client.access_token() == first
            assert len(dev.requests_for("token")) == 1
            clock.advance(seconds=1)  # 55 minutes: 5 before the hour
            second = await client.access_token()
            assert second != first
            assert len(dev.requests_for("token")) == 2
            # The new token works (and the dev Vipps' clock moved too: nobody approved in 10 minutes).
            assert (await client.get_payment("booking-42-1")).state == "EXPIRED"
            assert dev.requests_for("get")[-1]["headers"]["authorization"] == f"Bearer {second}"


@pytest.mark.parametrize("as_int", [False, True], ids=["strings", "integers"])
async def test_token_numbers_as_strings_or_integers(dev_vipps, as_int):
    dev, base_url = dev_vipps
    dev.token_numbers_as_int = as_int
    clock = Clock()
    async with VippsClient(config_for(dev, base_url), now=clock) as client:
        await client.access_token()
        answer = json.loads(dev.requests_for("token")[0]["response"]["body"])
        assert isinstance(answer["expires_on"], int) is as_int
        # The cached token is kept until 5 minutes before the server's expires_on.
        expires_on = datetime.fromtimestamp(int(answer["expires_on"]), timezone.utc)
        clock.moment = expires_on - timedelta(minutes=5, seconds=1)
        await client.access_token()
        assert len(dev.requests_for("token")) == 1
        clock.moment = expires_on - timedelta(minutes=5)
        await client.access_token()
        assert len(dev.requests_for("token")) == 2


async def test_token_request_carries_the_four_headers(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await vipps_client.access_token()
    headers = dev.requests_for("token")[0]["headers"]
    assert headers["client_id"] == dev.client_id
    assert headers["client_secret"] == dev.client_secret
    assert headers["ocp-apim-subscription-key"] == dev.subscription_key
    assert headers["merchant-serial-number"] == dev.merchant_serial_number


async def test_wrong_client_secret_is_a_token_error(dev_vipps):
    dev, base_url = dev_vipps
    async with VippsClient(config_for(dev, base_url, client_secret="wrong")) as client:
        with pytest.raises(VippsError) as info:
            await client.get_payment("booking-42-1")
    assert info.value.operation == "token" and info.value.status == 401 and not info.value.retryable
    assert dev.requests_for("get") == []


async def test_concurrent_callers_share_one_token_fetch(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client)
    dev.request_log.clear()
    fresh = VippsClient(vipps_client.config)
    try:
        dev.delay_next("token", 0.1)
        results = await asyncio.gather(*(fresh.get_payment("booking-42-1") for _ in range(5)))
    finally:
        await fresh.aclose()
    assert {r.state for r in results} == {"CREATED"}
    assert len(dev.requests_for("token")) == 1


async def test_401_drops_the_token_and_retries_once(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client)
    dev.revoke_tokens()
    assert (await vipps_client.get_payment("booking-42-1")).state == "CREATED"
    assert len(dev.requests_for("token")) == 2
    assert [e["response"]["status"] for e in dev.requests_for("get")] == [401, 200]

    dev.fail_next("get", 401, count=2)
    with pytest.raises(VippsError) as info:
        await vipps_client.get_payment("booking-42-1")
    assert info.value.status == 401
    assert len(dev.requests_for("get")) == 4  # one retry, not a loop
    assert len(dev.requests_for("token")) == 3


async def test_401_on_capture_retries_with_the_same_idempotency_key(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await authorized(vipps_client, dev)
    dev.fail_next("capture", 401)
    result = await vipps_client.capture("booking-42-1", 10000, "capture-1")
    assert result.aggregate.captured_ore == 10000
    keys = [e["headers"]["idempotency-key"] for e in dev.requests_for("capture")]
    assert keys == ["capture-1", "capture-1"]


# -- the money flow ------------------------------------------------------


async def test_full_flow_reserve_capture_twice_refund_cancel_rest(vipps_client, dev_vipps):
    dev, base_url = dev_vipps
    created = await create(vipps_client)
    assert created.reference == "booking-42-1"
    assert created.redirect_url == f"{base_url}/landing/booking-42-1"
    assert (await vipps_client.get_payment("booking-42-1")).state == "CREATED"

    await vipps_client.force_approve("booking-42-1")
    info = await vipps_client.get_payment("booking-42-1")
    assert (info.state, info.amount_ore, info.aggregate.authorized_ore) == ("AUTHORIZED", 49900, 49900)
    assert info.psp_reference and info.raw["reference"] == "booking-42-1"

    first = await vipps_client.capture("booking-42-1", 10000, "capture-1")
    second = await vipps_client.capture("booking-42-1", 15000, "capture-2")
    assert first.aggregate.captured_ore == 10000 and second.aggregate.captured_ore == 25000
    assert second.state == "AUTHORIZED"  # never changes after authorisation
    refund = await vipps_client.refund("booking-42-1", 5000, "refund-1")
    assert (refund.aggregate.refunded_ore, refund.aggregate.refundable_ore) == (5000, 20000)
    cancel = await vipps_client.cancel("booking-42-1", "cancel-1")
    assert cancel.aggregate.cancelled_ore == 24900
    assert cancel.aggregate.reserved_ore == 0

    final = await vipps_client.get_payment("booking-42-1")
    assert final.state == "AUTHORIZED"
    assert final.aggregate == cancel.aggregate

    events = await vipps_client.get_events("booking-42-1")
    assert [(e.name, e.amount_ore, e.idempotency_key) for e in events] == [
        ("CREATED", 49900, "create-booking-42-1"),
        ("AUTHORIZED", 49900, None),
        ("CAPTURED", 10000, "capture-1"),
        ("CAPTURED", 15000, "capture-2"),
        ("REFUNDED", 5000, "refund-1"),
        ("CANCELLED", 24900, "cancel-1"),
    ]
    assert all(e.success for e in events)
    assert len({e.psp_reference for e in events}) == len(events)
    assert all(e.timestamp.tzinfo is not None and e.timestamp.utcoffset() == timedelta(0) for e in events)
    assert first.psp_reference == events[2].psp_reference


async def test_every_call_carries_the_documented_headers(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client)
    await vipps_client.force_approve("booking-42-1")
    await vipps_client.get_events("booking-42-1")
    await vipps_client.capture("booking-42-1", 100, "capture-1")
    await vipps_client.refund("booking-42-1", 100, "refund-1")
    await vipps_client.cancel("booking-42-1", "cancel-1")
    calls = [e for e in dev.request_log if e["operation"] != "token"]
    assert {e["operation"] for e in calls} == {"create", "approve", "events", "capture", "refund", "cancel"}
    token = (await vipps_client.access_token())
    for entry in calls:
        h = entry["headers"]
        assert h["authorization"] == f"Bearer {token}"
        assert h["ocp-apim-subscription-key"] == dev.subscription_key
        assert h["merchant-serial-number"] == dev.merchant_serial_number
        assert (h["vipps-system-name"], h["vipps-system-version"]) == ("portal", "1.0")
        assert (h["vipps-system-plugin-name"], h["vipps-system-plugin-version"]) == ("portal-vipps", "1.0")
        assert ("idempotency-key" in h) is (entry["operation"] in {"create", "capture", "refund", "cancel"})
    create_body = dev.requests_for("create")[0]["json"]
    assert create_body == {
        "amount": {"currency": "NOK", "value": 49900},
        "paymentMethod": {"type": "WALLET"},
        "customer": {"phoneNumber": PHONE},
        "reference": "booking-42-1",
        "userFlow": "WEB_REDIRECT",
        "returnUrl": RETURN_URL,
        "paymentDescription": "Klipp hos Salong Nord, 12. desember",
    }
    assert dev.requests_for("capture")[0]["json"] == {"modificationAmount": {"currency": "NOK", "value": 100}}
    assert dev.requests_for("cancel")[0]["body"] == b""


async def test_same_idempotency_key_twice_has_one_effect(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    one = await create(vipps_client)
    again = await create(vipps_client)
    assert one == again
    await vipps_client.force_approve("booking-42-1")
    first = await vipps_client.capture("booking-42-1", 10000, "capture-1")
    repeat = await vipps_client.capture("booking-42-1", 10000, "capture-1")
    assert first == repeat
    assert repeat.aggregate.captured_ore == 10000
    await vipps_client.cancel("booking-42-1", "cancel-1")
    await vipps_client.cancel("booking-42-1", "cancel-1")
    names = [e.name for e in await vipps_client.get_events("booking-42-1")]
    assert names == ["CREATED", "AUTHORIZED", "CAPTURED", "CANCELLED"]


async def test_reference_never_reused_with_another_key(vipps_client):
    await create(vipps_client)
    with pytest.raises(VippsError) as info:
        await create(vipps_client, key="another-key")
    assert info.value.conflict and info.value.status == 409 and info.value.trace_id


async def test_cancel_before_authorisation_terminates(vipps_client):
    await create(vipps_client)
    result = await vipps_client.cancel("booking-42-1", "cancel-1")
    assert result.state == "TERMINATED"
    assert [e.name for e in await vipps_client.get_events("booking-42-1")] == ["CREATED", "TERMINATED"]
    with pytest.raises(VippsError) as info:
        await vipps_client.capture("booking-42-1", 100, "capture-1")
    assert info.value.conflict


async def test_conflicts_over_the_reserved_and_captured_amounts(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client)
    with pytest.raises(VippsError) as before:
        await vipps_client.capture("booking-42-1", 100, "capture-early")
    assert before.value.conflict
    dev.approve("booking-42-1")
    with pytest.raises(VippsError) as over:
        await vipps_client.capture("booking-42-1", 49901, "capture-too-much")
    assert over.value.conflict and not over.value.retryable
    assert over.value.problem["status"] == 409 and over.value.problem["traceId"] == over.value.trace_id
    await vipps_client.capture("booking-42-1", 40000, "capture-1")
    with pytest.raises(VippsError) as rest:
        await vipps_client.capture("booking-42-1", 9901, "capture-2")
    assert rest.value.conflict
    with pytest.raises(VippsError) as refund:
        await vipps_client.refund("booking-42-1", 40001, "refund-1")
    assert refund.value.conflict
    await vipps_client.cancel("booking-42-1", "cancel-1")
    with pytest.raises(VippsError) as nothing_left:
        await vipps_client.cancel("booking-42-1", "cancel-2")
    assert nothing_left.value.conflict
    assert (await vipps_client.get_payment("booking-42-1")).aggregate.captured_ore == 40000


async def test_lapsed_reservation_capture_fails_and_events_say_so(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await authorized(vipps_client, dev)
    dev.fail_captures()
    with pytest.raises(VippsError) as info:
        await vipps_client.capture("booking-42-1", 49900, "capture-1")
    assert info.value.status == 400 and not info.value.retryable and not info.value.conflict
    events = await vipps_client.get_events("booking-42-1")
    assert (events[-1].name, events[-1].success, events[-1].idempotency_key) == ("CAPTURED", False, "capture-1")
    assert (await vipps_client.get_payment("booking-42-1")).aggregate.captured_ore == 0


async def test_payment_expires_when_nobody_acts_for_ten_minutes():
    clock = Clock()
    with dev_vipps_server(now=clock) as (dev, base_url):
        async with VippsClient(config_for(dev, base_url), now=clock) as client:
            await create(client)
            clock.advance(minutes=9, seconds=59)
            assert (await client.get_payment("booking-42-1")).state == "CREATED"
            clock.advance(seconds=1)
            assert (await client.get_payment("booking-42-1")).state == "EXPIRED"
            assert [e.name for e in await client.get_events("booking-42-1")] == ["CREATED", "EXPIRED"]
            assert not dev.approve("booking-42-1")


async def test_reject_and_expire_end_the_payment(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client, "booking-1-1", key="k1")
    await create(vipps_client, "booking-2-1", key="k2")
    assert dev.reject("booking-1-1") and dev.expire("booking-2-1")
    assert (await vipps_client.get_payment("booking-1-1")).state == "ABORTED"
    assert (await vipps_client.get_payment("booking-2-1")).state == "EXPIRED"
    with pytest.raises(VippsError) as info:
        await vipps_client.cancel("booking-1-1", "cancel-1")
    assert info.value.conflict


# -- failures and retries ------------------------------------------------


@pytest.mark.parametrize("after_effect", [False, True], ids=["before-effect", "answer-lost"])
async def test_5xx_on_create_is_retryable_and_the_retry_makes_one_payment(vipps_client, dev_vipps, caplog, after_effect):
    dev, _ = dev_vipps
    dev.fail_next("create", 503, after_effect=after_effect)
    with caplog.at_level(logging.WARNING, logger="portal.payments.vipps"):
        with pytest.raises(VippsError) as info:
            await create(vipps_client)
    error = info.value
    assert error.retryable and error.status == 503 and error.operation == "create"
    assert error.trace_id and error.problem["traceId"] == error.trace_id
    assert error.trace_id in caplog.text
    assert (len(dev.payments) == 1) is after_effect

    created = await create(vipps_client)  # the caller's retry, same key
    assert created.reference == "booking-42-1"
    assert list(dev.payments) == ["booking-42-1"]
    assert [e.name for e in await vipps_client.get_events("booking-42-1")] == ["CREATED"]


async def test_429_is_retryable(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await create(vipps_client)
    dev.fail_next("get", 429)
    with pytest.raises(VippsError) as info:
        await vipps_client.get_payment("booking-42-1")
    assert info.value.retryable and info.value.status == 429


async def test_timeout_is_unavailable_and_the_retry_with_the_same_key_makes_one_payment(dev_vipps):
    dev, base_url = dev_vipps
    async with VippsClient(config_for(dev, base_url, timeout_seconds=0.25)) as client:
        await client.access_token()
        dev.delay_next("create", 0.6)
        with pytest.raises(VippsUnavailable) as info:
            await create(client)
        assert info.value.status is None and info.value.retryable
        await create(client)
        assert list(dev.payments) == ["booking-42-1"]
        assert [e.name for e in await client.get_events("booking-42-1")] == ["CREATED"]

        dev.approve("booking-42-1")
        dev.delay_next("capture", 0.6)
        with pytest.raises(VippsUnavailable):
            await client.capture("booking-42-1", 10000, "capture-1")
        result = await client.capture("booking-42-1", 10000, "capture-1")
        assert result.aggregate.captured_ore == 10000
        assert [e.name for e in await client.get_events("booking-42-1")].count("CAPTURED") == 1


async def test_nobody_listening_is_unavailable():
    config = VippsConfig(
        base_url=f"http://127.0.0.1:{free_port()}",
        client_id="c",
        client_secret="s",
        subscription_key="k",
        merchant_serial_number="123456",
        timeout_seconds=1,
    )
    async with VippsClient(config) as client:
        with pytest.raises(VippsUnavailable) as info:
            await client.get_payment("booking-42-1")
    assert info.value.operation == "token" and info.value.retryable


# -- answers that look odd but are fine ----------------------------------


async def test_success_typed_problem_json_is_accepted(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    await authorized(vipps_client, dev)
    result = await vipps_client.capture("booking-42-1", 100, "capture-1")
    assert result.aggregate.captured_ore == 100
    assert dev.requests_for("capture")[0]["response"]["media_type"] == "application/problem+json"


async def test_any_json_body_is_parsed_whatever_its_content_type():
    payment = {
        "reference": "booking-42-1",
        "state": "AUTHORIZED",
        "amount": {"currency": "NOK", "value": 100},
        "aggregate": {k: {"currency": "NOK", "value": v} for k, v in {"authorizedAmount": 100, "capturedAmount": "0", "refundedAmount": 0, "cancelledAmount": 0}.items()},
        "pspReference": "77",
        "paymentMethod": {"type": "WALLET"},
        "profile": {},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/accesstoken/get":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600, "token_type": "Bearer"})
        return httpx.Response(200, content=json.dumps(payment).encode(), headers={"content-type": "text/plain"})

    config = VippsConfig(base_url="https://apitest.vipps.no", client_id="c", client_secret="s", subscription_key="k", merchant_serial_number="123456")
    async with VippsClient(config, transport=httpx.MockTransport(answer)) as client:
        info = await client.get_payment("booking-42-1")
    assert (info.state, info.aggregate.authorized_ore, info.aggregate.captured_ore) == ("AUTHORIZED", 100, 0)


async def test_error_without_problem_json_still_a_vipps_error():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/accesstoken/get":
            return httpx.Response(200, json={"access_token": "t", "expires_on": "9999999999"})
        return httpx.Response(502, text="<html>Bad gateway</html>")

    config = VippsConfig(base_url="https://apitest.vipps.no", client_id="c", client_secret="s", subscription_key="k", merchant_serial_number="123456")
    async with VippsClient(config, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(VippsError) as info:
            await client.get_payment("booking-42-1")
    assert info.value.status == 502 and info.value.retryable and info.value.trace_id is None


# -- input validation: nothing is sent -----------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"reference": "short"},
        {"reference": "booking_42_1"},
        {"reference": "b" * 51},
        {"amount_ore": 0},
        {"amount_ore": -100},
        {"amount_ore": 10.5},
        {"amount_ore": True},
        {"amount_ore": "49900"},
        {"amount_ore": 65_000_001},
        {"phone_number": "+4791234567"},
        {"phone_number": "91234567"},
        {"phone_number": "47 91234567"},
        {"description": "ab"},
        {"description": "   "},
        {"description": "x" * 101},
        {"return_url": ""},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 51},
        {"idempotency_key": "nøkkel"},
    ],
)
async def test_invalid_create_input_raises_before_sending(vipps_client, dev_vipps, change):
    dev, _ = dev_vipps
    values = {
        "reference": "booking-42-1",
        "amount_ore": 49900,
        "phone_number": PHONE,
        "return_url": RETURN_URL,
        "description": "Klipp",
        "idempotency_key": "k1",
        **change,
    }
    with pytest.raises(ValueError):
        await vipps_client.create_payment(**values)
    assert dev.request_log == []


async def test_invalid_modification_input_raises_before_sending(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    with pytest.raises(ValueError):
        await vipps_client.capture("booking-42-1", 0, "k")
    with pytest.raises(ValueError):
        await vipps_client.refund("booking-42-1", 100, "k" * 51)
    with pytest.raises(ValueError):
        await vipps_client.cancel("../../x", "k")
    with pytest.raises(ValueError):
        await vipps_client.get_payment("booking/42")
    assert dev.request_log == []


def test_system_headers_at_most_30_characters():
    base = {"base_url": "https://apitest.vipps.no", "client_id": "c", "client_secret": "s", "subscription_key": "k", "merchant_serial_number": "123456"}
    VippsConfig(**base, system_name="s" * 30)
    for name in ("system_name", "system_version", "plugin_name", "plugin_version"):
        with pytest.raises(ValueError):
            VippsConfig(**base, **{name: "s" * 31})


# -- webhooks ------------------------------------------------------------


async def test_webhooks_signed_delivered_in_order_and_verifiable(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    with WebhookReceiver() as receiver:
        hook_id, secret = await vipps_client.register_webhook(f"{receiver.url}/hooks/vipps?source=dev", list(WEBHOOK_EVENT_TYPES.values()))
        assert hook_id and secret
        await authorized(vipps_client, dev)
        await vipps_client.capture("booking-42-1", 10000, "capture-1")
        await dev.flush_webhooks()
        received = list(receiver.received)
    assert [json.loads(r["body"])["name"] for r in received] == ["CREATED", "AUTHORIZED", "CAPTURED"]
    events = await vipps_client.get_events("booking-42-1")
    for item, event in zip(received, events, strict=True):
        assert item["path"] == "/hooks/vipps?source=dev"
        signing.verify(
            secret,
            path_and_query=item["path"],
            host=f"127.0.0.1:{receiver.port}",
            headers=item["headers"],
            body=item["body"],
            now=datetime.now(timezone.utc),
        )
        payload = json.loads(item["body"])
        assert payload == {
            "msn": dev.merchant_serial_number,
            "reference": "booking-42-1",
            "pspReference": event.psp_reference,
            "name": event.name,
            "amount": {"currency": "NOK", "value": event.amount_ore},
            "timestamp": payload["timestamp"],
            "idempotencyKey": event.idempotency_key,
            "success": True,
        }
        with pytest.raises(signing.WebhookRejected):
            signing.verify("another-secret", path_and_query=item["path"], host=f"127.0.0.1:{receiver.port}", headers=item["headers"], body=item["body"], now=datetime.now(timezone.utc))


async def test_webhooks_only_for_subscribed_events(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    with WebhookReceiver() as receiver:
        await vipps_client.register_webhook(receiver.url + "/only-authorized", ["epayments.payment.authorized.v1"])
        await authorized(vipps_client, dev)
        await vipps_client.cancel("booking-42-1", "cancel-1")
        await dev.flush_webhooks()
        assert [json.loads(r["body"])["name"] for r in receiver.received] == ["AUTHORIZED"]


async def test_webhook_non_2xx_retried_and_later_events_wait(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    with WebhookReceiver() as receiver:
        receiver.script = [500, 503]
        await vipps_client.register_webhook(receiver.url, list(WEBHOOK_EVENT_TYPES.values()))
        await authorized(vipps_client, dev)
        await vipps_client.cancel("booking-42-1", "cancel-1")
        await dev.flush_webhooks()
        names = [json.loads(r["body"])["name"] for r in receiver.received]
    assert names == ["CREATED", "CREATED", "CREATED", "AUTHORIZED", "CANCELLED"]
    assert [w["status"] for w in dev.sent_webhooks] == [500, 503, 204, 204, 204]
    assert [w["attempt"] for w in dev.sent_webhooks][:3] == [1, 2, 3]


async def test_configured_webhook_gets_every_event_and_approve_from_another_thread():
    with WebhookReceiver() as receiver, dev_vipps_server(webhook_url=receiver.url + "/hooks/vipps", webhook_secret="configured-secret") as (dev, base_url):
        async with VippsClient(config_for(dev, base_url)) as client:
            await create(client)
            await asyncio.to_thread(dev.approve, "booking-42-1")  # as a test or a browser would, off the server's loop
            await dev.flush_webhooks()
        for item in receiver.received:
            signing.verify("configured-secret", path_and_query="/hooks/vipps", host=f"127.0.0.1:{receiver.port}", headers=item["headers"], body=item["body"], now=datetime.now(timezone.utc))
        assert [json.loads(r["body"])["name"] for r in receiver.received] == ["CREATED", "AUTHORIZED"]


# -- the landing page (the stand-in for the Vipps app) -------------------


async def test_landing_page_shows_the_payment_and_approve_returns_to_the_shop(vipps_client, dev_vipps):
    dev, _ = dev_vipps
    created = await create(vipps_client)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(created.redirect_url)
        assert page.status_code == 200
        html = page.text
        assert "499,00" in html and "Klipp hos Salong Nord, 12. desember" in html and "+47 91 23 45 67" in html
        assert 'action="/landing/booking-42-1/approve"' in html and 'action="/landing/booking-42-1/reject"' in html
        assert "<script" not in html.split("</head>")[1]  # works without JavaScript
        answer = await browser.post(created.redirect_url + "/approve", data={"_csrf_token": ""})
    assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL
    assert (await vipps_client.get_payment("booking-42-1")).state == "AUTHORIZED"


async def test_landing_page_reject_and_unknown(vipps_client, dev_vipps):
    dev, base_url = dev_vipps
    created = await create(vipps_client)
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(created.redirect_url + "/reject")
        assert answer.status_code == 303
        assert (await vipps_client.get_payment("booking-42-1")).state == "ABORTED"
        again = await browser.post(created.redirect_url + "/approve")
        assert again.status_code == 303
        assert (await vipps_client.get_payment("booking-42-1")).state == "ABORTED"
        done = await browser.get(created.redirect_url)
        assert done.status_code == 200 and "Approve payment" not in done.text
        missing = await browser.get(f"{base_url}/landing/no-such-payment")
        assert missing.status_code == 404


async def test_router_in_an_app_with_csrf_like_the_main_app():
    """Mounted at /dev/vipps in an app with CSRF on: the API is exempt, the
    landing page's forms carry the token."""
    from litestar import Litestar
    from litestar.config.csrf import CSRFConfig
    from litestar.template.config import TemplateConfig

    from portal.web.templates import template_engine
    from tests.integration.helpers import csrf

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    dev = DevVipps(public_base=base_url)
    app = Litestar(
        route_handlers=[dev_vipps_router(dev)],
        template_config=TemplateConfig(instance=template_engine()),
        csrf_config=CSRFConfig(secret="test-secret-for-csrf-0123456789", cookie_name="csrftoken", cookie_httponly=True, header_name="x-csrftoken"),
        logging_config=None,  # no queue-listener thread left behind
    )
    with serve_in_thread(app, port):
        async with VippsClient(config_for(dev, f"{base_url}/dev/vipps")) as client:
            created = await create(client)
        assert created.redirect_url == f"{base_url}/dev/vipps/landing/booking-42-1"
        async with httpx.AsyncClient() as browser:
            page = await browser.get(created.redirect_url)
            token = csrf(page.text)
            assert 'action="/dev/vipps/landing/booking-42-1/approve"' in page.text
            refused = await browser.post(created.redirect_url + "/approve", data={})
            assert refused.status_code == 403
            assert dev.payments["booking-42-1"].state == "CREATED"
            answer = await browser.post(created.redirect_url + "/approve", data={"_csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL
        assert dev.payments["booking-42-1"].state == "AUTHORIZED"


# -- what the dev Vipps refuses (so our client cannot get it wrong unnoticed) --


async def test_dev_vipps_refuses_what_vipps_refuses(vipps_client, dev_vipps):
    dev, base_url = dev_vipps
    await create(vipps_client)
    token = await vipps_client.access_token()
    good = {
        "Authorization": f"Bearer {token}",
        "Ocp-Apim-Subscription-Key": dev.subscription_key,
        "Merchant-Serial-Number": dev.merchant_serial_number,
    }
    url = f"{base_url}/epayment/v1/payments/booking-42-1"
    async with httpx.AsyncClient() as http:
        assert (await http.get(url, headers=good)).status_code == 200
        assert (await http.get(url, headers={**good, "Authorization": "Bearer forged"})).status_code == 401
        assert (await http.get(url, headers={**good, "Ocp-Apim-Subscription-Key": "other"})).status_code == 401
        assert (await http.get(url, headers={**good, "Merchant-Serial-Number": "654321"})).status_code == 403
        missing_key = await http.post(url + "/cancel", headers=good)
        assert missing_key.status_code == 400
        assert missing_key.headers["content-type"].startswith("application/problem+json")
        assert {"type", "title", "status", "detail", "traceId"} <= set(missing_key.json())
        bad_amount = await http.post(url + "/capture", headers={**good, "Idempotency-Key": "x"}, json={"modificationAmount": {"currency": "NOK", "value": "100"}})
        assert bad_amount.status_code == 400
        assert (await http.get(f"{base_url}/epayment/v1/payments/unknown-ref", headers=good)).status_code == 404

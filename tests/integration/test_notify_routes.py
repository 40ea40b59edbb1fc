"""The notify pages and the Twilio hook over HTTP, on the real app
(`client` from tests/conftest.py: create_app() with the notify routes wired)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from portal.lib import clock
from portal.notify import routes, service
from portal.notify.tables import DevMessage
from portal.outbox import worker
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import confirm_with_code, first_free_slot
from tests.integration.test_notify_support import NOW, clean_outbox, enqueue, make_booking, settings_with, supplier_not_told  # noqa: F401

pytestmark = pytest.mark.usefixtures("clean_outbox", "supplier_not_told")

AUTH_TOKEN = "route-test-auth-token-0123456789"
CALLBACK_URL = "https://portal.example/hooks/twilio/status"


async def _confirmed_and_sent(**booking) -> dict:
    booking = await make_booking(**booking)
    await enqueue(booking, "confirmation", NOW)
    while await worker.drain_once(NOW):
        pass
    return booking


async def test_the_customer_sees_their_own_messages(client):
    booking = await _confirmed_and_sent()
    other = await _confirmed_and_sent(email="someone.else@example.no")
    page = await client.get(f"/b/{booking['manage_token']}/messages")
    assert page.status_code == 200
    assert "Bestillingsbekreftelse" in page.text and "Påminnelse" in page.text  # nb by default
    assert "E-post til kari@example.no" in page.text and "SMS til +47 41 23 45 67" in page.text
    assert "Sendes " in page.text  # the reminder, scheduled
    assert "someone.else@example.no" not in page.text
    assert other["manage_token"] not in page.text
    assert (await client.get("/b/not-a-token/messages")).status_code == 404


async def test_dev_mailbox_lists_messages_newest_first_with_the_demo_banner(client):
    await _confirmed_and_sent(language="en")
    page = await client.get("/dev/mailbox")
    assert page.status_code == 200
    assert 'class="demo-banner"' in page.text
    assert "Booking confirmed:" in page.text and "booking-" in page.text and ".ics" in page.text
    ids = [int(i) for i in re.findall(r'/dev/mailbox/(\d+)/html', page.text)]
    assert ids and ids == sorted(ids, reverse=True)
    newest = (await DevMessage.select(DevMessage.id).order_by(DevMessage.id, ascending=False).first())["id"]
    assert page.text.index("Reservation") < page.text.index("Booking confirmed:") or newest not in ids
    html = await client.get(f"/dev/mailbox/{ids[0]}/html")
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]


async def test_dev_mailbox_is_gone_without_dev_backends(client, monkeypatch):
    real = settings_with(mail={"backend": "smtp"}, sms={"backend": "twilio"})
    monkeypatch.setattr(routes, "load_settings", lambda: real)
    assert (await client.get("/dev/mailbox")).status_code == 404


async def test_twilio_hook_needs_no_csrf_token_but_a_valid_signature(client, monkeypatch):
    booking = await make_booking(email="")
    await enqueue(booking, "cancellation", NOW)
    await OutboxMessage.update({OutboxMessage.provider_id: "SM" + "1" * 32, OutboxMessage.status: "sent"}, force=True)
    settings = settings_with(sms={"auth_token": AUTH_TOKEN, "status_callback_url": CALLBACK_URL})
    monkeypatch.setattr(routes, "load_settings", lambda: settings)
    monkeypatch.setattr(service, "load_settings", lambda: settings)
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(CALLBACK_URL, params)

    bad = await client.post("/hooks/twilio/status", data=params, headers={"X-Twilio-Signature": "forged"})
    assert bad.status_code == 403
    assert (await OutboxMessage.select(OutboxMessage.delivery_status).first())["delivery_status"] == ""

    good = await client.post("/hooks/twilio/status", data=params, headers={"X-Twilio-Signature": signature})
    assert good.status_code == 204
    assert (await OutboxMessage.select(OutboxMessage.delivery_status).first())["delivery_status"] == "delivered"


async def test_the_embedded_worker_drains_inside_the_app_process(monkeypatch):
    settings = settings_with(outbox={"embedded_worker": True, "poll_seconds": 0.05})
    monkeypatch.setattr(worker, "load", lambda: settings)
    now = clock.now()
    booking = await make_booking(start=now + timedelta(days=2))
    async with worker.lifespan(None):
        await enqueue(booking, "confirmation", now)
        for _ in range(100):
            if await DevMessage.count() == 2:
                break
            await asyncio.sleep(0.05)
    assert await DevMessage.count() == 2


async def test_confirming_a_booking_over_http_enqueues_its_messages_in_the_same_transaction(client):
    path = "/s/saks-og-stil-grunerlokka/herreklipp"
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    done = await confirm_with_code(client, held.headers["location"])
    assert done.status_code == 303
    topics = sorted((r["topic"], r["channel"]) for r in await OutboxMessage.select(OutboxMessage.topic, OutboxMessage.channel))
    assert ("confirmation", "email") in topics and ("confirmation", "sms") in topics
    again = await client.get(done.headers["location"].split("?")[0] + "/messages")
    assert again.status_code == 200 and "Bestillingsbekreftelse" in again.text

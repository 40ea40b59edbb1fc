"""Checkout with a verified mobile number: one-time codes by SMS and their limits."""

from __future__ import annotations

import datetime

import time_machine

from portal.identity.tables import Customer, CustomerSupplier, PhoneCode
from portal.lib import clock
from portal.orders.tables import Order
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot, latest_code, send_code

OFFERING = "/s/lunde-radgivning/videokonsultasjon"
PHONE = "+4741234567"


async def _checkout(client, path: str = OFFERING) -> tuple[str, str]:
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    url = held.headers["location"]
    page = await client.get(url)
    return url, csrf(page.text)


async def _confirm(client, url, token, **extra):
    return await client.post(url, data={**VALID_CUSTOMER, "action": "confirm", "_csrf_token": token, **extra}, follow_redirects=False)


async def _confirmed_count() -> int:
    return await Order.count().where(Order.state == "confirmed")


async def test_a_booking_cannot_be_confirmed_without_the_code(client):
    url, token = await _checkout(client)
    refused = await _confirm(client, url, token)
    assert refused.status_code == 422 and 'id="code-error"' in refused.text
    await send_code(client, url, token, VALID_CUSTOMER)
    refused = await _confirm(client, url, token)  # code sent but not typed
    assert refused.status_code == 422 and 'id="code"' in refused.text
    assert await _confirmed_count() == 0


async def test_the_right_code_confirms_and_creates_the_customer(client):
    url, _ = await _checkout(client)
    done = await confirm_with_code(client, url)
    assert done.status_code == 303
    order = await Order.select().where(Order.state == "confirmed").first()
    assert order["phone"] == PHONE and order["phone_verified_at"] is not None
    customer = await Customer.select().where(Customer.phone == PHONE).first()
    assert customer["id"] == order["customer"] and customer["name"] == VALID_CUSTOMER["name"]
    assert await CustomerSupplier.count().where(CustomerSupplier.customer == customer["id"]) == 1
    # The confirmation left through the outbox, in the same transaction.
    topics = {r["topic"] for r in await OutboxMessage.select(OutboxMessage.topic).where(OutboxMessage.order_id == order["id"])}
    assert "confirmation" in topics


async def test_the_code_is_stored_only_as_a_keyed_hash(client):
    url, token = await _checkout(client)
    await send_code(client, url, token, VALID_CUSTOMER)
    code = await latest_code(PHONE)
    row = await PhoneCode.select().first()
    assert code not in str(row) and len(row["code_hash"]) == 64


async def test_wrong_codes_are_counted_and_the_fifth_locks_the_code(client):
    url, token = await _checkout(client)
    await send_code(client, url, token, VALID_CUSTOMER)
    code = await latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = await _confirm(client, url, token, code=wrong)
        assert response.status_code == 422 and 'id="code-error"' in response.text
    locked = await _confirm(client, url, token, code=code)  # even the right code is refused now
    assert locked.status_code == 422
    assert await _confirmed_count() == 0


async def test_an_expired_code_is_refused(client):
    url, token = await _checkout(client)
    await send_code(client, url, token, VALID_CUSTOMER)
    code = await latest_code(PHONE)
    with time_machine.travel(clock.now() + datetime.timedelta(minutes=6), tick=True):
        response = await _confirm(client, url, token, code=code)
    assert response.status_code == 422
    assert await _confirmed_count() == 0


async def test_resend_waits_30_seconds(client):
    url, token = await _checkout(client)
    assert (await send_code(client, url, token, VALID_CUSTOMER)).status_code == 200
    again = await send_code(client, url, token, VALID_CUSTOMER)
    assert again.status_code == 429 and 'id="phone-error"' in again.text
    with time_machine.travel(clock.now() + datetime.timedelta(seconds=31), tick=True):
        assert (await send_code(client, url, token, VALID_CUSTOMER)).status_code == 200


async def test_flooding_hits_the_limits_not_the_sms_provider(client):
    url, token = await _checkout(client)
    moment = clock.now()
    statuses = []
    for i in range(8):
        with time_machine.travel(moment + datetime.timedelta(seconds=31 * i), tick=False):
            statuses.append((await send_code(client, url, token, VALID_CUSTOMER)).status_code)
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    assert await OutboxMessage.count().where(OutboxMessage.topic == "code") == 5
    # Many numbers from one network: 20 codes an hour.
    ip_statuses = []
    for i in range(25):
        phone = f"41{i:06d}"
        ip_statuses.append((await send_code(client, url, token, {**VALID_CUSTOMER, "phone": phone})).status_code)
    assert ip_statuses.count(200) == 15 and ip_statuses.count(429) == 10  # 5 already sent above


async def test_sms_only_to_countries_we_serve(client):
    url, token = await _checkout(client)
    german = await send_code(client, url, token, {**VALID_CUSTOMER, "phone": "+49 151 23456789"})
    assert german.status_code == 422 and 'id="phone-error"' in german.text
    assert await OutboxMessage.count() == 0


async def test_a_landline_is_not_a_mobile_number(client):
    url, token = await _checkout(client)
    landline = await send_code(client, url, token, {**VALID_CUSTOMER, "phone": "22 12 34 56"})
    assert landline.status_code == 422
    assert await OutboxMessage.count() == 0


async def test_with_htmx_only_the_phone_block_comes_back_with_the_code_field(client):
    url, token = await _checkout(client)
    response = await client.post(
        url, data={**VALID_CUSTOMER, "action": "send_code", "_csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'id="phone-block"' in response.text and 'id="code"' in response.text and "<html" not in response.text


async def test_a_remembered_device_skips_the_code_until_it_is_forgotten(client):
    url, _ = await _checkout(client)
    done = await confirm_with_code(client, url, {"remember_device": "on"})
    assert done.status_code == 303 and "pd=" in done.headers.get("set-cookie", "")
    # Next booking on this device: no code asked, details filled in.
    url2, token2 = await _checkout(client)
    page = await client.get(url2)
    assert 'value="Kari Nordmann"' in page.text and 'id="code"' not in page.text
    second = await _confirm(client, url2, token2)
    assert second.status_code == 303
    assert await _confirmed_count() == 2
    # Another number on the same device still needs a code.
    url3, token3 = await _checkout(client)
    other = await _confirm(client, url3, token3, phone="98765432")
    assert other.status_code == 422

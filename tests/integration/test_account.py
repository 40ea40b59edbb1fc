"""“Mine bookinger”: log in with number + code, see bookings, forget devices."""

from __future__ import annotations

from portal.identity.tables import DeviceToken
from tests.integration.helpers import confirm_with_code, csrf, first_free_slot, latest_code

OFFERING = "/s/lunde-radgivning/videokonsultasjon"
PHONE = "+4741234567"


async def _book(client, **extra) -> str:
    start, token = await first_free_slot(client, OFFERING)
    held = await client.post(f"{OFFERING}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    done = await confirm_with_code(client, held.headers["location"], extra)
    assert done.status_code == 303
    return done.headers["location"].split("?")[0]


async def _login(client, phone: str = "412 34 567"):
    page = await client.get("/mine")
    token = csrf(page.text)
    sent = await client.post("/mine/code", data={"phone": phone, "_csrf_token": token})
    assert sent.status_code == 200 and 'id="code"' in sent.text
    code = await latest_code(PHONE)
    return await client.post("/mine/login", data={"phone": PHONE, "code": code, "_csrf_token": token}, follow_redirects=False)


async def test_log_in_with_number_and_code_and_see_every_booking(client):
    manage = await _book(client)
    client.cookies.clear()  # another browser
    page = await client.get("/mine")
    assert 'id="phone"' in page.text and manage not in page.text
    logged_in = await _login(client)
    assert logged_in.status_code == 303 and "ps=" in logged_in.headers.get("set-cookie", "")
    mine = await client.get("/mine")
    assert f'href="{manage}"' in mine.text


async def test_a_wrong_login_code_is_refused(client):
    await _book(client)
    client.cookies.clear()
    page = await client.get("/mine")
    token = csrf(page.text)
    await client.post("/mine/code", data={"phone": PHONE, "_csrf_token": token})
    code = await latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post("/mine/login", data={"phone": PHONE, "code": wrong, "_csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 422 and 'id="code-error"' in refused.text
    assert "ps=" not in refused.headers.get("set-cookie", "")


async def test_bad_numbers_get_a_message_next_to_the_field(client):
    page = await client.get("/mine")
    for bad in ("", "12", "+49 151 23456789"):
        response = await client.post("/mine/code", data={"phone": bad, "_csrf_token": csrf(page.text)})
        assert response.status_code == 422 and 'id="phone-error"' in response.text, bad


async def test_forgetting_devices_revokes_them_and_the_next_booking_needs_a_code(client):
    await _book(client, remember_device="on")
    assert await DeviceToken.count().where(DeviceToken.revoked_at.is_null()) == 1
    await _login(client)
    page = await client.get("/mine")
    await client.post("/mine/forget-devices", data={"_csrf_token": csrf(page.text)})
    assert await DeviceToken.count().where(DeviceToken.revoked_at.is_null()) == 0
    start, token = await first_free_slot(client, OFFERING)
    held = await client.post(f"{OFFERING}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    checkout = await client.get(held.headers["location"])
    assert "send_code" in checkout.text

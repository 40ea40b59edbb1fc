"""The customer moves their own booking from its private link: the same
engine and claims as everywhere, the policy they accepted (free-cancellation
limit), the change message with a new .ics, the same reference and link."""

from __future__ import annotations

from datetime import datetime, timedelta

import time_machine

from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.orders import service as orders
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, slots
from tests.integration.test_backoffice import SALON, says


async def _book_later(client, **customer) -> dict:
    """A confirmed booking at least three days ahead (outside the free-cancellation limit)."""
    path = f"/s/{SALON}/herreklipp"
    for ahead in range(3, 11):
        page = await client.get(path, params={"day": (clock.local_today(clock.now()) + timedelta(days=ahead)).isoformat()})
        if slots(page.text):
            break
    start = slots(page.text)[len(slots(page.text)) // 2]
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert held.status_code == 303, held.text[:300]
    checkout_token = held.headers["location"].rsplit("/", 1)[1]
    done = await confirm_with_code(client, f"/checkout/{checkout_token}", {**VALID_CUSTOMER, "means": "onsite", **customer})
    assert done.status_code == 303, done.text[:300]
    return await orders.by_checkout_token(checkout_token)


async def _reservation(order_id: int) -> dict:
    return await Reservation.select().where(Reservation.order == order_id).first()


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(clock.UTC)


async def _open_day(client, token: str, after) -> tuple:
    for ahead in range(1, 9):
        on = after + timedelta(days=ahead)
        page = await client.get(f"/b/{token}/flytt", params={"dato": on.isoformat()})
        assert page.status_code == 200, page.text[:500]
        if slots(page.text):
            return on, page
    raise AssertionError("no open day within a week")


async def test_the_customer_moves_their_booking_and_keeps_reference_and_link(client):
    order = await _book_later(client, email="kari@example.no")
    token = order["manage_token"]
    before = await _reservation(order["id"])
    booking = await client.get(f"/b/{token}")
    assert f"/b/{token}/flytt" in booking.text
    on, page = await _open_day(client, token, clock.to_local(before["start"]).date())
    target = slots(page.text)[-1]
    moved = await client.post(f"/b/{token}/flytt", data={"_csrf_token": csrf(page.text), "start": target, "ressurs": ""}, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/b/{token}?flyttet=1"
    after = await _reservation(order["id"])
    assert after["start"] == _utc(target) and after["ics_sequence"] == before["ics_sequence"] + 1
    again = await orders.get(order["id"])
    assert again["reference"] == order["reference"] and again["manage_token"] == token and again["state"] == "confirmed"
    shown = await client.get(f"/b/{token}?flyttet=1")
    assert says(shown.text, "Tiden er endret") and clock.fmt_time(after["start"]) in shown.text
    changes = await OutboxMessage.select(OutboxMessage.channel, OutboxMessage.recipient).where((OutboxMessage.order_id == order["id"]) & (OutboxMessage.topic == "change"))
    assert {c["channel"] for c in changes if c["recipient"] in ("kari@example.no", order["phone"])} == {"email", "sms"}
    # The old time is offered to everyone again.
    old_day = await client.get(f"/s/{SALON}/herreklipp", params={"day": clock.to_local(before["start"]).date().isoformat()})
    assert before["start"] in {_utc(s) for s in slots(old_day.text)}


async def test_a_time_just_taken_offers_the_nearest_and_a_late_change_shows_the_policy(client):
    mine = await _book_later(client, name="Første", phone="41234561")
    theirs = await _book_later(client, name="Andre", phone="41234562")
    token, a, b = mine["manage_token"], await _reservation(mine["id"]), await _reservation(theirs["id"])
    page = await client.get(f"/b/{token}/flytt", params={"dato": clock.to_local(b["start"]).date().isoformat(), "ressurs": b["resource"]})
    taken = await client.post(f"/b/{token}/flytt", data={"_csrf_token": csrf(page.text), "start": b["start"].isoformat(), "ressurs": str(b["resource"])})
    assert taken.status_code == 409 and says(taken.text, "Den tiden ble nettopp tatt") and slots(taken.text)
    assert (await _reservation(mine["id"]))["start"] == a["start"]
    garbage = await client.post(f"/b/{token}/flytt", data={"_csrf_token": csrf(page.text), "start": "snart"})
    assert garbage.status_code == 422
    # Inside the free-cancellation limit the customer is shown the policy, and a post changes nothing.
    hours = mine["terms"]["cancel_free_hours"]
    with time_machine.travel(a["start"] - timedelta(hours=hours, minutes=-1), tick=False):
        late = await client.get(f"/b/{token}/flytt")
        assert late.status_code == 200 and not slots(late.text) and says(late.text, "Det er for sent nå")
        refused = await client.post(f"/b/{token}/flytt", data={"_csrf_token": csrf(page.text), "start": (a["start"] + timedelta(hours=2)).isoformat()})
        assert refused.status_code == 409
    assert (await _reservation(mine["id"]))["start"] == a["start"]
    # A link that is not a booking's is 404.
    assert (await client.get("/b/not-a-token/flytt")).status_code == 404

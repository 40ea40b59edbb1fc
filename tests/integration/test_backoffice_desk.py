"""The desk's calendar work in the back office: moving a booking (the
customer told, with an updated .ics), a taken time answered with the nearest
free ones, a booking taken at the desk without an SMS code, and blocked time
that no customer can book."""

from __future__ import annotations

import json
from datetime import timedelta

from icalendar import Calendar

from portal.audit import service as audit
from portal.audit.tables import AuditEntry
from portal.kinds.appointment.tables import Reservation, TimeBlock
from portal.lib import clock
from portal.orders import service as orders
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import csrf, slots
from tests.integration.staff import staff_login
from tests.integration.test_backoffice import SALON, book, says


async def _move_page(client, order_id: int, **params):
    page = await client.get(f"/kontor/{SALON}/ordre/{order_id}/move", params=params)
    assert page.status_code == 200, page.text[:500]
    return page


async def _open_day_after(client, order_id: int, day) -> tuple:
    """The first day after `day` with free times to move to (the salon closes on Sundays): (day, page, times)."""
    for ahead in range(1, 8):
        on = day + timedelta(days=ahead)
        page = await _move_page(client, order_id, dato=on.isoformat())
        if slots(page.text):
            return on, page, slots(page.text)
    raise AssertionError("no open day within a week")


async def _reservation(order_id: int) -> dict:
    return await Reservation.select().where(Reservation.order == order_id).first()


async def test_a_move_frees_the_old_time_claims_the_new_and_tells_the_customer_with_a_new_ics(client):
    order = await book(client, f"/s/{SALON}/herreklipp", email="kari@example.no")
    before = await _reservation(order["id"])
    await staff_login(client, SALON)
    booking = await client.get(f"/kontor/{SALON}/ordre/{order['id']}")
    assert f"/kontor/{SALON}/ordre/{order['id']}/move" in booking.text
    # The next day, same stylist: the free times are the engine's, by the desk's rules.
    next_day, page, offered = await _open_day_after(client, order["id"], clock.to_local(before["start"]).date())
    target = offered[len(offered) // 2]
    marker = await audit.last_id()
    sent = await client.post(f"/kontor/{SALON}/ordre/{order['id']}/move", data={"_csrf_token": csrf(page.text), "start": target, "ressurs": str(before["resource"])}, follow_redirects=False)
    assert sent.status_code == 303, sent.text[:800]
    after = await _reservation(order["id"])
    assert after["start"] == _utc(target)
    assert after["end"] - after["start"] == before["end"] - before["start"]
    assert after["ics_sequence"] == before["ics_sequence"] + 1
    assert (await orders.get(order["id"]))["state"] == "confirmed"
    # The customer's change email carries the calendar file at the new time, SEQUENCE grown; the SMS goes too.
    rows = await OutboxMessage.select().where((OutboxMessage.order_id == order["id"]) & (OutboxMessage.topic == "change")).output(load_json=True)
    channels = sorted(r["channel"] for r in rows if r["recipient"] in ("kari@example.no", order["phone"]))
    assert channels == ["email", "sms"], rows
    email = next(r for r in rows if r["recipient"] == "kari@example.no")
    payload = email["payload"] if isinstance(email["payload"], dict) else json.loads(email["payload"])
    event = next(c for c in Calendar.from_ical(payload["ics"]).walk() if c.name == "VEVENT")
    assert event.decoded("dtstart") == after["start"] and int(event.get("sequence")) == after["ics_sequence"]
    # The old time is free again; the new one is not.
    old_day = await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "ressurs": before["resource"], "dato": clock.to_local(before["start"]).date().isoformat()})
    assert before["start"] in {_utc(s) for s in slots(old_day.text)}
    new_day = await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "ressurs": before["resource"], "dato": next_day.isoformat()})
    assert after["start"] not in {_utc(s) for s in slots(new_day.text)}
    trail = await AuditEntry.select().where((AuditEntry.id > marker) & (AuditEntry.order_id == order["id"]) & (AuditEntry.action == "appointment.move"))
    assert len(trail) == 1 and trail[0]["actor_kind"] == "staff"


def _utc(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value).astimezone(clock.UTC)


async def test_a_move_to_a_time_just_taken_says_so_with_the_nearest_free_times_and_changes_nothing(client):
    first = await book(client, f"/s/{SALON}/herreklipp", name="Første Kunde", phone="41234567")
    second = await book(client, f"/s/{SALON}/herreklipp", name="Andre Kunde", phone="41234568")
    a, b = await _reservation(first["id"]), await _reservation(second["id"])
    await staff_login(client, SALON)
    page = await _move_page(client, first["id"], dato=clock.to_local(b["start"]).date().isoformat(), ressurs=str(b["resource"]))
    sent = await client.post(
        f"/kontor/{SALON}/ordre/{first['id']}/move",
        data={"_csrf_token": csrf(page.text), "start": b["start"].isoformat(), "ressurs": str(b["resource"])},
        follow_redirects=False,
    )
    assert sent.status_code == 409
    assert says(sent.text, "Den tiden ble nettopp tatt") or says(sent.text, "That time was just taken"), sent.text[:1500]
    assert slots(sent.text), "the nearest free times are offered"
    assert (await _reservation(first["id"]))["start"] == a["start"]
    assert not await OutboxMessage.exists().where((OutboxMessage.order_id == first["id"]) & (OutboxMessage.topic == "change"))
    # Nonsense in the form is a message, not a crash.
    bad = await client.post(f"/kontor/{SALON}/ordre/{first['id']}/move", data={"_csrf_token": csrf(page.text), "start": "i morgen", "ressurs": str(b["resource"])})
    assert bad.status_code == 422


async def test_the_desk_books_a_walk_in_without_a_code_and_the_audit_says_staff_made_it(client):
    account = await staff_login(client, SALON, "front_desk")
    for ahead in range(8):  # today may be over, or a Sunday
        on = (clock.local_today(clock.now()) + timedelta(days=ahead)).isoformat()
        form = await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "dato": on})
        assert form.status_code == 200
        offered = slots(form.text)
        if offered:
            break
    assert offered, "no free time within a week"
    base = {"_csrf_token": csrf(form.text), "tilbud": "herreklipp", "ressurs": "", "dato": on, "start": offered[0]}
    # A hurried hand: no name, a landline-ish number, a broken email.
    refused = await client.post(f"/kontor/{SALON}/ny", data={**base, "name": "", "phone": "123", "email": "ola@"})
    assert refused.status_code == 422
    for field in ("name", "phone", "email"):
        assert f'id="{field}-error"' in refused.text, field
    assert not await Reservation.exists().where(Reservation.start == _utc(offered[0]))
    done = await client.post(f"/kontor/{SALON}/ny", data={**base, "name": "Ola Innom", "phone": "48 12 34 56", "email": "", "note": "Kom innom"}, follow_redirects=False)
    assert done.status_code == 303, done.text[:1000]
    order_id = int(done.headers["location"].rsplit("/", 1)[1])
    order = await orders.get(order_id)
    assert order["state"] == "confirmed" and order["customer_name"] == "Ola Innom" and order["phone"] == "+4748123456"
    assert order["phone_verified_at"] is None and order["means"] == "onsite"
    entry = await AuditEntry.select().where((AuditEntry.order_id == order_id) & (AuditEntry.action == "order.book_at_desk")).order_by(AuditEntry.id, ascending=False).output(load_json=True).first()
    assert entry and entry["actor_kind"] == "staff" and entry["actor_id"] == str(account["id"])
    assert (entry["after"] if isinstance(entry["after"], dict) else json.loads(entry["after"]))["made_by"] == "staff"
    assert await OutboxMessage.exists().where((OutboxMessage.order_id == order_id) & (OutboxMessage.topic == "confirmation") & (OutboxMessage.channel == "sms"))
    # The same time again: taken, with the nearest ones offered.
    again = await client.post(f"/kontor/{SALON}/ny", data={**base, "ressurs": str((await _reservation(order_id))["resource"]), "name": "Per", "phone": "48123457"})
    assert again.status_code == 409 and slots(again.text)


async def test_blocked_time_cannot_be_booked_refuses_bookings_in_its_way_and_can_be_removed(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    r = await _reservation(order["id"])
    local = clock.to_local(r["start"])
    await staff_login(client, SALON)
    page = await client.get(f"/kontor/{SALON}/blokker", params={"ressurs": r["resource"], "dato": local.date().isoformat()})
    assert page.status_code == 200
    token = csrf(page.text)
    # Over the booking: refused, the booking named.
    over = await client.post(
        f"/kontor/{SALON}/blokker",
        data={"_csrf_token": token, "ressurs": str(r["resource"]), "dato": local.date().isoformat(), "fra": local.strftime("%H:%M"), "til": (local + timedelta(minutes=30)).strftime("%H:%M")},
    )
    assert over.status_code == 409 and order["reference"] in over.text
    # Nonsense times and an end before the start.
    assert (await client.post(f"/kontor/{SALON}/blokker", data={"_csrf_token": token, "ressurs": str(r["resource"]), "dato": local.date().isoformat(), "fra": "kl 9", "til": "25:00"})).status_code == 422
    backwards = await client.post(f"/kontor/{SALON}/blokker", data={"_csrf_token": token, "ressurs": str(r["resource"]), "dato": local.date().isoformat(), "fra": "15:00", "til": "14:00"})
    assert backwards.status_code == 422 and 'id="til-error"' in backwards.text
    # On a day open at two, typed the quick way (1400–1500): those times are gone from the list.
    def at_two(page) -> set:
        return {s for s in slots(page.text) if 14 <= clock.to_local(_utc(s)).hour < 15}

    for ahead in range(1, 8):
        day = (local + timedelta(days=ahead)).date()
        if at_two(await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "ressurs": r["resource"], "dato": day.isoformat()})):
            break
    else:
        raise AssertionError("no day with free times at two o'clock within a week")
    done = await client.post(f"/kontor/{SALON}/blokker", data={"_csrf_token": token, "ressurs": str(r["resource"]), "dato": day.isoformat(), "fra": "1400", "til": "1500", "note": "Tannlege"}, follow_redirects=False)
    assert done.status_code == 303, done.text[:800]
    block = await TimeBlock.select().where(TimeBlock.resource == r["resource"]).first()
    assert clock.to_local(block["start"]).strftime("%H:%M") == "14:00" and block["note"] == "Tannlege"
    grid = await client.get(f"/kontor/{SALON}", params={"dato": day.isoformat()})
    assert f"/kontor/{SALON}/blokker/{block['id']}" in grid.text and "Tannlege" in grid.text
    held = await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "ressurs": r["resource"], "dato": day.isoformat()})
    assert not at_two(held), at_two(held)
    one = await client.get(f"/kontor/{SALON}/blokker/{block['id']}")
    removed = await client.post(f"/kontor/{SALON}/blokker/{block['id']}", data={"_csrf_token": csrf(one.text)}, follow_redirects=False)
    assert removed.status_code == 303
    again = await client.get(f"/kontor/{SALON}/ny", params={"tilbud": "herreklipp", "ressurs": r["resource"], "dato": day.isoformat()})
    assert at_two(again), "the hour is free again"

"""Private calendar feeds (`/kalender/<token>.ics`) and the morning agenda,
over HTTP and through the outbox to the dev mailbox."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, time, timedelta
from urllib.parse import urlparse

import pytest
import time_machine
from icalendar import Calendar

from portal.audit import domain as actors
from portal.audit import service as audit
from portal.calendarfeed import service as feeds
from portal.calendarfeed.tables import CalendarFeed, StaffAgenda
from portal.catalogue.tables import Resource, Supplier
from portal.lib import clock
from portal.notify.tables import DevMessage
from portal.orders import service as orders
from portal.outbox.tables import OutboxMessage
from portal.outbox.worker import drain_once
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, slots
from tests.integration.staff import staff_account, staff_login
from tests.integration.test_backoffice import MASSAGE, SALON, book, says

HERREKLIPP = f"/s/{SALON}/herreklipp"
PHONES = ("+4741234567", "41 23 45 67", "412 34 567")


@pytest.fixture()
async def no_feeds(client):
    """No feeds or agenda choices from other tests (these tables outlive clean_bookings)."""
    await CalendarFeed.delete(force=True)
    await StaffAgenda.delete(force=True)
    yield client
    await CalendarFeed.delete(force=True)
    await StaffAgenda.delete(force=True)


async def _salon_calendars() -> list[int]:
    """Ingrid's, Jonas' and Amira's calendars (each of them cuts hair)."""
    supplier = await Supplier.select(Supplier.id).where(Supplier.slug == SALON).first()
    return [r["id"] for r in await Resource.select(Resource.id).where(Resource.supplier == supplier["id"]).order_by(Resource.id)]


async def _book_on(client, resource_id: int, day=None, **customer) -> dict:
    """A confirmed booking of a men's cut on this calendar (on `day`, or its first free one)."""
    params = {"resource": resource_id, **({"day": day.isoformat()} if day else {})}
    page = await client.get(HERREKLIPP, params=params)
    starts = slots(page.text)
    assert starts, params
    held = await client.post(f"{HERREKLIPP}/hold", data={"start": starts[0], "resource": str(resource_id), "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert held.status_code == 303
    token = held.headers["location"].rsplit("/", 1)[1]
    done = await confirm_with_code(client, f"/checkout/{token}", {**VALID_CUSTOMER, "means": "onsite", **customer})
    assert done.status_code == 303, done.text[:300]
    order = await orders.by_checkout_token(token)
    from portal.kinds.appointment.tables import Reservation

    order["reservation"] = await Reservation.select().where(Reservation.order == order["id"]).first()
    assert order["reservation"]["resource"] == resource_id
    return order


async def _post(client, **fields) -> object:
    page = await client.get(f"/kontor/{SALON}/kalender")
    return await client.post(f"/kontor/{SALON}/kalender", data={"_csrf_token": csrf(page.text), **fields}, follow_redirects=False)


async def _new_feed(client, scope: str) -> str:
    """Make a (new) address on the page and read it off the page, where it is shown once: its path."""
    made = await _post(client, action="create", scope=scope)
    assert made.status_code == 303 and made.headers["location"] == f"/kontor/{SALON}/kalender#{scope}"
    shown = await client.get(f"/kontor/{SALON}/kalender")
    url = re.search(rf'id="{scope}-url" value="(http[^"]+/kalender/[\w-]+\.ics)"', shown.text).group(1)
    assert f'href="webcal://{url.split("://", 1)[1]}"' in shown.text
    assert url not in (await client.get(f"/kontor/{SALON}/kalender")).text  # once only
    return urlparse(url).path


async def _events(client, path: str) -> list:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=300"
    return Calendar.from_ical(response.content).events


def _text(events) -> str:
    return "\n".join(f"{e['summary']}\n{e['description']}\n{e['location']}" for e in events)


async def test_a_staff_members_feed_holds_their_own_bookings_without_phone_numbers(no_feeds):
    client = no_feeds
    ingrid, jonas, _ = await _salon_calendars()
    mine = await _book_on(client, ingrid, name="Kari Nordmann", note="Kort i nakken, takk")
    await _book_on(client, jonas, name="Per Annen")
    await book(client, f"/s/{MASSAGE}/massasje-30", name="Ola Fremmed", phone="91234567")

    await staff_login(client, SALON, "staff", resource_id=ingrid, email="feed.ingrid@example.no")
    page = await client.get(f"/kontor/{SALON}/kalender")
    assert page.status_code == 200 and says(page.text, "Ingrid Haugen") and 'id="supplier"' not in page.text  # not the owner
    path = await _new_feed(client, "own")
    token = path.removeprefix("/kalender/").removesuffix(".ics")
    assert len(token) >= 32
    # Only the token's hash is stored.
    (row,) = await CalendarFeed.select().where(CalendarFeed.revoked_at.is_null())
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and row["include_phone"] is False

    first, second = await _events(client, path), await _events(client, path)
    assert (await client.head(path)).status_code == 200  # some apps ask first
    assert len(first) == 1
    (event,) = first
    assert event.decoded("dtstart") == mine["reservation"]["start"] and event.decoded("dtend") == mine["reservation"]["end"]
    assert str(event["uid"]) == str(second[0]["uid"]) == f"reservation-{mine['reservation']['id']}@127.0.0.1"
    assert str(event["summary"]) == "Herreklipp — Kari Nordmann"
    text = _text(first)
    for shown in (mine["reference"], "Kort i nakken, takk", f"/kontor/{SALON}/ordre/{mine['id']}", "Olaf Ryes plass 7"):
        assert shown in text, shown
    for hidden in ("Per Annen", "Ola Fremmed", *PHONES):
        assert hidden not in text, hidden
    # The feed's own calendar name is the staff member's calendar.
    body = (await client.get(path)).text
    assert "X-WR-CALNAME:Ingrid Haugen" in body and "REFRESH-INTERVAL;VALUE=DURATION:PT15M" in body

    # Jonas' feed has Jonas' booking, not Ingrid's.
    await staff_login(client, SALON, "staff", resource_id=jonas, email="feed.jonas@example.no")
    other = await _events(client, await _new_feed(client, "own"))
    assert [str(e["summary"]) for e in other] == ["Herreklipp — Per Annen"]
    # Staff cannot touch the owner's feed for the whole salon.
    for action in ("create", "revoke", "phone"):
        assert (await _post(client, action=action, scope="supplier", include_phone="on")).status_code == 404
    assert await CalendarFeed.count().where(CalendarFeed.account.is_null()) == 0


async def test_the_owners_feed_holds_every_calendar_phone_numbers_only_when_chosen_and_a_stopped_address_is_gone(no_feeds):
    client = no_feeds
    ingrid, jonas, _ = await _salon_calendars()
    await _book_on(client, ingrid, name="Kari Nordmann")
    await _book_on(client, jonas, name="Per Annen")
    await book(client, f"/s/{MASSAGE}/massasje-30", name="Ola Fremmed", phone="91234567")
    marker = await audit.last_id()

    await staff_login(client, SALON, "owner")
    path = await _new_feed(client, "supplier")
    events = await _events(client, path)
    assert sorted(str(e["summary"]) for e in events) == ["Herreklipp — Kari Nordmann", "Herreklipp — Per Annen"]
    text = _text(events)
    assert "Ola Fremmed" not in text and not any(p in text for p in PHONES)
    assert "Ingrid Haugen" in text and "Jonas Berg" in text  # who each booking is with

    # The owner includes phone numbers: the same address now has them.
    assert (await _post(client, action="phone", scope="supplier", include_phone="on")).status_code == 303
    assert "+47 41 23 45 67" in _text(await _events(client, path))
    # A new address: the old one stops at once, the choice stays.
    newer = await _new_feed(client, "supplier")
    assert newer != path and (await client.get(path)).status_code == 404
    assert "+47 41 23 45 67" in _text(await _events(client, newer))
    # Stopped: 404 from now on; and so is any made-up or malformed address.
    assert (await _post(client, action="revoke", scope="supplier")).status_code == 303
    for gone in (newer, f"/kalender/{secrets.token_urlsafe(32)}.ics", "/kalender/ikke-en-kalender", f"/kalender/{newer.rsplit('/', 1)[1][:-4]}"):
        assert (await client.get(gone)).status_code == 404, gone
    page = await client.get(f"/kontor/{SALON}/kalender")
    assert says(page.text, "Lag en kalenderadresse")

    # Each change has its audit entry, and no entry holds an address.
    entries = await audit.entries(since_id=marker)
    actions = [e["action"] for e in entries if e["action"].startswith("feed.")]
    assert actions == ["feed.create", "feed.phone", "feed.create", "feed.revoke"]
    tokens = [p.rsplit("/", 1)[1][:-4] for p in (path, newer)]
    assert not any(t in str(e) for t in tokens for e in entries)


async def _shared_day(client, calendars: list[int]):
    """The first day from tomorrow with free times on every one of these calendars."""
    day = clock.local_today() + timedelta(days=1)
    for _ in range(14):
        pages = [await client.get(HERREKLIPP, params={"resource": r, "day": day.isoformat()}) for r in calendars]
        if all(slots(p.text) for p in pages):
            return day
        day += timedelta(days=1)
    raise AssertionError("no day with free times for all")


async def test_the_morning_agenda_goes_once_to_each_member_who_asked_for_it_and_has_bookings(no_feeds):
    client = no_feeds
    ingrid, jonas, amira = await _salon_calendars()
    day = await _shared_day(client, [ingrid, jonas])
    first = await _book_on(client, ingrid, day, name="Kari Nordmann", note="Allergisk mot parfyme")
    second = await _book_on(client, jonas, day, name="Per Annen")

    # Ingrid asks for it on the page; Amira (no bookings that day) and the owner too; Jonas and the front desk do not.
    ingrid_account = await staff_login(client, SALON, "staff", resource_id=ingrid, email="agenda.ingrid@example.no")
    assert (await _post(client, action="agenda", wanted="on")).status_code == 303
    assert says((await client.get(f"/kontor/{SALON}/kalender")).text, "Morgenagendaen er på.")
    owner = await staff_account(SALON, "owner")
    amira_account = await staff_account(SALON, "staff", resource_id=amira, email="agenda.amira@example.no")
    await staff_account(SALON, "staff", resource_id=jonas, email="agenda.jonas@example.no")
    await staff_account(SALON, "front_desk")
    for account in (owner, amira_account):
        assert await feeds.choose_agenda(actors.system("tests"), supplier_id=account["supplier_id"], account_id=account["id"], wanted=True, now=clock.now())

    seven = datetime.combine(day, time(7, 5), clock.OSLO)
    with time_machine.travel(seven - timedelta(minutes=10), tick=False):
        assert await feeds.send_agendas(clock.now()) == 0  # not before seven
    with time_machine.travel(seven, tick=False):
        await feeds.send_agendas(clock.now())
        rows = await OutboxMessage.select().where(OutboxMessage.topic == "agenda").output(load_json=True)
        assert sorted(r["recipient"] for r in rows) == sorted([ingrid_account["email"], owner["email"]])
        assert await feeds.send_agendas(clock.now()) == 0  # again: nothing new
        assert await OutboxMessage.count().where(OutboxMessage.topic == "agenda") == 2
        while await drain_once(clock.now()):
            pass

    mails = {m["recipient"]: m for m in await DevMessage.select().where(DevMessage.recipient.is_in([ingrid_account["email"], owner["email"]]))}
    assert set(mails) == {ingrid_account["email"], owner["email"]}
    own = mails[ingrid_account["email"]]
    assert own["subject"].startswith("Dagen din hos Saks & Stil") and own["subject"].endswith("1 bestilling")
    start = clock.fmt_time(first["reservation"]["start"])
    for shown in (start, "Herreklipp", "Kari Nordmann", "Allergisk mot parfyme", f"/kontor/{SALON}/ordre/{first['id']}"):
        assert shown in own["body"], shown
    assert "Per Annen" not in own["body"] and "Allergisk mot parfyme" in own["html"]
    whole = mails[owner["email"]]["body"]
    times = sorted([(first["reservation"]["start"], "Kari Nordmann"), (second["reservation"]["start"], "Per Annen")])
    assert whole.index(times[0][1]) < whole.index(times[1][1])  # in time order
    assert "Ingrid Haugen" in whole and "Jonas Berg" in whole
    assert not any(p in whole for p in PHONES)
    # Nobody who did not ask (Jonas, the front desk), nor Amira with an empty day, got one.
    assert await DevMessage.count().where(DevMessage.subject.like("Dagen din%")) == 2

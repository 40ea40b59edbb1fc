"""The booking slice over HTTP: offering page → hold → checkout → confirmation."""

from __future__ import annotations

import datetime
import re

import time_machine
from icalendar import Calendar
from litestar.testing import AsyncTestClient

from portal.app import create_app
from portal.audit.domain import system
from portal.kinds.appointment.service import release_expired
from portal.lib import clock
from portal.lib.i18n import translations
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot, slots

OFFERING = "/s/saks-og-stil-grunerlokka/herreklipp"


async def _hold(client, path: str = OFFERING) -> tuple[str, str]:
    start, token = await first_free_slot(client, path)
    response = await client.post(f"{path.split('?')[0]}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return response.headers["location"], start


async def test_pages_render_and_unknown_things_are_404(client):
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/s/saks-og-stil-grunerlokka")).status_code == 200
    assert (await client.get(OFFERING)).status_code == 200
    for path in ("/s/nope", "/s/saks-og-stil-grunerlokka/nope", "/checkout/nope", "/b/nope", "/b/nope/booking.ics"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]


async def test_book_end_to_end(client):
    checkout_url, start = await _hold(client)
    page = await client.get(checkout_url)
    assert page.status_code == 200
    done = await confirm_with_code(client, checkout_url)
    assert done.status_code == 303
    manage = done.headers["location"]
    confirmation = await client.get(manage)
    assert confirmation.status_code == 200
    reference = re.search(r"<strong>([2-9A-Z]{6})</strong>", confirmation.text).group(1)
    token = manage.split("/b/")[1].split("?")[0]
    ics = await client.get(f"/b/{token}/booking.ics")
    assert ics.status_code == 200
    event = next(c for c in Calendar.from_ical(ics.content).walk("VEVENT"))
    assert reference in str(event["uid"])
    assert event.decoded("dtstart").isoformat().replace("+00:00", "") in start.replace("+00:00", "")
    # The same calendar file twice keeps its UID.
    again = next(c for c in Calendar.from_ical((await client.get(f"/b/{token}/booking.ics")).content).walk("VEVENT"))
    assert again["uid"] == event["uid"]


async def test_booked_time_is_no_longer_offered_for_a_single_resource(client):
    path = "/s/lunde-radgivning/videokonsultasjon"
    checkout_url, start = await _hold(client, path)
    page = await client.get(path)
    assert start not in slots(page.text)


async def test_hold_is_reused_in_the_same_browser(client):
    first, start = await _hold(client)
    page = await client.get(OFFERING)
    again = await client.post(f"{OFFERING}/hold", data={"start": start, "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert again.headers["location"] == first


async def test_form_errors_keep_input_and_write_nothing(client):
    from portal.orders.tables import Order

    checkout_url, _ = await _hold(client)
    page = await client.get(checkout_url)
    bad = {**VALID_CUSTOMER, "phone": "12", "adult": "", "_csrf_token": csrf(page.text)}
    response = await client.post(checkout_url, data=bad)
    assert response.status_code == 422
    assert 'value="Kari Nordmann"' in response.text
    assert 'id="phone-error"' in response.text and 'id="adult-error"' in response.text
    assert await Order.count().where(Order.state == "confirmed") == 0


async def test_post_without_csrf_is_refused(client):
    start, _ = await first_free_slot(client, OFFERING)
    response = await client.post(f"{OFFERING}/hold", data={"start": start}, follow_redirects=False)
    assert response.status_code == 403


async def test_a_past_or_unoffered_time_gets_a_clear_message_not_a_500(client):
    page = await client.get(OFFERING)
    token = csrf(page.text)
    nb = translations("nb")
    for start in ("2020-01-06T09:00:00+00:00", "2099-01-01T03:00:00+00:00"):
        response = await client.post(f"{OFFERING}/hold", data={"start": start, "_csrf_token": token})
        assert response.status_code == 409
        assert nb.gettext("That time cannot be booked") in response.text
    response = await client.post(f"{OFFERING}/hold", data={"start": "next tuesday", "_csrf_token": token})
    assert response.status_code == 422


async def test_an_expired_hold_frees_the_time_for_someone_else(client):
    path = "/s/lunde-radgivning/videokonsultasjon"
    # The first time of the next open day from tomorrow on: 11 minutes later it
    # is still outside the minimum notice (the consultant is closed at weekends).
    for ahead in range(1, 8):
        tomorrow = (clock.local_today(clock.now()) + datetime.timedelta(days=ahead)).isoformat()
        if slots((await client.get(f"{path}?day={tomorrow}")).text):
            break
    _, start = await _hold(client, f"{path}?day={tomorrow}")
    assert start not in slots((await client.get(f"{path}?day={tomorrow}")).text)
    with time_machine.travel(clock.now() + datetime.timedelta(minutes=11), tick=True):
        assert start in slots((await client.get(f"{path}?day={tomorrow}")).text)
        async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as other:
            page = await other.get(f"{path}?day={tomorrow}")
            taken = await other.post(f"{path}/hold", data={"start": start, "_csrf_token": csrf(page.text)}, follow_redirects=False)
            assert taken.status_code == 303
        assert await release_expired(system("test"), clock.now()) == 0  # the new hold already released the old one


async def test_a_late_confirm_still_works_when_nobody_took_the_time(client):
    checkout_url, _ = await _hold(client, "/s/lunde-radgivning/videokonsultasjon")
    with time_machine.travel(clock.now() + datetime.timedelta(minutes=15), tick=True):
        done = await confirm_with_code(client, checkout_url)
    assert done.status_code == 303 and done.headers["location"].startswith("/b/")


async def test_offering_page_offers_to_continue_a_live_hold(client):
    checkout_url, _ = await _hold(client)
    page = await client.get(OFFERING)
    assert f'href="{checkout_url}"' in page.text


async def test_a_late_sweep_never_releases_a_confirmed_booking(client):
    """The sweeper read the hold as expired just before the customer confirmed:
    its release must not overwrite the confirmation nor free the time."""
    from portal.capacity.tables import SlotClaim
    from portal.kinds.appointment import service
    from portal.kinds.appointment.tables import Reservation
    from portal.orders.tables import Order

    checkout_url, _ = await _hold(client, "/s/lunde-radgivning/videokonsultasjon")
    later = clock.now() + datetime.timedelta(minutes=15)
    with time_machine.travel(later, tick=True):
        assert (await confirm_with_code(client, checkout_url)).status_code == 303
    order = await Order.select().where(Order.state == "confirmed").first()
    reservation = await Reservation.select().where(Reservation.order == order["id"]).first()
    claims = await SlotClaim.count().where(SlotClaim.owner == f"r:{reservation['id']}")
    assert await service.expire(system("hold-sweeper"), order["id"], later) is False
    after = await Order.select().where(Order.id == order["id"]).first()
    assert after["state"] == "confirmed"
    assert (await Reservation.select().where(Reservation.id == reservation["id"]).first())["status"] == "confirmed"
    assert await SlotClaim.count().where(SlotClaim.owner == f"r:{reservation['id']}") == claims > 0


async def test_the_catalogue_cache_serves_repeat_reads_until_it_expires(monkeypatch):
    """With the cache on, a second read does not load the rows again; after the
    time-to-live, or once any process has changed the catalogue, it does."""
    import dataclasses

    from portal import settings as settings_module
    from portal.catalogue import service as catalogue

    cached = dataclasses.replace(settings_module.load(), catalogue_cache_seconds=30)
    monkeypatch.setattr(catalogue, "load_settings", lambda: cached)
    catalogue.clear_cache()
    calls = []
    real = catalogue._load_schedules

    async def counting(ids):
        calls.append(ids)
        return await real(ids)

    monkeypatch.setattr(catalogue, "_load_schedules", counting)
    first = await catalogue.schedules([1, 2])
    assert await catalogue.schedules([1, 2]) == first and len(calls) == 1
    key = ("schedules", (1, 2))
    catalogue._cache[key] = (0.0, *catalogue._cache[key][1:])  # as if its time-to-live had passed
    await catalogue.schedules([1, 2])
    assert len(calls) == 2
    # Another process changes the catalogue (its bump reaches this one only through the database).
    from portal.catalogue.tables import Supplier

    await Supplier.raw("UPDATE catalogue_version SET version = version + 1 WHERE id = 1")
    await catalogue.schedules([1, 2])
    assert len(calls) == 3
    await catalogue.schedules([1, 2])
    assert len(calls) == 3
    catalogue.clear_cache()


async def test_the_hold_path_itself_frees_an_expired_holds_claims(clean_bookings):
    """No sweeper: the claims of an expired hold are released by the next
    customer's hold of the same time, which then succeeds."""
    from portal.audit.domain import customer
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.orders.tables import Order

    ctx = await offering_context("lunde-radgivning", "videokonsultasjon")
    now = clock.now()
    day = clock.local_today(now) + datetime.timedelta(days=3)
    slot = (await service.slots_between(ctx, day, day + datetime.timedelta(days=7), now))[0]
    first = await service.hold(customer(visitor="visitor-a"), ctx, slot.start, None, "visitor-a", now, 10)
    later = now + datetime.timedelta(minutes=11)
    second = await service.hold(customer(visitor="visitor-b"), ctx, slot.start, None, "visitor-b", later, 10)
    assert second["id"] != first["id"]
    states = {r["id"]: r["state"] for r in await Order.select(Order.id, Order.state)}
    assert states == {first["id"]: "released", second["id"]: "held"}

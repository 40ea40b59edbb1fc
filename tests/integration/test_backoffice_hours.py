"""Opening hours in the back office over HTTP: the week, breaks and dated
exceptions change the customers' slot list at once (in every process: the
catalogue version), bad input re-renders with messages, a change that would
leave a booking outside the hours names it and changes nothing, a stale
second tab is refused, and only owners of this supplier get in.

Each test gets a supplier of its own (listed while the test runs, unlisted
after), so the demo catalogue other tests read stays as seeded."""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime, time, timedelta
from html import unescape

import pytest
from stdnum.no import orgnr

from portal.audit import service as audit
from portal.availability import hours as rules
from portal.availability.holidays import norwegian_holidays
from portal.catalogue import service as catalogue
from portal.catalogue.tables import DateException, HoursRule, Offering, OfferingResource, Resource, Supplier
from portal.lib import clock
from portal.lib.i18n import translations
from portal.orders import service as orders
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, slots
from tests.integration.staff import staff_login

NB = translations("nb")
MASSAGE = "fjellro-massasje-bergen"  # a demo supplier: another tenant


def says(html: str, text: str) -> bool:
    return text in unescape(html)


def version_in(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


@pytest.fixture()
async def shop(clean_bookings):
    """A listed salon with one person, Ada, who works every day 09–17, and a 30-minute cut."""
    slug = f"timesalong-{secrets.token_hex(3)}"
    number = next(n for n in (f"9{secrets.randbelow(10**8):08d}" for _ in range(1000)) if orgnr.is_valid(n))
    rows = await Supplier.insert(
        Supplier(
            slug=slug, name="Timesalongen", legal_name="Timesalongen AS", org_number=number, company_form="AS", vat_registered=True,
            category="hair", street="Storgata 1", postcode="0155", town="Oslo", phone="+4722334455", email="post@timesalongen.example.no",
            payment_methods=["onsite"], active=True, created_at=clock.now(),
        )  # fmt: skip
    ).returning(Supplier.id)
    supplier_id = rows[0]["id"]
    ada = (await Resource.insert(Resource(supplier=supplier_id, name="Ada", title="Frisør")).returning(Resource.id))[0]["id"]
    await HoursRule.insert(*[HoursRule(resource=ada, weekday=d, start=time(9), end=time(17)) for d in range(7)])
    offering = (
        await Offering.insert(
            Offering(supplier=supplier_id, slug="klipp", kind="appointment", title="Klipp", price_ore=40000, duration_min=30, step_min=30, min_notice_min=0, max_advance_days=60)
        ).returning(Offering.id)
    )[0]["id"]
    await OfferingResource.insert(OfferingResource(offering=offering, resource=ada))
    catalogue.clear_cache()
    today = clock.local_today()
    free = norwegian_holidays(today, today + timedelta(days=30))
    day = next(d for d in (today + timedelta(days=n) for n in range(2, 30)) if d not in free)
    yield {"id": supplier_id, "slug": slug, "ada": ada, "day": day, "path": f"/s/{slug}/klipp", "hours": f"/kontor/{slug}/innstillinger/timer"}
    await Supplier.update({Supplier.active: False}).where(Supplier.id == supplier_id)
    catalogue.clear_cache()


async def public_times(client, shop: dict) -> list[str]:
    """The customers' slot list for the shop's day (the htmx fragment), as local HH:MM."""
    page = await client.get(shop["path"], params={"day": shop["day"].isoformat()}, headers={"HX-Request": "true", "HX-Target": "slots"})
    assert page.status_code == 200
    return [clock.to_local(datetime.fromisoformat(s)).strftime("%H:%M") for s in slots(page.text)]


def week_form(changes: dict[int, list[tuple[str, str]]] | None = None, breaks: dict[int, list[tuple[str, str]]] | None = None) -> dict:
    """The week form with 09–17 every day, except the days in `changes`."""
    form: dict[str, str] = {}
    for wd in range(7):
        for i, (start, end) in enumerate((changes or {}).get(wd, [("09:00", "17:00")])):
            form[f"o-{wd}-{i}-start"], form[f"o-{wd}-{i}-end"] = start, end
        for i, (start, end) in enumerate((breaks or {}).get(wd, [])):
            form[f"b-{wd}-{i}-start"], form[f"b-{wd}-{i}-end"] = start, end
    return form


async def open_hours(client, shop: dict) -> tuple[str, dict]:
    page = await client.get(shop["hours"], params={"ressurs": shop["ada"]})
    assert page.status_code == 200, page.text[:300]
    return page.text, {"_csrf_token": csrf(page.text), "ressurs": str(shop["ada"]), "version": version_in(page.text)}


async def stored(shop: dict) -> tuple[list, list, int]:
    rules_ = await HoursRule.select(HoursRule.weekday, HoursRule.start, HoursRule.end, HoursRule.is_break).where(HoursRule.resource == shop["ada"]).order_by(HoursRule.id)
    exceptions = await DateException.select(DateException.day, DateException.closed).where(DateException.resource == shop["ada"])
    version = (await Resource.select(Resource.version).where(Resource.id == shop["ada"]).first())["version"]
    return rules_, exceptions, version


async def book_at(client, shop: dict, hh: int) -> dict:
    """A confirmed booking with Ada at hh:00 on the shop's day, through the shop."""
    start = datetime.combine(shop["day"], time(hh), clock.OSLO).astimezone(clock.UTC)
    page = await client.get(shop["path"], params={"day": shop["day"].isoformat()})
    held = await client.post(f"{shop['path']}/hold", data={"start": start.isoformat(), "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert held.status_code == 303, held.text[:300]
    token = held.headers["location"].rsplit("/", 1)[1]
    done = await confirm_with_code(client, f"/checkout/{token}", {**VALID_CUSTOMER, "means": "onsite"})
    assert done.status_code == 303, done.text[:300]
    return await orders.by_checkout_token(token)


ALL_DAY = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30"]


async def test_the_week_and_dated_exceptions_change_the_public_slot_list_at_once_in_every_process(client, shop, monkeypatch):
    # The catalogue cache on, as in production: a process keeps what it read.
    cached = dataclasses.replace(catalogue.load_settings(), catalogue_cache_seconds=300)
    monkeypatch.setattr(catalogue, "load_settings", lambda: cached)
    catalogue.clear_cache()
    assert await public_times(client, shop) == ALL_DAY
    other_process = dict(catalogue._cache)  # what another process read before the change
    assert other_process

    await staff_login(client, shop["slug"])
    html, hidden = await open_hours(client, shop)
    assert says(html, "Ada") and 'value="09:00"' in html and 'value="17:00"' in html
    assert says(html, NB.gettext("Closed on public holidays unless the offering says otherwise. A date above with its own hours is open even on a holiday."))
    since = await audit.last_id()
    wd = shop["day"].weekday()
    saved = await client.post(
        f"{shop['hours']}/uke", data={**hidden, **week_form({wd: [("12:00", "15:00")]}, {wd: [("13:00", "13:30")]})}, follow_redirects=False
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{shop['hours']}?ressurs={shop['ada']}&lagret=uke"
    catalogue._cache.update(other_process)  # that process still holds the old rows …
    assert await public_times(client, shop) == ["12:00", "12:30", "13:30", "14:00", "14:30"]  # … and offers the new times all the same

    assert says((await client.get(saved.headers["location"])).text, NB.gettext("The opening hours are saved. Customers see the new times at once."))
    html, hidden = await open_hours(client, shop)
    closed = await client.post(f"{shop['hours']}/unntak", data={**hidden, "day": shop["day"].isoformat(), "kind": "closed", "note": "Kurs"}, follow_redirects=False)
    assert closed.status_code == 303
    assert await public_times(client, shop) == []
    html, hidden = await open_hours(client, shop)
    assert says(html, "Kurs")
    exception = await DateException.select(DateException.id).where(DateException.resource == shop["ada"]).first()
    removed = await client.post(f"{shop['hours']}/unntak/{exception['id']}/fjern", data=hidden, follow_redirects=False)
    assert removed.status_code == 303
    assert await public_times(client, shop) == ["12:00", "12:30", "13:30", "14:00", "14:30"]
    # Other hours on the date replace the week's for that date only.
    _, hidden = await open_hours(client, shop)
    extra = await client.post(f"{shop['hours']}/unntak", data={**hidden, "day": shop["day"].isoformat(), "kind": "hours", "start": "16:00", "end": "18:00"}, follow_redirects=False)
    assert extra.status_code == 303
    assert await public_times(client, shop) == ["16:00", "16:30", "17:00", "17:30"]  # the weekly break does not reach them

    entries = await audit.entries(since_id=since)
    assert [e["action"] for e in entries] == ["hours.set_week", "hours.add_exception", "hours.remove_exception", "hours.add_exception"]
    assert {e["actor_role"] for e in entries} == {"owner"} and entries[0]["after"]["version"] == 1
    assert (await stored(shop))[2] == 4
    catalogue.clear_cache()


async def test_bad_times_and_dates_re_render_with_a_message_at_each_field_and_change_nothing(client, shop):
    await staff_login(client, shop["slug"])
    _, hidden = await open_hours(client, shop)
    before = await stored(shop)
    since = await audit.last_id()
    bad = await client.post(
        f"{shop['hours']}/uke",
        data={**hidden, **week_form({0: [("25:00", "17:00")], 1: [("09:00", "17:00"), ("12:00", "13:00")], 3: [("17:00", "09:00")]}, {2: [("18:00", "18:30")]})},
    )
    assert bad.status_code == 422
    for key, message in (("o-0-0", rules.BAD_TIME), ("o-1-1", rules.OVERLAP), ("b-2-0", rules.BREAK_OUTSIDE), ("o-3-0", rules.ORDER)):
        assert f'id="{key}-error"' in bad.text and f'aria-describedby="{key}-error"' in bad.text, key
        assert says(bad.text, NB.gettext(message)), message
    assert 'value="25:00"' in bad.text  # what was typed is shown again
    assert 'id="o-4-0-error"' not in bad.text

    past = await client.post(f"{shop['hours']}/unntak", data={**hidden, "day": (clock.local_today() - timedelta(days=1)).isoformat(), "kind": "closed"})
    assert past.status_code == 422 and 'id="day-error"' in past.text and says(past.text, NB.gettext(rules.PAST_DATE))
    backwards = await client.post(f"{shop['hours']}/unntak", data={**hidden, "day": shop["day"].isoformat(), "kind": "hours", "start": "15:00", "end": "11:00"})
    assert backwards.status_code == 422 and 'id="end-error"' in backwards.text and says(backwards.text, NB.gettext(rules.ORDER))
    assert 'value="15:00"' in backwards.text
    assert await stored(shop) == before
    assert await audit.entries(since_id=since) == []


async def test_a_change_that_would_leave_a_booking_outside_the_hours_names_it_and_changes_nothing(client, shop):
    order = await book_at(client, shop, 10)
    await staff_login(client, shop["slug"])
    _, hidden = await open_hours(client, shop)
    before = await stored(shop)
    since = await audit.last_id()
    wd = shop["day"].weekday()
    attempts = {
        "closed that weekday": (f"{shop['hours']}/uke", {**hidden, **week_form({wd: []})}),
        "a later start": (f"{shop['hours']}/uke", {**hidden, **week_form({wd: [("11:00", "17:00")]})}),
        "a new break": (f"{shop['hours']}/uke", {**hidden, **week_form(breaks={wd: [("10:15", "10:45")]})}),
        "the date closed": (f"{shop['hours']}/unntak", {**hidden, "day": shop["day"].isoformat(), "kind": "closed"}),
        "other hours that date": (f"{shop['hours']}/unntak", {**hidden, "day": shop["day"].isoformat(), "kind": "hours", "start": "12:00", "end": "16:00"}),
    }
    local = clock.fmt_datetime(datetime.combine(shop["day"], time(10), clock.OSLO).astimezone(clock.UTC), "nb")
    for what, (path, form) in attempts.items():
        refused = await client.post(path, data=form)
        assert refused.status_code == 409, what
        assert f'href="/kontor/{shop["slug"]}/ordre/{order["id"]}"' in refused.text, what
        for text in (order["reference"], "Kari Nordmann", "Klipp", local, NB.gettext("Move or cancel these bookings first, then make the change again.")):
            assert says(refused.text, text), (what, text)
    assert await stored(shop) == before
    assert await audit.entries(since_id=since) == []
    # A change the booking is not in the way of goes through.
    other_day = (wd + 1) % 7
    fine = await client.post(f"{shop['hours']}/uke", data={**hidden, **week_form({wd: [("10:00", "12:00")], other_day: []})}, follow_redirects=False)
    assert fine.status_code == 303


async def test_a_stale_form_from_a_second_tab_is_refused_with_the_hours_as_they_are_now(client, shop):
    await staff_login(client, shop["slug"])
    _, first_tab = await open_hours(client, shop)
    _, second_tab = await open_hours(client, shop)
    assert first_tab["version"] == second_tab["version"] == "0"
    done = await client.post(f"{shop['hours']}/uke", data={**first_tab, **week_form({0: [("10:00", "16:00")]})}, follow_redirects=False)
    assert done.status_code == 303
    since = await audit.last_id()
    after_first = await stored(shop)
    for path, form in (
        (f"{shop['hours']}/uke", {**second_tab, **week_form({0: [("08:00", "18:00")]})}),
        (f"{shop['hours']}/unntak", {**second_tab, "day": shop["day"].isoformat(), "kind": "closed"}),
        (f"{shop['hours']}/uke", {k: v for k, v in {**second_tab, **week_form()}.items() if k != "version"}),
    ):
        stale = await client.post(path, data=form)
        assert stale.status_code == 409, path
        assert 'id="stale"' in stale.text and says(stale.text, NB.gettext("These hours were changed in the meantime (in another tab, or by someone else). Nothing was saved: below are the hours as they are now. Make your change again."))
        assert 'id="o-0-0-start" name="o-0-0-start" type="time" value="10:00"' in stale.text and version_in(stale.text) == "1"
    assert await stored(shop) == after_first
    assert await audit.entries(since_id=since) == []


async def test_only_the_owners_of_this_supplier_reach_the_hours_and_another_suppliers_ids_are_404(client, shop):
    from portal.catalogue.tables import Resource as R

    theirs = (await R.select(R.id).where(R.supplier == (await Supplier.select(Supplier.id).where(Supplier.slug == MASSAGE).first())["id"]).first())["id"]
    their_exception = await DateException.insert(DateException(resource=theirs, day=clock.local_today() + timedelta(days=40), closed=True)).returning(DateException.id)
    try:
        await staff_login(client, shop["slug"])
        html, hidden = await open_hours(client, shop)
        for role in ("front_desk", "staff"):
            await staff_login(client, shop["slug"], role)
            assert (await client.get(shop["hours"])).status_code == 404, role
            assert (await client.post(f"{shop['hours']}/uke", data={**hidden, **week_form()})).status_code == 404, role
        await staff_login(client, shop["slug"])
        probes = [
            ("get", f"{shop['hours']}?ressurs={theirs}", {}),
            ("get", f"{shop['hours']}?ressurs=abc", {}),
            ("get", f"/kontor/{MASSAGE}/innstillinger/timer?ressurs={theirs}", {}),
            ("post", f"{shop['hours']}/uke", {**hidden, **week_form(), "ressurs": str(theirs)}),
            ("post", f"{shop['hours']}/unntak", {**hidden, "ressurs": str(theirs), "day": shop["day"].isoformat(), "kind": "closed"}),
            ("post", f"{shop['hours']}/unntak/{their_exception[0]['id']}/fjern", hidden),
            ("post", f"{shop['hours']}/unntak/{their_exception[0]['id']}/fjern", {**hidden, "ressurs": str(theirs)}),
        ]
        for method, path, form in probes:
            response = await (client.get(path) if method == "get" else client.post(path, data=form))
            assert response.status_code == 404, path
        assert await DateException.exists().where(DateException.id == their_exception[0]["id"])
        assert await HoursRule.count().where(HoursRule.resource == theirs) > 0
    finally:
        await DateException.delete().where(DateException.id == their_exception[0]["id"])
        catalogue.clear_cache()


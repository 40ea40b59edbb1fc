"""The booking journeys a customer makes on a phone, with and without JavaScript,
and two customers racing for one time.

Elements are found by ids, names, hrefs and roles, not by visible text: the
wording is being translated while these tests are written.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SALON = "/s/saks-og-stil-grunerlokka"
HAIRCUT = f"{SALON}/herreklipp"
VIDEO = "/s/lunde-radgivning/videokonsultasjon"
REFERENCE_RE = re.compile(r"^[23456789A-HJKMNP-Z]{6}$")
OSLO = ZoneInfo("Europe/Oslo")


def day_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["day"][0]


def open_offering_from_front(page, shot) -> None:
    page.goto("/")
    shot(page, "front")
    page.locator(f'#results a[href="{SALON}"]').click()
    page.wait_for_url(f"**{SALON}")
    shot(page, "supplier")
    page.locator(f'a.button[href="{HAIRCUT}"]').click()
    page.wait_for_url(f"**{HAIRCUT}")
    expect(page.locator("#slots")).to_be_visible()
    shot(page, "offering")


def other_free_day(page):
    """A day link in the strip that is not the shown day and has free times."""
    link = page.locator(".strip a.day:not([aria-current]):not(.none)").first
    expect(link).to_be_visible()
    return link


def choose_first_time(page, shot) -> str:
    button = page.locator("#slots button[name=start]").first
    start = button.get_attribute("value")
    assert start, "a time button without a value"
    button.click()
    page.wait_for_url("**/checkout/**")
    expect(page.locator("form.checkout")).to_be_visible()
    shot(page, "checkout")
    return start


def fill_checkout(page, phone: str) -> None:
    page.fill("#name", "Kari Nordmann")
    page.fill("#phone", phone)
    page.fill("#email", "kari@example.no")
    page.fill("#note", "Kort i nakken, takk.")
    if page.locator("#means-onsite").count():
        page.check("#means-onsite")  # suppliers that also take Vipps ask; nothing is pre-selected (L2)
    page.check("#accept_terms")
    page.check("#adult")
    if page.locator("#early_start").count():
        page.check("#early_start")


def submit_checkout(page) -> int:
    with page.expect_response(lambda r: "/checkout/" in r.url and r.request.method == "POST") as posted:
        page.locator("form.checkout button.primary").click()
    page.wait_for_load_state()
    return posted.value.status


def last_message_id(e2e_database) -> int:
    rows = e2e_database.rows("SELECT MAX(id) FROM dev_message")
    return rows[0][0] or 0


def sms_code_for(e2e_database, phone_e164: str, after_id: int, timeout_s: float = 15.0) -> str:
    """The one-time code the dev SMS backend 'sent' after `after_id` (the app's
    own worker delivers it a moment after the request)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = e2e_database.rows(
            "SELECT body FROM dev_message WHERE channel = 'sms' AND recipient = ? AND id > ? ORDER BY id DESC LIMIT 1",
            phone_e164,
            after_id,
        )
        if rows:
            match = re.search(r"\b(\d{6})\b", rows[0][0])
            assert match, rows[0][0]
            return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no SMS code reached {phone_e164}")


def verify_phone(page, e2e_database, phone_e164: str = "+4741234567") -> None:
    """Press "Send code" (htmx swaps the phone block in place; without
    JavaScript the page reloads), then type the code from the SMS."""
    before = last_message_id(e2e_database)
    with page.expect_response(lambda r: "/checkout/" in r.url and r.request.method == "POST") as posted:
        page.locator("button[name=action][value=send_code]").click()
    assert posted.value.status == 200
    expect(page.locator("#code")).to_be_visible()
    page.fill("#code", sms_code_for(e2e_database, phone_e164, before))


def checkout_with_one_mistake_then_confirm(page, shot, e2e_database) -> str:
    """Submit with a bad phone, check the error and the kept values, fix, confirm; return the reference."""
    fill_checkout(page, phone="12")
    assert submit_checkout(page) == 422
    error = page.locator("#phone-error")
    expect(error).to_be_visible()
    shot(page, "checkout-error")
    # The message sits with its field, the field points at it, and only that field is wrong.
    assert page.locator(".field:has(#phone) #phone-error").count() == 1
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    assert "phone-error" in (page.locator("#phone").get_attribute("aria-describedby") or "").split()
    assert page.locator("form.checkout .error").count() == 1
    assert page.locator("form.checkout [aria-invalid=true]").count() == 1
    expect(page.locator("#form-errors")).to_be_visible()
    # Everything else the customer typed or ticked is still there.
    expect(page.locator("#name")).to_have_value("Kari Nordmann")
    expect(page.locator("#phone")).to_have_value("12")
    expect(page.locator("#email")).to_have_value("kari@example.no")
    expect(page.locator("#note")).to_have_value("Kort i nakken, takk.")
    expect(page.locator("#accept_terms")).to_be_checked()
    expect(page.locator("#adult")).to_be_checked()

    page.fill("#phone", "412 34 567")
    verify_phone(page, e2e_database)
    shot(page, "checkout-code")
    assert submit_checkout(page) == 303  # Post/Redirect/Get to the booking page
    page.wait_for_url(re.compile(r"/b/[^/?#]+\?new=1$"))
    reference = page.locator(".reference strong").inner_text().strip()
    assert REFERENCE_RE.match(reference), reference
    shot(page, "confirmation")
    return reference


def check_calendar_file(page, start: str, reference: str) -> None:
    with page.expect_download() as info:
        page.locator('a[href$="/booking.ics"]').click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == f"booking-{reference}.ics"
    calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert event.decoded("dtstart") == datetime.fromisoformat(start)
    assert event.decoded("dtend") > event.decoded("dtstart")
    uid = str(event.get("uid") or "")
    assert uid.strip(), "the calendar event has no UID"
    assert reference in uid or reference in str(event.get("description"))


def live_bookings_at(e2e_database, offering_path: str, start: str) -> int:
    """Reservations of the offering at `start` that still occupy their time
    (held or confirmed); each one's order must be in the same state."""
    supplier_slug, offering_slug = offering_path.split("/")[2:4]
    rows = e2e_database.rows(
        'SELECT r.start, r.status, o2.state FROM reservation r JOIN orders o2 ON o2.id = r."order"'
        " JOIN offering o ON o.id = r.offering JOIN supplier s ON s.id = r.supplier"
        " WHERE s.slug = ? AND o.slug = ? AND r.status IN ('held', 'confirmed')",
        supplier_slug,
        offering_slug,
    )
    assert all(status == state for _, status, state in rows), f"a reservation and its order disagree: {rows}"
    wanted = datetime.fromisoformat(start)
    starts = [r[0] if isinstance(r[0], datetime) else datetime.fromisoformat(r[0]) for r in rows]
    return sum(1 for s in starts if s == wanted)


def test_booking_journey_with_javascript(context, shot, e2e_database):
    page = context.new_page()
    open_offering_from_front(page, shot)

    link = other_free_day(page)
    href = link.get_attribute("href")
    day = day_of(href)
    page.evaluate(
        """() => {
            window.__e2eMarker = 'same document';
            document.getElementById('picker-heading').__e2eMarker = 'kept';
            window.__e2eOldSlots = document.getElementById('slots');
            window.__e2eOldStrip = document.querySelector('.strip');
        }"""
    )
    with page.expect_response(lambda r: f"day={day}" in r.url) as fetched:
        link.click()
    assert fetched.value.request.headers.get("hx-request") == "true", "the day link did a full page load"
    assert fetched.value.status == 200
    page.wait_for_url(re.compile(rf"[?&]day={day}(&|$)"))
    # Keyboard and screen-reader users land on the new list. (No wait_for_function
    # with a string: the page's CSP forbids eval and that makes it flaky.)
    expect(page.locator("#slots-heading")).to_be_focused()
    state = page.evaluate(
        """() => ({
            marker: window.__e2eMarker,
            heading: document.getElementById('picker-heading').__e2eMarker,
            slotsReplaced: document.getElementById('slots') !== window.__e2eOldSlots,
            stripKept: document.querySelector('.strip') === window.__e2eOldStrip,
            slotsCount: document.querySelectorAll('#slots').length,
            current: [...document.querySelectorAll('.strip a.day[aria-current]')].map(a => a.getAttribute('href')),
        })"""
    )
    assert state == {
        "marker": "same document",
        "heading": "kept",
        "slotsReplaced": True,
        "stripKept": True,
        "slotsCount": 1,
        "current": [href],
    }
    expect(page.locator("#slots button[name=start]").first).to_be_visible()
    shot(page, "other-day")

    start = choose_first_time(page, shot)
    assert datetime.fromisoformat(start).astimezone(OSLO).date().isoformat() == day, "the time is not on the chosen day"
    reference = checkout_with_one_mistake_then_confirm(page, shot, e2e_database)
    check_calendar_file(page, start, reference)
    context.problems.assert_none()


def test_booking_journey_without_javascript(new_context, shot, e2e_database):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    open_offering_from_front(page, shot)

    link = other_free_day(page)
    href = link.get_attribute("href")
    day = day_of(href)
    link.click()
    page.wait_for_url(re.compile(rf"[?&]day={day}(&|$)"))
    # A whole new page: the chosen day is the current one in the strip.
    expect(page.locator(".strip a.day[aria-current]")).to_have_count(1)
    assert page.locator(".strip a.day[aria-current]").get_attribute("href") == href
    expect(page.locator("#slots button[name=start]").first).to_be_visible()
    shot(page, "other-day")

    start = choose_first_time(page, shot)
    reference = checkout_with_one_mistake_then_confirm(page, shot, e2e_database)
    check_calendar_file(page, start, reference)
    context.problems.assert_none()


def test_two_customers_race_for_the_same_time(new_context, shot, e2e_database):
    first = new_context().new_page()
    second = new_context().new_page()
    first.goto(VIDEO)
    second.goto(VIDEO)
    start = first.locator("#slots button[name=start]").first.get_attribute("value")
    same_time_for_second = second.locator(f'#slots button[name=start][value="{start}"]')
    expect(same_time_for_second).to_have_count(1)
    assert live_bookings_at(e2e_database, VIDEO, start) == 0

    first.locator(f'#slots button[name=start][value="{start}"]').click()
    first.wait_for_url("**/checkout/**")
    shot(first, "first-checkout")

    with second.expect_response(lambda r: r.url.endswith("/hold") and r.request.method == "POST") as held:
        same_time_for_second.click()
    assert held.value.status == 409
    second.wait_for_load_state()
    assert "/checkout/" not in second.url
    expect(second.locator("#taken")).to_be_visible()
    shot(second, "second-taken")
    nearest = second.locator("#taken button[name=start]")
    offered = nearest.evaluate_all("buttons => buttons.map(b => b.value)")
    assert offered, "no nearest free times offered"
    assert start not in offered
    # Holds are exclusive: only the first customer holds the time.
    assert live_bookings_at(e2e_database, VIDEO, start) == 1

    nearest.first.click()
    second.wait_for_url("**/checkout/**")
    expect(second.locator("form.checkout")).to_be_visible()
    shot(second, "second-checkout")
    assert live_bookings_at(e2e_database, VIDEO, offered[0]) == 1
    assert live_bookings_at(e2e_database, VIDEO, start) == 1

    # The first customer's checkout still confirms.
    reference = checkout_with_one_mistake_then_confirm(first, shot, e2e_database)
    assert reference
    assert live_bookings_at(e2e_database, VIDEO, start) == 1
    first.context.problems.assert_none()
    second.context.problems.assert_none()

"""The supplier's back office in the browser (issue 9, Proof), against the
real app, its embedded worker and dev Vipps:

* 1280×800 with JavaScript: the owner logs in with the second factor, sees
  today's columns, opens a Vipps booking from the calendar and marks it
  delivered (Vipps captured, the receipt issued), moves another booking (the
  customer's dev mailbox has the change with the new .ics), books a walk-in,
  and opens a Sunday in the weekly hours: the customer's slot list changes
  (and back);
* 390×844 with JavaScript: login, the day view one column at a time and
  picking the staff member, a booking opened from the calendar and moved;
* 390×844 without JavaScript: a walk-in, its move, and a dated exception in
  the opening hours that the slot list shows (and its removal) — every form
  a plain POST.

Each test makes its own bookings (phone numbers of its own) and changes
hours on a Sunday and at times no other test touches, so none depends on
another's data or on the order they run in. Labels in flux (the hours page)
are found by ids and form actions; the rest by role and Bokmål name.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from playwright.sync_api import expect

from e2e import backoffice
from e2e.test_giftcard_journey import order_ref_of, pdf_text, wait_for
from e2e.test_vipps_journey import (
    BOOKING_URL,
    HAIRCUT,
    check_layout,
    checkout_with_vipps,
    choose_first_time,
    decide,
    fill_and_verify,
    go_to_vipps,
    text_of,
    tick_boxes,
)
from portal.availability.holidays import norwegian_holidays

pytestmark = pytest.mark.e2e

OSLO = ZoneInfo("Europe/Oslo")
DESKTOP = {"width": 1280, "height": 800}
KONTOR = f"/kontor/{backoffice.SALON}"
STAFF = ["Ingrid Haugen", "Jonas Berg", "Amira Khalid"]
ORDER_URL = re.compile(rf"{KONTOR}/ordre/(\d+)$")


# ---------------------------------------------------------------- helpers


def desktop(new_context, **options):
    return new_context(viewport=dict(DESKTOP), screen=dict(DESKTOP), is_mobile=False, has_touch=False, **options)


def local(moment: str | datetime) -> datetime:
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return value.astimezone(OSLO)


def today() -> date:
    return datetime.now(OSLO).date()


def owner_code(e2e_database) -> str:
    """A code the owner's authenticator app shows that the app has not taken yet
    (the suite logs the owner in more than once; see backoffice.totp_code)."""
    who = backoffice.person(backoffice.SALON, "owner")
    last = e2e_database.rows("SELECT totp_last_step FROM staff_account WHERE email = ?", who["email"])[0][0] or 0
    return backoffice.totp_code(who, used_step=last)


def log_in_owner(page, e2e_database, next_path: str = KONTOR) -> None:
    """Email and password, then the second factor (as e2e/backoffice.py `log_in`)."""
    who = backoffice.person(backoffice.SALON, "owner")
    page.goto(f"/kontor/logg-inn?neste={next_path}")
    page.get_by_label("E-post").fill(who["email"])
    page.get_by_label("Passord").fill(backoffice.DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_url("**/kontor/kode**")
    page.get_by_label("Sekssifret kode").fill(owner_code(e2e_database))
    page.get_by_role("button", name="Fortsett").click()
    page.wait_for_url(f"**{next_path}")


def order_id_of(e2e_database, reference: str) -> int:
    return e2e_database.rows("SELECT id FROM orders WHERE reference = ?", reference)[0][0]


def reservation_of(e2e_database, order_id: int) -> tuple[datetime, str]:
    """The booking's start and its staff member's name."""
    start, name = e2e_database.rows(
        'SELECT r.start, s.name FROM reservation r JOIN resource s ON s.id = r.resource WHERE r."order" = ?', order_id
    )[0]
    return (start if isinstance(start, datetime) else datetime.fromisoformat(start)), name


def into_the_past(e2e_database, reference: str) -> None:
    """The appointment has taken place (as in test_giftcard_journey): the server's
    clock cannot be moved, so the booking's time is, and its claims with it."""
    (reservation_id,) = e2e_database.rows(
        'SELECT r.id FROM reservation r JOIN orders o ON o.id = r."order" WHERE o.reference = ?', reference
    )[0]
    if e2e_database.url.startswith("sqlite"):
        e2e_database.rows(
            "UPDATE reservation SET start = datetime('now', '-90 minutes') || '+00:00', \"end\" = datetime('now', '-60 minutes') || '+00:00' WHERE id = ?",
            reservation_id,
        )
    else:
        e2e_database.rows(
            "UPDATE reservation SET start = now() - interval '90 minutes', \"end\" = now() - interval '60 minutes' WHERE id = ?",
            reservation_id,
        )
    e2e_database.rows("DELETE FROM slot_claim WHERE owner = ?", f"r:{reservation_id}")


def book_on_site(page, e2e_database, phone: str) -> tuple[str, datetime]:
    """The customer books the first free haircut, paid on site. Returns (reference, start)."""
    start = choose_first_time(page, HAIRCUT)
    fill_and_verify(page, e2e_database, phone)
    page.check("#means-onsite")
    tick_boxes(page)
    page.locator("form.checkout button[name=action][value=confirm]").click()
    page.wait_for_url(BOOKING_URL)
    return order_ref_of(page), datetime.fromisoformat(start)


def show_day(page, day: date, *, js: bool) -> None:
    """The day view's date picker; with JavaScript htmx swaps the calendar in place."""
    page.fill("#dato", day.isoformat())
    show = page.locator("#calendar form.pick button[type=submit]")
    if js:
        with page.expect_response(lambda r: f"dato={day.isoformat()}" in r.url) as fetched:
            show.click()
        assert fetched.value.request.headers.get("hx-request") == "true", "the date picker did a full page load"
    else:
        show.click()
    page.wait_for_url(re.compile(rf"dato={day.isoformat()}"))
    expect(page.locator("#day-title")).to_be_visible()


def open_from_calendar(page, order_id: int) -> None:
    block = page.locator(f'.grid a.booking[href="{KONTOR}/ordre/{order_id}"]')
    expect(block).to_have_count(1)
    block.click()
    page.wait_for_url(f"**{KONTOR}/ordre/{order_id}")


def when_text(page) -> str:
    return text_of(page.locator("section[aria-labelledby=what-heading] dl.facts"))


def move_to_another_time(page, e2e_database, order_id: int, shot, *, phone: bool = False) -> datetime:
    """Booking page → "Flytt til en annen tid" → a free time other than its own → "Flytt til valgt tid"."""
    before, _ = reservation_of(e2e_database, order_id)
    page.get_by_role("link", name="Flytt til en annen tid").click()
    page.wait_for_url(f"**{KONTOR}/ordre/{order_id}/move**")
    radios = page.locator("fieldset.times input[type=radio][name=start]")
    for _ in range(8):  # its own day may have no other free time left (or be today, nearly over)
        new = next(
            (v for v in radios.evaluate_all("inputs => inputs.map(i => i.value)") if datetime.fromisoformat(v) != before), None
        )
        if new:
            break
        page.get_by_role("link", name="Neste dag ›").click()
        page.wait_for_url(re.compile(r"/move\?dato="))
    assert new, "no free time to move to in a week"
    if phone:
        check_layout(page, "move picker")
    shot(page, "move-picker")
    page.locator(f'fieldset.times input[name=start][value="{new}"]').check()
    page.get_by_role("button", name="Flytt til valgt tid").click()
    page.wait_for_url(re.compile(rf"{KONTOR}/ordre/{order_id}\?flyttet=1$"))
    new_start = datetime.fromisoformat(new)
    assert reservation_of(e2e_database, order_id)[0] == new_start
    assert f"{local(new_start):%H:%M}" in when_text(page), when_text(page)
    shot(page, "moved")
    return new_start


def change_is_in_the_mailbox(page, e2e_database, order_id: int, reference: str, new_start: datetime, shot) -> None:
    """The customer's dev mailbox has the change message, the new .ics attached
    (its DTSTART the new time, its SEQUENCE grown)."""
    wait_for(
        lambda: e2e_database.rows(
            "SELECT id FROM dev_message WHERE channel = 'email' AND subject LIKE 'Bestilling endret%' AND body LIKE ?",
            f"%{reference}%",
        ),
        "the change email",
    )
    page.goto("/dev/mailbox")
    mail = page.locator("#mailbox li.card", has_text="Bestilling endret").filter(has_text=f"booking-{reference}.ics")
    expect(mail).to_have_count(1)
    assert f"{local(new_start):%H:%M}" in mail.inner_text()
    shot(page, "mailbox-change")
    (payload,) = e2e_database.rows(
        "SELECT payload FROM outbox_message WHERE order_id = ? AND topic = 'change' AND channel = 'email'", order_id
    )[0]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["ics_filename"] == f"booking-{reference}.ics"
    (event,) = icalendar.Calendar.from_ical(payload["ics"]).walk("VEVENT")
    assert event.decoded("dtstart") == new_start
    assert int(event.get("sequence")) >= 1


def book_walk_in(page, shot, *, name: str, phone: str, email: str = "", narrow: bool = False) -> int:
    """From the day view: "Ny booking", the haircut, the first free time of the
    next day that has one, name and mobile, "Bestill". Returns the order id."""
    page.get_by_role("link", name="Ny booking").click()
    page.wait_for_url(f"**{KONTOR}/ny**")
    page.get_by_label("Tjeneste").select_option("herreklipp")
    page.get_by_role("button", name="Vis ledige tider").click()
    page.wait_for_url(re.compile(r"tilbud=herreklipp"))
    radios = page.locator("fieldset.times input[type=radio][name=start]")
    for _ in range(8):  # the salon is closed on Sundays, and today may be over
        if radios.count():
            break
        page.get_by_role("link", name="Neste dag ›").click()
        page.wait_for_load_state()
    expect(radios.first).to_be_visible()
    radios.first.check()
    page.get_by_label("Kundens navn").fill(name)
    page.get_by_label("Kundens mobilnummer").fill(phone)
    if email:
        page.get_by_label("Kundens e-post (valgfritt)").fill(email)
    if narrow:
        check_layout(page, "new booking")
    shot(page, "new-booking")
    page.get_by_role("button", name="Bestill").click()
    page.wait_for_url(ORDER_URL)
    expect(page.locator("main p.meta").first).to_have_text("Bestilt")
    expect(page.locator("h1")).to_contain_text(name)
    shot(page, "walk-in-booked")
    return int(ORDER_URL.search(page.url).group(1))


def next_sunday(after: date) -> date:
    """The first Sunday after `after` that is no public holiday."""
    day = after + timedelta(days=1)
    holidays = norwegian_holidays(day, day + timedelta(days=60))
    while day.weekday() != 6 or day in holidays:
        day += timedelta(days=1)
    return day


def slot_times(page, day: date) -> set[str]:
    """The haircut's free times (HH:MM) on `day`, as the customer's offering page lists them."""
    page.goto(f"{HAIRCUT}?day={day.isoformat()}")
    values = page.locator("#slots button[name=start]").evaluate_all("buttons => buttons.map(b => b.value)")
    return {f"{local(v):%H:%M}" for v in values if local(v).date() == day}


def hours_of(page, calendar: str) -> None:
    """The owner's opening hours page, showing `calendar`'s hours."""
    page.goto(f"{KONTOR}/innstillinger/timer")
    option = page.locator("#ressurs option", has_text=calendar)
    page.locator("#ressurs").select_option(option.get_attribute("value"))
    page.locator("form.pick button[type=submit]").click()
    page.wait_for_url(re.compile(r"ressurs=\d+"))
    expect(page.locator("#ressurs option:checked")).to_contain_text(calendar)


def save_week(page) -> None:
    page.locator('form[action$="/innstillinger/timer/uke"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"lagret=uke"))
    expect(page.locator("p.saved[role=status]")).to_be_visible()


# ---------------------------------------------------------------- the journeys


def test_owner_runs_the_day_on_a_desktop(new_context, shot, e2e_database):
    customer = new_context().new_page()  # the customers book on their phones
    checkout_with_vipps(customer, e2e_database, "+4741239001")
    go_to_vipps(customer)
    decide(customer, "approve")
    customer.wait_for_url(BOOKING_URL)
    paid = order_ref_of(customer)
    into_the_past(e2e_database, paid)
    paid_id = order_id_of(e2e_database, paid)
    other, other_start = book_on_site(customer, e2e_database, "+4741239002")
    other_id = order_id_of(e2e_database, other)

    context = desktop(new_context)
    page = context.new_page()
    log_in_owner(page, e2e_database)

    # Today's columns: everyone side by side.
    expect(page.locator(".grid .col-head")).to_have_text(STAFF)
    assert page.get_by_role("link", name="I dag").get_attribute("aria-current") == "date"
    shot(page, "day")

    # The Vipps booking, done: opened from the calendar, marked delivered.
    paid_day = local(reservation_of(e2e_database, paid_id)[0]).date()
    if paid_day != today():  # just after midnight its time was yesterday
        show_day(page, paid_day, js=True)
    open_from_calendar(page, paid_id)
    expect(page.locator("h1")).to_contain_text(paid)
    shot(page, "booking")
    backoffice.act(page, "Merk som utført")
    expect(page.locator("main p.meta").first).to_have_text("Levert")
    wait_for(
        lambda: e2e_database.rows(
            'SELECT 1 FROM payment p JOIN orders o ON o.id = p."order" WHERE o.reference = ? AND p.captured_ore = 54900', paid
        ),
        "Vipps captured",
    )

    def receipt_ready():
        page.reload()
        link = page.locator(f'a[href^="{KONTOR}/dokument/"]', has_text="Kvittering")
        return link if link.count() else None

    receipt = wait_for(receipt_ready, "the receipt issued")
    money = text_of(page.locator("section[aria-labelledby=money-heading]"))
    assert "549,00" in money, money
    text = pdf_text(page.request.get(receipt.get_attribute("href")).body())
    assert "Kvittering" in text and paid in text and "549,00" in text, text[:800]
    shot(page, "delivered")

    # Another booking, moved: its day in the date picker, opened from the calendar.
    page.get_by_role("link", name="Dag", exact=True).click()
    show_day(page, local(other_start).date(), js=True)
    shot(page, "other-day")
    open_from_calendar(page, other_id)
    new_start = move_to_another_time(page, e2e_database, other_id, shot)
    change_is_in_the_mailbox(customer, e2e_database, other_id, other, new_start, shot)

    # A walk-in from the day view; it is on the calendar.
    page.get_by_role("link", name="Dag", exact=True).click()
    walk_in = book_walk_in(page, shot, name="Per Walkin", phone="412 39 003")
    walk_in_start, _ = reservation_of(e2e_database, walk_in)
    page.goto(f"{KONTOR}?dato={local(walk_in_start).date().isoformat()}")
    expect(page.locator(f'.grid a.booking[href="{KONTOR}/ordre/{walk_in}"]')).to_contain_text("Per Walkin")

    # Jonas works Sundays 10–12 from now on: the customers see it at once; and back.
    sunday = next_sunday(today())
    assert "10:00" not in slot_times(customer, sunday)
    hours_of(page, "Jonas Berg")
    page.fill("#o-6-0-start", "10:00")
    page.fill("#o-6-0-end", "12:00")
    save_week(page)
    shot(page, "hours-saved")
    offered = slot_times(customer, sunday)
    assert {"10:00", "11:30"} <= offered and "12:00" not in offered, offered
    shot(customer, "sunday-slots")
    page.fill("#o-6-0-start", "")
    page.fill("#o-6-0-end", "")
    save_week(page)
    assert "10:00" not in slot_times(customer, sunday)
    context.problems.assert_none()
    customer.context.problems.assert_none()


def test_owner_moves_a_booking_on_a_phone(new_context, shot, e2e_database):
    customer = new_context().new_page()
    reference, start = book_on_site(customer, e2e_database, "+4741239004")
    order_id = order_id_of(e2e_database, reference)
    _, staff_name = reservation_of(e2e_database, order_id)

    context = new_context()
    page = context.new_page()
    log_in_owner(page, e2e_database)
    expect(page.locator(".grid .col-head")).to_have_text(STAFF)
    check_layout(page, "day view")
    # One column at a time: it fills the phone, the next one peeks in, a swipe away.
    heads = page.locator(".grid .col-head")
    first, second = heads.nth(0).bounding_box(), heads.nth(1).bounding_box()
    hour, wrap = page.locator(".grid .hour").first.bounding_box(), page.locator(".grid-wrap").bounding_box()
    right = wrap["x"] + wrap["width"]
    assert first["width"] >= 0.65 * 390, first
    assert hour["x"] + hour["width"] <= first["x"] + 1 and first["x"] + first["width"] <= right, (
        hour,
        first,
        wrap,
    )  # whole, beside the hours
    assert second["x"] < right < second["x"] + 0.5 * second["width"], (second, wrap)  # the next one peeks in
    assert page.locator(".grid-wrap").evaluate("el => el.scrollWidth > el.clientWidth")
    shot(page, "day")

    # The booking's day, then only its staff member's calendar.
    show_day(page, local(start).date(), js=True)
    page.get_by_label("Hvem sin kalender").select_option(label=staff_name)
    with page.expect_response(lambda r: "ressurs=" in r.url) as fetched:
        page.locator("#calendar form.pick button[type=submit]").click()
    assert fetched.value.request.headers.get("hx-request") == "true"
    page.wait_for_url(re.compile(r"ressurs=\d+"))
    expect(page.locator(".grid .col-head")).to_have_text([staff_name])
    check_layout(page, "one calendar")
    shot(page, "one-calendar")

    open_from_calendar(page, order_id)
    check_layout(page, "booking")
    shot(page, "booking")
    new_start = move_to_another_time(page, e2e_database, order_id, shot, phone=True)
    check_layout(page, "moved booking")
    change_is_in_the_mailbox(customer, e2e_database, order_id, reference, new_start, shot)
    context.problems.assert_none()
    customer.context.problems.assert_none()


def test_the_desk_without_javascript(new_context, shot, e2e_database):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    log_in_owner(page, e2e_database)
    shot(page, "day")

    # A walk-in who gave an email, then moved.
    order_id = book_walk_in(
        page, shot, name="Siri Uten-Skript", phone="+47 412 39 005", email="siri.walkin@example.no", narrow=True
    )
    reference = e2e_database.rows("SELECT reference FROM orders WHERE id = ?", order_id)[0][0]
    new_start = move_to_another_time(page, e2e_database, order_id, shot, phone=True)
    change_is_in_the_mailbox(page, e2e_database, order_id, reference, new_start, shot)

    # Amira opens one Sunday 14–16 (a dated exception): the slot list has it; removed, it is gone.
    sunday = next_sunday(next_sunday(today()))
    assert "14:00" not in slot_times(page, sunday)
    hours_of(page, "Amira Khalid")
    page.fill("#day", sunday.isoformat())
    page.check("#kind-hours")
    page.fill("#start", "14:00")
    page.fill("#end", "16:00")
    page.fill("#note", "Ekstra søndag")
    page.locator('form[action*="/innstillinger/timer/unntak"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"lagret=unntak"))
    entry = page.locator("ul.exceptions li", has_text="Ekstra søndag")
    expect(entry).to_contain_text("14:00–16:00")
    check_layout(page, "hours")
    shot(page, "hours-exception")
    offered = slot_times(page, sunday)
    assert {"14:00", "15:30"} <= offered and "16:00" not in offered, offered
    shot(page, "sunday-slots")
    hours_of(page, "Amira Khalid")
    page.locator("ul.exceptions li", has_text="Ekstra søndag").locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"lagret=fjernet"))
    expect(page.locator("ul.exceptions li", has_text="Ekstra søndag")).to_have_count(0)
    assert "14:00" not in slot_times(page, sunday)
    context.problems.assert_none()

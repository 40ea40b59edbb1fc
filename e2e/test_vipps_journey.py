"""Paying with Vipps on a phone: approve, reject, the return link opened in
another browser, no JavaScript, and a deposit.

The app's own dev Vipps (mounted at /dev/vipps) stands in for the Vipps app:
its landing page has an approve and a reject form. Elements are found by ids,
names, hrefs and form actions; the few words checked are the Bokmål ones the
customer must see about money ("reservert, ikke trukket").

Screenshots of the payment steps go to /tmp/vipps-shots/.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from itsdangerous import URLSafeSerializer
from playwright.sync_api import expect

from e2e.test_booking_journey import verify_phone
from e2e.test_phone_ui import LAYOUT

pytestmark = pytest.mark.e2e

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"  # kr 549,00; Vipps or on site
MASSAGE = "/s/fjellro-massasje-bergen/massasje-90"  # kr 1 390,00; a 30 % deposit with Vipps
OSLO = ZoneInfo("Europe/Oslo")
SHOTS = Path("/tmp/vipps-shots")
#: The key e2e/conftest.py gives the server: the return link is built the way
#: portal.payments.service.return_token builds it, to open it before Vipps answers.
E2E_SECRET_KEY = "e2e-secret-key-not-for-production"
BOOKING_URL = re.compile(r"/b/[^/?#]+\?new=1$")
LANDING_URL = re.compile(r"/dev/vipps/landing/[A-Za-z0-9-]+$")
RESERVED_NB = "reservert i Vipps, ikke trukket"


def text_of(locator) -> str:
    """Visible text with no-break and thin spaces as plain ones (money is `kr 1 390,00`)."""
    return re.sub(r"[\u00a0\u202f]", " ", locator.inner_text())


def return_url(checkout_url: str) -> str:
    checkout_token = urlsplit(checkout_url).path.rsplit("/", 1)[-1]
    return "/pay/" + URLSafeSerializer(E2E_SECRET_KEY, salt="payment-return").dumps(checkout_token)


@pytest.fixture()
def vshot(request: pytest.FixtureRequest):
    """Full-page screenshots (and element ones) under /tmp/vipps-shots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    count = [0]

    def take(target, step: str) -> Path:
        count[0] += 1
        path = SHOTS / f"{prefix}-{count[0]:02d}-{step}.png"
        if hasattr(target, "goto"):
            target.screenshot(path=str(path), full_page=True)
        else:
            target.screenshot(path=str(path))
        return path

    return take


def check_layout(page, step: str) -> None:
    """Nothing scrolls sideways at 390 px nor at 320 px (the page is narrowed in place)."""
    size = page.viewport_size
    try:
        for width in (390, 320):
            page.set_viewport_size({"width": width, "height": size["height"]})
            layout = page.evaluate(LAYOUT)
            assert layout["scrollWidth"] <= width, f"{step} at {width} px scrolls sideways ({layout['scrollWidth']} px); too wide: {layout['wide']}"
            assert not layout["duplicateIds"], f"{step}: duplicate ids {layout['duplicateIds']}"
    finally:
        page.set_viewport_size(size)


def choose_first_time(page, offering: str) -> str:
    page.goto(offering)
    button = page.locator("#slots button[name=start]").first
    start = button.get_attribute("value")
    assert start
    button.click()
    page.wait_for_url("**/checkout/**")
    expect(page.locator("form.checkout")).to_be_visible()
    return start


def fill_and_verify(page, e2e_database, phone_e164: str) -> None:
    page.fill("#name", "Kari Nordmann")
    page.fill("#phone", phone_e164)
    page.fill("#email", "kari@example.no")
    verify_phone(page, e2e_database, phone_e164)


def tick_boxes(page) -> None:
    page.check("#accept_terms")
    page.check("#adult")
    if page.locator("#early_start").count():
        page.check("#early_start")


def go_to_vipps(page, landing: re.Pattern = LANDING_URL) -> str:
    """Confirm the checkout: the app sends the browser to the (dev) Vipps landing page."""
    with page.expect_response(lambda r: "/checkout/" in r.url and r.request.method == "POST") as posted:
        page.locator("form.checkout button[name=action][value=confirm]").click()
    assert posted.value.status == 303, posted.value.status
    page.wait_for_url(landing)
    return page.url.rsplit("/", 1)[-1]


def checkout_with_vipps(page, e2e_database, phone_e164: str, vshot=None) -> tuple[str, str]:
    """Pick the first haircut time, fill in, verify, choose Vipps, confirm. Returns (start, checkout URL)."""
    start = choose_first_time(page, HAIRCUT)
    checkout = page.url
    fill_and_verify(page, e2e_database, phone_e164)
    page.check("#means-vipps")
    tick_boxes(page)
    if vshot:
        check_layout(page, "checkout")
        vshot(page.locator("#payment-block"), "checkout-payment-block")
        vshot(page, "checkout")
    return start, checkout


def decide(page, choice: str) -> None:
    """Press Approve or Reject on the dev Vipps landing page."""
    page.locator(f'form[action$="/{choice}"] button[type=submit]').click()


def payment_row(e2e_database, reference: str) -> tuple:
    rows = e2e_database.rows("SELECT state, amount_ore, authorized_ore, captured_ore FROM payment WHERE reference = ?", reference)
    assert len(rows) == 1, rows
    return rows[0]


def booking_status(e2e_database, reference: str) -> str:
    """The state of the order the payment `reference` (`<order reference>-<n>`) belongs to;
    its appointment's reservation is in the same state."""
    order_reference = reference.rsplit("-", 1)[0]
    rows = e2e_database.rows(
        'SELECT o.state, r.status FROM orders o JOIN reservation r ON r."order" = o.id WHERE o.reference = ?',
        order_reference,
    )
    assert len(rows) == 1, rows
    state, status = rows[0]
    assert status == state, f"order {order_reference} is {state}, its reservation {status}"
    return state


def check_booking_page(page, amount: str) -> None:
    expect(page.locator("h1")).to_have_text("Bestillingen din er bekreftet")
    money = page.locator("section.payment ul.money")
    expect(money).to_be_visible()
    assert f"{amount} {RESERVED_NB}." in text_of(money), text_of(money)


# ---------------------------------------------------------------- the journeys


def test_vipps_approve_confirms_the_booking_with_the_money_reserved(context, vshot, e2e_database):
    page = context.new_page()
    returned: list[str] = []
    page.on("request", lambda r: returned.append(r.url) if urlsplit(r.url).path.startswith("/pay/") else None)

    checkout_with_vipps(page, e2e_database, "+4741230001", vshot)
    assert "kr 549,00" in text_of(page.locator("#payment-block .price"))
    reference = go_to_vipps(page)
    assert payment_row(e2e_database, reference)[:2] == ("created", 549_00)
    expect(page.locator("h1")).to_contain_text("kr 549,00")
    check_layout(page, "landing")
    vshot(page, "vipps-landing")

    decide(page, "approve")
    page.wait_for_url(BOOKING_URL)
    assert len(returned) == 1, returned  # through the return page, which read the payment
    check_booking_page(page, "kr 549,00")
    check_layout(page, "booking")
    vshot(page, "booking-reserved")
    assert payment_row(e2e_database, reference) == ("authorized", 549_00, 549_00, 0)
    assert booking_status(e2e_database, reference) == "confirmed"
    context.problems.assert_none()


def test_vipps_reject_frees_the_time_and_charges_nothing(context, vshot, e2e_database):
    page = context.new_page()
    start, _ = checkout_with_vipps(page, e2e_database, "+4741230002")
    reference = go_to_vipps(page)

    decide(page, "reject")
    page.wait_for_url("**/pay/**")
    status = page.locator("#payment-status")
    expect(status.locator("[role=alert]")).to_contain_text("Betalingen ble ikke fullført. Ingenting er trukket")
    assert status.get_attribute("hx-get") is None, "still polling after the payment ended"
    check_layout(page, "rejected")
    vshot(page, "rejected")
    assert payment_row(e2e_database, reference)[0] == "aborted"
    assert booking_status(e2e_database, reference) == "released"

    # "Choose a time again" leads to the offering, where that time is offered again.
    page.locator(f'#payment-status a.button[href="{HAIRCUT}"]').click()
    page.wait_for_url(f"**{HAIRCUT}")
    day = datetime.fromisoformat(start).astimezone(OSLO).date().isoformat()
    page.goto(f"{HAIRCUT}?day={day}")
    expect(page.locator(f'#slots button[name=start][value="{start}"]')).to_have_count(1)
    context.problems.assert_none()


def test_return_link_in_a_fresh_browser_waits_then_shows_the_booking(new_context, vshot, e2e_database):
    customer = new_context().new_page()
    _, checkout = checkout_with_vipps(customer, e2e_database, "+4741230003")
    go_to_vipps(customer)
    link = return_url(checkout)

    # Another browser, no cookies, the payment not decided yet: it waits, and polls.
    waiting = new_context().new_page()
    waiting.goto(link)
    loaded = time.monotonic()
    status = waiting.locator("#payment-status")
    expect(status.locator(".waiting")).to_contain_text("Venter på Vipps")
    expect(status).to_have_attribute("hx-trigger", "load delay:5s")
    check_layout(waiting, "waiting")
    vshot(waiting, "waiting")

    # htmx asks after 5 s; still waiting, the answer asks again every 2 s.
    with waiting.expect_response(lambda r: "/status?n=0" in r.url, timeout=15_000) as first_poll:
        pass
    assert first_poll.value.status == 200
    assert time.monotonic() - loaded >= 4.5, "the first poll came before 5 s"
    expect(status).to_have_attribute("hx-trigger", "load delay:2s")
    expect(status).to_have_attribute("hx-get", re.compile(r"/status\?n=1$"))
    expect(status.locator(".waiting")).to_be_visible()

    decide(customer, "approve")
    customer.wait_for_url(BOOKING_URL)
    # The next poll finds the booking confirmed and sends the waiting page there.
    waiting.wait_for_url(BOOKING_URL, timeout=15_000)
    assert urlsplit(waiting.url).path == urlsplit(customer.url).path
    check_booking_page(waiting, "kr 549,00")

    # Decided already: yet another fresh browser goes straight to the booking page.
    later = new_context().new_page()
    with later.expect_response(lambda r: urlsplit(r.url).path == link) as first:
        later.goto(link)
    assert first.value.status == 303
    later.wait_for_url(BOOKING_URL)
    assert urlsplit(later.url).path == urlsplit(customer.url).path
    check_booking_page(later, "kr 549,00")
    for page in (customer, waiting, later):
        page.context.problems.assert_none()


def test_vipps_without_javascript(new_context, vshot, e2e_database):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    start, checkout = checkout_with_vipps(page, e2e_database, "+4741230004")
    reference = go_to_vipps(page)
    expect(page.locator("h1")).to_contain_text("kr 549,00")

    # The return page, open before Vipps answers, reloads itself through <noscript>.
    watcher = new_context(java_script_enabled=False).new_page()
    watcher.goto(return_url(checkout))
    expect(watcher.locator("#payment-status .waiting")).to_be_visible()
    refresh = watcher.locator('head noscript').first.inner_html()
    assert 'http-equiv="refresh"' in refresh and 'content="5"' in refresh, refresh
    vshot(watcher, "waiting-nojs")

    decide(page, "approve")
    page.wait_for_url(BOOKING_URL)
    check_booking_page(page, "kr 549,00")
    watcher.wait_for_url(BOOKING_URL, timeout=15_000)
    check_booking_page(watcher, "kr 549,00")
    assert booking_status(e2e_database, reference) == "confirmed"
    context.problems.assert_none()
    watcher.context.problems.assert_none()


def test_deposit_is_reserved_and_the_rest_paid_at_the_appointment(context, vshot, e2e_database):
    page = context.new_page()
    choose_first_time(page, MASSAGE)
    block = page.locator("#payment-block")
    expect(block).to_be_visible()
    # One way to pay: no choice, the terms say what is reserved now and what is paid later.
    assert page.locator("input[name=means][type=radio]").count() == 0
    text = text_of(block)
    assert "kr 1 390,00" in text, text
    assert "Et depositum på kr 417,00 reserveres i Vipps når du bestiller – reservert, ikke trukket." in text, text
    assert "Resten, kr 973,00, betaler du på stedet." in text, text
    confirm = page.locator("form.checkout button[name=action][value=confirm]")
    assert "kr 417,00" in text_of(confirm)
    check_layout(page, "deposit-checkout")
    vshot(block, "deposit-payment-block")

    fill_and_verify(page, e2e_database, "+4741230005")
    tick_boxes(page)
    reference = go_to_vipps(page)
    expect(page.locator("h1")).to_contain_text("kr 417,00")
    assert payment_row(e2e_database, reference)[:2] == ("created", 417_00)
    check_layout(page, "deposit-landing")
    vshot(page, "deposit-landing")

    decide(page, "approve")
    page.wait_for_url(BOOKING_URL)
    check_booking_page(page, "kr 417,00")
    assert "kr 973,00" in text_of(page.locator("section.payment ul.money"))
    vshot(page, "deposit-booking")
    context.problems.assert_none()

"""The customer's rights on a phone (390×844), against the real app, its
embedded worker and dev Vipps (issue 10):

* withdraw a Vipps-paid booking before it starts: the reservation in Vipps is
  cancelled and the acknowledgement PDF is in the dev mailbox;
* move a booking to another free time: the order page and the mailbox say so;
* complain (with a photo), the owner answers in the back office, the answer
  is on the order page;
* "Mine bookinger" → "Mine data": export (JSON) and delete; the receipts stay;
* without JavaScript: the move and the withdrawal as plain form posts.

Each test has its own customer number (+474124xxxx) and takes the first free
times the pages offer, whatever the weekday.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from e2e.test_backoffice_journey import (
    KONTOR,
    change_is_in_the_mailbox,
    local,
    log_in_owner,
    order_id_of,
    reservation_of,
)
from e2e.test_booking_journey import last_message_id, sms_code_for
from e2e.test_giftcard_journey import buy_gift_card, order_ref_of, pdf_text, wait_for
from e2e.test_vipps_journey import (  # noqa: F401 - vshot is a fixture
    BOOKING_URL,
    HAIRCUT,
    OSLO,
    check_layout,
    decide,
    fill_and_verify,
    go_to_vipps,
    text_of,
    tick_boxes,
    vshot,
)

pytestmark = pytest.mark.e2e

ORDER_PAGE = re.compile(r"/b/([^/?#]+)")


def token_of(page) -> str:
    return ORDER_PAGE.search(page.url).group(1)


def choose_a_later_time(page, offering: str = HAIRCUT) -> datetime:
    """The first free time from three days ahead (past the notice for a move),
    stepping on a day while a day has none (a closed weekday)."""
    first = datetime.now(OSLO).date() + timedelta(days=3)
    for offset in range(14):
        page.goto(f"{offering}?day={(first + timedelta(days=offset)).isoformat()}")
        button = page.locator("#slots button[name=start]").first
        if button.count():
            start = datetime.fromisoformat(button.get_attribute("value"))
            button.click()
            page.wait_for_url("**/checkout/**")
            expect(page.locator("form.checkout")).to_be_visible()
            return start
    raise AssertionError("no free time in two weeks")


def book(page, e2e_database, phone: str, means: str) -> datetime:
    """Check out a later haircut paid `means` ("vipps" or "onsite"), up to the confirm button."""
    start = choose_a_later_time(page)
    fill_and_verify(page, e2e_database, phone)
    page.check(f"#means-{means}")
    tick_boxes(page)
    return start


def book_on_site(page, e2e_database, phone: str) -> tuple[str, datetime]:
    start = book(page, e2e_database, phone, "onsite")
    page.locator("form.checkout button[name=action][value=confirm]").click()
    page.wait_for_url(BOOKING_URL)
    return order_ref_of(page), start


def book_with_vipps(page, e2e_database, phone: str) -> tuple[str, str]:
    """A later haircut paid with Vipps, approved. Returns (order reference, payment reference)."""
    book(page, e2e_database, phone, "vipps")
    payment = go_to_vipps(page)
    decide(page, "approve")
    page.wait_for_url(BOOKING_URL)
    return order_ref_of(page), payment


def withdraw(page, shot) -> None:
    """From the order page: "Angre kjøpet her", the pre-filled details, "Bekreft angring"."""
    token = token_of(page)
    page.locator(f'section.withdrawal a.button[href="/b/{token}/angre"]').click()
    page.wait_for_url(f"**/b/{token}/angre")
    expect(page.locator("#name")).to_have_value("Kari Nordmann")
    expect(page.locator("#contact")).not_to_have_value("")
    shot(page, "withdraw-details")
    page.locator("form.withdraw-form button[type=submit]").click()
    confirm = page.locator("form.withdraw-form button[name=confirm][value=yes]")
    expect(confirm).to_have_text("Bekreft angring")
    assert "Kari Nordmann" in text_of(page.locator("dl.withdraw-who"))
    shot(page, "withdraw-confirm")
    confirm.click()
    page.wait_for_url(re.compile(rf"/b/{token}\?angret=1$"))
    expect(page.locator("section.withdrawal p.ok")).to_contain_text("Du angret kjøpet")
    shot(page, "withdrawn")


def withdrawal_acknowledged(page, e2e_database, reference: str, shot) -> None:
    """The acknowledgement email, with its PDF, is in the dev mailbox."""
    wait_for(
        lambda: e2e_database.rows("SELECT id FROM dev_message WHERE channel = 'email' AND subject LIKE ?", f"%({reference})%"),
        "the withdrawal email",
    )
    page.goto("/dev/mailbox")
    mail = page.locator("#mailbox li.card").filter(has_text=f"angring-{reference}.pdf")
    expect(mail).to_have_count(1)
    link = mail.locator('a[href^="/dev/mailbox/documents/"]', has_text=f"angring-{reference}.pdf")
    assert reference in pdf_text(page.request.get(link.get_attribute("href")).body())
    shot(page, "mailbox-withdrawal")


def move_to_a_free_time(page, shot) -> datetime:
    """From the order page: "Endre tidspunkt", the first free time (stepping on
    to the next day while a day has none), "Flytt til valgt tid"."""
    token = token_of(page)
    page.locator(f'a[href="/b/{token}/flytt"]').click()
    page.wait_for_url(f"**/b/{token}/flytt**")
    radios = page.locator("form.reschedule input[type=radio][name=start]")
    for _ in range(14):
        if radios.count():
            break
        page.locator("nav.day-nav a").last.click()
        page.wait_for_load_state()
    assert radios.count(), "no free time in two weeks"
    radio = radios.first
    new_start = datetime.fromisoformat(radio.get_attribute("value"))
    radio.check()
    check_layout(page, "reschedule")
    shot(page, "reschedule")
    button = radio.locator("xpath=ancestor::form").locator("button[type=submit]")
    expect(button).to_have_text("Flytt til valgt tid")
    button.click()
    page.wait_for_url(re.compile(rf"/b/{token}\?flyttet=1$"))
    expect(page.locator("p.ok[role=status]")).to_contain_text("Tiden er endret")
    assert f"{local(new_start):%H:%M}" in text_of(page.locator("section.summary"))
    shot(page, "moved")
    return new_start


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def small_png(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def log_in_to_mine(page, e2e_database, phone: str) -> None:
    page.goto("/mine")
    page.fill("#phone", phone)
    before = last_message_id(e2e_database)
    page.locator('form[action="/mine/code"] button[type=submit]').click()
    page.fill("#code", sms_code_for(e2e_database, phone, before))
    page.locator('form[action="/mine/login"] button[type=submit]').click()
    expect(page.locator('form[action="/mine/logout"]')).to_be_visible()


def fresh_code(page, e2e_database, phone: str) -> None:
    """On /mine/data: "Send code", then the code from the SMS."""
    before = last_message_id(e2e_database)
    page.locator('form[action="/mine/data/code"] button[type=submit]').click()
    page.fill("#code", sms_code_for(e2e_database, phone, before))
    page.locator('form[action="/mine/data/verify"] button[type=submit]').click()
    expect(page.locator('#rights-export a[href="/mine/data/export.json"]')).to_be_visible()


# ---------------------------------------------------------------- the journeys


def test_withdraw_a_vipps_paid_booking_before_it_starts(context, vshot, e2e_database):
    page = context.new_page()
    reference, payment = book_with_vipps(page, e2e_database, "+4741240001")
    withdraw(page, vshot)
    check_layout(page, "withdrawn")
    assert e2e_database.rows("SELECT state FROM orders WHERE reference = ?", reference)[0][0] != "confirmed"
    # The reservation in Vipps is cancelled: nothing was ever charged.
    wait_for(
        lambda: e2e_database.rows("SELECT 1 FROM payment WHERE reference = ? AND cancelled_ore = amount_ore AND captured_ore = 0", payment),
        "the Vipps reservation cancelled",
    )
    page.reload()
    money = text_of(page.locator("section.payment ul.money"))
    assert "kr 549,00 er frigitt og blir aldri trukket." in money and "reservert" not in money, money
    withdrawal_acknowledged(page, e2e_database, reference, vshot)
    context.problems.assert_none()


def test_move_a_booking_to_another_free_time(context, shot, e2e_database):
    page = context.new_page()
    reference, old_start = book_on_site(page, e2e_database, "+4741240002")
    new_start = move_to_a_free_time(page, shot)
    assert new_start != old_start
    order_id = order_id_of(e2e_database, reference)
    assert reservation_of(e2e_database, order_id)[0] == new_start
    change_is_in_the_mailbox(page, e2e_database, order_id, reference, new_start, shot)
    context.problems.assert_none()


def test_complaint_with_a_photo_is_answered_in_the_back_office(new_context, shot, e2e_database, tmp_path):
    customer = new_context().new_page()
    reference, _ = book_on_site(customer, e2e_database, "+4741240003")
    order_page = customer.url.split("?")[0]
    token = token_of(customer)
    customer.locator(f'#complaints a.button[href="/b/{token}/klage"]').click()
    customer.wait_for_url(f"**/b/{token}/klage")
    customer.fill("#text", "Klippen ble skjev på venstre side. Jeg ønsker at dere retter den.")
    customer.set_input_files("#photo", str(small_png(tmp_path / "skjev.png")))
    check_layout(customer, "complaint form")
    shot(customer, "complaint-form")
    customer.locator(f'form[action="/b/{token}/klage"] button[type=submit]').click()
    customer.wait_for_url(f"**/b/{token}#complaints")
    sent = customer.locator("#complaints article.complaint")
    expect(sent).to_have_count(1)
    assert "Klippen ble skjev" in text_of(sent)
    expect(sent.locator(".meta")).to_contain_text("bilde")
    shot(customer, "complaint-sent")

    owner = new_context().new_page()
    log_in_owner(owner, e2e_database, f"{KONTOR}/klager")
    row = owner.locator("tr", has=owner.locator(f'a[href="{KONTOR}/ordre/{order_id_of(e2e_database, reference)}"]'))
    row.locator(f'a[href^="{KONTOR}/klager/"]').click()
    owner.wait_for_url(re.compile(rf"{KONTOR}/klager/\d+$"))
    assert "Klippen ble skjev" in text_of(owner.locator("main"))
    owner.fill("#answer", "Beklager! Kom innom, så retter vi klippen uten kostnad.")
    owner.locator('form:has(input[name=action][value=answer]) button[type=submit]').click()
    owner.wait_for_load_state()
    shot(owner, "complaint-answered")

    customer.goto(order_page)
    answered = customer.locator("#complaints article.complaint")
    expect(answered).to_contain_text("Kom innom, så retter vi klippen")
    expect(answered.locator(".meta")).to_contain_text("Besvart")
    shot(customer, "complaint-answer")
    customer.context.problems.assert_none()
    owner.context.problems.assert_none()


def test_export_and_delete_my_data_keeps_the_receipts(context, vshot, e2e_database):
    phone = "+4741240004"
    page = context.new_page()
    card_reference = buy_gift_card(page, e2e_database, phone, vshot)  # Vipps: a receipt is issued at once
    wait_for(
        lambda: e2e_database.rows(
            "SELECT d.id FROM document d JOIN orders o ON o.id = d.order_id WHERE o.reference = ? AND d.kind = 'receipt'", card_reference
        ),
        "the gift card's receipt",
    )
    booking_reference, _ = book_on_site(page, e2e_database, phone)
    booking_page = page.url.split("?")[0]

    log_in_to_mine(page, e2e_database, phone)
    page.goto("/mine/data")
    fresh_code(page, e2e_database, phone)
    check_layout(page, "my data")
    vshot(page, "my-data")
    with page.expect_download() as info:
        page.locator('#rights-export a[href="/mine/data/export.json"]').click()
    exported = json.loads(Path(info.value.path()).read_text())
    orders = {o["reference"]: o for o in exported["orders"]}
    assert {card_reference, booking_reference} <= set(orders), list(orders)
    assert exported["profile"]["phone"] == phone
    receipts = [d for d in orders[card_reference]["documents"] if d["kind"] == "receipt"]
    assert len(receipts) == 1, orders[card_reference]["documents"]
    assert base64.b64decode(receipts[0]["pdf_base64"])[:5] == b"%PDF-"

    # A booking coming up stops the deletion: cancel it first, as the page says.
    delete = page.locator('form[action="/mine/data/delete"]')
    expect(delete).to_have_count(0)
    expect(page.locator(f'#rights-delete a[href="{urlpath(booking_page)}"]')).to_have_count(1)
    page.goto(booking_page)
    token = token_of(page)
    page.locator(f'a[href="/b/{token}/cancel"]').click()
    page.locator(f'form[action="/b/{token}/cancel"] button[type=submit]').click()
    page.wait_for_url(re.compile(rf"/b/{token}(\?[^/]*)?$"))
    expect(page.locator("p.warn")).to_be_visible()

    page.goto("/mine/data")
    documents_before = e2e_database.rows("SELECT COUNT(*) FROM document")[0][0]
    page.check("#confirm")
    vshot(page, "delete")
    delete.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/mine/deleted\?kept=[1-9]"))
    vshot(page, "deleted")

    assert e2e_database.rows("SELECT COUNT(*) FROM document")[0][0] == documents_before
    assert e2e_database.rows(
        "SELECT d.id FROM document d JOIN orders o ON o.id = d.order_id WHERE o.reference = ? AND d.kind = 'receipt'", card_reference
    )
    rows = e2e_database.rows("SELECT customer_name, phone FROM orders WHERE reference IN (?, ?)", card_reference, booking_reference)
    assert len(rows) == 2
    for name, number in rows:
        assert "Kari" not in (name or "") and (number or "") != phone, rows
    assert not e2e_database.rows("SELECT id FROM orders WHERE phone = ?", phone)
    context.problems.assert_none()


def test_move_then_withdraw_without_javascript(new_context, shot, e2e_database):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    reference, payment = book_with_vipps(page, e2e_database, "+4741240005")
    move_to_a_free_time(page, shot)
    withdraw(page, shot)
    wait_for(
        lambda: e2e_database.rows("SELECT 1 FROM payment WHERE reference = ? AND cancelled_ore = amount_ore", payment),
        "the Vipps reservation cancelled",
    )
    assert reference
    context.problems.assert_none()

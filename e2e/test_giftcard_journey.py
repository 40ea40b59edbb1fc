"""Gift cards and receipts on a phone (390×844), against the real app and its
embedded worker and dev Vipps:

* buy a gift card with Vipps → its PDF is in the dev mailbox → redeem part of
  it on a haircut paid on site → the balance and expiry are shown;
* a Vipps-paid haircut marked delivered → its receipt PDF downloads from the
  order page and its text holds every L15 field; a refund → a credit note
  referring to the receipt.

Screenshots go to /tmp/vipps-shots/ (the `vshot` fixture of the Vipps journeys).
"""

from __future__ import annotations

import io
import re
import time

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from e2e import backoffice
from e2e.test_vipps_journey import (  # noqa: F401 - vshot is a fixture
    HAIRCUT,
    check_layout,
    checkout_with_vipps,
    decide,
    fill_and_verify,
    go_to_vipps,
    text_of,
    tick_boxes,
    vshot,
)

pytestmark = pytest.mark.e2e

SALON = "/s/saks-og-stil-grunerlokka"
CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


def wait_for(check, what: str, timeout_s: float = 30.0):
    """Poll until `check()` gives something (the embedded worker runs beside the requests)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def pdf_text(content: bytes) -> str:
    assert content[:5] == b"%PDF-", content[:20]
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).replace("\xa0", " ")


def order_ref_of(page) -> str:
    return page.locator("p.reference strong").inner_text().strip()


def buy_gift_card(page, e2e_database, phone: str, vshot) -> str:
    page.goto(SALON)
    page.locator(f'a.button[href="{SALON}/gavekort/giftcard"]').click()
    page.wait_for_url(f"**{SALON}/gavekort/giftcard")
    check_layout(page, "gift card page")
    vshot(page, "giftcard-offering")
    page.fill("#amount", "50")  # below the limit first
    page.locator("form.checkout button[type=submit]").click()
    expect(page.locator("#amount-error")).to_be_visible()
    page.fill("#amount", "500")
    page.locator("form.checkout button[type=submit]").click()
    page.wait_for_url("**/checkout/**")
    assert "Gavekort" in text_of(page.locator("section.summary"))
    assert page.locator("#giftcard").count() == 0, "a gift card is not paid with a gift card"
    fill_and_verify(page, e2e_database, phone)
    tick_boxes(page)
    check_layout(page, "gift card checkout")
    vshot(page, "giftcard-checkout")
    go_to_vipps(page)
    decide(page, "approve")
    page.wait_for_url(re.compile(r"/b/[^/?#]+\?new=1$"))
    return order_ref_of(page)


def test_buy_a_gift_card_find_its_pdf_in_the_mailbox_and_pay_part_of_a_haircut_with_it(context, vshot, e2e_database):
    page = context.new_page()
    reference = buy_gift_card(page, e2e_database, "+4741231001", vshot)
    wait_for(lambda: e2e_database.rows("SELECT state FROM orders WHERE reference = ? AND state = 'completed'", reference), "the card issued")
    vshot(page, "giftcard-order")

    # The cards and the receipt arrive by email as PDFs: in the dev mailbox.
    wait_for(lambda: e2e_database.rows("SELECT id FROM dev_message WHERE subject LIKE 'Gavekortet ditt fra%' AND recipient = 'kari@example.no'"), "the email")
    page.goto("/dev/mailbox")
    mail = page.locator("#mailbox li.card", has_text="Gavekortet ditt fra Saks & Stil").first
    expect(mail).to_be_visible()
    code = CODE.search(mail.inner_text()).group(0)
    card_link = mail.locator('a[href^="/dev/mailbox/documents/"]', has_text="gavekort-")
    receipt_link = mail.locator('a[href^="/dev/mailbox/documents/"]', has_text="kvittering-")
    expect(card_link).to_have_count(1)
    expect(receipt_link).to_have_count(1)
    card_pdf = pdf_text(page.request.get(card_link.get_attribute("href")).body())
    assert "500,00" in card_pdf and "Saks & Stil Grünerløkka AS" in card_pdf and code in card_pdf
    vshot(page, "mailbox")

    # Part of the card pays a haircut; the rest is paid at the appointment.
    page.goto(HAIRCUT)
    page.locator("#slots button[name=start]").first.click()
    page.wait_for_url("**/checkout/**")
    fill_and_verify(page, e2e_database, "+4741231002")
    page.check("#means-onsite")
    page.fill("#giftcard", code.lower().replace("-", " "))  # as a hurried person types it
    with page.expect_response(lambda r: "/checkout/" in r.url and r.request.method == "POST") as posted:
        page.locator("button[name=action][value=apply_giftcard]").click()
    assert posted.value.status == 200
    expect(page.locator("#payment-block .ok")).to_contain_text("Gavekortet betaler kr 500,00")
    assert "kr 49,00" in text_of(page.locator("#payment-block .price"))
    tick_boxes(page)
    check_layout(page, "checkout with gift card")
    vshot(page, "checkout-giftcard")
    page.locator("form.checkout button[name=action][value=confirm]").click()
    page.wait_for_url(re.compile(r"/b/[^/?#]+\?new=1$"))
    payment = text_of(page.locator("section.payment"))
    assert "Betalt med gavekort" in payment and "kr 49,00" in payment, payment
    vshot(page, "haircut-with-giftcard")

    # The balance page shows what is left and until when.
    page.goto("/gavekort")
    page.fill("#code", code)
    page.locator("form.checkout button[type=submit]").click()
    balance = text_of(page.locator("#balance"))
    assert "kr 0,00" in balance and "Gyldig til" in balance, balance
    check_layout(page, "balance")
    vshot(page, "balance")
    context.problems.assert_none()


def test_a_delivered_vipps_haircut_has_a_receipt_and_a_refund_a_credit_note(context, vshot, e2e_database):
    page = context.new_page()
    checkout_with_vipps(page, e2e_database, "+4741231003")
    go_to_vipps(page)
    decide(page, "approve")
    page.wait_for_url(re.compile(r"/b/[^/?#]+\?new=1$"))
    order_page = page.url.split("?")[0]
    reference = order_ref_of(page)
    # The appointment has taken place: the server's clock cannot be moved, so its
    # time is (and the claims on the old time go with it, keeping the shared
    # database as the app would have it).
    (reservation_id,) = e2e_database.rows('SELECT r.id FROM reservation r JOIN orders o ON o.id = r."order" WHERE o.reference = ?', reference)[0]
    if e2e_database.url.startswith("sqlite"):
        e2e_database.rows(
            "UPDATE reservation SET start = datetime('now', '-90 minutes') || '+00:00', \"end\" = datetime('now', '-60 minutes') || '+00:00' WHERE id = ?",
            reservation_id,
        )
    else:
        e2e_database.rows(
            "UPDATE reservation SET start = now() - interval '90 minutes', \"end\" = now() - interval '60 minutes' WHERE id = ?", reservation_id
        )
    e2e_database.rows("DELETE FROM slot_claim WHERE owner = ?", f"r:{reservation_id}")
    (order_id,) = e2e_database.rows("SELECT id FROM orders WHERE reference = ?", reference)[0]
    booking = f"/kontor/{backoffice.SALON}/ordre/{order_id}"
    backoffice.log_in(page, next_path=booking)
    page.wait_for_url(f"**{booking}")
    backoffice.act(page, "Merk som utført")

    def receipt_ready():
        page.goto(order_page)
        link = page.locator('section.documents a[href*="/documents/"]', has_text="Kvittering")
        return link if link.count() else None

    link = wait_for(receipt_ready, "the receipt rendered")
    check_layout(page, "order with receipt")
    vshot(page, "order-receipt")
    with page.expect_download() as download:
        link.click()
    text = pdf_text(open(download.value.path(), "rb").read())
    number = re.search(r"Kvittering (\d+)", text).group(1)
    for field in ("Saks & Stil Grünerløkka AS", "924 173 084 MVA", "Foretaksregisteret", "Kari Nordmann", "Herreklipp",
                  "Olaf Ryes plass", "549,00", "Betalt", "25 %", "109,80", "439,20", "Vipps", reference):
        assert field in text, (field, text[:1200])

    # A refund: its credit note refers to the receipt.
    page.goto(booking)
    backoffice.act(page, "Tilbakebetal", fields={"Beløp i kroner": "100"})

    def credit_ready():
        page.goto(order_page)
        found = page.locator('section.documents a[href*="/documents/"]', has_text="Kreditnota")
        return found if found.count() else None

    credit = wait_for(credit_ready, "the credit note rendered")
    with page.expect_download() as download:
        credit.click()
    credit_text = pdf_text(open(download.value.path(), "rb").read())
    assert "Kreditnota" in credit_text and number in credit_text and "100,00" in credit_text, credit_text[:1200]
    vshot(page, "order-credit-note")
    context.problems.assert_none()

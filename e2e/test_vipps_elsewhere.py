"""Paying with Vipps when Vipps is on another origin, as in production.

The app runs under uvicorn as in `make run`, but its Vipps is the dev Vipps
app served on a port of its own (the `vipps_elsewhere` fixture): the checkout
form's answer is a 303 to a landing page off the site. Chromium applies the
page's CSP `form-action` to that redirect, so the checkout page must allow
the Vipps origin — and nothing else must.

Booking the salon haircut with Vipps, with JavaScript on and off: land on the
dev Vipps' page on the other origin, approve, come back to the booking page
with the amount reserved. The dev Vipps signs its webhooks to the app's
/hooks/vipps; the test waits for every delivery before it looks (the return
page reads the payment itself, so nothing here waits on a webhook's timing).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from e2e.test_vipps_journey import (
    BOOKING_URL,
    booking_status,
    check_booking_page,
    checkout_with_vipps,
    decide,
    go_to_vipps,
    payment_row,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("javascript", "phone"), [(True, "+4741230101"), (False, "+4741230102")], ids=["js", "no-js"])
def test_vipps_on_another_origin_approve_comes_back_reserved(elsewhere_context, vipps_elsewhere, javascript, phone):
    context = elsewhere_context(java_script_enabled=javascript)
    page = context.new_page()
    database = vipps_elsewhere.database
    checkout_with_vipps(page, database, phone)
    landing = re.compile("^" + re.escape(vipps_elsewhere.vipps_url) + r"/landing/[A-Za-z0-9-]+$")
    try:
        reference = go_to_vipps(page, landing)
    except PlaywrightError:  # a timeout: the browser stayed where it was
        pytest.fail(
            f"the browser never reached the Vipps landing page on {vipps_elsewhere.vipps_url}; it is on {page.url}\n"
            + "\n".join(context.problems.errors)
        )
    assert urlsplit(page.url).netloc != urlsplit(vipps_elsewhere.app).netloc
    expect(page.locator("h1")).to_contain_text("kr 549,00")
    assert payment_row(database, reference)[:2] == ("created", 549_00)

    decide(page, "approve")
    page.wait_for_url(BOOKING_URL)
    assert page.url.startswith(f"{vipps_elsewhere.app}/b/"), page.url
    check_booking_page(page, "kr 549,00")
    assert payment_row(database, reference) == ("authorized", 549_00, 549_00, 0)
    assert booking_status(database, reference) == "confirmed"

    # The dev Vipps on its own port signs and sends its webhooks to the app,
    # which takes them (200: the signature and host checked out) and stores them.
    vipps_elsewhere.flush_webhooks()
    sent = [(w["json"]["name"], w["status"]) for w in vipps_elsewhere.vipps.sent_webhooks if w["json"]["reference"] == reference]
    assert sent == [("CREATED", 200), ("AUTHORIZED", 200)], sent
    stored = database.rows("SELECT COUNT(*) FROM webhook_delivery WHERE reference = ?", reference)[0][0]
    assert stored == 2, stored
    context.problems.assert_none()

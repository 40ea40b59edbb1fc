"""The Vipps path through checkout, against the session's dev Vipps over HTTP."""

from __future__ import annotations

from portal.orders.tables import Order
from portal.payments.tables import Payment
from tests.integration.helpers import confirm_with_code, first_free_slot

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"


async def _hold(client, path=HAIRCUT):
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303
    return held.headers["location"]


async def test_book_with_vipps_approve_and_return(client, vipps):
    checkout = await _hold(client)
    sent = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert sent.status_code == 303, sent.text[-3000:]
    landing = sent.headers["location"]
    assert "/landing/" in landing
    payment = await Payment.select().first()
    assert payment["state"] == "created" and payment["amount_ore"] == 549_00
    order = await Order.select().where(Order.id == payment["order"]).first()
    assert order["state"] == "held"

    vipps.approve(payment["reference"])
    token = checkout.rsplit("/", 1)[-1]
    from portal.payments.service import return_token

    back = await client.get(f"/pay/{return_token(token)}", follow_redirects=False)
    assert back.status_code == 303, back.text[-2000:]
    page = await client.get(back.headers["location"])
    assert page.status_code == 200
    assert "reservert" in page.text.lower() or "reserved" in page.text.lower()
    order = await Order.select().where(Order.id == payment["order"]).first()
    assert order["state"] == "confirmed"
    payment = await Payment.select().first()
    assert payment["state"] == "authorized" and payment["authorized_ore"] == 549_00 and payment["captured_ore"] == 0

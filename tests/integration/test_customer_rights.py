"""The customer's data (L24–L26, L19): export and erasure in self-service
behind a fresh SMS code, receipts kept under a legal hold, and the retention
job that removes them — and inactive customers' contact data — in time."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
import time_machine

from portal.account import rights
from portal.account.tables import LegalHold
from portal.audit import service as audit
from portal.audit.domain import system
from portal.documents.tables import Document, DocumentPdf, DocumentRelease
from portal.identity.tables import Customer, MarketingConsent
from portal.legal import retention
from portal.lib import clock
from portal.lib.db import write_transaction
from portal.outbox.tables import OutboxMessage
from portal.payments.tables import MoneyMovement, Payment
from portal.sales import receipts, settlement
from tests.integration.helpers import confirm_with_code, csrf, latest_code
from tests.integration.test_payment_lifecycle import HAIRCUT, hold_time, order_row, says
from tests.integration.test_receipts import _delivered

PHONE = "+4741234567"
RETENTION = system("retention-test")


async def _login(client) -> None:
    page = await client.get("/mine")
    await client.post("/mine/code", data={"phone": PHONE, "_csrf_token": csrf(page.text)})
    done = await client.post("/mine/login", data={"phone": PHONE, "code": await latest_code(PHONE), "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303


async def _unlock(client) -> str:
    """Type a fresh account code on /mine/data; the page's CSRF token."""
    page = await client.get("/mine/data")
    token = csrf(page.text)
    sent = await client.post("/mine/data/code", data={"_csrf_token": token})
    assert sent.status_code == 200 and 'id="code"' in sent.text
    verified = await client.post("/mine/data/verify", data={"code": await latest_code(PHONE), "_csrf_token": token}, follow_redirects=False)
    assert verified.status_code == 303
    return token


@pytest.mark.legal("L24")
@pytest.mark.legal("L25")
async def test_the_export_needs_a_fresh_code_and_holds_everything_with_the_receipt_pdf(client, vipps):
    booked, order = await _delivered(client, vipps)
    await _login(client)
    before = await audit.last_id()
    refused = await client.get("/mine/data/export.json")
    assert refused.status_code == 403 and says(refused.text, rights.NotFresh.message)
    assert await audit.entries(since_id=before, action="customer.export") == []

    await _unlock(client)
    response = await client.get("/mine/data/export.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.content)
    assert data["format"] == rights.EXPORT_FORMAT
    assert data["profile"]["phone"] == PHONE and data["profile"]["name"] == "Kari Nordmann"
    (mine,) = [o for o in data["orders"] if o["reference"] == order["reference"]]
    assert mine["email"] == "kari@example.no" and mine["money_movements"][0]["amount_ore"] == 54900
    assert mine["payments"] and "create_key" not in mine["payments"][0]
    (receipt,) = [d for d in mine["documents"] if d["kind"] == "receipt"]
    pdf = base64.b64decode(receipt["pdf_base64"])
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == receipt["sha256"]
    assert any(c["consent"] == "accept_terms" and c["text"] and c["at"] for c in data["consents"])
    assert any(m["channel"] == "email" and m["topic"] == "receipt" for m in data["messages"])
    assert all(m["text"] == "" for m in data["messages"] if m["topic"] == "code")  # no codes handed out
    assert data["complaints"] == [] and mine["withdrawals"] == []
    assert len(await audit.entries(since_id=before, action="customer.export")) == 1

    with time_machine.travel(clock.now() + dt.timedelta(minutes=retention.FRESH_CODE_MINUTES + 1), tick=False):
        stale = await client.get("/mine/data/export.json")
    assert stale.status_code == 403


@pytest.mark.legal("L26")
@pytest.mark.legal("L19")
async def test_deleting_removes_the_customer_and_anonymises_orders_but_keeps_the_receipts(client, vipps):
    booked, order = await _delivered(client, vipps)
    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=5)
    ahead = await confirm_with_code(client, checkout, {"means": "onsite"})
    assert ahead.status_code == 303
    await _login(client)
    page = await client.get("/mine/data")
    token = csrf(page.text)
    refused = await client.post("/mine/data/delete", data={"confirm": "on", "_csrf_token": token})
    assert refused.status_code == 403 and await Customer.count().where(Customer.phone == PHONE) == 1

    await _unlock(client)
    page = await client.get("/mine/data")
    assert says(page.text, rights.FutureBookings.message) and 'action="/mine/data/delete"' not in page.text
    blocked = await client.post("/mine/data/delete", data={"confirm": "on", "_csrf_token": token})
    assert blocked.status_code == 409 and await Customer.count().where(Customer.phone == PHONE) == 1
    upcoming = await order_row((await rights.bookings((await Customer.select().where(Customer.phone == PHONE).first())["id"]))[0]["id"])
    await settlement.customer_cancel(RETENTION, upcoming["id"], clock.now())

    unticked = await client.post("/mine/data/delete", data={"_csrf_token": token})
    assert unticked.status_code == 422 and 'id="confirm-error"' in unticked.text
    done = await client.post("/mine/data/delete", data={"confirm": "on", "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/mine/deleted?kept=")
    said = await client.get(done.headers["location"])
    assert said.status_code == 200 and "bokføringsloven" in said.text

    assert await Customer.count().where(Customer.phone == PHONE) == 0
    for gone in (await order_row(order["id"]), await order_row(upcoming["id"])):
        assert (gone["customer_name"], gone["phone"], gone["email"], gone["customer"], gone["manage_token"]) == ("", "", "", None, None)
    assert await OutboxMessage.count().where(OutboxMessage.recipient.is_in([PHONE, "kari@example.no"])) == 0
    (receipt,) = [d for d in await receipts.of_order(order) if d.kind.value == "receipt"]
    assert receipt.buyer.name == "Kari Nordmann"  # bookkeeping, as printed, while the hold lasts
    hold = await LegalHold.select().where(LegalHold.order_id == order["id"]).first()
    assert hold["until"] == retention.bookkeeping_until(receipt.issued_at) and hold["reason"] == "erasure"
    assert await MoneyMovement.count().where(MoneyMovement.order == order["id"]) == 1
    mine = await client.get("/mine")
    assert 'id="phone"' in mine.text  # logged out


@pytest.mark.legal("L26")
@pytest.mark.legal("L19")
async def test_the_retention_job_forgets_the_inactive_and_removes_bookkeeping_only_when_its_hold_ends(client, vipps):
    booked, order = await _delivered(client, vipps)
    (receipt,) = [d for d in await receipts.of_order(order) if d.kind.value == "receipt"]
    last = max((await order_row(order["id"]))["updated_at"], booked.start + dt.timedelta(hours=2))
    with time_machine.travel(last + dt.timedelta(days=89), tick=False):
        assert (await rights.run(RETENTION, clock.now())).forgotten == 0
    assert await Customer.count().where(Customer.phone == PHONE) == 1
    with time_machine.travel(last + dt.timedelta(days=91), tick=False):
        assert (await rights.run(RETENTION, clock.now())).forgotten == 1
    assert await Customer.count().where(Customer.phone == PHONE) == 0
    assert (await order_row(order["id"]))["customer_name"] == ""
    until = retention.bookkeeping_until(receipt.issued_at)
    assert (await LegalHold.select().where(LegalHold.order_id == order["id"]).first())["reason"] == "inactive"

    # The database itself refuses a release dated before the hold's end.
    with pytest.raises(Exception, match="retention"):
        async with write_transaction():
            await DocumentRelease.insert(DocumentRelease(document_id=receipt.id, released_at=until - dt.timedelta(days=2)))
            await DocumentPdf.delete().where(DocumentPdf.document == receipt.id)
    assert await DocumentRelease.count().where(DocumentRelease.document_id == receipt.id) == 0

    with time_machine.travel(until - dt.timedelta(minutes=1), tick=False):
        assert (await rights.run(RETENTION, clock.now())).released == 0
    assert await Document.count().where(Document.id == receipt.id) == 1
    with time_machine.travel(until + dt.timedelta(minutes=1), tick=False):
        assert (await rights.run(RETENTION, clock.now())).released == 1
    assert await Document.count().where(Document.id == receipt.id) == 0
    assert await DocumentPdf.count().where(DocumentPdf.document == receipt.id) == 0
    assert await MoneyMovement.count().where(MoneyMovement.order == order["id"]) == 0
    assert await Payment.count().where(Payment.order == order["id"]) == 0
    assert (await LegalHold.select().where(LegalHold.order_id == order["id"]).first())["released_at"] is not None
    assert await order_row(order["id"]) is not None  # the anonymised order stays
    # The supplier's number series still reads 1..N: the released receipt keeps its place (L14).
    from portal.documents import service as documents

    numbers = await documents.numbers_of_supplier(receipt.supplier_id)
    assert receipt.number in numbers and numbers == list(range(1, len(numbers) + 1))


@pytest.mark.legal("L24")
async def test_the_customer_corrects_name_and_email_and_moves_to_a_new_number_with_a_code_to_it(client):
    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=4)
    assert (await confirm_with_code(client, checkout, {"means": "onsite"})).status_code == 303
    await _login(client)
    token = csrf((await client.get("/mine/data")).text)
    bad = await client.post("/mine/data/profile", data={"name": "", "email": "ikke-en-adresse", "_csrf_token": token})
    assert bad.status_code == 422 and 'id="name-error"' in bad.text and 'id="email-error"' in bad.text
    saved = await client.post("/mine/data/profile", data={"name": "Kari Nordmann-Berg", "email": "Kari.Berg@Example.no", "_csrf_token": token}, follow_redirects=False)
    assert saved.status_code == 303
    customer = await Customer.select().where(Customer.phone == PHONE).first()
    assert (customer["name"], customer["email"]) == ("Kari Nordmann-Berg", "Kari.Berg@example.no")
    booking = await order_row((await rights.bookings(customer["id"]))[0]["id"])
    assert (booking["customer_name"], booking["email"]) == ("Kari Nordmann-Berg", "Kari.Berg@example.no")

    same = await client.post("/mine/data/phone", data={"phone": "412 34 567", "_csrf_token": token})
    assert same.status_code == 422 and 'id="phone-error"' in same.text
    new = "+4748012345"
    sent = await client.post("/mine/data/phone", data={"phone": "480 12 345", "_csrf_token": token})
    assert sent.status_code == 200 and 'id="phone_code"' in sent.text
    code = await latest_code(new)
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post("/mine/data/phone/confirm", data={"phone": new, "phone_code": wrong, "_csrf_token": token})
    assert refused.status_code == 422 and 'id="phone_code-error"' in refused.text
    assert (await Customer.select().where(Customer.id == customer["id"]).first())["phone"] == PHONE
    moved = await client.post("/mine/data/phone/confirm", data={"phone": new, "phone_code": code, "_csrf_token": token}, follow_redirects=False)
    assert moved.status_code == 303
    assert (await Customer.select().where(Customer.id == customer["id"]).first())["phone"] == new
    assert (await order_row(booking["id"]))["phone"] == new


@pytest.mark.legal("L28")
async def test_news_only_after_the_unticked_box_is_ticked_and_stopped_at_once_and_reminders_switched_off(client):
    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=4)
    page = await client.get(checkout)
    assert 'name="marketing"' in page.text and 'id="marketing" name="marketing" type="checkbox">' in page.text  # unticked
    assert (await confirm_with_code(client, checkout, {"means": "onsite"})).status_code == 303
    assert await MarketingConsent.count() == 0  # not ticked: no news
    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=6)
    assert (await confirm_with_code(client, checkout, {"means": "onsite", "marketing": "on"})).status_code == 303
    (consent,) = await MarketingConsent.select()
    assert "Saks & Stil" in consent["text"] and consent["given_at"] and consent["withdrawn_at"] is None

    await _login(client)
    page = await client.get("/mine/data")
    assert says(page.text, "I accept the terms of sale and the cancellation terms.")
    token = csrf(page.text)
    stopped = await client.post(f"/mine/data/news/{consent['supplier']}", data={"wanted": "no", "_csrf_token": token}, follow_redirects=False)
    assert stopped.status_code == 303
    assert (await MarketingConsent.select().first())["withdrawn_at"] is not None

    booking = (await rights.bookings(consent["customer"]))[0]
    pending = OutboxMessage.count().where((OutboxMessage.order_id == booking["id"]) & (OutboxMessage.topic == "reminder") & (OutboxMessage.status == "pending"))
    assert await pending >= 1
    off = await client.post(f"/mine/data/reminders/{booking['id']}", data={"_csrf_token": token}, follow_redirects=False)
    assert off.status_code == 303
    assert await OutboxMessage.count().where((OutboxMessage.order_id == booking["id"]) & (OutboxMessage.topic == "reminder") & (OutboxMessage.status == "pending")) == 0
    assert (await order_row(booking["id"]))["terms"]["reminder_hours"] == 0


@pytest.mark.legal("L28")
async def test_news_go_only_to_those_who_said_yes_with_one_click_unsubscribe_honoured_at_once(client):
    from portal.identity import marketing
    from portal.notify.backends import build_email
    from portal.settings import load as load_settings
    from tests.integration.staff import staff_login

    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=4)
    assert (await confirm_with_code(client, checkout, {"means": "onsite", "marketing": "on"})).status_code == 303
    checkout, _ = await hold_time(client, HAIRCUT, days_ahead=5)
    assert (await confirm_with_code(client, checkout, {"means": "onsite", "phone": "413 45 678", "email": "ola@example.no"})).status_code == 303

    await staff_login(client, "saks-og-stil-grunerlokka")
    page = await client.get("/kontor/saks-og-stil-grunerlokka/nyheter")
    token = csrf(page.text)
    bad = await client.post("/kontor/saks-og-stil-grunerlokka/nyheter", data={"text": "", "_csrf_token": token})
    assert bad.status_code == 422 and 'id="text-error"' in bad.text and 'id="channels-error"' in bad.text
    news = {"email": "on", "sms": "on", "subject": "Vinterkampanje", "text": "20 % på klipp i januar.", "_csrf_token": token}
    sent = await client.post("/kontor/saks-og-stil-grunerlokka/nyheter", data=news, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith("sent=2")
    rows = await OutboxMessage.select().where(OutboxMessage.topic == marketing.TOPIC).output(load_json=True)
    assert sorted(r["recipient"] for r in rows) == [PHONE, "kari@example.no"]  # Ola said no (left the box unticked)
    email = next(r for r in rows if r["channel"] == "email")
    url = email["payload"]["list_unsubscribe"]
    mime = build_email(email, load_settings().mail)
    assert mime["List-Unsubscribe"] == f"<{url}>" and mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in email["payload"]["text"]
    sms = next(r for r in rows if r["channel"] == "sms")
    assert url in sms["payload"]["text"]
    again = await client.post("/kontor/saks-og-stil-grunerlokka/nyheter", data=news)
    assert again.status_code == 429  # once a day

    # The mail client's one-click POST: no cookies, no CSRF token.
    client.cookies.clear()
    clicked = await client.post(url.removeprefix(load_settings().base_url), content=b"List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"})
    assert clicked.status_code == 200
    consent = await MarketingConsent.select().first()
    assert consent["withdrawn_at"] is not None and await marketing.audience(consent["supplier"]) == []
    assert await OutboxMessage.count().where((OutboxMessage.topic == marketing.TOPIC) & (OutboxMessage.status == "pending")) == 0
    forged = await client.post(url[: -3].removeprefix(load_settings().base_url) + "xyz")
    assert forged.status_code == 404

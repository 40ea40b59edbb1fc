"""The right of withdrawal for appointments (L4–L12): the form with every
confirmation, "Withdraw from the contract here" with its separate confirm
step, the acknowledgement with a PDF, the money back through the outbox,
the deadline, and a withdrawal the supplier registers.

Wording is compared through the catalogue (Bokmål), PDFs are read with pypdf.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import time_machine
from pypdf import PdfReader

from portal.documents import service as documents
from portal.legal.withdrawal import withdrawal_deadline
from portal.lib import clock
from portal.orders import service as orders_service
from portal.orders.tables import Order, OrderWithdrawal
from portal.outbox.tables import OutboxMessage
from portal.payments import service as payments
from portal.sales import settlement
from tests.integration.helpers import confirm_with_code, csrf
from tests.integration.staff import slug_of, staff_login
from tests.integration.test_payment_lifecycle import (
    ACTOR,
    HAIRCUT,
    NB,
    aggregate,
    book_with_vipps,
    calls,
    drain,
    hold_time,
    kr,
    ops,
    reservation,
    says,
)


def pdf_text(content: bytes) -> str:
    """The PDF's text with its whitespace folded (pypdf breaks lines where the layout does)."""
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", " ", text)


def folded(text: str) -> str:
    return re.sub(r"\s+", " ", text)


async def emails(order_id: int, topic: str) -> list[dict]:
    rows = await OutboxMessage.select().output(load_json=True).where(
        (OutboxMessage.order_id == order_id) & (OutboxMessage.topic == topic) & (OutboxMessage.channel == "email")
    )
    return [r for r in rows if ":supplier:" not in r["dedupe_key"]]


async def attached_pdf(row: dict) -> tuple[str, str]:
    """(file name, text) of the one PDF an outbox email carries."""
    (item,) = row["payload"]["attachments"]
    found = await documents.attachment(int(item["document_id"]))
    assert found.content_type == "application/pdf"
    return found.filename, pdf_text(found.content)


async def order_of(order_id: int) -> dict:
    return await Order.select().output(load_json=True).where(Order.id == order_id).first()


@pytest.mark.legal("L5")
@pytest.mark.legal("L11")
async def test_every_confirmation_carries_the_pre_filled_withdrawal_form_and_says_the_deadline(client):
    checkout, start = await hold_time(client, HAIRCUT, days_ahead=3)
    page = await client.get(checkout)
    expected = withdrawal_deadline(clock.now())
    assert says(page.text, "If you book now, you can withdraw until %(deadline)s. The withdrawal form comes with the confirmation.", deadline=clock.fmt_date(expected, "nb", "long"))
    done = await confirm_with_code(client, checkout, {"means": "onsite"})
    assert done.status_code == 303
    order = await Order.select().output(load_json=True).where(Order.checkout_token == checkout.rsplit("/", 1)[1]).first()
    supplier = order["terms"]["supplier"]

    (confirmation,) = await emails(order["id"], "confirmation")
    name, text = await attached_pdf(confirmation)
    assert name == NB.gettext("withdrawal-form-%(reference)s.pdf") % {"reference": order["reference"]}
    # Q-0319B: to whom (pre-filled), the declaration with services ticked and specified, the contract date, the consumer's lines blank.
    assert folded(NB.gettext("Withdrawal form for purchases of goods and services that are not financial services")) in text
    assert supplier["legal_name"] in text and supplier["email"] in text and supplier["street"] in text
    assert "[X] " + NB.gettext("services (specify on the lines below)") in text
    assert clock.fmt_datetime(start, "nb") in text and order["reference"] in text
    assert NB.gettext("The contract was made on (date) (for services):") + " " + clock.fmt_date(order["contract_at"], "nb", "long") in text
    for blank in ("Consumer's name:", "Consumer's address:", "Consumer's signature (if the form is sent on paper):"):
        assert NB.gettext(blank) + " ___" in text
    deadline_text = clock.fmt_date(expected, "nb")
    assert deadline_text in confirmation["payload"]["text"] and deadline_text in confirmation["payload"]["html"]

    shown = await client.get(done.headers["location"])
    assert says(shown.text, "You can withdraw from this contract until %(deadline)s.", deadline=clock.fmt_date(expected, "nb", "long"))
    assert f'href="/b/{order["manage_token"]}/angre"' in shown.text and says(shown.text, "Withdraw from the contract here")


@pytest.mark.legal("L8")
@pytest.mark.legal("L9")
@pytest.mark.legal("L10")
async def test_withdrawing_a_vipps_booking_before_it_starts_releases_everything_and_acknowledges_with_a_pdf(client, vipps):
    booked = await book_with_vipps(client, vipps, days_ahead=3)
    base = f"/b/{booked.manage_token}/angre"
    form = await client.get(base)
    assert form.status_code == 200
    assert 'value="Kari Nordmann"' in form.text and 'value="kari@example.no"' in form.text
    order_before = await order_of(booked.order_id)
    assert order_before["reference"] in form.text

    step = await client.post(base, data={"name": "Kari Nordmann", "contact": "kari@example.no", "_csrf_token": csrf(form.text)})
    assert step.status_code == 200 and says(step.text, "Confirm withdrawal")
    assert (await order_of(booked.order_id))["state"] == "confirmed", "the first step changes nothing"
    missing = await client.post(base, data={"name": "", "contact": "kari@example.no", "confirm": "yes", "_csrf_token": csrf(form.text)})
    assert missing.status_code == 422 and says(missing.text, "Enter your name.")
    assert (await order_of(booked.order_id))["state"] == "confirmed"

    before = clock.now()
    done = await client.post(base, data={"name": "Kari Nordmann", "contact": "kari@example.no", "confirm": "yes", "_csrf_token": csrf(step.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/b/{booked.manage_token}?angret=1"
    order = await order_of(booked.order_id)
    assert order["state"] == "withdrawn"
    (row,) = await OrderWithdrawal.select().where(OrderWithdrawal.order == booked.order_id)
    assert (row["via"], row["keep_ore"], row["early_start"], row["started"]) == ("online", 0, True, False)
    assert [(o["kind"], o["reason"], o["status"]) for o in await ops(booked.reference)] == [("cancel", "withdrawn", "pending")]

    (ack,) = await emails(booked.order_id, "withdrawal")
    assert ack["recipient"] == "kari@example.no" and ack["next_attempt_at"] <= clock.now()
    name, text = await attached_pdf(ack)
    assert name == NB.gettext("withdrawal-%(reference)s.pdf") % {"reference": order["reference"]}
    received = row["received_at"]
    assert before <= received <= clock.now()
    assert order["reference"] in text and "Kari Nordmann" in text and clock.fmt_datetime(booked.start, "nb") in text
    assert folded(NB.gettext("The withdrawal was received %(when)s (%(how)s).") % {"when": _document_moment(received), "how": NB.gettext("on the booking's page")}) in text

    await drain()
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 549_00, "refunded": 0}
    assert await payments.movements(booked.order_id) == []  # nothing was taken: nothing to credit
    assert (await reservation(booked.order_id))["status"] == "cancelled"
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s released: it will never be charged.", amount=kr(549_00))
    assert not says(page.text, "Withdraw from the contract here")
    again = await client.post(base, data={"name": "Kari Nordmann", "contact": "x", "confirm": "yes", "_csrf_token": csrf(step.text)})
    assert again.status_code == 409 and len(await emails(booked.order_id, "withdrawal")) == 1


def _document_moment(moment: dt.datetime) -> str:
    """A moment as the documents print it (3. desember 2026 kl. 14:05)."""
    from portal.documents.render import _moment

    return _moment(moment, "nb")


@pytest.mark.legal("L5")
@pytest.mark.legal("L10")
async def test_a_withdrawal_after_the_deadline_is_refused_and_changes_nothing(client, vipps):
    booked = await book_with_vipps(client, vipps, days_ahead=3)
    token = csrf((await client.get(f"/b/{booked.manage_token}/angre")).text)  # the form, while it was open
    deadline = withdrawal_deadline(clock.now())
    after = dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(9), tzinfo=clock.OSLO)
    with time_machine.travel(after, tick=False):
        page = await client.get(f"/b/{booked.manage_token}/angre")
        ended = NB.gettext("The withdrawal period ended on %(deadline)s. The booking has not been changed.") % {"deadline": clock.fmt_date(deadline, "nb", "long")}
        assert says(page.text, ended.replace("%", "%%")) and 'name="confirm"' not in page.text
        refused = await client.post(
            f"/b/{booked.manage_token}/angre", data={"name": "Kari Nordmann", "contact": "kari@example.no", "confirm": "yes", "_csrf_token": token}
        )
        assert refused.status_code == 409 and says(refused.text, ended.replace("%", "%%"))
    assert (await order_of(booked.order_id))["state"] == "confirmed"
    assert await OrderWithdrawal.count().where(OrderWithdrawal.order == booked.order_id) == 0
    assert await ops(booked.reference) == [] and await emails(booked.order_id, "withdrawal") == []


@pytest.mark.legal("L8")
@pytest.mark.legal("L9")
@pytest.mark.legal("L10")
async def test_the_supplier_registers_an_emailed_withdrawal_after_an_early_start_and_states_the_part_delivered(client, vipps):
    booked = await book_with_vipps(client, vipps, days_ahead=3)
    at = booked.start + dt.timedelta(minutes=40)
    with time_machine.travel(at, tick=False):
        await settlement.mark_delivered(ACTOR, booked.order_id, clock.now())
        await drain()
    assert aggregate(vipps, booked.reference)["captured"] == 549_00
    order = await order_of(booked.order_id)
    slug = await slug_of(order["supplier"])
    later = at + dt.timedelta(hours=3)
    with time_machine.travel(later, tick=False):
        await staff_login(client, slug, "owner")
        url = f"/kontor/{slug}/angring/{booked.order_id}"
        page = await client.get(url)
        assert page.status_code == 200
        received = clock.to_local(at + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        bad = await client.post(url, data={"action": "register", "received_at": "nei", "via": "email", "name": "Kari", "_csrf_token": csrf(page.text)})
        assert bad.status_code == 422 and (await order_of(booked.order_id))["state"] == "completed"
        done = await client.post(
            url, data={"action": "register", "received_at": received, "via": "email", "name": "Kari Nordmann", "contact": "kari@example.no", "_csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text[-1500:]
        assert (await order_of(booked.order_id))["state"] == "withdrawn"
        (row,) = await OrderWithdrawal.select().where(OrderWithdrawal.order == booked.order_id)
        assert (row["via"], row["early_start"], row["started"], row["keep_ore"]) == ("email", True, True, None)
        assert row["received_at"] == (at + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
        (ack,) = await emails(booked.order_id, "withdrawal")
        _, text = await attached_pdf(ack)
        assert folded(NB.gettext("by email")) in text
        assert not [o for o in await ops(booked.reference) if o["reason"] == "withdrawn"], "nothing moves before the part delivered is stated"

        page = await client.get(url)
        too_much = await client.post(url, data={"action": "settle", "amount": "549,01", "_csrf_token": csrf(page.text)})
        assert too_much.status_code == 422 and (await OrderWithdrawal.select().first())["keep_ore"] is None
        stated = await client.post(url, data={"action": "settle", "amount": "200", "_csrf_token": csrf(page.text)}, follow_redirects=False)
        assert stated.status_code == 303
        settled = await client.get(url)
        assert says(settled.text, "What the customer pays after the withdrawal: %(amount)s. The rest is given back.", amount=kr(200_00))
        await drain()
    assert [(o["kind"], o["amount_ore"], o["reason"]) for o in await ops(booked.reference) if o["reason"] == "withdrawn"] == [("refund", 349_00, "withdrawn")]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 349_00}
    # By reference too: SQLite may give a new order the id of one deleted by an earlier test.
    order_reference = (await orders_service.get(booked.order_id))["reference"]
    mine = [d for d in await documents.documents_of_order(booked.order_id) if d.order_reference == order_reference]
    kinds = [d.kind.value for d in mine]
    assert kinds.count("credit_note") == 1 and "withdrawal_receipt" in kinds
    credit = next(d for d in mine if d.kind.value == "credit_note")
    assert credit.total_ore == 349_00

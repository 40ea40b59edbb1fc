"""Receipts and credit notes for the money the portal takes (L13–L19, L33),
through the real flows against the session's dev Vipps: a capture gets its
receipt in the transaction that records it, numbered by the supplier's one
series; a late-cancellation fee gets a receipt of its own line; a refund a
credit note referring to the receipt; payment on site gets none, and says so.
The PDF is rendered by the worker, listed on the order page ("being prepared"
until then), the same bytes on every download, and its text holds every L15
field."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
import time_machine
from pypdf import PdfReader

from portal.documents import service as documents
from portal.documents.tables import DocumentPdf
from portal.lib import clock
from portal.lib.i18n import translations
from portal.notify.tables import DevMessage
from portal.outbox.tables import OutboxMessage
from portal.sales import receipts, settlement
from tests.integration.helpers import confirm_with_code
from tests.integration.test_payment_lifecycle import (
    ACTOR,
    HAIRCUT,
    book_with_vipps,
    by_checkout,
    drain,
    hold_time,
    order_row,
    says,
)

NB = translations("nb")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\xa0", " ")


async def _delivered(client, vipps, days_ahead: int = 3):
    """A Vipps haircut marked delivered after its start, the capture carried out: (booked, order)."""
    booked = await book_with_vipps(client, vipps, days_ahead=days_ahead)
    with time_machine.travel(booked.start + dt.timedelta(minutes=40), tick=False):
        await settlement.mark_delivered(ACTOR, booked.order_id, clock.now())
        await drain(clock.now())
    return booked, await order_row(booked.order_id)


@pytest.mark.legal("L13")
@pytest.mark.legal("L15")
async def test_a_delivered_vipps_booking_gets_its_receipt_with_every_l15_field(client, vipps):
    booked, order = await _delivered(client, vipps)
    (receipt,) = [d for d in await receipts.of_order(order) if d.kind.value == "receipt"]
    assert receipt.total_ore == 54900 and [(p.means, p.amount_ore) for p in receipt.payments] == [("vipps", 54900)]
    assert receipt.vat[0].rate_bp == 2500 and receipt.vat_ore == 10980
    pdf = await documents.pdf_of(receipt.id)
    assert pdf is not None, "the worker rendered it"
    text = _text(pdf)
    local_day = clock.to_local(booked.start).date()
    for expected in (
        f"Kvittering {receipt.number}",  # number
        "Saks & Stil Grünerløkka AS",  # the seller
        "924 173 084 MVA",  # org number with MVA
        "Foretaksregisteret",  # an AS
        "Kari Nordmann",  # the buyer
        "Herreklipp",  # description
        clock.fmt_date(local_day, "nb", "long").split()[0],  # date of delivery (day)
        "Olaf Ryes plass",  # place of delivery
        "549,00",  # price / total
        "Betalt",  # paid
        "25 %",  # VAT rate
        "109,80",  # VAT amount
        "439,20",  # VAT base
        "Vipps",  # means of payment
        order["reference"],  # the order reference
    ):
        assert expected in text, (expected, text[:1500])
    # It downloads from the order page and from "Mine bookinger".
    from portal.web.security import account_cookie

    link = f"/b/{order['manage_token']}/documents/{receipt.id}.pdf"
    assert link in (await client.get(f"/b/{order['manage_token']}")).text
    cookie = account_cookie(order["customer"])
    client.cookies.set(cookie.key, cookie.value)
    assert link in (await client.get("/mine")).text
    assert (await client.get(link)).content == pdf


@pytest.mark.legal("L14")
async def test_receipt_numbers_follow_one_series_per_supplier(client, vipps):
    _, first = await _delivered(client, vipps)
    _, second = await _delivered(client, vipps, days_ahead=5)
    a = (await receipts.latest_receipt(first)).number
    b = (await receipts.latest_receipt(second)).number
    assert b == a + 1
    supplier = first["supplier"]
    numbers = await documents.numbers_of_supplier(supplier)
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.legal("L16")
async def test_a_refund_gets_a_credit_note_referring_to_the_receipt_with_vat_reversed(client, vipps):
    booked, order = await _delivered(client, vipps)
    await settlement.refund(ACTOR, order["id"], 20000, clock.now(), request_id="t1")
    await drain()
    listed = await receipts.of_order(order)
    receipt = next(d for d in listed if d.kind.value == "receipt")
    (credit,) = [d for d in listed if d.kind.value == "credit_note"]
    assert credit.refers_to == receipt.id and credit.refers_to_number == receipt.number
    assert credit.number == receipt.number + 1  # the same series
    assert credit.total_ore == 20000 and credit.vat[0].rate_bp == 2500 and credit.vat_ore == 4000
    text = _text(await documents.pdf_of(credit.id))
    assert f"{receipt.number}" in text and "200,00" in text and "40,00" in text
    # The customer got both by email, as PDFs.
    mails = await DevMessage.select().output(load_json=True).where(DevMessage.recipient == "kari@example.no")
    attached = [a["filename"] for m in mails for a in m["attachments"]]
    assert f"kvittering-{receipt.number}.pdf" in attached and any(n.startswith("kreditnota-") for n in attached), attached


@pytest.mark.legal("L13")
async def test_a_late_cancellation_fee_gets_a_receipt_of_its_own_line(client, vipps):
    # After the withdrawal period (inside it a cancellation is a withdrawal, without a fee: L32).
    booked = await book_with_vipps(client, vipps, days_ahead=21)
    with time_machine.travel(booked.start - dt.timedelta(hours=2), tick=False):
        await settlement.customer_cancel(ACTOR, booked.order_id, clock.now())
        await drain(clock.now())
    order = await order_row(booked.order_id)
    (receipt,) = [d for d in await receipts.of_order(order) if d.kind.value == "receipt"]
    assert receipt.total_ore == 27450  # the 50 % fee accepted at checkout
    (line,) = receipt.lines
    assert line.description == NB.gettext("Late cancellation fee: %(what)s") % {"what": "Herreklipp"}


@pytest.mark.legal("L33")
async def test_payment_on_site_gets_no_portal_receipt_and_the_confirmation_says_so(client):
    checkout, start = await hold_time(client, HAIRCUT)
    done = await confirm_with_code(client, checkout, {"means": "onsite"})
    order = await by_checkout(checkout)
    page = await client.get(done.headers["location"])
    assert says(page.text, "What you pay at the appointment is the seller's own sale: the seller gives you the receipt for it.")
    with time_machine.travel(start + dt.timedelta(minutes=40), tick=False):
        await settlement.mark_delivered(ACTOR, order["id"], clock.now())
    assert [d for d in await receipts.of_order(order) if d.kind.value in ("receipt", "credit_note")] == []  # (the withdrawal form is no receipt)


@pytest.mark.legal("L19")
async def test_the_pdf_is_listed_being_prepared_until_rendered_then_the_same_bytes_every_time(client, vipps, monkeypatch):
    booked = await book_with_vipps(client, vipps)
    from portal.documents import render as rendering

    real = rendering.pdf_bytes
    failures = []

    def broken(document):
        failures.append(document.id)
        raise RuntimeError("fonts missing")

    monkeypatch.setattr(rendering, "pdf_bytes", broken)
    with time_machine.travel(booked.start + dt.timedelta(minutes=40), tick=False):
        await settlement.mark_delivered(ACTOR, booked.order_id, clock.now())
        await drain(clock.now())
    order = await order_row(booked.order_id)
    receipt = await receipts.latest_receipt(order)
    assert receipt is not None and failures, "issued, but its PDF failed to render"
    page = await client.get(f"/b/{order['manage_token']}")
    assert page.status_code == 200 and NB.gettext("being prepared – reload the page in a moment") in page.text
    pending = await client.get(f"/b/{order['manage_token']}/documents/{receipt.id}.pdf")
    assert pending.status_code == 202
    row = await OutboxMessage.select().where(OutboxMessage.dedupe_key == f"document:{receipt.id}:pdf:issued").first()
    assert row["status"] == "pending" and "fonts missing" in row["last_error"]  # to be tried again
    monkeypatch.setattr(rendering, "pdf_bytes", real)
    with time_machine.travel(row["next_attempt_at"] + dt.timedelta(seconds=1), tick=False):
        await drain(clock.now())
    first = await client.get(f"/b/{order['manage_token']}/documents/{receipt.id}.pdf")
    again = await client.get(f"/b/{order['manage_token']}/documents/{receipt.id}.pdf")
    assert first.status_code == again.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert first.content == again.content
    stored = await DocumentPdf.select().where(DocumentPdf.document == receipt.id).first()
    assert stored["sha256"] == hashlib.sha256(first.content).hexdigest()
    # Another order's token cannot fetch it.
    other = await book_with_vipps(client, vipps, days_ahead=6)
    assert (await client.get(f"/b/{other.manage_token}/documents/{receipt.id}.pdf")).status_code == 404

"""Documents on the real database (SQLite or PostgreSQL, as DATABASE_URL says)
and their real PDFs (WeasyPrint), read back with pypdf.

Documents can never be deleted, so nothing here cleans up: every test takes
a fresh supplier id (its own number series, starting at 1) and looks only at
that supplier's documents.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import replace
from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

from portal.audit.domain import system
from portal.audit.service import USE_CASES, AuditError, acting, use_case
from portal.documents import render as rendering
from portal.documents import service
from portal.documents.domain import InvalidDocument, Kind, PaymentPart
from portal.documents.tables import Document, DocumentPdf, DocumentSeries, DocumentVoid
from portal.lib import clock
from portal.lib.db import write_transaction
from tests.conftest import DATABASE_URL, IS_POSTGRES
from tests.document_drafts import (
    SELLER_AS,
    SELLER_ENK,
    credit_draft,
    fresh_supplier_id,
    giftcard_draft,
    pdf_text,
    receipt_draft,
)


@pytest.fixture()
def supplier():
    return fresh_supplier_id()


def acting_now():
    """Documents are issued by a use case (the money's); here, an ad-hoc one."""
    return acting(system("test"), "test.documents", now=clock.now())


async def void(document_id, **kwargs):
    async with acting_now():
        return await service.void(document_id, **kwargs)


async def issue(draft, **kwargs):
    async with acting_now():
        return await service.issue(draft, now=clock.now(), **kwargs)


async def rendered(draft) -> tuple[object, bytes]:
    document = await issue(draft)
    await service.render_pending(document.id)
    pdf = await service.pdf_of(document.id)
    assert pdf is not None
    return document, pdf


# ---------------------------------------------------------------- numbers (L14, L16)


@pytest.mark.legal("L14")
@pytest.mark.legal("L16")
async def test_receipts_and_credit_notes_share_one_series_per_supplier():
    a, b = fresh_supplier_id(), fresh_supplier_id()
    first = await issue(receipt_draft(a))
    assert (await issue(receipt_draft(b))).number == 1
    second = await issue(receipt_draft(a))
    card = await issue(giftcard_draft(a))
    credit = await issue(credit_draft(receipt_draft(a), first.id))
    assert (await issue(receipt_draft(b))).number == 2
    third = await issue(receipt_draft(a))

    assert (first.number, second.number, credit.number, third.number) == (1, 2, 3, 4)
    assert card.number is None, "a gift card is not in the bookkeeping series"
    assert await service.numbers_of_supplier(a) == [1, 2, 3, 4]
    assert await service.numbers_of_supplier(b) == [1, 2]


@pytest.mark.legal("L14")
async def test_a_rolled_back_transaction_leaves_no_gap(supplier):
    await issue(receipt_draft(supplier))
    with pytest.raises(RuntimeError, match="payment failed"):
        async with acting_now():
            doc = await service.issue(receipt_draft(supplier), now=clock.now())
            assert doc.number == 2
            raise RuntimeError("payment failed after the receipt was issued")
    assert (await issue(receipt_draft(supplier))).number == 2
    assert await service.numbers_of_supplier(supplier) == [1, 2]


@pytest.mark.legal("L14")
@pytest.mark.legal("L16")
async def test_a_refused_draft_uses_no_number_even_if_the_caller_commits_anyway(supplier):
    receipt = await issue(receipt_draft(supplier))
    too_much = credit_draft(receipt_draft(supplier), receipt.id, lines=receipt_draft(supplier).lines)
    await issue(too_much)  # the whole receipt: allowed once
    async with acting_now():
        with pytest.raises(InvalidDocument, match="exceed"):
            await service.issue(credit_draft(receipt_draft(supplier), receipt.id), now=clock.now())
        # the caller swallowed the error and commits: the number taken inside issue() is rolled back
    assert (await issue(receipt_draft(supplier))).number == 3
    assert await service.numbers_of_supplier(supplier) == [1, 2, 3]


async def test_issue_runs_only_inside_the_callers_transaction(supplier):
    @use_case("test.documents_without_a_transaction", transaction=False)
    async def outside(actor):
        await service.issue(receipt_draft(supplier), now=clock.now())

    try:
        with pytest.raises(service.NotInTransaction):
            await outside(system("test"))
        with pytest.raises(AuditError):  # and no one issues one outside a use case at all
            await service.issue(receipt_draft(supplier), now=clock.now())
    finally:
        USE_CASES.pop("test.documents_without_a_transaction", None)
    assert await service.numbers_of_supplier(supplier) == []


@pytest.mark.legal("L14")
async def test_the_same_source_is_issued_once(supplier):
    key = f"movement:{supplier}"
    first = await issue(receipt_draft(supplier, source_key=key))
    again = await issue(receipt_draft(supplier, source_key=key))
    assert again.id == first.id and again.number == 1
    assert await service.numbers_of_supplier(supplier) == [1]


async def test_the_render_job_is_written_with_the_document_or_not_at_all(supplier):
    jobs = []

    async def enqueue(job):
        jobs.append(job)

    doc = await issue(receipt_draft(supplier), enqueue=enqueue)
    (job,) = jobs
    assert (job.channel, job.document_id, job.variant) == ("document", doc.id, "issued")
    assert job.dedupe_key == f"document:{doc.id}:pdf:issued" and job.payload == {"document_id": doc.id, "variant": "issued"}

    async def broken(job):
        raise OSError("outbox unavailable")

    with pytest.raises(OSError):
        await issue(receipt_draft(supplier), enqueue=broken)
    assert await service.numbers_of_supplier(supplier) == [1]


# ---------------------------------------------------------------- final: the database refuses changes (L14, L19)


async def _document_with_pdf_and_void(supplier):
    doc = await issue(receipt_draft(supplier))
    await service.render_pending(doc.id)
    await void(doc.id, reason="Feil kunde", actor="staff:1", now=clock.now())
    return doc


RAW_CHANGES = [
    "UPDATE document SET number = number + 100 WHERE id = {id}",
    "UPDATE document SET snapshot = '[]' WHERE id = {id}",
    "DELETE FROM document WHERE id = {id}",
    "UPDATE document_pdf SET sha256 = 'x' WHERE document = {id}",
    "UPDATE document_pdf SET content = content WHERE document = {id}",
    "DELETE FROM document_pdf WHERE document = {id}",
    "UPDATE document_void SET reason = 'oops' WHERE document = {id}",
    "DELETE FROM document_void WHERE document = {id}",
    "UPDATE document_series SET last = last - 1 WHERE supplier_id = {supplier}",
    "UPDATE document_series SET last = last + 2 WHERE supplier_id = {supplier}",
    "DELETE FROM document_series WHERE supplier_id = {supplier}",
]


def _refused(message: str) -> bool:
    return bool(re.search(r"never changed or deleted|only moves one step up|comes from its series", message))


async def _raw_driver(sql: str) -> None:
    """The SQL on a connection of our own, straight through the driver (no Piccolo, no portal code)."""
    if IS_POSTGRES:
        import asyncpg

        conn = await asyncpg.connect(DATABASE_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    else:
        conn = sqlite3.connect(DATABASE_URL.removeprefix("sqlite:///"), timeout=30)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()


@pytest.mark.legal("L14")
@pytest.mark.legal("L19")
@pytest.mark.parametrize("sql", RAW_CHANGES)
async def test_the_database_refuses_to_change_or_delete(sql, supplier):
    doc = await _document_with_pdf_and_void(supplier)
    statement = sql.format(id=doc.id, supplier=supplier)
    before = (
        await Document.select().where(Document.id == doc.id).first(),
        await DocumentPdf.select().where(DocumentPdf.document == doc.id),
        await DocumentSeries.select().where(DocumentSeries.supplier_id == supplier).first(),
    )

    with pytest.raises(Exception) as via_driver:
        await _raw_driver(statement)
    assert _refused(str(via_driver.value)), via_driver.value

    with pytest.raises(Exception) as via_piccolo:
        async with write_transaction():
            await Document.raw(statement)
    assert _refused(str(via_piccolo.value)), via_piccolo.value

    after = (
        await Document.select().where(Document.id == doc.id).first(),
        await DocumentPdf.select().where(DocumentPdf.document == doc.id),
        await DocumentSeries.select().where(DocumentSeries.supplier_id == supplier).first(),
    )
    assert after == before


@pytest.mark.legal("L14")
async def test_the_orm_cannot_change_or_delete_either(supplier):
    doc = await _document_with_pdf_and_void(supplier)
    for attempt in (
        Document.update({Document.number: 99}).where(Document.id == doc.id),
        Document.delete().where(Document.id == doc.id),
        DocumentPdf.delete().where(DocumentPdf.document == doc.id),
        DocumentVoid.update({DocumentVoid.reason: "x"}).where(DocumentVoid.document == doc.id),
    ):
        with pytest.raises(Exception) as raised:
            await attempt
        assert _refused(str(raised.value)), raised.value
    assert (await service.get(doc.id)).number == 1


@pytest.mark.legal("L14")
async def test_nobody_sets_a_number_by_hand(supplier):
    await issue(receipt_draft(supplier))
    row = await Document.select().where(Document.supplier_id == supplier).output(load_json=True).first()
    for number in (2, 7, 1):  # the next one, a jump, and a duplicate
        with pytest.raises(Exception) as raised:
            await Document.insert(
                Document(**{**{k: v for k, v in row.items() if k != "id"}, "number": number, "source_key": None})
            )
        assert "comes from its series" in str(raised.value) or "UNIQUE" in str(raised.value).upper(), raised.value
    assert await service.numbers_of_supplier(supplier) == [1]


@pytest.mark.skipif(not IS_POSTGRES, reason="TRUNCATE exists on PostgreSQL only")
@pytest.mark.legal("L14")
@pytest.mark.parametrize("table", ["document", "document_pdf", "document_void", "document_series"])
async def test_postgres_refuses_truncate(table, supplier):
    await _document_with_pdf_and_void(supplier)
    with pytest.raises(Exception) as raised:
        await _raw_driver(f"TRUNCATE {table} CASCADE")
    assert _refused(str(raised.value)), raised.value
    assert await service.numbers_of_supplier(supplier) == [1]


# ---------------------------------------------------------------- what the receipt says (L13, L15, L17, L18)


@pytest.mark.legal("L13")
@pytest.mark.legal("L15")
@pytest.mark.legal("L17")
async def test_a_receipt_of_a_vat_registered_as_states_every_field(supplier):
    draft = receipt_draft(supplier)
    doc, pdf = await rendered(draft)
    text = pdf_text(pdf)
    issued = clock.to_local(doc.issued_at)
    expected = [
        f"Kvittering {doc.number}",  # number
        f"Kvitteringsnummer {doc.number}",
        f"{issued.day}. ",  # date of issue (Europe/Oslo) …
        issued.strftime("%Y kl. %H:%M"),
        "SELGER",  # the supplier is the seller (L13; the label is set in capitals)
        "Saks og Stil Grünerløkka AS",
        "Org.nr. 923 456 789 MVA Foretaksregisteret",
        "Thorvald Meyers gate 12, 0555 Oslo",
        "+4722334455",
        "post@saksogstil.no",
        "Kjøper",  # the buyer
        "Kari Nordmann",
        "+4741234567",
        "kari@example.no",
        "Herreklipp",  # description and quantity, date and place of delivery, price
        "Hårvoks 100 ml",
        "Kaffe og kanelbolle",
        "Antall",
        "2 kr 199,00 25 % kr 398,00",
        "1 kr 549,00 25 % kr 549,00",
        "1 kr 65,00 15 % kr 65,00",
        "3. des. 2026",
        "Saks og Stil, Thorvald Meyers gate 12, Oslo",
        "Betalt",  # paid
        "Mva. per sats",  # per VAT rate: the rate, the base and the VAT
        "25 % kr 757,60 kr 189,40 kr 947,00",
        "15 % kr 56,52 kr 8,48 kr 65,00",
        "Totalt (NOK) kr 1 012,00",  # the total in NOK
        "herav mva. kr 197,88",
        "Vipps: kr 912,00",  # means of payment
        "Gavekort (kode som slutter på 7Q2M): kr 100,00",
        "Ordrereferanse SG-4F7K2",  # the order reference
    ]
    missing = [item for item in expected if item not in text]
    assert not missing, f"missing {missing} in:\n{text}"
    months = [
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ]
    assert f"Utstedt {issued.day}. {months[issued.month - 1]} {issued.year} kl. {issued:%H:%M}" in text


@pytest.mark.legal("L15")
@pytest.mark.legal("L18")
async def test_an_unregistered_supplier_prints_neither_vat_nor_mva(supplier):
    _, pdf = await rendered(receipt_draft(supplier, seller=SELLER_ENK))
    text = pdf_text(pdf)
    assert re.search(r"\b(mva|vat|moms)\b", text, re.IGNORECASE) is None, text
    assert "Foretaksregisteret" not in text, "an ENK is not in Foretaksregisteret"
    for item in (
        "Kvittering 1",
        "Lunde Rådgivning Eva Lunde",
        "Org.nr. 998 877 665",
        "Totalt (NOK) kr 1 012,00",
        "Betalt",
        "Herreklipp",
    ):
        assert item in text, item
    _, english = await rendered(receipt_draft(supplier, seller=SELLER_ENK, language="en"))
    assert re.search(r"\b(mva|vat|moms)\b", pdf_text(english), re.IGNORECASE) is None


@pytest.mark.legal("L15")
async def test_an_unpaid_receipt_shows_its_due_date_instead_of_paid(supplier):
    draft = replace(receipt_draft(supplier), paid=False, due_date=date(2026, 12, 17), payments=())
    _, pdf = await rendered(draft)
    text = pdf_text(pdf)
    assert "Forfallsdato: 17. desember 2026" in text
    assert "Betalt" not in text


@pytest.mark.legal("L15")
async def test_english_receipt(supplier):
    doc, pdf = await rendered(receipt_draft(supplier, language="en"))
    text = pdf_text(pdf)
    for item in (
        f"Receipt {doc.number}",
        "SELLER",
        "Org. no. 923 456 789 MVA Foretaksregisteret",
        "Buyer",
        "Paid",
        "VAT per rate",
        "25 % NOK 757.60 NOK 189.40 NOK 947.00",
        "Total (NOK) NOK 1,012.00",
        "Gift card (code ending 7Q2M): NOK 100.00",
        "Order reference SG-4F7K2",
        "3 Dec 2026",
    ):
        assert item in text, f"{item!r} not in:\n{text}"
    assert "Kvittering" not in text and "Betalt" not in text
    assert (await service.attachment(doc.id)).filename == f"receipt-{doc.number}.pdf"


# ---------------------------------------------------------------- credit notes (L16)


@pytest.mark.legal("L16")
async def test_a_credit_note_refers_to_the_receipt_and_reverses_vat_per_rate(supplier):
    receipt = await issue(receipt_draft(supplier))
    credit, pdf = await rendered(credit_draft(receipt_draft(supplier), receipt.id))
    assert credit.number == receipt.number + 1
    assert (credit.refers_to, credit.refers_to_number) == (receipt.id, receipt.number)
    assert credit.total_ore == 614_00
    assert [(v.rate_bp, v.base_ore, v.vat_ore) for v in credit.vat] == [(2500, 439_20, 109_80), (1500, 56_52, 8_48)]
    text = pdf_text(pdf)
    for item in (
        f"Kreditnota {credit.number}",
        f"Krediterer kvittering nr. {receipt.number}",
        f"Denne kreditnotaen krediterer kvittering nr. {receipt.number}.",
        "Grunn: Kunden ombestemte seg",
        "Kreditert beløp (NOK) \u2212kr 614,00",
        "Tilbakeført mva. per sats",
        "25 % \u2212kr 439,20 \u2212kr 109,80 \u2212kr 549,00",
        "15 % \u2212kr 56,52 \u2212kr 8,48 \u2212kr 65,00",
        "herav tilbakeført mva. \u2212kr 118,28",
        "Tilbakebetalt",
        "Vipps: kr 614,00",
        "Org.nr. 923 456 789 MVA Foretaksregisteret",
        "Ordrereferanse SG-4F7K2",
    ):
        assert item in text, f"{item!r} not in:\n{text}"
    assert (await service.attachment(credit.id)).filename == f"kreditnota-{credit.number}.pdf"


@pytest.mark.legal("L16")
async def test_a_credit_note_never_credits_more_than_the_receipt_or_another_suppliers_receipt(supplier):
    receipt = await issue(receipt_draft(supplier))
    await issue(credit_draft(receipt_draft(supplier), receipt.id))  # 614 of 1012
    with pytest.raises(InvalidDocument, match="exceed"):
        await issue(credit_draft(receipt_draft(supplier), receipt.id))  # another 614
    rest = receipt_draft(supplier).lines[1:2]  # 398: exactly what is left
    assert (await issue(credit_draft(receipt_draft(supplier), receipt.id, lines=rest))).number == 3
    other = fresh_supplier_id()
    with pytest.raises(InvalidDocument, match="same supplier"):
        await issue(credit_draft(receipt_draft(other), receipt.id))
    assert await service.numbers_of_supplier(other) == []
    voided = await issue(receipt_draft(supplier))
    await void(voided.id, reason="Feil", actor="staff:1", now=clock.now())
    with pytest.raises(InvalidDocument, match="void receipt"):
        await issue(credit_draft(receipt_draft(supplier), voided.id))
    assert await service.numbers_of_supplier(supplier) == [1, 2, 3, 4]


# ---------------------------------------------------------------- gift cards (L21)


@pytest.mark.legal("L21")
async def test_a_gift_card_pdf(supplier):
    import segno

    card, pdf = await rendered(giftcard_draft(supplier))
    assert card.number is None
    text = pdf_text(pdf)
    for item in (
        f"Gavekort {card.code_last4}",  # title
        "kr 500,00",  # value
        "Utstedt av Saks og Stil Grünerløkka AS",  # issuer
        "Org.nr. 923 456 789 MVA Foretaksregisteret",
        "GK7Q-2M4X-PL9A",  # code
        "Gyldig til 3. desember 2029",  # validity
        "Gjelder alle tjenester hos Saks og Stil. Kan ikke byttes i kontanter.",  # terms
        "Til: Ola Nordmann",
        "Gratulerer med dagen!",
    ):
        assert item in text, f"{item!r} not in:\n{text}"
    assert re.search(r"\b(mva|vat)\b", text.replace("MVA Foretaksregisteret", ""), re.IGNORECASE) is None, (
        "selling a gift card carries no VAT"
    )
    html = rendering.html_of(card)
    qr = segno.make("GK7Q-2M4X-PL9A", error="m").svg_data_uri(scale=4, border=2, dark="#000", light="#fff")
    assert f'src="{qr}"' in html, "the QR code encodes the code"
    assert 'alt="QR-kode for gavekortkoden GK7Q-2M4X-PL9A"' in html
    reader = PdfReader(BytesIO(pdf))
    assert _struct_alts(reader) >= {"QR-kode for gavekortkoden GK7Q-2M4X-PL9A"}, "the QR code is tagged with its text"
    assert (await service.attachment(card.id)).filename == "gavekort-PL9A.pdf"


@pytest.mark.legal("L21")
async def test_a_gift_card_for_a_named_service_in_english(supplier):
    _, pdf = await rendered(giftcard_draft(supplier, service="Herreklipp", language="en"))
    text = pdf_text(pdf)
    for item in (
        "Gift card PL9A",
        "Herreklipp",
        "Issued by Saks og Stil Grünerløkka AS",
        "Valid until 3 December 2029",
        "Terms",
        "To: Ola Nordmann",
    ):
        assert item in text, f"{item!r} not in:\n{text}"
    assert "kr 500,00" not in text and "NOK" not in text


def _struct_alts(reader: PdfReader) -> set[str]:
    found: set[str] = set()

    def walk(node, depth=0):
        node = node.get_object() if hasattr(node, "get_object") else node
        if depth > 60:
            return
        if isinstance(node, dict):
            if "/Alt" in node:
                found.add(str(node["/Alt"]))
            kids = node.get("/K")
            if kids is not None:
                walk(kids, depth + 1)
        elif isinstance(node, list):
            for kid in node:
                walk(kid, depth + 1)

    walk(reader.trailer["/Root"]["/StructTreeRoot"])
    return found


# ---------------------------------------------------------------- the PDF itself


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_the_pdf_is_a4_tagged_titled_in_its_language_with_embedded_fonts(language, supplier):
    doc, pdf = await rendered(receipt_draft(supplier, language=language))
    reader = PdfReader(BytesIO(pdf))
    root = reader.trailer["/Root"]
    title = f"Kvittering {doc.number}" if language == "nb" else f"Receipt {doc.number}"

    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width * 25.4 / 72), round(height * 25.4 / 72)) == (210, 297), "A4"
    assert reader.metadata.title == title
    assert reader.metadata.author == "Saks og Stil Grünerløkka AS"
    assert root["/Lang"] == language
    assert root["/ViewerPreferences"]["/DisplayDocTitle"] == True
    assert root["/MarkInfo"]["/Marked"] == True, "tagged PDF"
    assert "/StructTreeRoot" in root and root["/StructTreeRoot"].get_object()["/K"], "a structure tree"
    xmp = reader.xmp_metadata.rdf_root.toxml()
    assert 'pdfuaid:part="1"' in xmp, "PDF/UA-1"
    assert title in xmp

    fonts = {}
    for page in reader.pages:
        for name, ref in page["/Resources"]["/Font"].items():
            fonts[name] = ref.get_object()
    assert fonts
    for name, font in fonts.items():
        descriptor = (font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font)[
            "/FontDescriptor"
        ].get_object()
        embedded = next((descriptor[k] for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor), None)
        assert embedded is not None, f"font {font['/BaseFont']} is not embedded"
        assert "DejaVu".encode("utf-16-be") in embedded.get_object().get_data(), f"{font['/BaseFont']} is not DejaVu"


async def test_every_download_is_the_same_bytes_and_its_sha256_is_stored(supplier):
    doc = await issue(receipt_draft(supplier))
    assert await service.pdf_of(doc.id) is None, "being prepared"
    assert await service.stored_pdf(doc.id) is None
    first = await service.render_pending(doc.id)
    assert first.created
    again = await service.render_pending(doc.id)
    assert not again.created and again.sha256 == first.sha256 and again.rendered_at == first.rendered_at
    downloads = [await service.pdf_of(doc.id) for _ in range(3)]
    assert downloads[0] == downloads[1] == downloads[2]
    assert hashlib.sha256(downloads[0]).hexdigest() == first.sha256 == (await service.stored_pdf(doc.id)).sha256
    assert first.size == len(downloads[0])
    assert await service.render(doc.id) == f"sha256:{first.sha256}"
    assert await service.handle({"document_id": doc.id, "variant": "issued"}) == f"sha256:{first.sha256}"
    assert await DocumentPdf.count().where(DocumentPdf.document == doc.id) == 1
    attachment = await service.attachment(doc.id)
    assert (attachment.filename, attachment.content_type, attachment.content) == (
        f"kvittering-{doc.number}.pdf",
        "application/pdf",
        downloads[0],
    )


async def test_an_attachment_renders_what_is_not_rendered_yet(supplier):
    doc = await issue(receipt_draft(supplier))
    attachment = await service.attachment(doc.id)
    assert attachment.content == await service.pdf_of(doc.id)
    assert attachment.content.startswith(b"%PDF-")


async def test_a_failed_rendering_is_temporary_stores_nothing_and_is_retried(supplier, monkeypatch):
    doc = await issue(receipt_draft(supplier))
    # A realistic failure: the fonts cannot be read (fonts-dejavu-core missing) in a fresh worker.
    monkeypatch.setattr(rendering, "ALLOWED_DIRS", (rendering.TEMPLATES.resolve(),))
    rendering.forget_stylesheet()
    with pytest.raises(service.RenderFailed) as failed:
        await service.render(doc.id)
    assert failed.value.permanent is False
    assert "DejaVuSans" in str(failed.value)
    assert await service.pdf_of(doc.id) is None
    with pytest.raises(service.RenderFailed):
        await service.attachment(doc.id)
    monkeypatch.undo()
    assert (await service.render_pending(doc.id)).created
    assert await service.pdf_of(doc.id) is not None


async def test_no_document_no_pdf():
    with pytest.raises(service.DocumentNotFound) as missing:
        await service.render(2_000_000_000)
    assert missing.value.permanent is True
    assert await service.pdf_of(2_000_000_000) is None
    assert await service.get(2_000_000_000) is None


# ---------------------------------------------------------------- void (L14)


@pytest.mark.legal("L14")
async def test_a_void_receipt_stays_marked_makulert(supplier):
    jobs = []

    async def enqueue(job):
        jobs.append(job)

    doc, original = await rendered(receipt_draft(supplier))
    voided = await void(doc.id, reason="Registrert på feil kunde", actor="staff:7", now=clock.now(), enqueue=enqueue)
    assert voided.void is not None and voided.void.actor == "staff:7"
    assert [(j.document_id, j.variant) for j in jobs] == [(doc.id, "void")]
    assert voided.number == doc.number and voided.lines == doc.lines, "the document itself is unchanged"
    assert await service.pdf_of(doc.id) is None, "the void copy is being prepared"
    await service.render(doc.id)
    text = pdf_text(await service.pdf_of(doc.id))
    assert "MAKULERT" in text and "Dette dokumentet er makulert" in text and "Registrert på feil kunde" in text
    assert f"Kvittering {doc.number}" in text
    stored = (
        await DocumentPdf.select(DocumentPdf.variant, DocumentPdf.content)
        .where(DocumentPdf.document == doc.id)
        .order_by(DocumentPdf.id)
    )
    assert [(r["variant"], bytes(r["content"]) == original) for r in stored] == [("issued", True), ("void", False)]
    with pytest.raises(service.AlreadyVoid):
        await void(doc.id, reason="igjen", actor="staff:7", now=clock.now())
    (listed,) = [d for d in await service.documents_of_order(4242) if d.id == doc.id]
    assert listed.void is not None
    assert (await issue(receipt_draft(supplier))).number == doc.number + 1, "a void number is never reused"


async def test_a_void_receipt_in_english_says_makulert_too(supplier):
    doc = await issue(receipt_draft(supplier, language="en"))
    await void(doc.id, reason="Wrong customer", actor="staff:7", now=clock.now())
    await service.render(doc.id)
    text = pdf_text(await service.pdf_of(doc.id))
    assert "VOID (MAKULERT)" in text and "This document is void" in text


async def test_documents_of_an_order(supplier):
    order = fresh_supplier_id()  # any unused integer will do as an order id
    receipt = await issue(receipt_draft(supplier, order_id=order))
    credit = await issue(credit_draft(receipt_draft(supplier, order_id=order), receipt.id))
    await issue(receipt_draft(supplier, order_id=order + 1))
    listed = await service.documents_of_order(order)
    assert [(d.id, d.kind, d.number) for d in listed] == [(receipt.id, Kind.RECEIPT, 1), (credit.id, Kind.CREDIT_NOTE, 2)]
    assert await service.documents_of_order(order + 2) == []


# ---------------------------------------------------------------- kept (L19)


@pytest.mark.legal("L19")
async def test_deleting_the_customer_cannot_touch_the_receipt(supplier):
    from portal.identity.tables import Customer

    phone = f"+47{40000000 + supplier % 10_000_000}"
    await Customer.insert(Customer(phone=phone, name="Kari Nordmann", email="kari@example.no", created_at=clock.now()))
    customer = await Customer.select().where(Customer.phone == phone).first()
    buyer = replace(receipt_draft(supplier).buyer, name=customer["name"], phone=customer["phone"], email=customer["email"])
    doc, pdf = await rendered(replace(receipt_draft(supplier, order_id=customer["id"]), buyer=buyer))

    await Customer.delete().where(Customer.id == customer["id"])  # erasure (L26)

    kept = await service.get(doc.id)
    assert kept == doc
    assert await service.pdf_of(doc.id) == pdf
    assert kept.buyer.phone == phone and kept.payments == (PaymentPart("vipps", 912_00), PaymentPart("giftcard", 100_00, "7Q2M"))
    assert kept.seller == SELLER_AS

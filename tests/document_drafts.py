"""Drafts of documents for tests: a typical receipt, its credit note, a gift card.

Documents can never be deleted (the database refuses it), so tests do not
clean them up: each test takes a fresh supplier id (`fresh_supplier_id`),
which starts its own number series at 1, and counts only that supplier's
numbers. Supplier ids are plain integers in documents (no foreign key), so
no supplier row is needed.
"""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import date

from portal.documents.domain import (
    Buyer,
    Draft,
    GiftCardFace,
    Kind,
    Line,
    PaymentPart,
    Seller,
    vat_per_rate,
)
from portal.lib.money import split_vat

# A random base per process: ids never repeat within a session, and a spawned
# racer never takes the same ids as its parent.
_ids = itertools.count(1_000_000 + secrets.randbelow(1_000_000) * 1_000)


def fresh_supplier_id() -> int:
    return next(_ids)


SELLER_AS = Seller(
    legal_name="Saks og Stil Grünerløkka AS",
    org_number="923456789",
    company_form="AS",
    vat_registered=True,
    street="Thorvald Meyers gate 12",
    postcode="0555",
    town="Oslo",
    phone="+4722334455",
    email="post@saksogstil.no",
)

SELLER_ENK = Seller(
    legal_name="Lunde Rådgivning Eva Lunde",
    org_number="998877665",
    company_form="ENK",
    vat_registered=False,
    street="Kirkegata 3",
    postcode="4006",
    town="Stavanger",
    phone="+4751223344",
    email="eva@lunderadgivning.no",
)

BUYER = Buyer(name="Kari Nordmann", phone="+4741234567", email="kari@example.no")
DELIVERY = date(2026, 12, 3)
PLACE = "Saks og Stil, Thorvald Meyers gate 12, Oslo"


def line(description: str, quantity: int, unit_ore: int, rate_bp: int, *, day: date = DELIVERY, place: str = PLACE) -> Line:
    gross = quantity * unit_ore
    split = split_vat(gross, rate_bp)
    return Line(description, quantity, unit_ore, gross, rate_bp, split.vat_ore, split.net_ore, day, place)


def typical_lines(vat_registered: bool = True) -> tuple[Line, ...]:
    """3 lines, 2 VAT rates (25 % and 15 %): kr 1 012,00 in all."""
    general, food = (2500, 1500) if vat_registered else (0, 0)
    return (
        line("Herreklipp", 1, 549_00, general),
        line("Hårvoks 100 ml", 2, 199_00, general),
        line("Kaffe og kanelbolle", 1, 65_00, food),
    )


def receipt_draft(
    supplier_id: int,
    *,
    language: str = "nb",
    seller: Seller = SELLER_AS,
    order_id: int | None = 4242,
    reference: str = "SG-4F7K2",
    source_key: str | None = None,
) -> Draft:
    lines = typical_lines(seller.vat_registered)
    total = sum(item.gross_ore for item in lines)
    return Draft(
        kind=Kind.RECEIPT,
        supplier_id=supplier_id,
        order_id=order_id,
        language=language,
        seller=seller,
        buyer=BUYER,
        order_reference=reference,
        lines=lines,
        vat=vat_per_rate(lines),
        payments=(PaymentPart("vipps", total - 100_00), PaymentPart("giftcard", 100_00, "7Q2M")),
        source_key=source_key,
    )


def credit_draft(
    receipt: Draft, receipt_id: int, *, lines: tuple[Line, ...] | None = None, note: str = "Kunden ombestemte seg"
) -> Draft:
    """A credit note for some of `receipt`'s lines (by default the first and the last), refunded to Vipps."""
    chosen = lines if lines is not None else (receipt.lines[0], receipt.lines[-1])
    total = sum(item.gross_ore for item in chosen)
    return Draft(
        kind=Kind.CREDIT_NOTE,
        supplier_id=receipt.supplier_id,
        order_id=receipt.order_id,
        language=receipt.language,
        seller=receipt.seller,
        buyer=receipt.buyer,
        order_reference=receipt.order_reference,
        lines=chosen,
        payments=(PaymentPart("vipps", total),),
        refers_to=receipt_id,
        note=note,
    )


def giftcard_draft(supplier_id: int, *, language: str = "nb", service: str = "", value_ore: int | None = 500_00) -> Draft:
    return Draft(
        kind=Kind.GIFTCARD,
        supplier_id=supplier_id,
        order_id=4243,
        language=language,
        seller=SELLER_AS,
        buyer=BUYER,
        order_reference="SG-GAVE1",
        giftcard=GiftCardFace(
            code="GK7Q-2M4X-PL9A",
            valid_until=date(2029, 12, 3),
            terms="Gjelder alle tjenester hos Saks og Stil. Kan ikke byttes i kontanter.",
            value_ore=None if service else value_ore,
            service=service,
            recipient_name="Ola Nordmann",
            message="Gratulerer med dagen!",
        ),
    )


def pdf_text(pdf: bytes) -> str:
    """All the PDF's text with every run of white space (line breaks and no-break spaces too) as one space."""
    from io import BytesIO

    from pypdf import PdfReader

    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)

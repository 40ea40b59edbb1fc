"""Document rules: what a draft must hold before it may be issued, the seller's
identity line, the snapshot, and the bridge from the pricing pipeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from portal.documents.domain import (
    KIND_RULES,
    IssuedDocument,
    Kind,
    PaymentPart,
    Void,
    check,
    credit_problems,
    default_valid_until,
    lines_from,
    org_identity,
    problems_of,
    snapshot_of,
    vat_from,
    vat_per_rate,
)
from tests.document_drafts import SELLER_AS, SELLER_ENK, credit_draft, giftcard_draft, line, receipt_draft

MOMENT = datetime(2026, 12, 3, 13, 5, tzinfo=UTC)


def _issued(draft, *, id=1, number=1, refers_to_number=None, void=None) -> IssuedDocument:
    row = {
        "id": id,
        "supplier_id": draft.supplier_id,
        "order_id": draft.order_id,
        "kind": draft.kind.value,
        "number": number,
        "issued_at": MOMENT,
        "language": draft.language,
        "refers_to": draft.refers_to,
        "snapshot": snapshot_of(draft, refers_to_number=refers_to_number),
    }
    return IssuedDocument.from_row(row, void)


@pytest.mark.legal("L15")
@pytest.mark.legal("L18")
@pytest.mark.parametrize(
    ("form", "registered", "expected"),
    [
        ("AS", True, "923\u00a0456\u00a0789 MVA Foretaksregisteret"),
        ("ASA", True, "923\u00a0456\u00a0789 MVA Foretaksregisteret"),
        ("NUF", False, "923\u00a0456\u00a0789 Foretaksregisteret"),
        ("as", True, "923\u00a0456\u00a0789 MVA Foretaksregisteret"),
        ("ENK", True, "923\u00a0456\u00a0789 MVA"),
        ("ENK", False, "923\u00a0456\u00a0789"),
        ("DA", False, "923\u00a0456\u00a0789"),
    ],
)
def test_org_identity(form, registered, expected):
    assert org_identity(replace(SELLER_AS, company_form=form, vat_registered=registered)) == expected


def test_a_typical_receipt_may_be_issued():
    draft = receipt_draft(1)
    assert problems_of(draft) == []
    assert draft.total_ore == 1012_00
    assert [(v.rate_bp, v.base_ore, v.vat_ore) for v in vat_per_rate(draft.lines)] == [
        (2500, 757_60, 189_40),
        (1500, 56_52, 8_48),
    ]


@pytest.mark.legal("L17")
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: replace(d, lines=(replace(d.lines[0], gross_ore=549.0),) + d.lines[1:]), "int øre"),
        (lambda d: replace(d, lines=(replace(d.lines[0], vat_ore=d.lines[0].vat_ore + 1),) + d.lines[1:]), "net + VAT != gross"),
        (
            lambda d: replace(
                d,
                lines=(replace(d.lines[0], vat_ore=d.lines[0].vat_ore + 1, net_ore=d.lines[0].net_ore - 1),) + d.lines[1:],
            ),
            "not derived from the gross",
        ),
        (lambda d: replace(d, vat=d.vat[:1]), "VAT per rate does not match"),
        (lambda d: replace(d, payments=(PaymentPart("vipps", 1000_00),)), "the total is 101200"),
        (lambda d: replace(d, lines=()), "at least one line"),
        (lambda d: replace(d, language="de"), "language"),
        (lambda d: replace(d, supplier_id=0), "supplier_id"),
        (lambda d: replace(d, paid=False), "needs a due date"),
        (lambda d: replace(d, refers_to=5), "refers to no other document"),
    ],
)
def test_a_bad_receipt_is_refused(change, problem):
    problems = problems_of(change(receipt_draft(1)))
    assert any(problem in p for p in problems), problems


@pytest.mark.legal("L15")
def test_a_receipt_states_date_and_place_of_delivery():
    draft = receipt_draft(1)
    assert any(
        "date and place of delivery" in p
        for p in problems_of(replace(draft, lines=(replace(draft.lines[0], delivery_date=None),) + draft.lines[1:]))
    )
    assert any(
        "date and place of delivery" in p
        for p in problems_of(replace(draft, lines=(replace(draft.lines[0], delivery_place=" "),) + draft.lines[1:]))
    )


@pytest.mark.legal("L15")
def test_unpaid_needs_a_due_date_and_no_due_date_when_paid():
    draft = receipt_draft(1)
    assert problems_of(replace(draft, paid=False, due_date=date(2026, 12, 17), payments=())) == []
    assert any("no due date" in p for p in problems_of(replace(draft, due_date=date(2026, 12, 17))))


@pytest.mark.legal("L18")
def test_an_unregistered_seller_charges_no_vat():
    draft = receipt_draft(1, seller=SELLER_ENK)
    assert problems_of(draft) == []
    assert vat_per_rate(draft.lines)[0].vat_ore == 0
    with_vat = replace(draft, lines=(line("Rådgivning", 1, 1250_00, 2500),), payments=(PaymentPart("vipps", 1250_00),), vat=None)
    assert any("unregistered seller charges no VAT" in p for p in problems_of(with_vat))


@pytest.mark.legal("L16")
def test_a_credit_note_refers_to_a_receipt():
    receipt = receipt_draft(1)
    credit = credit_draft(receipt, 10)
    assert problems_of(credit) == []
    assert any("must refer to a receipt" in p for p in problems_of(replace(credit, refers_to=None)))
    assert KIND_RULES[Kind.CREDIT_NOTE].numbered and KIND_RULES[Kind.RECEIPT].numbered


@pytest.mark.legal("L16")
def test_credit_problems():
    receipt_d = receipt_draft(1)
    receipt = _issued(receipt_d, id=10)
    credit = credit_draft(receipt_d, 10)
    assert credit_problems(receipt, credit, 0) == []
    assert credit_problems(receipt, credit, receipt.total_ore - credit.total_ore) == []
    assert any("exceed" in p for p in credit_problems(receipt, credit, receipt.total_ore - credit.total_ore + 1))
    assert any("same supplier" in p for p in credit_problems(receipt, replace(credit, supplier_id=2), 0))
    void = Void(at=MOMENT, reason="feil", actor="staff:1")
    assert any("void receipt" in p for p in credit_problems(_issued(receipt_d, id=10, void=void), credit, 0))
    gift = _issued(giftcard_draft(1), id=11, number=None)
    assert any("not a giftcard" in p for p in credit_problems(gift, credit, 0))


@pytest.mark.legal("L21")
def test_a_gift_card_states_value_or_service_code_validity_and_terms():
    card = giftcard_draft(1)
    assert problems_of(card) == []
    assert problems_of(giftcard_draft(1, service="Herreklipp")) == []
    face = card.giftcard
    assert any(
        "either a value or a named service" in p for p in problems_of(replace(card, giftcard=replace(face, service="Herreklipp")))
    )
    assert any(
        "either a value or a named service" in p for p in problems_of(replace(card, giftcard=replace(face, value_ore=None)))
    )
    assert any("terms" in p for p in problems_of(replace(card, giftcard=replace(face, terms=""))))
    assert any("code" in p for p in problems_of(replace(card, giftcard=replace(face, code=" "))))
    assert any("needs its face" in p for p in problems_of(replace(card, giftcard=None)))
    assert not KIND_RULES[Kind.GIFTCARD].numbered


@pytest.mark.legal("L21")
@pytest.mark.parametrize(
    ("sold", "valid"),
    [(date(2026, 12, 2), date(2029, 12, 2)), (date(2028, 2, 29), date(2031, 2, 28)), (date(2026, 1, 1), date(2029, 1, 1))],
)
def test_a_gift_card_without_stated_validity_is_valid_three_years(sold, valid):
    assert default_valid_until(sold) == valid


def test_check_raises_with_every_problem():
    draft = replace(receipt_draft(1), language="de", supplier_id=-1)
    with pytest.raises(ValueError) as raised:
        check(draft)
    assert "language" in str(raised.value) and "supplier_id" in str(raised.value)


@pytest.mark.legal("L19")
def test_the_snapshot_reads_back_exactly():
    for draft in (receipt_draft(1), giftcard_draft(1), credit_draft(receipt_draft(1), 10)):
        doc = _issued(draft, number=None if draft.kind is Kind.GIFTCARD else 7, refers_to_number=3 if draft.refers_to else None)
        assert doc.lines == draft.lines
        assert doc.vat == vat_per_rate(draft.lines)
        assert doc.seller == draft.seller and doc.buyer == draft.buyer
        assert doc.payments == draft.payments
        assert doc.giftcard == draft.giftcard
        assert doc.total_ore == draft.total_ore
        assert doc.order_reference == draft.order_reference


@pytest.mark.legal("L17")
def test_lines_from_the_pricing_pipeline_add_up_to_the_ore():
    """What the payment code will pass: `allocate(quote, amount)` and `vat_summary`
    (or MoneyMovement's JSON of them). Duck-typed: documents imports no payments."""
    from portal.payments.pricing import LineItem, Means, allocate, quote, vat_summary

    q = quote(
        [LineItem("Herreklipp", 1, 549_00, 2500), LineItem("Hårvoks", 2, 199_00, 2500), LineItem("Kaffe", 1, 65_00, 1500)],
        means=Means.VIPPS,
        discount=100_00,
    )
    for amount in (q.total_ore, 333_33, 1):
        priced = allocate(q, amount)
        lines = lines_from(priced, delivery_date=date(2026, 12, 3), delivery_place="Oslo")
        assert sum(item.gross_ore for item in lines) == amount
        assert vat_per_rate(lines) == vat_from(vat_summary(priced))
        as_json = [{**vars(p)} for p in priced]
        assert lines_from(as_json, delivery_date=date(2026, 12, 3), delivery_place="Oslo") == lines
        assert all(item.gross_ore > 0 for item in lines), "a share of 0 øre is left out"
        draft = replace(
            receipt_draft(1), lines=lines, vat=vat_from(vat_summary(priced)), payments=(PaymentPart("vipps", amount),)
        )
        assert problems_of(draft) == []

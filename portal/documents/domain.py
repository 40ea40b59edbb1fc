"""Documents: numbered, immutable snapshots of a sale, and the rules for them.

A document is self-contained (L19): the seller, the buyer, the lines, VAT per
rate, the total and how it was paid are copied into its snapshot when it is
issued, so that nothing it came from (an order, a customer, the supplier's
current details) can change or remove it later. Orders and suppliers are
referred to by plain integer id only.

Kinds (`Kind`, `KIND_RULES`): a receipt and a credit note take their numbers
from ONE unbroken series per supplier (L14, L16); a gift card is the card
itself as a PDF and has no number. Adding a kind (invoice, withdrawal form,
ticket) is one `Kind` value, one `KindRule` and one template.

What callers pass is made of the plain dataclasses below. They mirror
`portal.payments.pricing.PricedLine` / `VatSummary` and the JSON of
`portal.payments.tables.MoneyMovement` (`lines_from`, `vat_from` read either,
by attribute or by key), so this package imports nothing from payments.

Pure: no Litestar, no Piccolo, no clock (times are arguments).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from portal.lib.i18n import N_
from portal.lib.money import split_vat

SNAPSHOT_VERSION = 1
LANGUAGES = ("nb", "en")


class Kind(StrEnum):
    RECEIPT = "receipt"
    CREDIT_NOTE = "credit_note"
    GIFTCARD = "giftcard"
    WITHDRAWAL_FORM = "withdrawal_form"
    WITHDRAWAL_RECEIPT = "withdrawal_receipt"


@dataclass(frozen=True)
class KindRule:
    numbered: bool
    """Takes the next number of the supplier's bookkeeping series (L14)."""
    template: str
    """Under templates/documents/."""
    title: str
    """msgid of the document's title; `%(number)s` / `%(code)s` filled in."""
    filename: str
    """msgid of the attachment's file name."""
    has_lines: bool
    """Lists what was sold with VAT per rate (a receipt, a credit note)."""
    refers_to: frozenset[str] = frozenset()
    """The kinds it must refer to (a credit note: a receipt); empty: refers to nothing."""


KIND_RULES: Mapping[Kind, KindRule] = MappingProxyType(
    {
        Kind.RECEIPT: KindRule(
            numbered=True,
            template="receipt.html",
            title=N_("Receipt %(number)s"),
            filename=N_("receipt-%(number)s.pdf"),
            has_lines=True,
        ),
        Kind.CREDIT_NOTE: KindRule(
            numbered=True,
            template="credit_note.html",
            title=N_("Credit note %(number)s"),
            filename=N_("credit-note-%(number)s.pdf"),
            has_lines=True,
            refers_to=frozenset({Kind.RECEIPT.value}),
        ),
        Kind.GIFTCARD: KindRule(
            numbered=False,
            template="giftcard.html",
            title=N_("Gift card %(code)s"),
            filename=N_("giftcard-%(code)s.pdf"),
            has_lines=False,
        ),
        # The official withdrawal form (Q-0319B) pre-filled for one order (L11).
        Kind.WITHDRAWAL_FORM: KindRule(
            numbered=False,
            template="withdrawal_form.html",
            title=N_("Withdrawal form"),
            filename=N_("withdrawal-form-%(reference)s.pdf"),
            has_lines=False,
        ),
        # The acknowledgement of a withdrawal on a durable medium (L10).
        Kind.WITHDRAWAL_RECEIPT: KindRule(
            numbered=False,
            template="withdrawal_receipt.html",
            title=N_("Withdrawal received"),
            filename=N_("withdrawal-%(reference)s.pdf"),
            has_lines=False,
        ),
    }
)

#: Company forms registered in Foretaksregisteret, which the receipt must say (L15).
FORETAKSREGISTERET_FORMS = frozenset({"AS", "ASA", "NUF"})

#: How a means of payment is named on a document (msgids); anything else is printed as given.
MEANS_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "vipps": "Vipps",
        "giftcard": N_("Gift card"),
        "card": N_("Payment card"),
        "cash": N_("Cash"),
        "invoice": N_("Invoice"),
    }
)


#: How a withdrawal was received (WithdrawalFacts.via), as the acknowledgement says it (msgids).
VIA_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "online": N_("on the booking's page"),
        "email": N_("by email"),
        "paper": N_("on the withdrawal form, on paper"),
        "other": N_("by another clear message"),
    }
)


class InvalidDocument(ValueError):
    """A draft that must not be issued; `problems` says why, in English (for the log)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Seller:
    """The supplier as it was when the document was issued (L13: the seller)."""

    legal_name: str
    org_number: str
    company_form: str
    vat_registered: bool
    street: str
    postcode: str
    town: str
    phone: str
    email: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Seller:
        """From a supplier row or the frozen copy on a booking / MoneyMovement.seller."""
        return cls(
            legal_name=str(data["legal_name"]),
            org_number=str(data["org_number"]),
            company_form=str(data.get("company_form") or ""),
            vat_registered=bool(data["vat_registered"]),
            street=str(data.get("street") or ""),
            postcode=str(data.get("postcode") or ""),
            town=str(data.get("town") or ""),
            phone=str(data.get("phone") or ""),
            email=str(data.get("email") or ""),
        )


@dataclass(frozen=True)
class Buyer:
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class Line:
    """One line of what was sold (or credited). Amounts in øre, incl. VAT;
    `net_ore + vat_ore == gross_ore`, VAT derived from the gross once."""

    description: str
    quantity: int
    unit_price_ore: int
    gross_ore: int
    vat_rate_bp: int
    vat_ore: int
    net_ore: int
    delivery_date: date | None = None
    """Local (Europe/Oslo) date the service is delivered (the first night of a stay)."""
    delivery_place: str = ""
    delivery_until: date | None = None
    """Last date, when delivery spans several days; None for one day."""


@dataclass(frozen=True)
class VatLine:
    """One VAT rate's totals: base (net), rate, VAT, and their gross."""

    rate_bp: int
    base_ore: int
    vat_ore: int
    gross_ore: int


@dataclass(frozen=True)
class PaymentPart:
    """How (part of) the total was paid: `vipps`, `giftcard` (with the code's last 4), …"""

    means: str
    amount_ore: int
    code_last4: str = ""


@dataclass(frozen=True)
class GiftCardFace:
    """What the gift card itself says (L21): a value or a named service, its code,
    validity and terms, and whom it is for."""

    code: str
    valid_until: date
    terms: str
    value_ore: int | None = None
    service: str = ""
    recipient_name: str = ""
    message: str = ""


@dataclass(frozen=True)
class WithdrawalFacts:
    """What a withdrawal form or acknowledgement says: what was bought (one
    text per booking), when the contract was made, and — for the
    acknowledgement — who withdrew, how they can be reached, when and how
    the withdrawal was received."""

    services: tuple[str, ...]
    contract_at: datetime
    deadline: date
    received_at: datetime | None = None
    via: str = ""
    """How it came: "online" (the order page), "email", "paper", "other"."""
    name: str = ""
    contact: str = ""


@dataclass(frozen=True)
class Draft:
    """Everything a document will say, before it has a number and a moment.

    `vat` may be left None: it is then summed from the lines (the same way as
    `portal.payments.pricing.vat_summary`). When given, it must agree.
    """

    kind: Kind
    supplier_id: int
    order_id: int | None
    language: str
    seller: Seller
    buyer: Buyer
    order_reference: str
    lines: tuple[Line, ...] = ()
    vat: tuple[VatLine, ...] | None = None
    payments: tuple[PaymentPart, ...] = ()
    paid: bool = True
    due_date: date | None = None
    refers_to: int | None = None
    """Document id: a credit note's receipt."""
    giftcard: GiftCardFace | None = None
    withdrawal: WithdrawalFacts | None = None
    note: str = ""
    """Free text shown on the document (a credit note's reason)."""
    source_key: str | None = None
    """What caused it, unique across documents (e.g. "movement:42"): issuing
    the same key again returns the document already issued."""

    @property
    def total_ore(self) -> int:
        if self.kind is Kind.GIFTCARD and self.giftcard is not None and not self.lines:
            return self.giftcard.value_ore or 0
        return sum(line.gross_ore for line in self.lines)


# ---------------------------------------------------------------- from what callers have


def _get(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, Mapping) else getattr(item, key)


def lines_from(
    priced: Iterable[Any],
    *,
    delivery_date: date | None,
    delivery_place: str,
    delivery_until: date | None = None,
) -> tuple[Line, ...]:
    """Lines from `PricedLine`s (e.g. `pricing.allocate(...)`) or from
    MoneyMovement.lines JSON; a share of 0 øre is left out (nothing to state)."""
    lines = []
    for item in priced:
        gross = _get(item, "gross_ore")
        if gross == 0:
            continue
        lines.append(
            Line(
                description=str(_get(item, "description")),
                quantity=_get(item, "quantity"),
                unit_price_ore=_get(item, "unit_price_ore"),
                gross_ore=gross,
                vat_rate_bp=_get(item, "vat_rate_bp"),
                vat_ore=_get(item, "vat_ore"),
                net_ore=_get(item, "net_ore"),
                delivery_date=delivery_date,
                delivery_place=delivery_place,
                delivery_until=delivery_until,
            )
        )
    return tuple(lines)


def vat_from(summaries: Iterable[Any]) -> tuple[VatLine, ...]:
    """VAT lines from `VatSummary`s or MoneyMovement.vat JSON."""
    return tuple(
        VatLine(
            rate_bp=_get(s, "rate_bp"),
            base_ore=_get(s, "base_ore"),
            vat_ore=_get(s, "vat_ore"),
            gross_ore=_get(s, "gross_ore"),
        )
        for s in summaries
    )


def vat_per_rate(lines: Sequence[Line]) -> tuple[VatLine, ...]:
    """VAT per rate, highest rate first, summed from the lines (never a second
    rounding); a rate whose lines come to 0 øre is left out."""
    sums: dict[int, list[int]] = {}
    for line in lines:
        net, vat, gross = sums.setdefault(line.vat_rate_bp, [0, 0, 0])
        sums[line.vat_rate_bp] = [net + line.net_ore, vat + line.vat_ore, gross + line.gross_ore]
    return tuple(
        VatLine(rate_bp=rate, base_ore=net, vat_ore=vat, gross_ore=gross)
        for rate, (net, vat, gross) in sorted(sums.items(), reverse=True)
        if gross
    )


def default_valid_until(sold_on: date) -> date:
    """A gift card with no stated validity is valid 3 years (L21); 29 February → 28 February."""
    try:
        return sold_on.replace(year=sold_on.year + 3)
    except ValueError:
        return sold_on.replace(year=sold_on.year + 3, day=28)


# ---------------------------------------------------------------- the seller's identity (L15, L18)


def format_org_number(org_number: str) -> str:
    """923456789 → 923 456 789 (no-break spaces); anything else as given."""
    digits = org_number.replace(" ", "").replace("\u00a0", "")
    if len(digits) == 9 and digits.isascii() and digits.isdigit():
        return "\u00a0".join((digits[:3], digits[3:6], digits[6:]))
    return org_number


def org_identity(seller: Seller) -> str:
    """The organisation number followed by «MVA» when VAT-registered and
    «Foretaksregisteret» for AS/ASA/NUF (L15); no «MVA» otherwise (L18).
    These words are legal designations: the same in every language."""
    parts = [format_org_number(seller.org_number)]
    if seller.vat_registered:
        parts.append("MVA")
    if seller.company_form.strip().upper() in FORETAKSREGISTERET_FORMS:
        parts.append("Foretaksregisteret")
    return " ".join(parts)


# ---------------------------------------------------------------- checks


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problems_of(draft: Draft) -> list[str]:
    """Everything wrong with `draft` (empty: it may be issued)."""
    problems: list[str] = []
    try:
        kind = Kind(draft.kind)
    except ValueError:
        return [f"unknown kind {draft.kind!r}"]
    rule = KIND_RULES[kind]
    if draft.language not in LANGUAGES:
        problems.append(f"language must be nb or en, not {draft.language!r}")
    if not _whole(draft.supplier_id) or draft.supplier_id <= 0:
        problems.append("supplier_id must be a positive int")
    if draft.order_id is not None and (not _whole(draft.order_id) or draft.order_id <= 0):
        problems.append("order_id must be a positive int or None")
    if not draft.seller.legal_name.strip() or not draft.seller.org_number.strip():
        problems.append("the seller needs a legal name and an organisation number")
    if rule.refers_to and draft.refers_to is None:
        problems.append(f"a {kind.value} must refer to a {' or '.join(sorted(rule.refers_to))}")
    if not rule.refers_to and draft.refers_to is not None:
        problems.append(f"a {kind.value} refers to no other document")

    for index, line in enumerate(draft.lines):
        name = f"line {index + 1}"
        amounts = ("quantity", "unit_price_ore", "gross_ore", "vat_rate_bp", "vat_ore", "net_ore")
        if not all(_whole(getattr(line, a)) for a in amounts):
            problems.append(f"{name}: amounts must be int øre (never float)")
            continue
        if line.quantity < 1 or min(getattr(line, a) for a in amounts) < 0:
            problems.append(f"{name}: quantity >= 1 and amounts >= 0")
            continue
        if line.net_ore + line.vat_ore != line.gross_ore:
            problems.append(f"{name}: net + VAT != gross")
        elif split_vat(line.gross_ore, line.vat_rate_bp).vat_ore != line.vat_ore:
            problems.append(f"{name}: VAT is not derived from the gross at {line.vat_rate_bp} bp")
        if not draft.seller.vat_registered and line.vat_rate_bp != 0:
            problems.append(f"{name}: an unregistered seller charges no VAT (L18)")
        if rule.has_lines and (line.delivery_date is None or not line.delivery_place.strip()):
            problems.append(f"{name}: date and place of delivery are required (L15)")
        if not line.description.strip():
            problems.append(f"{name}: a description is required")
    if problems:
        return problems

    if rule.has_lines:
        if not draft.lines or draft.total_ore <= 0:
            problems.append(f"a {kind.value} needs at least one line with an amount")
        if draft.vat is not None and tuple(draft.vat) != vat_per_rate(draft.lines):
            problems.append("VAT per rate does not match the lines")
    elif draft.lines:
        problems.append(f"a {kind.value} has no lines")

    if kind is Kind.GIFTCARD:
        face = draft.giftcard
        if face is None:
            problems.append("a gift card needs its face (code, value or service, validity, terms)")
        else:
            if not face.code.strip():
                problems.append("a gift card needs its code")
            if (face.value_ore is None) == (not face.service.strip()):
                problems.append("a gift card states either a value or a named service")
            if face.value_ore is not None and (not _whole(face.value_ore) or face.value_ore <= 0):
                problems.append("a gift card's value is a positive int øre")
            if not isinstance(face.valid_until, date) or isinstance(face.valid_until, datetime):
                problems.append("a gift card's validity is a date")
            if not face.terms.strip():
                problems.append("a gift card states its terms (L21)")
    elif draft.giftcard is not None:
        problems.append(f"a {kind.value} carries no gift card face")

    if kind in (Kind.WITHDRAWAL_FORM, Kind.WITHDRAWAL_RECEIPT):
        facts = draft.withdrawal
        if facts is None or not facts.services or not all(s.strip() for s in facts.services):
            problems.append(f"a {kind.value} names what was bought")
        elif facts.contract_at.tzinfo is None:
            problems.append("the contract moment must be UTC-aware")
        elif kind is Kind.WITHDRAWAL_RECEIPT and (facts.received_at is None or facts.received_at.tzinfo is None or not facts.via):
            problems.append("an acknowledgement says when (UTC-aware) and how the withdrawal was received")
    elif draft.withdrawal is not None:
        problems.append(f"a {kind.value} carries no withdrawal")

    paid_ore = 0
    for part in draft.payments:
        if not _whole(part.amount_ore) or part.amount_ore <= 0 or not part.means.strip():
            problems.append("a payment part needs a means and a positive int amount")
        else:
            paid_ore += part.amount_ore
    if rule.has_lines:
        if draft.paid:
            if paid_ore != draft.total_ore:
                problems.append(f"paid {paid_ore} øre by the means listed, but the total is {draft.total_ore}")
            if draft.due_date is not None:
                problems.append("a paid document has no due date")
        elif draft.due_date is None:
            problems.append("an unpaid document needs a due date")
        elif paid_ore >= draft.total_ore:
            problems.append("an unpaid document cannot have the total paid already")
    return problems


def check(draft: Draft) -> None:
    problems = problems_of(draft)
    if problems:
        raise InvalidDocument(problems)


# ---------------------------------------------------------------- the snapshot


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def snapshot_of(draft: Draft, *, refers_to_number: int | None = None) -> dict[str, Any]:
    """The frozen JSON of a document (plain JSON types only). Figures are kept
    as they were, never recomputed when read back."""
    s = draft.seller
    face = draft.giftcard
    snapshot = {
        "version": SNAPSHOT_VERSION,
        "seller": {
            "legal_name": s.legal_name,
            "org_number": s.org_number,
            "company_form": s.company_form,
            "vat_registered": s.vat_registered,
            "street": s.street,
            "postcode": s.postcode,
            "town": s.town,
            "phone": s.phone,
            "email": s.email,
        },
        "buyer": {"name": draft.buyer.name, "phone": draft.buyer.phone, "email": draft.buyer.email},
        "lines": [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price_ore": line.unit_price_ore,
                "gross_ore": line.gross_ore,
                "vat_rate_bp": line.vat_rate_bp,
                "vat_ore": line.vat_ore,
                "net_ore": line.net_ore,
                "delivery_date": _day(line.delivery_date),
                "delivery_until": _day(line.delivery_until),
                "delivery_place": line.delivery_place,
            }
            for line in draft.lines
        ],
        "vat": [
            {"rate_bp": v.rate_bp, "base_ore": v.base_ore, "vat_ore": v.vat_ore, "gross_ore": v.gross_ore}
            for v in (draft.vat if draft.vat is not None else vat_per_rate(draft.lines))
        ],
        "total_ore": draft.total_ore,
        "payments": [
            {"means": p.means, "amount_ore": p.amount_ore, **({"code_last4": p.code_last4} if p.code_last4 else {})}
            for p in draft.payments
        ],
        "paid": draft.paid,
        "due_date": _day(draft.due_date),
        "order_reference": draft.order_reference,
        "refers_to_number": refers_to_number,
        "note": draft.note,
        "giftcard": None
        if face is None
        else {
            "code": face.code,
            "valid_until": face.valid_until.isoformat(),
            "terms": face.terms,
            "value_ore": face.value_ore,
            "service": face.service,
            "recipient_name": face.recipient_name,
            "message": face.message,
        },
    }
    if draft.withdrawal is not None:
        w = draft.withdrawal
        snapshot["withdrawal"] = {
            "services": list(w.services),
            "contract_at": w.contract_at.astimezone(timezone.utc).isoformat(),
            "deadline": w.deadline.isoformat(),
            "received_at": w.received_at.astimezone(timezone.utc).isoformat() if w.received_at else None,
            "via": w.via,
            "name": w.name,
            "contact": w.contact,
        }
    return snapshot


@dataclass(frozen=True)
class Void:
    at: datetime
    reason: str
    actor: str


@dataclass(frozen=True)
class IssuedDocument:
    """An issued document, read back: its row and its snapshot."""

    id: int
    supplier_id: int
    order_id: int | None
    kind: Kind
    number: int | None
    issued_at: datetime
    language: str
    refers_to: int | None
    refers_to_number: int | None
    seller: Seller
    buyer: Buyer
    lines: tuple[Line, ...]
    vat: tuple[VatLine, ...]
    total_ore: int
    payments: tuple[PaymentPart, ...]
    paid: bool
    due_date: date | None
    order_reference: str
    note: str
    giftcard: GiftCardFace | None
    source_key: str | None = None
    void: Void | None = field(default=None)
    withdrawal: WithdrawalFacts | None = None

    @property
    def rule(self) -> KindRule:
        return KIND_RULES[self.kind]

    @property
    def vat_ore(self) -> int:
        return sum(v.vat_ore for v in self.vat)

    @property
    def code_last4(self) -> str:
        return self.giftcard.code.replace("-", "")[-4:] if self.giftcard else ""

    def placeholders(self) -> dict[str, str]:
        """What the title and file name msgids are filled in with."""
        return {"number": str(self.number or ""), "code": self.code_last4, "reference": self.order_reference}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], void: Mapping[str, Any] | Void | None = None) -> IssuedDocument:
        snap = row["snapshot"]
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown document snapshot version {snap.get('version')!r}")

        def day(value: str | None) -> date | None:
            return date.fromisoformat(value) if value else None

        face = snap.get("giftcard")
        facts = snap.get("withdrawal")
        return cls(
            id=row["id"],
            supplier_id=row["supplier_id"],
            order_id=row["order_id"],
            kind=Kind(row["kind"]),
            number=row["number"],
            issued_at=row["issued_at"],
            language=row["language"],
            refers_to=row["refers_to"],
            refers_to_number=snap.get("refers_to_number"),
            seller=Seller.from_mapping(snap["seller"]),
            buyer=Buyer(**snap["buyer"]),
            lines=tuple(
                Line(
                    description=raw["description"],
                    quantity=raw["quantity"],
                    unit_price_ore=raw["unit_price_ore"],
                    gross_ore=raw["gross_ore"],
                    vat_rate_bp=raw["vat_rate_bp"],
                    vat_ore=raw["vat_ore"],
                    net_ore=raw["net_ore"],
                    delivery_date=day(raw.get("delivery_date")),
                    delivery_until=day(raw.get("delivery_until")),
                    delivery_place=raw.get("delivery_place", ""),
                )
                for raw in snap["lines"]
            ),
            vat=vat_from(snap["vat"]),
            total_ore=snap["total_ore"],
            payments=tuple(PaymentPart(p["means"], p["amount_ore"], p.get("code_last4", "")) for p in snap["payments"]),
            paid=snap["paid"],
            due_date=day(snap.get("due_date")),
            order_reference=snap["order_reference"],
            note=snap.get("note", ""),
            giftcard=None
            if face is None
            else GiftCardFace(
                code=face["code"],
                valid_until=date.fromisoformat(face["valid_until"]),
                terms=face["terms"],
                value_ore=face.get("value_ore"),
                service=face.get("service", ""),
                recipient_name=face.get("recipient_name", ""),
                message=face.get("message", ""),
            ),
            source_key=row.get("source_key"),
            withdrawal=None
            if not facts
            else WithdrawalFacts(
                services=tuple(facts["services"]),
                contract_at=datetime.fromisoformat(facts["contract_at"]),
                deadline=date.fromisoformat(facts["deadline"]),
                received_at=datetime.fromisoformat(facts["received_at"]) if facts.get("received_at") else None,
                via=facts.get("via", ""),
                name=facts.get("name", ""),
                contact=facts.get("contact", ""),
            ),
            void=void
            if void is None or isinstance(void, Void)
            else Void(at=void["at"], reason=void["reason"], actor=void["actor"]),
        )


def credit_problems(receipt: IssuedDocument, credit: Draft, credited_before_ore: int) -> list[str]:
    """A credit note must refer to a receipt of the same supplier that is not
    void, and never credit more than what is left of it."""
    problems = []
    if receipt.kind.value not in KIND_RULES[Kind(credit.kind)].refers_to:
        problems.append(f"a {credit.kind} refers to a receipt, not a {receipt.kind.value}")
    if receipt.supplier_id != credit.supplier_id:
        problems.append("a credit note refers to a receipt of the same supplier")
    if receipt.void is not None:
        problems.append("a void receipt cannot be credited")
    if credited_before_ore + credit.total_ore > receipt.total_ore:
        problems.append(
            f"crediting {credit.total_ore} øre would exceed the receipt's {receipt.total_ore} øre "
            f"({credited_before_ore} øre credited before)"
        )
    return problems

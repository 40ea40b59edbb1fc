"""A document for every krone the portal takes (L13–L19, L21, L33).

* A Vipps capture gets a receipt, issued in the transaction that records it:
  the service's lines (delivered), or a line of its own for a late
  cancellation or no-show fee. What a gift card paid of the same order is on
  that receipt too, as a means of payment (the card's VAT falls due when it
  pays, L21).
* An order paid on site but partly with a gift card gets a receipt for the
  card's part when it is delivered; what is paid on site is the supplier's
  own cash sale, with the supplier's receipt (L33).
* A refund gets a credit note referring to the order's receipt.
* A gift card sale's receipt carries no VAT.

Each document is numbered by the database in the caller's transaction
(portal.documents.service.issue), rendered by the outbox worker, and emailed
to the customer as a PDF attachment.
"""

from __future__ import annotations

from datetime import datetime

from portal.audit.service import query, step
from portal.documents import domain as docs
from portal.documents import service as documents
from portal.documents.handler import enqueuer
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.notify.domain import Channel
from portal.notify.messages import render
from portal.orders import kinds
from portal.orders import service as orders
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.payments import giftcards
from portal.payments.domain import Outcome
from portal.payments.pricing import Quote, allocate
from portal.settings import load as load_settings

#: The line a captured fee is printed as (the service it was for follows).
FEE_LINES = {
    Outcome.CUSTOMER_CANCEL_LATE.value: N_("Late cancellation fee: %(what)s"),
    Outcome.NO_SHOW.value: N_("No-show fee: %(what)s"),
}

#: What each kind of document is called in lists.
LABELS = {
    "receipt": N_("Receipt"),
    "credit_note": N_("Credit note"),
    "giftcard": N_("Gift card"),
    "withdrawal_form": N_("Withdrawal form"),
    "withdrawal_receipt": N_("Withdrawal acknowledgement"),
}

SUBJECTS = {
    docs.Kind.RECEIPT: N_("Receipt %(number)s from %(supplier)s"),
    docs.Kind.CREDIT_NOTE: N_("Credit note %(number)s from %(supplier)s"),
}


def _buyer(order: dict) -> docs.Buyer:
    return docs.Buyer(name=order["customer_name"], phone=order["phone"], email=order["email"])


async def _delivery(order: dict) -> tuple[object, str]:
    """(local date, place) of delivery: the first line's time and place, or today by email."""
    views = []
    for name in await orders.kinds_of(order["id"]):
        views += await kinds.kind(name).lines(order)
    first = next((v for v in views if v.starts_at), None)
    if first is not None:
        return clock.to_local(first.starts_at).date(), first.where
    return clock.local_today(), translations(order["language"] or "nb").gettext(N_("By email"))


def _draft(order: dict, kind: docs.Kind, lines: tuple[docs.Line, ...], payments: tuple[docs.PaymentPart, ...], source_key: str, **extra) -> docs.Draft:
    terms = order["terms"] or {}
    return docs.Draft(
        kind=kind,
        supplier_id=order["supplier"],
        order_id=order["id"],
        language=order["language"] or "nb",
        seller=docs.Seller.from_mapping(terms.get("supplier") or {}),
        buyer=_buyer(order),
        order_reference=order["reference"],
        lines=lines,
        payments=payments,
        source_key=source_key,
        **extra,
    )


def _card_part(quote: Quote) -> tuple[docs.PaymentPart, ...]:
    if not quote.giftcard_ore:
        return ()
    last4 = (quote.giftcard_code or "")[-4:]
    return (docs.PaymentPart(means="giftcard", amount_ore=quote.giftcard_ore, code_last4=last4),)


async def _issue(order: dict, draft: docs.Draft, now: datetime) -> docs.IssuedDocument:
    return await documents.issue(draft, now=now, enqueue=enqueuer(order["id"], order["language"] or "nb", now))


@step
async def for_movement(order: dict, movement: dict, now: datetime) -> docs.IssuedDocument | None:
    """The receipt of a capture, or the credit note of a refund (inside the transaction that records it)."""
    quote = Quote.from_json(order["quote"])
    language = order["language"] or "nb"
    day, place = await _delivery(order)
    amount = movement["amount_ore"]
    # Keyed by what caused it (ids alone could repeat on SQLite after rows are deleted).
    key = f"movement:{movement['id']}:{order['reference']}"
    if movement["kind"] == "capture":
        if movement["reason"] in FEE_LINES:
            what = ", ".join(line.description for line in quote.lines)
            fee_line = FEE_LINES[movement["reason"]]
            description = translations(language).gettext(fee_line) % {"what": what}
            shares = allocate(quote, amount)
            fee = [
                docs.Line(
                    description=description, quantity=1, unit_price_ore=s.gross_ore, gross_ore=s.gross_ore, vat_rate_bp=s.vat_rate_bp,
                    vat_ore=s.vat_ore, net_ore=s.net_ore, delivery_date=clock.local_today(now), delivery_place=place,
                )
                for s in shares
                if s.gross_ore
            ]
            draft = _draft(order, docs.Kind.RECEIPT, tuple(fee), (docs.PaymentPart("vipps", amount),), key)
        else:
            card = _card_part(quote) if movement["reason"] == Outcome.DELIVERED.value else ()
            paid = amount + sum(p.amount_ore for p in card)
            lines = docs.lines_from(allocate(quote, min(paid, quote.total_ore)), delivery_date=day, delivery_place=place)
            draft = _draft(order, docs.Kind.RECEIPT, lines, (docs.PaymentPart("vipps", amount), *card), key)
        return await _issue(order, draft, now)
    if movement["kind"] == "refund":
        receipt = await latest_receipt(order)
        if receipt is None:
            return None
        lines = docs.lines_from(allocate(quote, amount), delivery_date=day, delivery_place=place)
        note = translations(language).gettext(N_("Refunded to the Vipps payment the money came from."))
        draft = _draft(order, docs.Kind.CREDIT_NOTE, lines, (docs.PaymentPart("vipps", amount),), key, refers_to=receipt.id, note=note)
        return await _issue(order, draft, now)
    return None


@step
async def for_gift_card_part(order: dict, now: datetime) -> docs.IssuedDocument | None:
    """An order paid partly with a gift card and the rest on site, delivered:
    the receipt for what the card paid (the portal took that money when the
    card was sold; the VAT falls due now)."""
    quote = Quote.from_json(order["quote"]) if order["quote"] else None
    if quote is None or not quote.giftcard_ore or quote.pay_now_ore:
        return None
    day, place = await _delivery(order)
    lines = docs.lines_from(allocate(quote, quote.giftcard_ore), delivery_date=day, delivery_place=place)
    draft = _draft(order, docs.Kind.RECEIPT, lines, _card_part(quote), f"giftcard-part:{order['id']}:{order['reference']}")
    return await _issue(order, draft, now)


@step
async def gift_card_face(order: dict, card: dict, now: datetime) -> docs.IssuedDocument:
    """The gift card itself as a document (not numbered): value or service, code, validity, terms."""
    language = order["language"] or "nb"
    supplier = (order["terms"] or {}).get("supplier_name") or ((order["terms"] or {}).get("supplier") or {}).get("legal_name", "")
    last_day = giftcards.expiry_day(card["valid_until"])
    kind = giftcards.CardKind.SERVICE if card.get("service_title") else giftcards.CardKind.VALUE
    terms = translations(language).gettext(giftcards.TERMS_TEXT[kind]) % {
        "date": clock.fmt_date(last_day, language, "long"),
        "supplier": supplier,
        "service": card.get("service_title") or "",
    }
    face = docs.GiftCardFace(
        code=card["code"],
        valid_until=last_day,
        terms=terms,
        value_ore=None if card.get("service_title") else card["value_ore"],
        service=card.get("service_title") or "",
        recipient_name=card.get("recipient_name") or "",
        message=card.get("message") or "",
    )
    draft = _draft(order, docs.Kind.GIFTCARD, (), (), f"giftcard:{card['card_id']}:{order['reference']}:{card['code'][-4:]}", giftcard=face)
    return await _issue(order, draft, now)


async def latest_receipt(order: dict) -> docs.IssuedDocument | None:
    found = [d for d in await of_order(order) if d.kind is docs.Kind.RECEIPT and d.void is None]
    return found[-1] if found else None


async def of_order(order: dict) -> list[docs.IssuedDocument]:
    """The order's documents (by id and reference: an order id alone could be
    a deleted order's on SQLite, which reuses the largest id)."""
    return [d for d in await documents.documents_of_order(order["id"]) if d.order_reference == order["reference"]]


def attachment_of(document: docs.IssuedDocument) -> dict:
    return {"document_id": document.id}


@step
async def email(order: dict, document: docs.IssuedDocument, now: datetime) -> None:
    """The receipt or credit note to the customer, as a PDF attachment."""
    if not order["email"]:
        return
    language = order["language"] or "nb"
    t = translations(language)
    terms = order["terms"] or {}
    seller = terms.get("supplier") or {}
    supplier = terms.get("supplier_name") or seller.get("legal_name", "")
    subject = t.gettext(SUBJECTS[document.kind]) % {"number": document.number, "supplier": supplier}
    base = load_settings().base_url
    context = {
        "subject": subject,
        "kind": document.kind.value,
        "number": document.number,
        "reference": order["reference"],
        "customer_name": order["customer_name"],
        "supplier_name": supplier,
        "manage_url": f"{base}/b/{order['manage_token']}" if order["manage_token"] else base,
    }
    await outbox.insert(
        [
            Draft(
                channel=Channel.EMAIL.value,
                topic=document.kind.value,
                recipient=order["email"],
                dedupe_key=f"document:{document.id}:email",
                language=language,
                payload={
                    "subject": subject,
                    "text": render("email/document.txt", language, **context),
                    "reply_to": seller.get("email", ""),
                    "reply_to_name": supplier,
                    "attachments": [attachment_of(document)],
                },
                next_attempt_at=now,
                order_id=order["id"],
            )
        ],
        now,
    )


@query
async def listing(order: dict) -> list[dict]:
    """The order's documents for its page: ready to download, or being prepared."""
    listed = []
    for d in await of_order(order):
        listed.append(
            {
                "id": d.id,
                "label": LABELS[d.kind.value],
                "number": d.number if d.number is not None else (d.code_last4 and f"…{d.code_last4}"),
                "issued_at": d.issued_at,
                "ready": await documents.stored_pdf(d.id) is not None,
                "void": d.void is not None,
            }
        )
    return listed

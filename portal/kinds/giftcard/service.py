"""Gift card use cases: the offer an offering sells, buying cards (a held
order in checkout), issuing them when the money is taken, and the public
balance lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.audit.domain import Actor
from portal.audit.service import query, record, step, use_case
from portal.catalogue.service import OfferingContext
from portal.catalogue.tables import Offering
from portal.kinds.giftcard.domain import Purchase
from portal.kinds.giftcard.tables import GiftCardOffer
from portal.orders import service as orders
from portal.orders.domain import OrderEvent, OrderState, hold_expiry
from portal.payments import giftcard_store, giftcards
from portal.payments import service as payments
from portal.payments.giftcards import CardKind, Refusal, ValueKind
from portal.payments.tables import GiftCard
from portal.sales import lifecycle

KIND = "giftcard"


class NotForSale(Exception):
    """The offering sells no gift card (no offer stated)."""


@query
async def offer_of(offering: dict) -> giftcards.GiftCardOffer:
    """What this gift card offering sells. An offering without its own offer
    row sells a card worth its price, valid for the default 12 months."""
    row = await GiftCardOffer.select().where(GiftCardOffer.offering == offering["id"]).first()
    if row is None:
        return giftcards.GiftCardOffer(ValueKind.FIXED, value_ore=offering["price_ore"])
    service_price = 0
    if row["service_offering"] is not None:
        service = await Offering.select(Offering.price_ore, Offering.active).where(Offering.id == row["service_offering"]).first()
        if service is None or not service["active"]:
            raise NotForSale(offering["slug"])
        service_price = service["price_ore"]
    return giftcards.GiftCardOffer(
        ValueKind(row["value_kind"]),
        value_ore=row["value_ore"],
        min_ore=row["min_ore"],
        max_ore=row["max_ore"],
        service_offering_id=row["service_offering"],
        service_price_ore=service_price,
        validity_months=row["validity_months"],
    )


@query
async def service_title(offer: giftcards.GiftCardOffer) -> str:
    if offer.service_offering_id is None:
        return ""
    row = await Offering.select(Offering.title).where(Offering.id == offer.service_offering_id).first()
    return row["title"] if row else ""


def _terms_snapshot(ctx: OfferingContext, offer: giftcards.GiftCardOffer) -> dict:
    s, o = ctx.supplier, ctx.offering
    return {
        "supplier": {k: s[k] for k in ("legal_name", "org_number", "company_form", "vat_registered", "street", "postcode", "town", "phone", "email")},
        "supplier_name": s["name"],
        "offering_title": o["title"],
        "kind": KIND,
        "withdrawal_class": "standard",  # L4: a gift card may be withdrawn within 14 days while unused
        "validity_months": offer.validity_months,
        "value_kind": offer.value_kind.value,
        "supplier_terms": s["terms"],
    }


@use_case("giftcard.purchase")
async def purchase(actor: Actor, ctx: OfferingContext, bought: Purchase, visitor: str, now: datetime, hold_minutes: int) -> dict:
    """A held order with one gift card line (quantity × value); checkout and
    payment follow. No VAT on the sale of a card (L21): it falls due when the
    card pays for something."""
    offer = await offer_of(ctx.offering)
    title = ctx.offering["title"]
    details = {
        "value_kind": offer.value_kind.value,
        "service_offering_id": offer.service_offering_id,
        "service_title": await service_title(offer),
        "validity_months": offer.validity_months,
        "for_gift": bought.values.for_gift,
        "recipient_name": bought.values.recipient_name if bought.values.for_gift else "",
        "recipient_email": bought.recipient_email if bought.values.for_gift else "",
        "message": bought.values.message if bought.values.for_gift else "",
        "deliver_on": bought.deliver_on.isoformat() if bought.deliver_on else None,
    }
    order_id, _ = await orders.create_held(
        supplier_id=ctx.supplier["id"],
        visitor=visitor,
        terms=_terms_snapshot(ctx, offer),
        lines=[orders.NewLine(KIND, ctx.offering["id"], title, bought.value_ore, 0, quantity=bought.quantity, details=details)],
        expires_at=hold_expiry(now, hold_minutes),
        now=now,
    )
    await record(
        actor, "giftcard.purchase", now=now, order_id=order_id, supplier_id=ctx.supplier["id"],
        after={"state": OrderState.HELD, "value_ore": bought.value_ore, "quantity": bought.quantity, "gift": bought.values.for_gift},
    )
    return await orders.get(order_id)


@dataclass(frozen=True)
class IssuedCard:
    card_id: int
    code: str | None  # in clear this once (None: issued before)
    position: int
    unit: int
    value_ore: int
    line: dict


@step
async def issue_cards(order: dict, now: datetime) -> list[IssuedCard]:
    """One card per unit of each gift card line, once (a repeat issues nothing new)."""
    issued = []
    for line in await orders.lines_of(order["id"]):
        if line["kind"] != KIND:
            continue
        d = line["details"] or {}
        kind = CardKind.SERVICE if d.get("value_kind") == ValueKind.SERVICE.value else CardKind.VALUE
        for unit in range(1, line["quantity"] + 1):
            card = await giftcard_store.issue(
                supplier_id=order["supplier"],
                offering_id=line["offering"],
                value_ore=line["unit_price_ore"],
                now=now,
                validity_months=d.get("validity_months"),
                kind=kind,
                service_offering_id=d.get("service_offering_id") if kind is CardKind.SERVICE else None,
                order_id=order["id"],
                line_position=line["position"],
                unit=unit,
                recipient_name=d.get("recipient_name", ""),
                recipient_email=d.get("recipient_email", ""),
                message=d.get("message", ""),
                deliver_on=datetime.fromisoformat(d["deliver_on"]).date() if d.get("deliver_on") else None,
                buyer_name=order["customer_name"],
            )
            issued.append(IssuedCard(card.card_id, card.code, line["position"], unit, line["unit_price_ore"], line))
    return issued


@dataclass(frozen=True)
class Balance:
    """What the balance page shows, or why not."""

    card: giftcards.Card | None
    supplier_name: str = ""
    service_title: str = ""
    refusal: Refusal | None = None
    message: giftcards.Message | None = None


@use_case("giftcard.balance_checked")
async def check_balance(actor: Actor, raw_code: str, *, visitor: str, ip: str, now: datetime) -> Balance:
    """The card's remaining value and its last valid day, from its code.
    Wrong codes are counted per browser and per IP; after ten in an hour the
    page refuses until the hour has passed (codes cannot be found by trying)."""
    if giftcards.locked_out(await giftcard_store.misses(visitor, ip, now)):
        return Balance(None, refusal=Refusal.TOO_MANY_TRIES, message=giftcards.refusal_message(Refusal.TOO_MANY_TRIES))
    if giftcards.normalise_code(raw_code) is None:
        return Balance(None, refusal=Refusal.MALFORMED, message=giftcards.refusal_message(Refusal.MALFORMED))
    card = await giftcard_store.card_by_code(raw_code)
    if card is None:
        await giftcard_store.record_miss(visitor, ip, now)
        await record(actor, "giftcard.balance_checked", now=now, subject="giftcard", after={"found": False})
        return Balance(None, refusal=Refusal.UNKNOWN, message=giftcards.refusal_message(Refusal.UNKNOWN))
    from portal.catalogue.tables import Supplier

    supplier = await Supplier.select(Supplier.name).where(Supplier.id == card.supplier_id).first()
    title = ""
    if card.service_offering_id:
        row = await Offering.select(Offering.title).where(Offering.id == card.service_offering_id).first()
        title = row["title"] if row else ""
    return Balance(card, supplier_name=supplier["name"] if supplier else "", service_title=title)


class WithdrawalNotPossible(Exception):
    """Some card of the order cannot be withdrawn (used, withdrawn, too late): nothing changed."""

    def __init__(self, message: giftcards.Message) -> None:
        super().__init__(message.msgid)
        self.message = message


@query
async def cards_of(order_id: int) -> list[giftcards.Card]:
    rows = await GiftCard.select(GiftCard.id).where(GiftCard.order_id == order_id).order_by(GiftCard.id)
    return [await giftcard_store.card(r["id"]) for r in rows]


@query
async def withdrawal_state(order: dict, now: datetime) -> tuple[bool, giftcards.Message | None, object]:
    """(may withdraw now, why not, the last day) for a gift card order."""
    cards = await cards_of(order["id"])
    if order["state"] not in (OrderState.COMPLETED.value, OrderState.CONFIRMED.value) or not cards:
        return False, None, None
    deadline = min(giftcards.card_withdrawal_deadline(c) for c in cards)
    for card in cards:
        refusal = giftcards.withdrawal_refusal(card, now)
        if refusal is not None:
            return False, giftcards.withdrawal_message(refusal, card), deadline
    return True, None, deadline


@use_case("giftcard.withdraw")
async def withdraw(actor: Actor, order_id: int, now: datetime) -> dict:
    """Angrerett for unused gift cards (L4, L8, L9): every card of the order is
    withdrawn (it never pays again), the order ends as withdrawn, and the whole
    amount is refunded to the Vipps payment it came from — with a credit note
    when Vipps has refunded it. All or nothing."""
    order = await orders.get(order_id)
    cards = await cards_of(order_id)
    if not cards:
        raise WithdrawalNotPossible(giftcards.Message(giftcards.WITHDRAWAL_TEXT[giftcards.WithdrawalRefusal.USED]))
    total = 0
    for card in cards:
        try:
            total += await giftcard_store.withdraw(card.id, now)
        except giftcard_store.WithdrawalRefused as refused:
            raise WithdrawalNotPossible(refused.message) from None
    ended = await lifecycle.end(order_id, OrderEvent.WITHDRAW, now)
    await payments.plan_refund(order_id, total, now, request_id=f"withdraw{order_id}")
    await record(
        actor, "giftcard.withdraw", now=now, order_id=order_id, supplier_id=order["supplier"],
        before={"state": order["state"]}, after={"state": ended["state"], "refund_ore": total, "cards": len(cards)},
    )
    return ended

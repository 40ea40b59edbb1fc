"""The gift card kind: what portal.orders.kinds asks of it. It takes no
capacity; it counts as delivered when it is paid (the cards are issued in the
transaction that records the capture)."""

from __future__ import annotations

from datetime import date, datetime

from portal.kinds.giftcard import messages, service
from portal.orders import service as orders
from portal.orders.domain import OrderState
from portal.orders.kinds import LineView
from portal.outbox import service as outbox
from portal.payments import giftcard_store
from portal.sales import receipts
from portal.settings import load as load_settings


class GiftCardKind:
    name = service.KIND
    default_withdrawal_class = "standard"
    capacity = "none"
    delivered_when_paid = True
    line_template = "partials/lines/giftcard.html"
    gone_template = "partials/gone/giftcard.html"
    means_allowed = frozenset({"vipps"})
    giftcard_payable = False  # a gift card cannot be bought with a gift card

    async def lines(self, order: dict) -> list[LineView]:
        views = []
        for line in await orders.lines_of(order["id"]):
            if line["kind"] != self.name:
                continue
            d = dict(line["details"] or {})
            d["value_ore"] = line["unit_price_ore"]
            d["deliver_on"] = date.fromisoformat(d["deliver_on"]) if d.get("deliver_on") else None
            views.append(LineView(kind=self.name, title=line["description"], quantity=line["quantity"], details=d))
        return views

    def needs_early_start(self, lines: list[LineView], withdrawal_class: str, contract_at: datetime) -> bool:
        return False

    def may_deliver(self, lines: list[LineView], now: datetime) -> bool:
        return True

    async def due_to_complete(self, now: datetime, after_hours: int) -> list[int]:
        return []

    async def hold_again(self, order: dict, now: datetime) -> bool:
        return True

    async def confirm(self, order: dict, now: datetime) -> None:
        return None

    async def release(self, order: dict, now: datetime) -> None:
        return None

    async def end(self, order: dict, state: OrderState, now: datetime) -> None:
        return None

    async def held_until(self, order: dict, until: datetime) -> None:
        return None

    async def paid(self, order: dict, now: datetime, receipt: object | None) -> bool:
        """The money is taken: issue the cards, each as a PDF, and send them
        (the buyer's email also carries the receipt)."""
        issued = [c for c in await service.issue_cards(order, now) if c.code is not None]
        if not issued:
            return False
        cards = []
        for card in issued:
            row = await giftcard_store.card(card.card_id)
            d = card.line["details"] or {}
            cards.append(
                {
                    "card_id": card.card_id,
                    "code": card.code,
                    "value_ore": card.value_ore,
                    "valid_until": row.valid_until,
                    "service_title": d.get("service_title", ""),
                    "recipient_name": d.get("recipient_name", ""),
                    "recipient_email": d.get("recipient_email", ""),
                    "message": d.get("message", ""),
                    "deliver_on": datetime.fromisoformat(d["deliver_on"]).date() if d.get("deliver_on") else None,
                }
            )
        faces = {card["card_id"]: await receipts.gift_card_face(order, card, now) for card in cards}
        attachments = [receipts.attachment_of(receipt)] if receipt is not None else []
        attachments += [receipts.attachment_of(face) for face in faces.values()]
        gifts = {card_id: receipts.attachment_of(face) for card_id, face in faces.items()}
        drafts = messages.drafts(order, cards, base_url=load_settings().base_url, now=now, attachments=attachments, gift_attachments=gifts)
        await outbox.insert(drafts, now)
        return bool(order["email"])

    async def messages(self, order: dict, topic: str, now: datetime, *, dedupe_suffix: str = "") -> list:
        # The cards themselves are the message (sent when they are issued, `paid`).
        return []

    async def gone_context(self, order: dict, reason: object, now: datetime) -> dict:
        return {"reason": reason}


KIND = GiftCardKind()

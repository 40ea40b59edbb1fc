"""Gift card emails: the cards to the buyer when they are issued, and to the
recipient (at once, or on the chosen day) when bought as a gift. Rendered in
the order's language; the cards (and the receipt) go as PDF attachments."""

from __future__ import annotations

from datetime import date, datetime, time

from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.notify.domain import Channel
from portal.notify.messages import render
from portal.outbox.domain import Draft
from portal.payments import giftcards
from portal.web.render import org_number_text, phone_text

ISSUED_SUBJECT = N_("Your gift card from %(supplier)s")
GIFT_SUBJECT = N_("A gift card for you from %(supplier)s")

#: A gift sent on a chosen day goes out in the morning of that day (Oslo).
GIFT_HOUR = time(8, 0)


def _seller(order: dict) -> dict:
    s = (order["terms"] or {}).get("supplier") or {}
    return {
        "legal_name": s.get("legal_name", ""),
        "org_number": org_number_text(s.get("org_number", "")),
        "vat_registered": bool(s.get("vat_registered")),
        "address": f"{s.get('street', '')}, {s.get('postcode', '')} {s.get('town', '')}".strip(", "),
        "phone": phone_text(s.get("phone", "")) if s.get("phone") else "",
        "email": s.get("email", ""),
    }


def card_view(card: dict, language: str) -> dict:
    return {
        "code": card["code"],
        "value": format_nok(card["value_ore"], language),
        "valid_until": clock.fmt_date(giftcards.expiry_day(card["valid_until"]), language),
        "service": card.get("service_title") or "",
        "recipient_name": card.get("recipient_name") or "",
        "message": card.get("message") or "",
    }


def drafts(order: dict, cards: list[dict], *, base_url: str, now: datetime, attachments: list[dict] | None = None, gift_attachments: dict | None = None) -> list[Draft]:
    """The buyer's email with every card (and the receipt), and each gift's email to its recipient.

    `cards`: code, value_ore, valid_until, service_title, recipient_name,
    recipient_email, message, deliver_on (date or None), card_id.
    `attachments`: the buyer's email's documents; `gift_attachments`: card id → that card's document.
    """
    language = order["language"] or "nb"
    t = translations(language)
    s = _seller(order)
    supplier_name = (order["terms"] or {}).get("supplier_name") or s["legal_name"]
    b = {
        "customer_name": order["customer_name"],
        "supplier_name": supplier_name,
        "reference": order["reference"],
        "manage_url": f"{base_url}/b/{order['manage_token']}" if order.get("manage_token") else base_url,
        "balance_url": f"{base_url}/gavekort",
    }
    views = [card_view(c, language) for c in cards]
    subject = t.gettext(ISSUED_SUBJECT) % {"supplier": supplier_name}
    context = {"b": b, "s": s, "subject": subject, "cards": views, "audience": "customer"}
    out = []
    if order.get("email"):
        out.append(
            Draft(
                channel=Channel.EMAIL.value,
                topic="giftcard_issued",
                recipient=order["email"],
                dedupe_key=f"order:{order['id']}:giftcard_issued:email",
                language=language,
                payload={
                    "subject": subject,
                    "text": render("email/giftcard_issued.txt", language, **context),
                    "html": render("email/giftcard_issued.html", language, **context),
                    "reply_to": s["email"],
                    "reply_to_name": supplier_name,
                    "attachments": attachments or [],
                },
                next_attempt_at=now,
                order_id=order["id"],
            )
        )
    for card, view in zip(cards, views, strict=True):
        if not card.get("recipient_email"):
            continue
        gift_subject = t.gettext(GIFT_SUBJECT) % {"supplier": supplier_name}
        gift = {"b": {**b, "customer_name": card.get("recipient_name") or ""}, "s": s, "subject": gift_subject, "card": view, "giver": order["customer_name"]}
        due = _morning_of(card["deliver_on"]) if card.get("deliver_on") else now
        out.append(
            Draft(
                channel=Channel.EMAIL.value,
                topic="giftcard_gift",
                recipient=card["recipient_email"],
                dedupe_key=f"order:{order['id']}:giftcard_gift:{card['card_id']}:email",
                language=language,
                payload={
                    "subject": gift_subject,
                    "text": render("email/giftcard_gift.txt", language, **gift),
                    "html": render("email/giftcard_gift.html", language, **gift),
                    "reply_to": s["email"],
                    "reply_to_name": supplier_name,
                    "attachments": [(gift_attachments or {})[card["card_id"]]] if gift_attachments and card["card_id"] in gift_attachments else [],
                },
                next_attempt_at=max(due, now),
                order_id=order["id"],
            )
        )
    return out


def _morning_of(day: date) -> datetime:
    return datetime.combine(day, GIFT_HOUR, tzinfo=clock.OSLO).astimezone(clock.UTC)

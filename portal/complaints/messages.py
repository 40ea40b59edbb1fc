"""The two emails of a complaint: to the supplier when it arrives (always
Bokmål, with a link to it in the back office), and to the customer with the
supplier's answer (in the order's language, with a link to the order page).
Rendered when they are queued, like every message (portal.notify.messages)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.notify.domain import SUPPLIER_KEY_MARK, Channel, Topic
from portal.notify.messages import render
from portal.outbox.domain import Draft
from portal.web.render import org_number_text, phone_text

SUPPLIER_LANGUAGE = "nb"

SUPPLIER_SUBJECT = N_("Complaint about booking %(ref)s")
ANSWER_SUBJECT = N_("Answer to your complaint about booking %(ref)s")


def supplier_key(complaint_id: int) -> str:
    """Marked as the supplier's (SUPPLIER_KEY_MARK), so the customer's message log leaves it out."""
    return f"complaint:{complaint_id}{SUPPLIER_KEY_MARK}{Channel.EMAIL}"


def answer_key(complaint_id: int) -> str:
    return f"complaint:{complaint_id}:answer:{Channel.EMAIL}"


def _identity(supplier: dict) -> dict:
    """The seller as an email's footer names it."""
    return {
        "legal_name": supplier["legal_name"],
        "org_number": org_number_text(supplier["org_number"]),
        "vat_registered": bool(supplier["vat_registered"]),
        "address": f"{supplier['street']}, {supplier['postcode']} {supplier['town']}".strip(", "),
        "phone": phone_text(supplier["phone"]) if supplier["phone"] else "",
        "email": supplier["email"],
    }


def _when(starts_at: datetime | None, language: str) -> str:
    return clock.fmt_datetime(starts_at, language) if starts_at else ""


def to_supplier(complaint: dict, order: dict, supplier: dict, *, what: str, starts_at: datetime | None, base_url: str, now: datetime) -> Draft | None:
    """The complaint forwarded to the supplier's email address (None when it has none)."""
    if not supplier["email"]:
        return None
    language = SUPPLIER_LANGUAGE
    subject = translations(language).gettext(SUPPLIER_SUBJECT) % {"ref": order["reference"]}
    context = {
        "subject": subject,
        "b": {
            "supplier_name": supplier["name"],
            "reference": order["reference"],
            "customer_name": order["customer_name"],
            "customer_phone": phone_text(order["phone"]) if order["phone"] else "",
            "customer_email": order["email"],
            "what": what,
            "when": _when(starts_at, language),
        },
        "complaint": complaint,
        "has_photo": bool(complaint["photo_format"]),
        "complaint_url": f"{base_url}/kontor/{quote(supplier['slug'], safe='')}/klager/{complaint['id']}",
    }
    return Draft(
        channel=Channel.EMAIL.value,
        topic=Topic.COMPLAINT.value,
        recipient=supplier["email"],
        dedupe_key=supplier_key(complaint["id"]),
        language=language,
        payload={
            "subject": subject,
            "text": render("email/complaint_supplier.txt", language, **context),
            "html": render("email/complaint_supplier.html", language, **context),
        },
        next_attempt_at=now,
        order_id=order["id"],
    )


def to_customer(complaint: dict, order: dict, supplier: dict, *, base_url: str, now: datetime) -> Draft | None:
    """The supplier's answer to the customer's email address (None when the order has none)."""
    if not order["email"]:
        return None
    language = order["language"] if order["language"] in ("nb", "en") else "nb"
    subject = translations(language).gettext(ANSWER_SUBJECT) % {"ref": order["reference"]}
    context = {
        "subject": subject,
        "b": {
            "customer_name": order["customer_name"],
            "supplier_name": supplier["name"],
            "reference": order["reference"],
            "manage_url": f"{base_url}/b/{order['manage_token']}",
        },
        "s": _identity(supplier),
        "complaint": complaint,
        "sent": clock.fmt_datetime(complaint["created_at"], language),
    }
    payload = {
        "subject": subject,
        "text": render("email/complaint_answer.txt", language, **context),
        "html": render("email/complaint_answer.html", language, **context),
    }
    if supplier["email"]:
        payload.update(reply_to=supplier["email"], reply_to_name=supplier["name"])
    return Draft(
        channel=Channel.EMAIL.value,
        topic=Topic.COMPLAINT_ANSWER.value,
        recipient=order["email"],
        dedupe_key=answer_key(complaint["id"]),
        language=language,
        payload=payload,
        next_attempt_at=now,
        order_id=order["id"],
    )

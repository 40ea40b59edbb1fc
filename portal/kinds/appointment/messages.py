"""An appointment's messages: confirmation (with the reminder pair), change,
cancellation, a lost time, a payment problem — email and SMS, rendered in the
order's language when the event happens, with the calendar part (one UID
for the reservation's whole life, SEQUENCE bumped on every change).

`booking_drafts` takes a *booking view*: the order's fields with its
reservation's (`id` is the reservation's, `order_id` the order's; see
`booking_view`). Service messages only: no advertising, no third-party
links (L28, L31). A new, moved or cancelled booking and a payment problem
are also told to the supplier, in an email of its own (always Bokmål:
suppliers are Norwegian businesses).
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote

from portal.kinds.appointment.calendar import booking_invite_ics
from portal.legal.cancellation import cancellation_terms_text
from portal.legal.withdrawal import withdrawal_deadline, withdrawal_info
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.notify.domain import (
    BOOKING_TOPICS,
    DEFAULT_REMINDER_HOURS,
    PAYMENT_TOPICS,
    SUPPLIER,
    Channel,
    Topic,
    booking_dedupe_key,
    reminder_at,
    sms_allowed,
    wants_reminder,
)
from portal.notify.messages import NOT_ALLOWED_SMS, host_of, render
from portal.outbox.domain import Draft, Status
from portal.web.render import org_number_text, phone_text

SUBJECTS = {
    Topic.CONFIRMATION: N_("Booking confirmed: %(what)s, %(when)s"),
    Topic.REMINDER: N_("Reminder: %(what)s, %(when)s"),
    Topic.CHANGE: N_("Booking changed: %(what)s, now %(when)s"),
    Topic.CANCELLATION: N_("Booking cancelled: %(what)s, %(when)s"),
    Topic.SLOT_LOST: N_("Your time was taken: %(what)s, %(when)s"),
    Topic.PAYMENT_PROBLEM: N_("Payment problem: %(what)s, %(when)s"),
}

#: Subjects of the emails to the supplier (rendered in Bokmål).
SUPPLIER_SUBJECTS = {
    Topic.CONFIRMATION: N_("New booking %(ref)s: %(what)s, %(when)s"),
    Topic.CHANGE: N_("Booking %(ref)s moved: %(what)s, now %(when)s"),
    Topic.CANCELLATION: N_("Booking %(ref)s cancelled: %(what)s, %(when)s"),
    Topic.PAYMENT_PROBLEM: N_("Payment failed for booking %(ref)s: %(what)s, %(when)s"),
}

#: The first line of the supplier's email about a new, moved or cancelled booking.
SUPPLIER_LEADS = {
    Topic.CONFIRMATION: N_("New booking: %(what)s, %(when)s."),
    Topic.CHANGE: N_("A booking was moved: %(what)s, now %(when)s."),
    Topic.CANCELLATION: N_("A booking was cancelled: %(what)s, %(when)s. The time is free again."),
}

#: The language of emails to suppliers.
SUPPLIER_LANGUAGE = "nb"

#: The events a booking row causes messages for (the reminder comes with a confirmation or change).
BOOKING_EVENTS = BOOKING_TOPICS + PAYMENT_TOPICS

#: Email topics that carry the calendar file, and its iTIP method.
ICS_METHODS = {Topic.CONFIRMATION: "REQUEST", Topic.CHANGE: "REQUEST", Topic.CANCELLATION: "CANCEL"}



def _terms(booking: dict) -> dict:
    terms = booking.get("terms") or {}
    return json.loads(terms) if isinstance(terms, str) else terms


def reminder_hours(booking: dict) -> int:
    """From the booking's frozen terms when the offering set it, else 24."""
    value = _terms(booking).get("reminder_hours")
    return DEFAULT_REMINDER_HOURS if value is None else int(value)


def rebook_url(base_url: str, supplier_slug: str, offering_slug: str) -> str:
    """Where to choose another time: the offering's page (the supplier's page, the front page as fallbacks)."""
    if supplier_slug and offering_slug:
        return f"{base_url}/s/{quote(supplier_slug, safe='')}/{quote(offering_slug, safe='')}"
    if supplier_slug:
        return f"{base_url}/s/{quote(supplier_slug, safe='')}"
    return base_url


def view(
    booking: dict,
    *,
    supplier_name: str,
    base_url: str,
    language: str,
    supplier_slug: str = "",
    offering_slug: str = "",
) -> dict:
    """What the templates show, formatted for the language (Europe/Oslo times).

    `supplier_slug` and `offering_slug` (not on the booking row) make `rebook_url`.
    """
    t = translations(language)
    terms = _terms(booking)
    s = terms.get("supplier") or {}
    title = terms.get("offering_title", "")
    name = supplier_name or s.get("legal_name", "")
    online = bool(terms.get("online"))
    address = f"{s.get('street', '')}, {s.get('postcode', '')} {s.get('town', '')}".strip(", ")
    meeting_url = booking.get("meeting_url") or ""
    where = (t.gettext("Video meeting") if meeting_url else t.gettext("Video meeting; the link is sent before the appointment.")) if online else address
    cancel = cancellation_terms_text(int(terms.get("cancel_free_hours", 0)), int(terms.get("cancel_fee_percent", 0)), int(terms.get("cancel_fee_ore", 0)))
    withdrawal_class = terms.get("withdrawal_class", "standard")
    try:
        withdrawal = t.gettext(withdrawal_info(withdrawal_class).message)
    except ValueError:
        withdrawal = ""
    manage_url = f"{base_url}/b/{booking['manage_token']}" if booking.get("manage_token") else base_url
    # L5: the last day to withdraw, told with the contract (the form is attached to the confirmation).
    contract_at = booking.get("contract_at")
    deadline = withdrawal_deadline(contract_at) if withdrawal_class == "standard" and isinstance(contract_at, datetime) else None
    return {
        "reference": booking["reference"],
        "customer_name": booking.get("customer_name") or "",
        "what": title,
        "supplier_name": name,
        "when": clock.fmt_datetime(booking["start"], language),
        "until": clock.fmt_time(booking["end"], language),
        "where": where,
        "online": online,
        "meeting_url": meeting_url if online else "",
        "price": format_nok(int(booking.get("price_ore") or 0), language),
        "cancellation": t.ngettext(cancel.singular, cancel.plural, cancel.count) % cancel.args,
        "withdrawal": withdrawal,
        "withdrawal_deadline": clock.fmt_date(deadline, language) if deadline else "",
        "manage_url": manage_url,
        "has_manage_page": bool(booking.get("manage_token")),
        "rebook_url": rebook_url(base_url, supplier_slug, offering_slug),
        "customer_phone": phone_text(booking["phone"]) if booking.get("phone") else "",
        "customer_email": booking.get("email") or "",
        "customer_note": booking.get("note") or "",
        "supplier": {
            "legal_name": s.get("legal_name", name),
            "org_number": org_number_text(s.get("org_number", "")),
            "vat_registered": bool(s.get("vat_registered")),
            "address": address,
            "phone": phone_text(s.get("phone", "")) if s.get("phone") else "",
            "email": s.get("email", ""),
        },
    }


def _ics(booking: dict, v: dict, topic: Topic, *, host: str, now: datetime, language: str) -> tuple[str, str]:
    t = translations(language)
    method = ICS_METHODS[topic]
    body = booking_invite_ics(
        booking,
        method=method,
        summary=f"{v['what']} – {v['supplier_name']}",
        location=v["meeting_url"] or v["where"],
        description=t.gettext("Booking reference %(ref)s. Manage your booking: %(url)s")
        % {"ref": booking["reference"], "url": v["manage_url"]},
        host=host,
        now=now,
        organizer_email=v["supplier"]["email"] or f"no-reply@{host}",
        organizer_name=v["supplier"]["legal_name"] or v["supplier_name"],
        attendee_email=booking["email"],
        attendee_name=booking.get("customer_name") or "",
    )
    return body.decode("utf-8"), method


def email_payload(
    booking: dict,
    topic: Topic,
    *,
    supplier_name: str,
    base_url: str,
    now: datetime,
    supplier_slug: str = "",
    offering_slug: str = "",
) -> dict:
    language = booking.get("language") or "nb"
    t = translations(language)
    v = view(
        booking,
        supplier_name=supplier_name,
        base_url=base_url,
        language=language,
        supplier_slug=supplier_slug,
        offering_slug=offering_slug,
    )
    subject = t.gettext(SUBJECTS[topic]) % {"what": v["what"], "when": v["when"]}
    context = {"b": v, "s": v["supplier"], "subject": subject, "topic": str(topic), "audience": "customer"}
    payload = {
        "subject": subject,
        "text": render(f"email/{topic}.txt", language, **context),
        "html": render(f"email/{topic}.html", language, **context),
        "reply_to": v["supplier"]["email"],
        "reply_to_name": v["supplier_name"],
    }
    if topic in ICS_METHODS:
        ics, method = _ics(booking, v, topic, host=host_of(base_url), now=now, language=language)
        payload.update(ics=ics, ics_method=method, ics_filename=f"booking-{booking['reference']}.ics")
    return payload


def supplier_email_payload(booking: dict, topic: Topic, *, supplier_name: str, base_url: str, supplier_slug: str = "") -> dict:
    """The email to the supplier about one of its bookings, in Bokmål. A new,
    moved or cancelled booking: email/supplier_booking (the customer's
    contact and message, a link to the booking in the back office); a payment
    problem: the customer's template with `audience` "supplier". No Reply-To:
    the customer's contact details are in the text."""
    language = SUPPLIER_LANGUAGE
    t = translations(language)
    v = view(booking, supplier_name=supplier_name, base_url=base_url, language=language)
    facts = {"ref": v["reference"], "what": v["what"], "when": v["when"]}
    subject = t.gettext(SUPPLIER_SUBJECTS[topic]) % facts
    context = {"b": v, "s": v["supplier"], "subject": subject, "topic": str(topic), "audience": SUPPLIER}
    template = f"email/{topic}"
    if topic in SUPPLIER_LEADS:
        template = "email/supplier_booking"
        order_id = booking.get("order_id", booking["id"])
        context.update(lead=t.gettext(SUPPLIER_LEADS[topic]) % facts, backoffice_url=f"{base_url}/kontor/{quote(supplier_slug, safe='')}/ordre/{order_id}")
    return {
        "subject": subject,
        "text": render(f"{template}.txt", language, **context),
        "html": render(f"{template}.html", language, **context),
    }


def sms_payload(
    booking: dict,
    topic: Topic,
    *,
    supplier_name: str,
    base_url: str,
    supplier_slug: str = "",
    offering_slug: str = "",
) -> dict:
    language = booking.get("language") or "nb"
    v = view(
        booking,
        supplier_name=supplier_name,
        base_url=base_url,
        language=language,
        supplier_slug=supplier_slug,
        offering_slug=offering_slug,
    )
    return {"text": render(f"sms/{topic}.txt", language, b=v).strip()}


def booking_drafts(
    booking: dict,
    topic: Topic | str,
    *,
    supplier_name: str,
    base_url: str,
    now: datetime,
    supplier_slug: str = "",
    offering_slug: str = "",
    supplier_email: str = "",
    dedupe_suffix: str = "",
) -> list[Draft]:
    """Every row one booking event causes: email and SMS (each when the booking
    has the address), and, for a confirmation or change, the reminder pair due
    `reminder_hours` before the start (none when that moment has passed).

    slot_lost links to the offering's page (`supplier_slug`, `offering_slug`).
    A confirmation, change, cancellation or payment problem also emails the
    supplier (`supplier_email`, when it has one; the back-office link needs
    `supplier_slug`); keys include `dedupe_suffix` (see `booking_dedupe_key`).
    """
    topic = Topic(topic)
    if topic not in BOOKING_EVENTS:
        raise ValueError(f"not a booking event: {topic}")
    topics = [topic]
    hours = reminder_hours(booking)
    if topic in (Topic.CONFIRMATION, Topic.CHANGE) and wants_reminder(booking["start"], hours, now):
        topics.append(Topic.REMINDER)
    language = booking.get("language") or "nb"
    links = {"supplier_slug": supplier_slug, "offering_slug": offering_slug}
    drafts: list[Draft] = []
    for current in topics:
        due = reminder_at(booking["start"], hours) if current is Topic.REMINDER else now
        # A reminder is pointless once the appointment has started.
        expires = {"expires_at": booking["start"].isoformat()} if current is Topic.REMINDER else {}
        if booking.get("email"):
            payload = email_payload(booking, current, supplier_name=supplier_name, base_url=base_url, now=now, **links)
            drafts.append(
                Draft(
                    channel=Channel.EMAIL.value,
                    topic=current.value,
                    recipient=booking["email"],
                    dedupe_key=booking_dedupe_key(booking, current, Channel.EMAIL, suffix=dedupe_suffix),
                    language=language,
                    payload={**payload, **expires},
                    next_attempt_at=due,
                    order_id=booking.get("order_id", booking["id"]),
                )
            )
        if booking.get("phone"):
            payload = sms_payload(booking, current, supplier_name=supplier_name, base_url=base_url, **links)
            allowed = sms_allowed(booking["phone"])
            drafts.append(
                Draft(
                    channel=Channel.SMS.value,
                    topic=current.value,
                    recipient=booking["phone"],
                    dedupe_key=booking_dedupe_key(booking, current, Channel.SMS, suffix=dedupe_suffix),
                    language=language,
                    payload={**payload, **expires},
                    next_attempt_at=due,
                    order_id=booking.get("order_id", booking["id"]),
                    status=Status.PENDING if allowed else Status.FAILED,
                    last_error="" if allowed else NOT_ALLOWED_SMS,
                )
            )
    if topic in SUPPLIER_SUBJECTS and supplier_email:
        drafts.append(
            Draft(
                channel=Channel.EMAIL.value,
                topic=topic.value,
                recipient=supplier_email,
                dedupe_key=booking_dedupe_key(booking, topic, Channel.EMAIL, suffix=dedupe_suffix, audience=SUPPLIER),
                language=SUPPLIER_LANGUAGE,
                payload=supplier_email_payload(booking, topic, supplier_name=supplier_name, base_url=base_url, supplier_slug=supplier_slug),
                next_attempt_at=now,
                order_id=booking.get("order_id", booking["id"]),
            )
        )
    return drafts




def booking_view(order: dict, reservation: dict) -> dict:
    """The fields `booking_drafts` reads: the order's, with its reservation's
    time, calendar sequence and id (the calendar UID is the reservation's)."""
    quote = order.get("quote") or {}
    return {
        "id": reservation["id"],
        "order_id": order["id"],
        "reference": order["reference"],
        "supplier": order["supplier"],
        "offering": reservation["offering"],
        "start": reservation["start"],
        "end": reservation["end"],
        "ics_sequence": reservation["ics_sequence"],
        "meeting_url": reservation.get("meeting_url") or "",
        "language": order["language"],
        "phone": order["phone"],
        "email": order["email"],
        "customer_name": order["customer_name"],
        "note": order.get("note") or "",
        "price_ore": int(quote.get("total_ore") or 0),
        "manage_token": order["manage_token"],
        "contract_at": order.get("contract_at"),
        "terms": order["terms"],
        "updated_at": order["updated_at"],
    }

"""Message texts: rendered from templates/email and templates/sms in the
booking's language when the message is enqueued, so what is sent is what the
booking looked like when the event happened (and a later template change
never rewrites a message already in the outbox).

Times are shown in Europe/Oslo (portal.lib.clock); amounts with
portal.lib.money. Service messages only: no advertising, no third-party
links (L28, L31). The only links are the booking's own manage page and,
when a paid-for time was lost, the offering's page to choose another time.

The payment topics (slot_lost, payment_problem) carry no calendar file and
touch no reminders. A payment problem is also told to the supplier, in an
email of its own (always Bokmål: suppliers are Norwegian businesses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.booking.calendar import booking_invite_ics
from portal.booking.domain import cancellation_terms_text, withdrawal_info
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.notify.domain import (
    BOOKING_TOPICS,
    DEFAULT_REMINDER_HOURS,
    PAYMENT_TOPICS,
    SUPPLIER,
    Channel,
    Status,
    Topic,
    booking_dedupe_key,
    code_dedupe_key,
    reminder_at,
    sms_allowed,
    wants_reminder,
)
from portal.settings import ROOT
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
    Topic.PAYMENT_PROBLEM: N_("Payment failed for booking %(ref)s: %(what)s, %(when)s"),
}

#: The language of emails to suppliers.
SUPPLIER_LANGUAGE = "nb"

#: The events a booking row causes messages for (the reminder comes with a confirmation or change).
BOOKING_EVENTS = BOOKING_TOPICS + PAYMENT_TOPICS

#: Email topics that carry the calendar file, and its iTIP method.
ICS_METHODS = {Topic.CONFIRMATION: "REQUEST", Topic.CHANGE: "REQUEST", Topic.CANCELLATION: "CANCEL"}

NOT_ALLOWED_SMS = "not sent: SMS goes only to numbers in the countries we serve (L31)"


@dataclass(frozen=True)
class Draft:
    """One outbox row to insert."""

    channel: Channel
    topic: Topic
    recipient: str
    dedupe_key: str
    language: str
    payload: dict
    next_attempt_at: datetime
    booking_id: int | None = None
    status: Status = Status.PENDING
    last_error: str = ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Jinja for messages: HTML escaped, text and SMS not; missing values fail loudly."""
    return Environment(
        loader=FileSystemLoader(str(ROOT / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=StrictUndefined,
        auto_reload=False,
    )


def render(template: str, language: str, **context: Any) -> str:
    t = translations(language)
    base = {"lang": language, "_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext}
    return environment().get_template(template).render(**base, **context).strip() + "\n"


def _terms(booking: dict) -> dict:
    terms = booking.get("terms") or {}
    return json.loads(terms) if isinstance(terms, str) else terms


def host_of(base_url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(base_url).hostname or "portal"


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
    where = t.gettext("Video meeting; the link is sent before the appointment.") if online else address
    cancel = cancellation_terms_text(int(terms.get("cancel_free_hours", 0)), int(terms.get("cancel_fee_percent", 0)))
    withdrawal_class = terms.get("withdrawal_class", "standard")
    try:
        withdrawal = t.gettext(withdrawal_info(withdrawal_class).message)
    except ValueError:
        withdrawal = ""
    manage_url = f"{base_url}/b/{booking['manage_token']}" if booking.get("manage_token") else base_url
    return {
        "reference": booking["reference"],
        "customer_name": booking.get("customer_name") or "",
        "what": title,
        "supplier_name": name,
        "when": clock.fmt_datetime(booking["start"], language),
        "until": clock.fmt_time(booking["end"], language),
        "where": where,
        "online": online,
        "price": format_nok(int(booking.get("price_ore") or 0), language),
        "cancellation": t.ngettext(cancel.singular, cancel.plural, cancel.count) % cancel.args,
        "withdrawal": withdrawal,
        "manage_url": manage_url,
        "has_manage_page": bool(booking.get("manage_token")),
        "rebook_url": rebook_url(base_url, supplier_slug, offering_slug),
        "customer_phone": phone_text(booking["phone"]) if booking.get("phone") else "",
        "customer_email": booking.get("email") or "",
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
        location=v["where"],
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


def supplier_email_payload(booking: dict, topic: Topic, *, supplier_name: str, base_url: str) -> dict:
    """The email to the supplier about one of its bookings, in Bokmål: the same
    template as the customer's, with `audience` "supplier". No Reply-To: the
    customer's contact details are in the text."""
    language = SUPPLIER_LANGUAGE
    t = translations(language)
    v = view(booking, supplier_name=supplier_name, base_url=base_url, language=language)
    subject = t.gettext(SUPPLIER_SUBJECTS[topic]) % {"ref": v["reference"], "what": v["what"], "when": v["when"]}
    context = {"b": v, "s": v["supplier"], "subject": subject, "topic": str(topic), "audience": SUPPLIER}
    return {
        "subject": subject,
        "text": render(f"email/{topic}.txt", language, **context),
        "html": render(f"email/{topic}.html", language, **context),
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
    payment_problem also emails the supplier (`supplier_email`, when it has
    one); its keys include `dedupe_suffix` (see `booking_dedupe_key`).
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
                    channel=Channel.EMAIL,
                    topic=current,
                    recipient=booking["email"],
                    dedupe_key=booking_dedupe_key(booking, current, Channel.EMAIL, suffix=dedupe_suffix),
                    language=language,
                    payload={**payload, **expires},
                    next_attempt_at=due,
                    booking_id=booking["id"],
                )
            )
        if booking.get("phone"):
            payload = sms_payload(booking, current, supplier_name=supplier_name, base_url=base_url, **links)
            allowed = sms_allowed(booking["phone"])
            drafts.append(
                Draft(
                    channel=Channel.SMS,
                    topic=current,
                    recipient=booking["phone"],
                    dedupe_key=booking_dedupe_key(booking, current, Channel.SMS, suffix=dedupe_suffix),
                    language=language,
                    payload={**payload, **expires},
                    next_attempt_at=due,
                    booking_id=booking["id"],
                    status=Status.PENDING if allowed else Status.FAILED,
                    last_error="" if allowed else NOT_ALLOWED_SMS,
                )
            )
    if topic in SUPPLIER_SUBJECTS and supplier_email:
        drafts.append(
            Draft(
                channel=Channel.EMAIL,
                topic=topic,
                recipient=supplier_email,
                dedupe_key=booking_dedupe_key(booking, topic, Channel.EMAIL, suffix=dedupe_suffix, audience=SUPPLIER),
                language=SUPPLIER_LANGUAGE,
                payload=supplier_email_payload(booking, topic, supplier_name=supplier_name, base_url=base_url),
                next_attempt_at=now,
                booking_id=booking["id"],
            )
        )
    return drafts


def code_draft(phone: str, code: str, language: str, now: datetime, valid_seconds: int) -> Draft:
    """The one-time code SMS: due at once, worthless (and never sent) after it expires."""
    language = language if language in ("nb", "en") else "nb"
    minutes = max(1, valid_seconds // 60)
    text = render("sms/code.txt", language, code=code, minutes=minutes).strip()
    allowed = sms_allowed(phone)
    return Draft(
        channel=Channel.SMS,
        topic=Topic.CODE,
        recipient=phone,
        dedupe_key=code_dedupe_key(phone, code, now),
        language=language,
        payload={"text": text, "expires_at": (now + timedelta(seconds=valid_seconds)).isoformat()},
        next_attempt_at=now,
        status=Status.PENDING if allowed else Status.FAILED,
        last_error="" if allowed else NOT_ALLOWED_SMS,
    )

"""The outbox's pure rules and message texts: no database, no network."""

from __future__ import annotations

import email
import random
import re
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.kinds.appointment.messages import booking_drafts, booking_view
from portal.notify.backends import build_email
from portal.notify.domain import (
    Channel,
    Topic,
    booking_dedupe_key,
    code_dedupe_key,
    message_id,
    newer_delivery_status,
    sms_allowed,
    wants_reminder,
)
from portal.notify.messages import NOT_ALLOWED_SMS, code_draft
from portal.outbox.domain import Status, after_failure, backoff_seconds
from portal.settings import MailSettings

UTC = timezone.utc
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
BASE_URL = "https://portal.example"


ORDER_ID = 31  # the order; the booking view's "id" is its reservation's (RESERVATION_ID)
RESERVATION_ID = 9


def booking(**overrides) -> dict:
    """The booking view the messages take: an order and its reservation
    (portal.kinds.appointment.messages.booking_view), each override set on
    the one that holds the field."""
    order = {
        "id": ORDER_ID,
        "reference": "RX4T7B",
        "supplier": None,
        "language": "nb",
        "customer_name": "Ola Nordmann",
        "phone": "+4791234567",
        "email": "ola@example.no",
        "quote": {"total_ore": 89000},
        "manage_token": "manage-token-abc",
        "updated_at": NOW,
        "terms": {
            "supplier": {
                "legal_name": "Fjellro Massasje AS",
                "org_number": "918630252",
                "vat_registered": True,
                "street": "Strandkaien 2",
                "postcode": "5013",
                "town": "Bergen",
                "phone": "+4755302184",
                "email": "booking@fjellro.eksempel.no",
            },
            "offering_title": "Massasje 60 min",
            "online": False,
            "cancel_free_hours": 24,
            "cancel_fee_percent": 0,
            "withdrawal_class": "standard",
        },
    }
    reservation = {
        "id": RESERVATION_ID,
        "offering": 3,
        "start": datetime(2026, 10, 25, 9, 0, tzinfo=UTC),  # the last Sunday of October: 10:00 in Oslo (CET)
        "end": datetime(2026, 10, 25, 10, 0, tzinfo=UTC),
        "ics_sequence": 0,
    }
    for key, value in overrides.items():
        if key in reservation:
            reservation[key] = value
        elif key in order:
            order[key] = value
        else:
            raise KeyError(key)
    return booking_view(order, reservation)


def test_the_booking_view_has_the_order_and_the_reservation():
    b = booking()
    assert b["id"] == RESERVATION_ID and b["order_id"] == ORDER_ID
    assert b["price_ore"] == 89000 and b["reference"] == "RX4T7B" and b["ics_sequence"] == 0
    drafts = booking_drafts(b, "confirmation", supplier_name="Fjellro", base_url=BASE_URL, now=NOW)
    assert drafts and all(d.order_id == ORDER_ID for d in drafts), "outbox rows name the order"
    assert all(type(d.channel) is str and type(d.topic) is str for d in drafts), "a Draft's channel and topic are plain str"


# ---------------------------------------------------------------- L31


SERVED = {
    "NO": "+4741234567",
    "DK": "+4520123456",
    "SE": "+46701234567",
    "PL": "+48512345678",
    "GB": "+447400123456",
    "PT": "+351912345678",
    "GR": "+306912345678",
    "HR": "+385912345678",
    "CZ": "+420601123456",
    "FO": "+298211234",
    "GL": "+299221234",
    "LT": "+37061234567",
    "US": "+12025550123",
    "TR": "+905321234567",
}
NOT_SERVED = {
    "DE": "+4915112345678",
    "FI": "+358401234567",
    "CA": "+14165550123",  # +1, but Canada
    "PR": "+17875551234",  # +1, but Puerto Rico
    "GG": "+447911123456",  # +44, but Guernsey
    "invalid": "+4712",
    "garbage": "not a number",
    "empty": "",
}


@pytest.mark.legal("L31")
@pytest.mark.parametrize("region", list(SERVED))
def test_sms_goes_to_every_country_we_serve(region):
    assert sms_allowed(SERVED[region])


@pytest.mark.legal("L31")
@pytest.mark.parametrize("case", list(NOT_SERVED))
def test_sms_goes_nowhere_else(case):
    assert not sms_allowed(NOT_SERVED[case])


@pytest.mark.legal("L31")
def test_a_booking_with_a_foreign_number_gets_no_sendable_sms():
    drafts = booking_drafts(booking(phone="+4915112345678"), "confirmation", supplier_name="Fjellro", base_url=BASE_URL, now=NOW)
    sms = [d for d in drafts if d.channel == Channel.SMS]
    assert sms and all(d.status is Status.FAILED and d.last_error == NOT_ALLOWED_SMS for d in sms)
    assert all(d.status is Status.PENDING for d in drafts if d.channel == Channel.EMAIL)


# ---------------------------------------------------------------- backoff and retries


@given(
    attempt=st.integers(min_value=1, max_value=100),
    base=st.floats(min_value=0.1, max_value=600),
    cap=st.floats(min_value=1, max_value=86_400),
    seed=st.integers(),
)
def test_backoff_is_exponential_capped_and_jittered(attempt, base, cap, seed):
    delay = backoff_seconds(attempt, base, cap, random.Random(seed))
    window = min(cap, base * 2 ** (attempt - 1))
    assert window / 2 <= delay <= window
    assert delay <= cap


def test_backoff_grows_and_spreads():
    rng = random.Random(1)
    firsts = [backoff_seconds(1, 30, 3600, rng) for _ in range(50)]
    assert len({round(d, 3) for d in firsts}) > 40  # jitter: workers do not retry in lockstep
    assert all(15 <= d <= 30 for d in firsts)
    assert all(1800 <= backoff_seconds(20, 30, 3600, rng) <= 3600 for _ in range(20))
    with pytest.raises(ValueError):
        backoff_seconds(0, 30, 3600)


def test_after_failure_retries_then_parks_with_the_error():
    kw = dict(max_attempts=3, error="421 busy", now=NOW, base=30, cap=3600, rand=random.Random(2))
    retry = after_failure(attempts=1, permanent=False, **kw)
    assert retry.status is Status.PENDING and NOW + timedelta(seconds=15) <= retry.next_attempt_at <= NOW + timedelta(seconds=30)
    assert retry.error == "421 busy"
    parked = after_failure(attempts=3, permanent=False, **kw)
    assert parked.status is Status.FAILED and "421 busy" in parked.error and "3 tries" in parked.error
    assert after_failure(attempts=1, permanent=True, **kw).status is Status.FAILED
    late = after_failure(attempts=1, permanent=False, expires_at=NOW + timedelta(seconds=10), **kw)
    assert late.status is Status.FAILED and "expired" in late.error


def test_delivery_status_only_moves_forwards():
    assert newer_delivery_status("", "queued")
    assert newer_delivery_status("sent", "delivered")
    assert not newer_delivery_status("delivered", "sent")
    assert not newer_delivery_status("delivered", "delivered")
    assert not newer_delivery_status("failed", "delivered")
    assert not newer_delivery_status("sent", "made-up-status")


# ---------------------------------------------------------------- keys and ids


def test_dedupe_keys_name_one_event_and_channel():
    b = booking()
    assert booking_dedupe_key(b, Topic.CONFIRMATION, Channel.EMAIL) == "booking:9:confirmation:email"
    assert booking_dedupe_key(b, Topic.CONFIRMATION, Channel.SMS) != booking_dedupe_key(b, Topic.CONFIRMATION, Channel.EMAIL)
    change1 = booking_dedupe_key({**b, "ics_sequence": 1}, Topic.CHANGE, Channel.EMAIL)
    change2 = booking_dedupe_key({**b, "ics_sequence": 2}, Topic.CHANGE, Channel.EMAIL)
    assert change1 != change2
    moved = {**b, "start": b["start"] + timedelta(hours=1)}
    assert booking_dedupe_key(b, Topic.REMINDER, Channel.SMS) != booking_dedupe_key(moved, Topic.REMINDER, Channel.SMS)
    assert all(len(booking_dedupe_key(b, t, c)) <= 200 for t in Topic if t is not Topic.CODE for c in Channel)


def test_code_keys_do_not_show_the_code():
    key = code_dedupe_key("+4741234567", "123456", NOW)
    assert "123456" not in key and key == code_dedupe_key("+4741234567", "123456", NOW)
    assert key != code_dedupe_key("+4741234567", "123456", NOW + timedelta(seconds=1))


def test_message_id_is_stable_per_row():
    first = message_id(17, "booking:9:confirmation:email", "portal.example")
    assert first == message_id(17, "booking:9:confirmation:email", "portal.example")
    assert re.fullmatch(r"<outbox-17-[0-9a-f]{16}@portal\.example>", first)
    assert first != message_id(18, "booking:9:confirmation:email", "portal.example")


# ---------------------------------------------------------------- reminders


def test_reminder_only_when_booked_before_the_reminder_time():
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert wants_reminder(start, 24, start - timedelta(hours=25))
    assert not wants_reminder(start, 24, start - timedelta(hours=24))
    assert not wants_reminder(start, 24, start - timedelta(hours=2))
    assert not wants_reminder(start, 0, start - timedelta(days=9))


def test_frozen_terms_may_set_the_reminder_hours():
    b = booking(terms={**booking()["terms"], "reminder_hours": 2})
    drafts = booking_drafts(b, "confirmation", supplier_name="Fjellro", base_url=BASE_URL, now=NOW)
    reminders = [d for d in drafts if d.topic == Topic.REMINDER]
    assert reminders and all(d.next_attempt_at == b["start"] - timedelta(hours=2) for d in reminders)
    assert all(d.payload["expires_at"] == b["start"].isoformat() for d in reminders)


# ---------------------------------------------------------------- texts


def _all_texts(b: dict) -> list[str]:
    texts = []
    for topic in ("confirmation", "change", "cancellation"):
        for d in booking_drafts(b, topic, supplier_name="Fjellro", base_url=BASE_URL, now=NOW):
            texts += [v for k, v in d.payload.items() if k in ("subject", "text", "html")]
    return texts


@pytest.mark.parametrize("language", ["nb", "en"])
def test_every_message_renders_in_the_bookings_language_with_oslo_time(language):
    b = booking(language=language)
    drafts = booking_drafts(b, "confirmation", supplier_name="Fjellro", base_url=BASE_URL, now=NOW)
    email = next(d for d in drafts if d.channel == Channel.EMAIL and d.topic == Topic.CONFIRMATION)
    sms = next(d for d in drafts if d.channel == Channel.SMS and d.topic == Topic.CONFIRMATION)
    local = "søndag 25. oktober 2026 kl. 10:00" if language == "nb" else "Sunday 25 October 2026 at 10:00"
    assert local in email.payload["subject"] and local in email.payload["text"] and local in sms.payload["text"]
    greeting = "Hei Ola Nordmann," if language == "nb" else "Hello Ola Nordmann,"
    assert email.payload["text"].startswith(greeting)
    for text in (email.payload["text"], email.payload["html"]):
        assert "Fjellro Massasje AS" in text and "918 630 252" in text and "booking@fjellro.eksempel.no" in text
        assert f"{BASE_URL}/b/manage-token-abc" in text
    assert email.payload["reply_to"] == "booking@fjellro.eksempel.no"
    assert all(d.language == language for d in drafts)


def test_summer_time_is_shown_as_oslo_wall_time():
    b = booking(start=datetime(2026, 3, 29, 8, 0, tzinfo=UTC), end=datetime(2026, 3, 29, 9, 0, tzinfo=UTC))
    (sms,) = [d for d in booking_drafts(b, "cancellation", supplier_name="F", base_url=BASE_URL, now=NOW) if d.channel == Channel.SMS]
    assert "søndag 29. mars 2026 kl. 10:00" in sms.payload["text"]


def test_html_escapes_what_suppliers_and_customers_typed():
    b = booking(customer_name="<script>x</script>")
    email = booking_drafts(b, "confirmation", supplier_name="A & B <i>", base_url=BASE_URL, now=NOW)[0]
    assert "<script>" not in email.payload["html"] and "&lt;script&gt;" in email.payload["html"]
    assert "A &amp; B &lt;i&gt;" in email.payload["html"]


@pytest.mark.legal("L31")
@pytest.mark.legal("L28")
def test_messages_carry_no_advertising_and_no_third_party_links():
    """The only links are the booking's own page and the seller's address."""
    for language in ("nb", "en"):
        for text in _all_texts(booking(language=language)):
            for url in re.findall(r"(?:https?://|www\.)[^\s\"'<>]+", text):
                assert url.startswith(f"{BASE_URL}/b/"), url
            for href in re.findall(r'href="([^"]+)"', text):
                assert href.startswith((f"{BASE_URL}/b/", "mailto:booking@fjellro.eksempel.no")), href
            assert "<img" not in text  # no tracking pixels, no banners


@pytest.mark.legal("L6")
def test_confirmation_of_an_exempt_offering_says_there_is_no_right_of_withdrawal():
    terms = {**booking()["terms"], "withdrawal_class": "exempt_dated_leisure"}
    email = booking_drafts(booking(terms=terms, language="en"), "confirmation", supplier_name="F", base_url=BASE_URL, now=NOW)[0]
    assert "No right of withdrawal" in email.payload["text"]


def test_code_sms_says_how_long_the_code_lasts():
    nb = code_draft("+4741234567", "123456", "nb", NOW, 300)
    en = code_draft("+4741234567", "123456", "en", NOW, 60)
    assert nb.payload["text"] == "Koden din er 123456. Den gjelder i 5 minutter. Ikke del den med noen."
    assert en.payload["text"] == "Your code is 123456. It is valid for 1 minute. Do not share it."
    assert nb.payload["expires_at"] == (NOW + timedelta(seconds=300)).isoformat()
    assert nb.topic == Topic.CODE and nb.next_attempt_at == NOW


# ---------------------------------------------------------------- the MIME message


def _row(topic: str = "confirmation") -> dict:
    drafts = booking_drafts(booking(), topic, supplier_name="Fjellro", base_url=BASE_URL, now=NOW)
    d = next(x for x in drafts if x.channel == Channel.EMAIL and x.topic == topic)
    return {"id": 5, "dedupe_key": d.dedupe_key, "recipient": d.recipient, "language": d.language, "payload": d.payload, "created_at": NOW}


def _received(row: dict, mail: MailSettings) -> email.message.EmailMessage:
    """What a recipient parses from the bytes we send."""
    return email.message_from_bytes(build_email(row, mail).as_bytes(), policy=policy.default)


def test_email_is_multipart_with_calendar_request_and_the_same_bytes_on_every_try():
    mail = MailSettings(sender="portal <no-reply@portal.example>")
    assert build_email(_row(), mail).as_bytes() == build_email(_row(), mail).as_bytes()  # a resend is the same message
    msg = _received(_row(), mail)
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    assert msg["Message-ID"] == message_id(5, "booking:9:confirmation:email", "portal.example")
    assert msg["From"] == "portal <no-reply@portal.example>"
    assert msg["Reply-To"] == "Fjellro <booking@fjellro.eksempel.no>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Subject"] == "Bestilling bekreftet: Massasje 60 min, søndag 25. oktober 2026 kl. 10:00"
    assert "Hei Ola Nordmann," in msg.get_body(("plain",)).get_content()
    assert "Fjellro Massasje AS" in msg.get_body(("html",)).get_content()
    calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content().startswith("BEGIN:VCALENDAR\r\n")
    (attachment,) = msg.iter_attachments()
    assert attachment.get_filename() == "booking-RX4T7B.ics"
    assert attachment.get_content() == calendar.get_content().encode()


def test_non_ascii_names_are_encoded_in_headers():
    row = _row()
    row["payload"] = {**row["payload"], "reply_to_name": "Søstrene Grønn"}
    msg = _received(row, MailSettings(sender="Bestillingsportalen Æ <no-reply@portal.example>"))
    assert msg["Reply-To"].addresses[0].display_name == "Søstrene Grønn"
    assert msg["From"].addresses[0].display_name == "Bestillingsportalen Æ"
    assert b"\xc3" not in build_email(row, MailSettings()).as_bytes().split(b"\n\n")[0]  # headers stay 7-bit


def test_cancellation_email_carries_a_cancel():
    msg = _received(_row("cancellation"), MailSettings())
    calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "CANCEL"
    assert "STATUS:CANCELLED" in calendar.get_content()

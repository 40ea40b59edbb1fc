"""The two messages the payments code causes: slot_lost (approved in Vipps
after the hold expired and the time was taken) and payment_problem (taking
the payment failed; the supplier is told too).

Golden files of every text (tests/integration/golden/<topic>.<language>.*):
`*.email.txt` is the subject line, a blank line and the text part;
`*.email.html` the HTML part; `*.sms.txt` the SMS. To accept an intended
change, regenerate and review the diff of tests/integration/golden/:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_notify_payment_messages.py -k golden

The Bokmål files (`*.nb.*`, and the supplier's email, which is always
Bokmål) show what the nb catalogue says when they are written: regenerate
them (`-k "golden and nb"`) after new msgids are translated.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from portal.catalogue.tables import Offering, Supplier
from portal.kinds.appointment.messages import booking_drafts, booking_view
from portal.notify import service
from portal.notify.domain import Channel, Topic, booking_dedupe_key
from portal.notify.messages import NOT_ALLOWED_SMS
from portal.notify.tables import DevMessage
from portal.outbox import worker
from portal.outbox.domain import Status
from portal.outbox.tables import OutboxMessage
from tests.integration.test_notify_golden import DTSTAMP, ORDER, RESERVATION
from tests.integration.test_notify_support import NOW, SUPPLIER_SLUG, change_booking, enqueue, make_booking

GOLDEN = Path(__file__).parent / "golden"
BASE_URL = "https://portal.example"
SUPPLIER_EMAIL = "post@saksogstil.eksempel.no"

#: The golden booking as the payments code's order event makes it (the
#: booking view of the order's reservation), per topic. The quote is empty
#: as it was: these texts show no price.
GOLDEN_BOOKINGS = {
    # Never confirmed: released when its hold ran out, so it has no manage page.
    "slot_lost": booking_view(
        {
            **ORDER,
            "state": "released",
            "manage_token": None,
            "means": "vipps",
            "quote": {},
            "checkout_token": "golden-hold-token",
            "updated_at": DTSTAMP,
        },
        RESERVATION,
    ),
    "payment_problem": booking_view(
        {
            **ORDER,
            "state": "confirmed",
            "means": "vipps",
            "quote": {},
            "checkout_token": "golden-hold-token",
            "updated_at": DTSTAMP,
        },
        RESERVATION,
    ),
}


def _golden_drafts(topic: str, language: str) -> list:
    return booking_drafts(
        {**GOLDEN_BOOKINGS[topic], "language": language},
        topic,
        supplier_name="Saks og Stil",
        base_url=BASE_URL,
        now=DTSTAMP,
        supplier_slug="saks-og-stil-grunerlokka",
        offering_slug="herreklipp",
        supplier_email=SUPPLIER_EMAIL,
        dedupe_suffix="capture-golden-1",
    )


def _part(draft, part: str) -> str:
    if part == "email.txt":
        return f"Subject: {draft.payload['subject']}\n\n{draft.payload['text']}"
    if part == "email.html":
        return draft.payload["html"]
    return draft.payload["text"] + "\n"


def _produce(name: str) -> bytes:
    """`<topic>.<language>.<part>` for the customer, `<topic>.supplier.nb.<part>` for the supplier."""
    topic, *who, language, channel, ext = name.split(".")
    drafts = _golden_drafts(topic, language)
    if who == ["supplier"]:
        (draft,) = [d for d in drafts if d.recipient == SUPPLIER_EMAIL]
    else:
        (draft,) = [d for d in drafts if d.channel == channel and d.recipient != SUPPLIER_EMAIL]
    return _part(draft, f"{channel}.{ext}").encode("utf-8")


GOLDEN_NAMES = [
    f"{topic}.{language}.{part}"
    for topic in ("slot_lost", "payment_problem")
    for language in ("nb", "en")
    for part in ("email.txt", "email.html", "sms.txt")
] + ["payment_problem.supplier.nb.email.txt", "payment_problem.supplier.nb.email.html"]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_message(name):
    produced = _produce(name)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(produced)
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    assert produced == path.read_bytes(), f"{path.name} differs (UPDATE_GOLDEN=1 to accept an intended change)"


# ---------------------------------------------------------------- texts (no database)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_slot_lost_says_when_what_where_and_links_to_the_offering(language):
    drafts = _golden_drafts("slot_lost", language)
    assert sorted(d.channel for d in drafts) == ["email", "sms"]  # nothing for the supplier
    when = "søndag 29. mars 2026 kl. 10:00" if language == "nb" else "Sunday 29 March 2026 at 10:00"
    link = f"{BASE_URL}/s/saks-og-stil-grunerlokka/herreklipp"
    for d in drafts:
        texts = [d.payload["text"]] + ([d.payload["subject"], d.payload["html"]] if d.channel == Channel.EMAIL.value else [])
        for text in texts:
            assert when in text and "Herreklipp" in text
        assert link in d.payload["text"] and "Vipps" in d.payload["text"]
        assert "/b/" not in d.payload["text"]  # no manage page: it never was a booking
        assert "ics" not in d.payload and d.topic == Topic.SLOT_LOST.value and d.language == language
        assert d.next_attempt_at == DTSTAMP and "expires_at" not in d.payload


@pytest.mark.parametrize("language", ["nb", "en"])
def test_payment_problem_tells_the_customer_and_links_the_booking_page(language):
    drafts = [d for d in _golden_drafts("payment_problem", language) if d.recipient != SUPPLIER_EMAIL]
    assert sorted(d.channel for d in drafts) == ["email", "sms"]
    for d in drafts:
        assert f"{BASE_URL}/b/golden-manage-token" in d.payload["text"] and "Vipps" in d.payload["text"]
        assert "ics" not in d.payload and d.language == language
    without_page = booking_drafts(
        {**GOLDEN_BOOKINGS["payment_problem"], "manage_token": None, "language": language},
        "payment_problem",
        supplier_name="Saks og Stil",
        base_url=BASE_URL,
        now=DTSTAMP,
    )
    assert len(without_page) == 2  # no supplier address given: no supplier email
    for d in without_page:
        assert "/b/" not in d.payload["text"] and "/b/" not in d.payload.get("html", "")


def test_the_supplier_email_is_bokmal_with_the_customers_contact_details():
    for language in ("nb", "en"):  # the customer's language does not matter to the supplier
        (d,) = [d for d in _golden_drafts("payment_problem", language) if d.recipient == SUPPLIER_EMAIL]
        assert d.channel == Channel.EMAIL.value and d.language == "nb" and d.topic == Topic.PAYMENT_PROBLEM.value
        assert d.dedupe_key == "booking:42:payment_problem:capture-golden-1:supplier:email"
        for text in (d.payload["text"], d.payload["html"]):
            assert "K7QX2M" in text and "Kari Nordmann" in text and "+47 41 23 45 67" in text
            assert "søndag 29. mars 2026 kl. 10:00" in text and "Herreklipp" in text
        assert "ics" not in d.payload and "reply_to" not in d.payload
        assert d.payload == _golden_drafts("payment_problem", "nb")[-1].payload


def test_links_are_our_own_pages_only():
    for topic in GOLDEN_BOOKINGS:
        for language in ("nb", "en"):
            for d in _golden_drafts(topic, language):
                for text in (d.payload.get("text", ""), d.payload.get("html", "")):
                    for url in re.findall(r"(?:https?://|www\.)[^\s\"'<>]+", text):
                        assert url.startswith((f"{BASE_URL}/b/", f"{BASE_URL}/s/")), url
                    assert "<img" not in text


def test_html_escapes_what_customers_and_suppliers_typed():
    booking = {**GOLDEN_BOOKINGS["payment_problem"], "customer_name": "<b>Kari</b>"}
    drafts = booking_drafts(
        booking, "payment_problem", supplier_name="A & B", base_url=BASE_URL, now=DTSTAMP, supplier_email=SUPPLIER_EMAIL
    )
    for d in drafts:
        if "html" in d.payload:
            assert "<b>Kari</b>" not in d.payload["html"] and "&lt;b&gt;Kari&lt;/b&gt;" in d.payload["html"]
            assert "A &amp; B" in d.payload["html"]


def test_keys_of_existing_topics_ignore_the_suffix():
    b = GOLDEN_BOOKINGS["payment_problem"]
    for topic in ("confirmation", "cancellation", "slot_lost"):
        assert booking_dedupe_key(b, topic, "email", suffix="x") == f"booking:42:{topic}:email"
    assert booking_dedupe_key(b, "payment_problem", "sms", suffix="op-1") == "booking:42:payment_problem:op-1:sms"
    odd = booking_dedupe_key(b, "payment_problem", "sms", suffix="a:b " * 100)
    assert len(odd) < 100 and odd == booking_dedupe_key(b, "payment_problem", "sms", suffix="a:b " * 100)
    assert booking_dedupe_key(b, "payment_problem", "email") == "booking:42:payment_problem:updated-20260320T083000000000Z:email"


# ---------------------------------------------------------------- the outbox (database)


async def _enqueue(booking: dict, topic: str, now=NOW, **kw) -> None:
    await enqueue(booking, topic, now, **kw)


async def _rows(**where) -> list[dict]:
    rows = await OutboxMessage.select().order_by(OutboxMessage.id).output(load_json=True)
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


async def _drain_all(now) -> int:
    total = 0
    while tried := await worker.drain_once(now):
        total += tried
    return total


async def _supplier_email() -> str:
    return (await Supplier.select(Supplier.email).where(Supplier.slug == SUPPLIER_SLUG).first())["email"]


async def test_slot_lost_enqueues_one_email_and_sms_with_the_offering_link(clean_bookings):
    booking = await make_booking(state="released", manage_token=None, means="vipps")
    await _enqueue(booking, "slot_lost")
    await _enqueue(booking, "slot_lost", NOW + timedelta(seconds=5), dedupe_suffix="ignored")  # retried: nothing new
    rows = await _rows()
    assert sorted((r["topic"], r["channel"], r["recipient"]) for r in rows) == [
        ("slot_lost", "email", "kari@example.no"),
        ("slot_lost", "sms", "+4741234567"),
    ]
    keys = {r["dedupe_key"] for r in rows}
    assert keys == {f"booking:{booking['id']}:slot_lost:email", f"booking:{booking['id']}:slot_lost:sms"}
    offering = await Offering.select(Offering.slug).where(Offering.id == booking["offering"]).first()
    link = f"/s/{SUPPLIER_SLUG}/{offering['slug']}"
    assert all(link in r["payload"]["text"] and "ics" not in r["payload"] for r in rows)
    assert all(r["status"] == "pending" and r["order_id"] == booking["order_id"] for r in rows)
    assert await _drain_all(NOW) == 2
    mail = await DevMessage.select().where(DevMessage.channel == "email").first().output(load_json=True)
    assert mail["attachments"] == [] and mail["recipient"] == "kari@example.no"


async def test_payment_problem_goes_to_the_customer_and_the_supplier(clean_bookings):
    booking = await make_booking(means="vipps")
    supplier_email = await _supplier_email()
    await _enqueue(booking, "payment_problem", dedupe_suffix="capture-op-1")
    rows = await _rows()
    assert sorted((r["channel"], r["recipient"], r["language"]) for r in rows) == sorted(
        [("email", "kari@example.no", "nb"), ("sms", "+4741234567", "nb"), ("email", supplier_email, "nb")]
    )
    assert all(r["topic"] == "payment_problem" and r["order_id"] == booking["order_id"] and "ics" not in r["payload"] for r in rows)
    (to_supplier,) = [r for r in rows if r["recipient"] == supplier_email]
    assert booking["reference"] in to_supplier["payload"]["text"] and "Kari Nordmann" in to_supplier["payload"]["text"]
    assert "+47 41 23 45 67" in to_supplier["payload"]["text"]
    customer_email = next(r for r in rows if r["recipient"] == "kari@example.no")
    assert f"/b/{booking['manage_token']}" in customer_email["payload"]["text"]

    assert await _drain_all(NOW) == 3
    sent = await DevMessage.select(DevMessage.channel, DevMessage.recipient, DevMessage.subject)
    assert sorted((m["channel"], m["recipient"]) for m in sent) == sorted(
        [("email", "kari@example.no"), ("sms", "+4741234567"), ("email", supplier_email)]
    )
    supplier_mail = next(m for m in sent if m["recipient"] == supplier_email)
    assert booking["reference"] in supplier_mail["subject"]


async def test_the_customers_message_log_leaves_out_the_supplier_email(clean_bookings):
    booking = await make_booking()
    await _enqueue(booking, "payment_problem", dedupe_suffix="capture-op-1")
    log = await service.delivery_log(booking["order_id"])
    assert sorted((e["topic"], e["channel"], e["recipient"]) for e in log) == [
        ("payment_problem", "email", "kari@example.no"),
        ("payment_problem", "sms", "+4741234567"),
    ]


async def test_the_message_log_page_names_the_new_topics(client):
    booking = await make_booking()
    await _enqueue(booking, "payment_problem", dedupe_suffix="capture-op-1")
    await _enqueue(await change_booking(booking, state="released"), "slot_lost")  # not realistic for one booking, but both labels show
    page = await client.get(f"/b/{booking['manage_token']}/messages")
    assert page.status_code == 200
    assert await _supplier_email() not in page.text
    assert page.text.count("<li class=\"card\">") == 4


async def test_the_same_failure_once_a_new_failure_again(clean_bookings):
    booking = await make_booking(means="vipps")
    await _enqueue(booking, "payment_problem", dedupe_suffix="capture-op-1")
    await _enqueue(booking, "payment_problem", NOW + timedelta(minutes=1), dedupe_suffix="capture-op-1")  # retried
    assert len(await _rows()) == 3  # one per channel and recipient
    await _enqueue(booking, "payment_problem", NOW + timedelta(days=1), dedupe_suffix="capture-op-2")
    rows = await _rows()
    assert len(rows) == 6 and len({r["dedupe_key"] for r in rows}) == 6
    assert sum("capture-op-2" in r["dedupe_key"] for r in rows) == 3


async def test_without_a_suffix_the_bookings_updated_at_tells_failures_apart(clean_bookings):
    booking = await make_booking(means="vipps")
    await _enqueue(booking, "payment_problem")
    await _enqueue(booking, "payment_problem", NOW + timedelta(minutes=1))
    assert len(await _rows()) == 3
    await _enqueue(await change_booking(booking, updated_at=NOW + timedelta(hours=2)), "payment_problem", NOW + timedelta(hours=2))
    assert len(await _rows()) == 6


async def test_payment_messages_add_no_reminders_and_leave_reminders_alone(clean_bookings):
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    before = await _rows(topic="reminder")
    assert [r["status"] for r in before] == ["pending", "pending"]
    await _enqueue(booking, "payment_problem", NOW + timedelta(minutes=1), dedupe_suffix="capture-op-1")
    await _enqueue(booking, "slot_lost", NOW + timedelta(minutes=2))
    assert await _rows(topic="reminder") == before
    assert {r["topic"] for r in await _rows()} == {"confirmation", "reminder", "payment_problem", "slot_lost", "render"}


@pytest.mark.legal("L31")
@pytest.mark.parametrize("topic", ["slot_lost", "payment_problem"])
async def test_sms_to_a_country_we_do_not_serve_is_parked_and_never_sent(clean_bookings, topic):
    never_confirmed = {"state": "released", "manage_token": None} if topic == "slot_lost" else {}
    booking = await make_booking(phone="+4915112345678", **never_confirmed)  # Germany
    await _enqueue(booking, topic, dedupe_suffix="op-1")
    (sms,) = await _rows(channel="sms")
    assert sms["status"] == Status.FAILED.value and sms["last_error"] == NOT_ALLOWED_SMS
    assert all(r["status"] == "pending" for r in await _rows(channel="email"))
    await _drain_all(NOW + timedelta(days=1))
    assert await DevMessage.count().where(DevMessage.channel == "sms") == 0
    assert await DevMessage.count().where(DevMessage.channel == "email") == (2 if topic == "payment_problem" else 1)

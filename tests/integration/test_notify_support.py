"""Shared by the notify tests (no tests here): a booking to send about, a real
SMTP server (aiosmtpd) that records what arrives, settings variants."""

from __future__ import annotations

import dataclasses
import email
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import policy

import pytest

from portal.settings import load

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_with(*, mail: dict | None = None, sms: dict | None = None, outbox: dict | None = None):
    base = load()
    return dataclasses.replace(
        base,
        mail=dataclasses.replace(base.mail, **(mail or {})),
        sms=dataclasses.replace(base.sms, **(sms or {})),
        outbox=dataclasses.replace(base.outbox, **(outbox or {})),
    )


class Mailbox:
    """What an SMTP server received. `messages` de-duplicates by Message-ID
    (as mail stores do); `raw` keeps every DATA the server accepted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raw: list[bytes] = []
        self.on_message = None  # called (in the server thread) after each accepted message

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.raw.append(envelope.content)
            number = len(self.raw)
        if self.on_message is not None:
            self.on_message(number)
        return f"250 2.0.0 Ok: queued as Q{number:06d}"

    def parsed(self) -> list[email.message.EmailMessage]:
        with self.lock:
            raw = list(self.raw)
        return [email.message_from_bytes(item, policy=policy.default) for item in raw]

    def ids(self) -> Counter:
        return Counter(str(m["Message-ID"]) for m in self.parsed())

    def by_message_id(self) -> dict[str, email.message.EmailMessage]:
        # A method, not a property: aiosmtpd inspects the handler's members on every connection.
        return {str(m["Message-ID"]): m for m in self.parsed()}


class SmtpServer:
    """A real aiosmtpd server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture()
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
async def clean_outbox():
    from portal.notify.tables import DevMessage, OutboxMessage

    await OutboxMessage.delete(force=True)
    await DevMessage.delete(force=True)
    yield


SUPPLIER_SLUG = "saks-og-stil-grunerlokka"


async def make_booking(*, start: datetime | None = None, language: str = "nb", **overrides) -> dict:
    """A confirmed booking of the demo hairdresser, inserted directly (no slot rules involved)."""
    import secrets

    from portal.booking.tables import Booking
    from portal.catalogue.tables import Offering, Resource, Supplier

    supplier = await Supplier.select().where(Supplier.slug == SUPPLIER_SLUG).first()
    offering = await Offering.select().where(Offering.supplier == supplier["id"]).order_by(Offering.id).first()
    resource = await Resource.select().where(Resource.supplier == supplier["id"]).order_by(Resource.id).first()
    start = start or NOW + timedelta(days=3)
    terms = {
        "supplier": {k: supplier[k] for k in ("legal_name", "org_number", "company_form", "vat_registered", "street", "postcode", "town", "phone", "email")},
        "offering_title": offering["title"],
        "kind": offering["kind"],
        "online": offering["online"],
        "capacity": offering["capacity"],
        "cancel_free_hours": offering["cancel_free_hours"],
        "cancel_fee_percent": offering["cancel_fee_percent"],
        "withdrawal_class": offering["withdrawal_class"],
        "supplier_terms": supplier["terms"],
    }
    values = dict(
        reference=secrets.token_hex(3).upper(),
        supplier=supplier["id"],
        offering=offering["id"],
        resource=resource["id"],
        start=start,
        end=start + timedelta(minutes=offering["duration_min"] or 30),
        status="confirmed",
        hold_token=secrets.token_urlsafe(16),
        visitor="test",
        customer_name="Kari Nordmann",
        phone="+4741234567",
        email="kari@example.no",
        language=language,
        price_ore=offering["price_ore"],
        vat_rate_bp=offering["vat_rate_bp"],
        vat_ore=0,
        terms=terms,
        contract_at=NOW,
        manage_token=secrets.token_urlsafe(24),
        ics_sequence=0,
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(overrides)
    inserted = await Booking.insert(Booking(**values)).returning(Booking.id)
    return await Booking.select().output(load_json=True).where(Booking.id == inserted[0]["id"]).first()

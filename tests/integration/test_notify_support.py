"""Shared by the notify tests (no tests here): a booking (an order with one
appointment line and its reservation) to send about, a real SMTP server
(aiosmtpd) that records what arrives, settings variants."""

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
    from portal.notify.tables import DevMessage
    from portal.outbox.tables import OutboxMessage

    await OutboxMessage.delete(force=True)
    await DevMessage.delete(force=True)
    yield


SUPPLIER_SLUG = "saks-og-stil-grunerlokka"


@pytest.fixture()
def supplier_not_told(monkeypatch):
    """The supplier is not emailed about new, moved or cancelled bookings while
    the test runs (only about payment problems, as before), so an outbox test
    counts the customer's messages; how the supplier is told of a booking is
    tested in test_backoffice.py."""
    from portal.kinds.appointment import messages
    from portal.notify.domain import Topic

    monkeypatch.setattr(messages, "SUPPLIER_SUBJECTS", {Topic.PAYMENT_PROBLEM: messages.SUPPLIER_SUBJECTS[Topic.PAYMENT_PROBLEM]})


#: The reservation's status for each order state (portal.kinds.appointment.domain.END_EVENTS).
RESERVATION_STATUS = {
    "held": "held",
    "confirmed": "confirmed",
    "released": "released",
    "completed": "completed",
    "no_show": "no_show",
    "cancelled_by_customer": "cancelled",
    "cancelled_by_supplier": "cancelled",
    "withdrawn": "cancelled",
}

#: Fields of a booking that live on the reservation; the rest are the order's.
RESERVATION_FIELDS = ("offering", "resource", "start", "end", "ics_sequence")


async def booking_of(order_id: int) -> dict:
    """The booking view (portal.kinds.appointment.messages.booking_view) of an
    order's one reservation: `id` is the reservation's, `order_id` the order's."""
    from portal.kinds.appointment.messages import booking_view
    from portal.kinds.appointment.tables import Reservation
    from portal.orders.tables import Order

    order = await Order.select().output(load_json=True).where(Order.id == order_id).first()
    (reservation,) = await Reservation.select().where(Reservation.order == order_id)
    return booking_view(order, reservation)


async def make_booking(*, start: datetime | None = None, language: str = "nb", **overrides) -> dict:
    """A confirmed booking of the demo hairdresser, inserted directly (no slot
    rules involved): an order, its appointment line and its reservation.
    Returns its booking view (see `booking_of`).

    `overrides` name the new fields: order columns (state, means, email,
    phone, manage_token, …) or reservation ones (RESERVATION_FIELDS). The
    order id and the reservation id differ on purpose (a throwaway order
    takes an id first), so a test notices one used where the other belongs.
    """
    import secrets

    from portal.catalogue.tables import Offering, Resource, Supplier
    from portal.kinds.appointment.tables import Reservation
    from portal.orders.tables import Order, OrderLine

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
    order_values = {
        "reference": secrets.token_hex(3).upper(),
        "supplier": supplier["id"],
        "state": "confirmed",
        "checkout_token": secrets.token_urlsafe(16),
        "visitor": "test",
        "customer_name": "Kari Nordmann",
        "phone": "+4741234567",
        "email": "kari@example.no",
        "language": language,
        "means": "onsite",
        "quote": {"total_ore": offering["price_ore"], "vat_ore": 0},
        "terms": terms,
        "consents": {},
        "contract_at": NOW,
        "manage_token": secrets.token_urlsafe(24),
        "created_at": NOW,
        "updated_at": NOW,
    }
    reservation_values = {
        "offering": offering["id"],
        "resource": resource["id"],
        "start": start,
        "end": start + timedelta(minutes=offering["duration_min"] or 30),
        "ics_sequence": 0,
    }
    for key, value in overrides.items():
        (reservation_values if key in RESERVATION_FIELDS else order_values)[key] = value
    unique = {"reference": secrets.token_hex(4).upper(), "checkout_token": secrets.token_urlsafe(16), "manage_token": None}
    throwaway = await Order.insert(Order(**{**order_values, **unique})).returning(Order.id)
    inserted = await Order.insert(Order(**order_values)).returning(Order.id)
    await Order.delete().where(Order.id == throwaway[0]["id"])
    order_id = inserted[0]["id"]
    line = await OrderLine.insert(
        OrderLine(
            order=order_id,
            position=0,
            kind="appointment",
            offering=reservation_values["offering"],
            quantity=1,
            description=offering["title"],
            unit_price_ore=offering["price_ore"],
            vat_rate_bp=offering["vat_rate_bp"],
            price={},
            details={},
        )
    ).returning(OrderLine.id)
    await Reservation.insert(
        Reservation(
            order=order_id,
            line=line[0]["id"],
            supplier=supplier["id"],
            buffer_before_min=0,
            buffer_after_min=0,
            seats=1,
            status=RESERVATION_STATUS[order_values["state"]],
            hold_expires_at=None,
            created_at=NOW,
            updated_at=NOW,
            **reservation_values,
        )
    )
    booking = await booking_of(order_id)
    assert booking["id"] != booking["order_id"], "the reservation id must differ from the order id"
    return booking


async def change_booking(booking: dict, **changes) -> dict:
    """Write changes to a booking's order and reservation (as the code that
    changes a booking would, before it queues the messages); its new view.
    `state` also moves the reservation's status."""
    from portal.kinds.appointment.tables import Reservation
    from portal.orders.tables import Order

    order_values = {Order._meta.get_column_by_name(k): v for k, v in changes.items() if k not in RESERVATION_FIELDS}
    reservation_values = {Reservation._meta.get_column_by_name(k): v for k, v in changes.items() if k in RESERVATION_FIELDS}
    if "state" in changes:
        reservation_values[Reservation.status] = RESERVATION_STATUS[changes["state"]]
    if order_values:
        await Order.update(order_values).where(Order.id == booking["order_id"])
    if reservation_values:
        await Reservation.update(reservation_values).where(Reservation.id == booking["id"])
    return await booking_of(booking["order_id"])


async def enqueue(booking: dict, topic: str, now: datetime = NOW, *, dedupe_suffix: str = "") -> None:
    """The messages of an order event, queued the way the use cases queue them
    (portal.sales.lifecycle.queue_messages inside a write transaction)."""
    from portal.audit import domain as actors
    from portal.audit.service import acting
    from portal.orders import service as orders
    from portal.sales import lifecycle

    # Inside a use case, as the real ones: a confirmation issues the withdrawal form (a document) too.
    async with acting(actors.system("test"), "test.enqueue", now=now, order_id=booking["order_id"]):
        order = await orders.get(booking["order_id"])
        await lifecycle.queue_messages(order, topic, now, dedupe_suffix=dedupe_suffix)

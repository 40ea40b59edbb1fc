"""The customer's rights over their data (L24–L26): see their bookings,
export everything held about them, erase it — and the retention job that
removes what bookkeeping had to keep once its time is up.

* Export and erasure need a fresh SMS code (portal.legal.retention.is_fresh):
  the customer types a code sent to their number for purpose `account`,
  bound to this customer and this browser; for 10 minutes after, the export
  and the erasure may run. Without it they raise NotFresh and change nothing.
* Erasure removes the customer, their devices, codes, supplier links,
  marketing consents and the messages sent to them, and anonymises their
  orders. What bookkeeping requires — documents (with the buyer's name as it
  was printed: documents are immutable), payments and money movements —
  stays under a LegalHold until 1 January of the sixth year after
  (bokføringsloven), then `release_hold` removes it.
* A customer with no activity for PORTAL_RETENTION_INACTIVE_DAYS after their
  last order ended is erased the same way by the retention job.
"""

from __future__ import annotations

import base64
import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.audit.domain import Actor
from portal.audit.service import job, query, record, use_case
from portal.catalogue.tables import Supplier
from portal.documents import service as documents
from portal.documents.tables import Document, DocumentPdf, DocumentRelease, DocumentVoid
from portal.identity import marketing
from portal.identity import service as identity
from portal.identity import store as identity_store
from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, MarketingConsent, PhoneCode
from portal.legal import retention
from portal.lib import clock
from portal.lib.i18n import N_
from portal.notify.tables import DevMessage
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.tables import Order, OrderLine, OrderWithdrawal
from portal.outbox import service as outbox
from portal.outbox.tables import OutboxMessage
from portal.payments.tables import GiftCard, MoneyMovement, Payment, PaymentEvent, PaymentOperation, WebhookDelivery
from portal.settings import load as load_settings

from .tables import LegalHold

#: The purpose of the code that unlocks export and erasure (portal.identity codes).
CODE_PURPOSE = "account"

EXPORT_FORMAT = "portal.customer-export/1"

#: Order states in which a booking still lies ahead (if its time has not passed).
LIVE_STATES = ("confirmed",)


class NotFresh(Exception):
    """Export or erasure without a code typed in the last 10 minutes: nothing was done."""

    message = N_("For your safety we need a fresh code: press “Send code” and type the code from the SMS.")


class FutureBookings(Exception):
    """Erasure while bookings lie ahead: they must be cancelled first; nothing was done."""

    message = N_("You have bookings coming up. Cancel them first (or wait until they are over), then delete your data.")

    def __init__(self, bookings: list[dict]):
        super().__init__(f"{len(bookings)} upcoming bookings")
        self.bookings = bookings


def code_subject(customer_id: int, visitor: str | None) -> str:
    """What the account code is bound to: this customer in this browser."""
    return f"c{customer_id}:{visitor or '-'}"[:64]


# ---------------------------------------------------------------- reading


@query
async def bookings(customer_id: int) -> list[dict]:
    """The customer's orders with every supplier (those with a private link),
    newest first, each with what its lines are and when (`start`, `end`)."""
    from portal.sales import receipts

    rows = await (
        Order.select(Order.id, Order.reference, Order.state, Order.manage_token, Order.supplier, Order.language, Order.terms, Order.created_at)
        .output(load_json=True)
        .where((Order.customer == customer_id) & Order.manage_token.is_not_null())
    )
    suppliers = {s["id"]: s["name"] for s in await Supplier.select(Supplier.id, Supplier.name)}
    for row in rows:
        views = []
        for name in await orders.kinds_of(row["id"]):
            views += await kinds.kind(name).lines(row)
        starts = [v.starts_at for v in views if v.starts_at]
        ends = [v.ends_at for v in views if v.ends_at]
        row["offering_title"] = ", ".join(v.title for v in views)
        row["supplier_name"] = suppliers.get(row["supplier"], "")
        row["start"] = min(starts) if starts else None
        row["end"] = max(ends) if ends else None
        row["status"] = row["state"]
        row["documents"] = [
            {"id": d.id, "label": receipts.LABELS[d.kind.value], "number": d.number}
            for d in await receipts.of_order(row)
            if d.kind.value in ("receipt", "credit_note")
        ]
    rows.sort(key=lambda r: r["start"] or r["created_at"], reverse=True)
    return rows


def is_upcoming(booking: dict, now: datetime) -> bool:
    """A booking that still lies ahead (or is going on)."""
    return booking["status"] in LIVE_STATES and (booking["end"] is None or booking["end"] > now)


@query
async def verified_at(customer: dict, visitor: str | None) -> datetime | None:
    """When this browser last typed an account code for this customer (None: never, or not used)."""
    row = await identity.latest_code_sent(phone=customer["phone"], purpose=CODE_PURPOSE, subject=code_subject(customer["id"], visitor))
    return row["used_at"] if row else None


async def _require_fresh(customer: dict, visitor: str | None, now: datetime) -> None:
    if not retention.is_fresh(await verified_at(customer, visitor), now):
        raise NotFresh()


def _plain(value: object) -> object:
    """JSON-ready: datetimes as ISO 8601 (UTC), bytes as base64."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(clock.UTC).isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


async def _orders_of(customer: dict) -> list[dict]:
    """Every order of the customer: by customer id, and by their number for
    orders never tied to a customer (a checkout left half-way)."""
    return await (
        Order.select()
        .output(load_json=True)
        .where((Order.customer == customer["id"]) | ((Order.phone == customer["phone"]) & Order.customer.is_null()))
        .order_by(Order.id)
    )


async def _documents_of(order: dict) -> list:
    """The order's documents (by id and reference: SQLite may reuse a deleted order's id)."""
    return [d for d in await documents.documents_of_order(order["id"]) if d.order_reference == order["reference"]]


async def _document_entry(document, base_url: str, manage_token: str | None) -> dict:
    entry = {
        "id": document.id,
        "kind": document.kind.value,
        "number": document.number,
        "issued_at": document.issued_at,
        "total_ore": document.total_ore,
        "void": document.void is not None,
        "refers_to_number": document.refers_to_number,
        "download_url": f"{base_url}/b/{manage_token}/documents/{document.id}.pdf" if manage_token else None,
    }
    try:
        pdf = await documents.attachment(document.id)  # renders it first if the worker has not yet
    except (documents.RenderFailed, documents.DocumentNotFound):
        return {**entry, "pdf": None, "pdf_note": "being prepared: download it from the link later"}
    stored = await documents.stored_pdf(document.id)
    return {**entry, "filename": pdf.filename, "content_type": pdf.content_type, "sha256": stored.sha256 if stored else None, "pdf_base64": pdf.content}


def _complaints_table():
    """The complaints table, if this installation has one (portal.complaints)."""
    try:
        module = importlib.import_module("portal.complaints.tables")
    except ImportError:
        return None
    return getattr(module, "Complaint", None)


async def _complaints(order_ids: list[int]) -> list[dict] | None:
    table = _complaints_table()
    if table is None or not order_ids:
        return None if table is None else []
    column = next((getattr(table, name) for name in ("order", "order_id") if hasattr(table, name)), None)
    if column is None:
        return None
    rows = await table.select().where(column.is_in(order_ids)).output(load_json=True)
    photos = getattr(importlib.import_module(table.__module__), "ComplaintPhoto", None)
    for row in rows:
        if photos is not None and row.get("photo_format"):
            photo = await photos.select(photos.content, photos.sha256).where(photos.complaint == row["id"]).first()
            row["photo"] = photo  # bytes become base64 in the file
    return rows


async def _messages(customer: dict, order_ids: list[int]) -> list[dict]:
    """Email and SMS sent (or due) to the customer: about their orders, and codes to their number."""
    recipients = [r for r in (customer["phone"], customer["email"]) if r]
    where = OutboxMessage.channel.is_in(["email", "sms"]) & OutboxMessage.recipient.is_in(recipients or [""])
    rows = await OutboxMessage.select().where(where).order_by(OutboxMessage.id).output(load_json=True)
    listed = []
    for row in rows:
        payload = row["payload"] or {}
        secret = row["topic"] == "code"  # the code itself is not worth keeping, nor safe to hand out
        listed.append(
            {
                "channel": row["channel"],
                "topic": row["topic"],
                "recipient": row["recipient"],
                "order": row["order_id"] if row["order_id"] in order_ids else None,
                "subject": payload.get("subject", ""),
                "text": "" if secret else payload.get("text", ""),
                "status": row["status"],
                "delivery_status": row["delivery_status"],
                "created_at": row["created_at"],
                "sent_at": row["sent_at"],
            }
        )
    return listed


async def _gather(customer: dict, now: datetime) -> dict:
    base = load_settings().base_url
    suppliers = {s["id"]: s["name"] for s in await Supplier.select(Supplier.id, Supplier.name)}
    found = await _orders_of(customer)
    order_ids = [o["id"] for o in found]
    consents = []
    listed = []
    for order in found:
        for key, given in (order["consents"] or {}).items():
            consents.append({"order": order["reference"], "supplier": suppliers.get(order["supplier"], ""), "consent": key, **(given if isinstance(given, dict) else {"value": given})})
        payments = await Payment.select().where(Payment.order == order["id"]).order_by(Payment.id)
        payment_ids = [p["id"] for p in payments] or [0]
        for payment in payments:
            payment.pop("create_key", None)
            payment.pop("redirect_url", None)
        listed.append(
            {
                "reference": order["reference"],
                "supplier": suppliers.get(order["supplier"], ""),
                "state": order["state"],
                "created_at": order["created_at"],
                "contract_at": order["contract_at"],
                "name": order["customer_name"],
                "phone": order["phone"],
                "email": order["email"],
                "note": order["note"],
                "language": order["language"],
                "means": order["means"],
                "price": order["quote"],
                "terms": order["terms"],
                "link": f"{base}/b/{order['manage_token']}" if order["manage_token"] else None,
                "lines": await OrderLine.select(OrderLine.kind, OrderLine.description, OrderLine.quantity, OrderLine.unit_price_ore, OrderLine.vat_rate_bp, OrderLine.details)
                .where(OrderLine.order == order["id"]).order_by(OrderLine.position).output(load_json=True),
                "payments": payments,
                "payment_events": await PaymentEvent.select(PaymentEvent.reference, PaymentEvent.name, PaymentEvent.amount_ore, PaymentEvent.success, PaymentEvent.occurred_at)
                .where(PaymentEvent.payment.is_in(payment_ids)).order_by(PaymentEvent.id),
                "money_movements": await MoneyMovement.select(MoneyMovement.kind, MoneyMovement.means, MoneyMovement.amount_ore, MoneyMovement.reason, MoneyMovement.lines, MoneyMovement.vat, MoneyMovement.at)
                .where(MoneyMovement.order == order["id"]).order_by(MoneyMovement.id).output(load_json=True),
                "documents": [await _document_entry(d, base, order["manage_token"]) for d in await _documents_of(order)],
                "withdrawals": await OrderWithdrawal.select(OrderWithdrawal.received_at, OrderWithdrawal.via, OrderWithdrawal.name, OrderWithdrawal.contact, OrderWithdrawal.keep_ore, OrderWithdrawal.settled_at)
                .where(OrderWithdrawal.order == order["id"]),
            }
        )
    links = await CustomerSupplier.select(CustomerSupplier.supplier, CustomerSupplier.first_booking_at).where(CustomerSupplier.customer == customer["id"])
    marketing = await MarketingConsent.select().where(MarketingConsent.customer == customer["id"])
    exported = {
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "profile": {k: customer[k] for k in ("phone", "name", "email", "language", "created_at")},
        "suppliers": [{"supplier": suppliers.get(r["supplier"], ""), "first_booking_at": r["first_booking_at"]} for r in links],
        "consents": consents,
        "marketing": [
            {"supplier": suppliers.get(m["supplier"], ""), "text": m["text"], "source": m["source"], "given_at": m["given_at"], "withdrawn_at": m["withdrawn_at"]}
            for m in marketing
        ],
        "devices": await DeviceToken.select(DeviceToken.created_at, DeviceToken.expires_at, DeviceToken.last_used_at, DeviceToken.revoked_at)
        .where(DeviceToken.customer == customer["id"]),
        "orders": listed,
        "messages": await _messages(customer, order_ids),
    }
    complaints = await _complaints(order_ids)
    if complaints is not None:
        exported["complaints"] = complaints
    return _plain(exported)


@use_case("customer.export", transaction=False)
async def export(actor: Actor, customer_id: int, *, visitor: str | None, now: datetime) -> dict:
    """Everything held about the customer, as JSON-ready data (L25), at once.
    Raises NotFresh without a fresh code (nothing is read or written)."""
    from portal.lib.db import write_transaction

    customer = await identity.customer_by_id(customer_id)
    if customer is None:
        raise NotFresh()
    await _require_fresh(customer, visitor, now)
    exported = await _gather(customer, now)
    async with write_transaction():
        await record(actor, "customer.export", now=now, subject="customer", subject_id=customer_id, after={"orders": len(exported["orders"])})
    return exported


# ---------------------------------------------------------------- correction

#: The purpose of the code sent to a new number before it replaces the old one.
PHONE_PURPOSE = "phone_change"

#: Orders whose contact copy follows a correction (what is over keeps what it had).
ACTIVE_STATES = ("held", "confirmed")


class PhoneTaken(Exception):
    """The new number already belongs to another customer: nothing changed."""

    message = N_("That number already has its own bookings here. Log in with it to see them.")


@use_case("customer.update")
async def update_profile(actor: Actor, customer_id: int, *, name: str, email: str, now: datetime) -> bool:
    """Correct the customer's name and email (L24), and the contact copy of
    their current orders. False if nothing changed."""
    customer = await identity.customer_by_id(customer_id)
    if customer is None or (customer["name"], customer["email"]) == (name, email):
        return False
    await Customer.update({Customer.name: name, Customer.email: email}).where(Customer.id == customer_id)
    await Order.update({Order.customer_name: name, Order.email: email, Order.updated_at: now}).where(
        (Order.customer == customer_id) & Order.state.is_in(list(ACTIVE_STATES))
    )
    changed = [k for k in ("name", "email") if customer[k] != {"name": name, "email": email}[k]]
    await record(actor, "customer.update", now=now, subject="customer", subject_id=customer_id, after={"changed": changed})
    return True


@use_case("customer.change_phone")
async def change_phone(actor: Actor, customer_id: int, *, phone: str, visitor: str | None, now: datetime) -> None:
    """Move the customer to a new mobile number, once a code sent to that
    number was typed in this browser within 10 minutes (NotFresh otherwise);
    PhoneTaken if the number has a customer of its own. Current orders follow."""
    customer = await identity.customer_by_id(customer_id)
    if customer is None:
        raise NotFresh()
    row = await identity.latest_code_sent(phone=phone, purpose=PHONE_PURPOSE, subject=code_subject(customer_id, visitor))
    if not retention.is_fresh(row["used_at"] if row else None, now):
        raise NotFresh()
    if await Customer.exists().where((Customer.phone == phone) & (Customer.id != customer_id)):
        raise PhoneTaken()
    await Customer.update({Customer.phone: phone}).where(Customer.id == customer_id)
    await Order.update({Order.phone: phone, Order.updated_at: now}).where((Order.customer == customer_id) & Order.state.is_in(list(ACTIVE_STATES)))
    await record(actor, "customer.change_phone", now=now, subject="customer", subject_id=customer_id, after={"phone": f"{phone[:3]}…{phone[-2:]}"})


# ---------------------------------------------------------------- consents and reminders


@query
async def consents(customer_id: int) -> dict:
    """What the customer agreed to: each order's consents (text and time), and
    per supplier they booked with, whether they take its news (L28)."""
    found = await Order.select(Order.reference, Order.supplier, Order.consents).output(load_json=True).where(Order.customer == customer_id).order_by(Order.id)
    suppliers = {s["id"]: s["name"] for s in await Supplier.select(Supplier.id, Supplier.name)}
    given = [
        {"order": o["reference"], "supplier": suppliers.get(o["supplier"], ""), "key": key, "text": c.get("text", ""), "at": datetime.fromisoformat(c["at"]) if c.get("at") else None}
        for o in found
        for key, c in (o["consents"] or {}).items()
        if isinstance(c, dict) and key != "marketing"  # news: below, per supplier
    ]
    marketing = {m["supplier"]: m for m in await MarketingConsent.select().where(MarketingConsent.customer == customer_id)}
    links = await CustomerSupplier.select(CustomerSupplier.supplier).where(CustomerSupplier.customer == customer_id).order_by(CustomerSupplier.id)
    news = [{"supplier_id": r["supplier"], "supplier": suppliers.get(r["supplier"], ""), "consent": marketing.get(r["supplier"])} for r in links]
    return {"given": given, "news": news}


@use_case("marketing.consent")
async def set_marketing(actor: Actor, customer_id: int, supplier_id: int, *, wanted: bool, text: str, now: datetime) -> bool:
    """Say yes (with the text shown) or no to a supplier's news, for a supplier
    the customer booked with. Honoured at once. False if nothing changed."""
    if not await CustomerSupplier.exists().where((CustomerSupplier.customer == customer_id) & (CustomerSupplier.supplier == supplier_id)):
        return False
    current = await MarketingConsent.select().where(MarketingConsent.key == f"{customer_id}:{supplier_id}").first()
    active = current is not None and current["withdrawn_at"] is None
    if wanted == active:
        return False
    if wanted:
        await identity_store.give_marketing(customer_id, supplier_id, text=text, source="account", now=now)
    else:
        await MarketingConsent.update({MarketingConsent.withdrawn_at: now}).where(MarketingConsent.id == current["id"])
        await marketing.cancel_pending(customer_id, supplier_id)
    await record(actor, "marketing.consent", now=now, subject="customer", subject_id=customer_id, supplier_id=supplier_id, after={"wanted": wanted})
    return True


@use_case("order.reminders_off")
async def reminders_off(actor: Actor, customer_id: int, order_id: int, now: datetime) -> bool:
    """No service reminders for this order: the pending ones are cancelled and
    none is planned again when it changes (its `terms.reminder_hours` becomes 0).
    False if the order is not the customer's, or reminders are off already."""
    order = await orders.get(order_id)
    if order is None or order["customer"] != customer_id:
        return False
    terms = dict(order["terms"] or {})
    if terms.get("reminder_hours") == 0:
        return False
    terms.update(reminder_hours=0, reminders_off_at=now.isoformat())
    await Order.update({Order.terms: terms, Order.updated_at: now}).where(Order.id == order_id)
    await outbox.cancel_pending(order_id, "reminder", "the customer turned reminders off")
    await record(actor, "order.reminders_off", now=now, order_id=order_id, supplier_id=order["supplier"])
    return True


def reminders_are_off(booking: dict) -> bool:
    return (booking.get("terms") or {}).get("reminder_hours") == 0


# ---------------------------------------------------------------- erasure


@dataclass(frozen=True)
class Erased:
    orders: int  # orders anonymised
    held: int  # of them, orders whose bookkeeping stays under a legal hold
    until: datetime | None  # the latest hold's end


async def _hold_moments(order: dict) -> list[datetime]:
    moved = await MoneyMovement.select(MoneyMovement.at).where(MoneyMovement.order == order["id"])
    return [d.issued_at for d in await _documents_of(order)] + [m["at"] for m in moved]


async def _erase(customer: dict, reason: str, now: datetime) -> Erased:
    """Inside the caller's write transaction: anonymise the orders, put their
    bookkeeping under a legal hold, remove the customer and what hangs on them."""
    found = await _orders_of(customer)
    held, latest = 0, None
    for order in found:
        until = retention.hold_until(await _hold_moments(order))
        if until is not None and not await LegalHold.exists().where(LegalHold.order_id == order["id"]):
            await LegalHold.insert(LegalHold(order_id=order["id"], supplier_id=order["supplier"], reason=reason, until=until, created_at=now))
            held += 1
            latest = max(latest or until, until)
    order_ids = [o["id"] for o in found] or [0]
    await Order.update(
        {Order.customer: None, Order.customer_name: "", Order.phone: "", Order.email: "", Order.note: "", Order.visitor: "", Order.manage_token: None, Order.updated_at: now}
    ).where(Order.id.is_in(order_ids))
    await GiftCard.update({GiftCard.buyer_name: ""}).where(GiftCard.order_id.is_in(order_ids))
    await OrderWithdrawal.update({OrderWithdrawal.name: "", OrderWithdrawal.contact: ""}).where(OrderWithdrawal.order.is_in(order_ids))
    recipients = [r for r in (customer["phone"], customer["email"]) if r] or [""]
    mine = OutboxMessage.channel.is_in(["email", "sms"]) & OutboxMessage.recipient.is_in(recipients) & (OutboxMessage.status != "sending")
    await OutboxMessage.delete().where(mine)
    await DevMessage.delete().where(DevMessage.recipient.is_in(recipients))
    await PhoneCode.delete().where(PhoneCode.phone == customer["phone"])
    for table in (DeviceToken, CustomerSupplier, MarketingConsent):
        await table.delete().where(table.customer == customer["id"])
    await Customer.delete().where(Customer.id == customer["id"])
    return Erased(orders=len(found), held=held, until=latest)


@use_case("customer.erase")
async def erase(actor: Actor, customer_id: int, *, visitor: str | None, now: datetime) -> Erased:
    """The customer deletes their data (L26). Raises NotFresh without a fresh
    code, FutureBookings while bookings lie ahead; either way nothing changes."""
    customer = await identity.customer_by_id(customer_id)
    if customer is None:
        raise NotFresh()
    await _require_fresh(customer, visitor, now)
    ahead = [b for b in await bookings(customer_id) if is_upcoming(b, now)]
    if ahead:
        raise FutureBookings(ahead)
    done = await _erase(customer, "erasure", now)
    await record(actor, "customer.erase", now=now, subject="customer", subject_id=customer_id, after={"orders": done.orders, "held": done.held, "until": done.until})
    return done


# ---------------------------------------------------------------- the retention job


@use_case("retention.release")
async def release_hold(actor: Actor, hold_id: int, now: datetime) -> bool:
    """A legal hold has ended: remove the order's documents (the database
    checks each release), payment records and money movements. False if the
    hold is not due (or gone): nothing changes; or if a document issued since
    makes it last longer: its end is moved."""
    hold = await LegalHold.select().where(LegalHold.id == hold_id).first()
    if hold is None or hold["released_at"] is not None or not retention.expired(hold["until"], now):
        return False
    order = await orders.get(hold["order_id"])
    removed = 0
    if order is not None:
        # A document issued after the erasure (a late credit note) moves the end.
        later = retention.hold_until(await _hold_moments(order))
        if later is not None and not retention.expired(later, now):
            await LegalHold.update({LegalHold.until: later}).where(LegalHold.id == hold_id)
            await record(actor, "retention.release", now=now, subject="order", subject_id=hold["order_id"], supplier_id=hold["supplier_id"], after={"postponed_until": later})
            return False
        found = await _documents_of(order)
        # Credit notes refer to receipts: they go first.
        for document in sorted(found, key=lambda d: d.refers_to is None):
            await DocumentRelease.insert(
                DocumentRelease(document_id=document.id, released_at=now, reason=f"hold:{hold_id}", supplier_id=document.supplier_id, number=document.number)
            )
            await DocumentPdf.delete().where(DocumentPdf.document == document.id)
            await DocumentVoid.delete().where(DocumentVoid.document == document.id)
            await Document.delete().where(Document.id == document.id)
            removed += 1
        paid = await Payment.select(Payment.id, Payment.reference).where(Payment.order == order["id"])
        payments, references = [p["id"] for p in paid], [p["reference"] for p in paid]
        await MoneyMovement.delete().where(MoneyMovement.order == order["id"])
        if payments:
            await PaymentEvent.delete().where(PaymentEvent.payment.is_in(payments))
            await PaymentOperation.delete().where(PaymentOperation.payment.is_in(payments))
            await WebhookDelivery.delete().where(WebhookDelivery.reference.is_in(references))
            await Payment.delete().where(Payment.id.is_in(payments))
    await LegalHold.update({LegalHold.released_at: now}).where(LegalHold.id == hold_id)
    await record(actor, "retention.release", now=now, subject="order", subject_id=hold["order_id"], supplier_id=hold["supplier_id"], after={"documents": removed})
    return True


async def _last_activity(customer: dict) -> datetime:
    """The later of the customer's creation, their orders' last change and their bookings' end."""
    moments = [customer["created_at"]]
    for row in await Order.select(Order.updated_at, Order.created_at).where(Order.customer == customer["id"]):
        moments += [row["updated_at"], row["created_at"]]
    moments += [b["end"] or b["created_at"] for b in await bookings(customer["id"])]
    return max(m for m in moments if m is not None)


@use_case("customer.forget_inactive")
async def forget_inactive(actor: Actor, customer_id: int, now: datetime) -> Erased | None:
    """Erase a customer with no activity for the configured days (L26). None
    if they are active after all (or gone): nothing changes."""
    customer = await identity.customer_by_id(customer_id)
    if customer is None:
        return None
    days = load_settings().retention_inactive_days
    if any(is_upcoming(b, now) for b in await bookings(customer_id)) or not retention.inactive(await _last_activity(customer), now, days):
        return None
    done = await _erase(customer, "inactive", now)
    await record(actor, "customer.forget_inactive", now=now, subject="customer", subject_id=customer_id, after={"orders": done.orders, "held": done.held, "days": days})
    return done


@dataclass(frozen=True)
class RetentionRun:
    released: int  # legal holds ended (their bookkeeping removed)
    forgotten: int  # inactive customers erased


@job
async def run(actor: Actor, now: datetime, *, limit: int = 200) -> RetentionRun:
    """What `portal retention run` and the app's sweeper do: end the legal
    holds that are due, erase the customers inactive for long enough."""
    due = await LegalHold.select(LegalHold.id).where(LegalHold.released_at.is_null() & (LegalHold.until <= now)).order_by(LegalHold.until).limit(limit)
    released = 0
    for hold in due:
        released += bool(await release_hold(actor, hold["id"], now))
    cutoff = now - timedelta(days=load_settings().retention_inactive_days)
    recent = {r["customer"] for r in await Order.select(Order.customer).where(Order.customer.is_not_null() & (Order.updated_at > cutoff))}
    candidates = [c["id"] for c in await Customer.select(Customer.id).where(Customer.created_at <= cutoff).order_by(Customer.id) if c["id"] not in recent]
    forgotten = 0
    for customer_id in candidates[:limit]:
        if await forget_inactive(actor, customer_id, now) is not None:
            forgotten += 1
    return RetentionRun(released=released, forgotten=forgotten)

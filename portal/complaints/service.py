"""Complaint use cases: the customer sends one (the supplier is emailed
through the outbox), the supplier answers it (the customer is emailed) or
closes it. Each is one write transaction with its audit entry; staff act
only on their own supplier's complaints (another's is "no such complaint")."""

from __future__ import annotations

from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import after_commit, query, record, use_case
from portal.catalogue.tables import Supplier
from portal.complaints import domain, messages
from portal.complaints.domain import Event, Status
from portal.complaints.images import Photo
from portal.complaints.tables import Complaint, ComplaintPhoto
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.tables import Order
from portal.outbox import service as outbox
from portal.settings import load as load_settings


class NotAllowed(Exception):
    """The complaint cannot be sent or changed; `message` says why (a msgid)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoSuchComplaint(Exception):
    """Not a complaint of the actor's supplier (shown as 404)."""


#: What a listing shows of a complaint (never the photo's bytes).
_COLUMNS = (
    Complaint.id, Complaint.order, Complaint.supplier, Complaint.status, Complaint.text, Complaint.photo_format,
    Complaint.answer, Complaint.answered_by, Complaint.created_at, Complaint.answered_at, Complaint.closed_at,
)
_ORDER_COLUMNS = (
    Complaint.order.reference.as_alias("reference"),
    Complaint.order.customer_name.as_alias("customer_name"),
    Complaint.order.phone.as_alias("phone"),
    Complaint.order.email.as_alias("email"),
)


async def _lines(order: dict) -> list:
    views = []
    for name in await orders.kinds_of(order["id"]):
        views += await kinds.kind(name).lines(order)
    return views


@query
async def delivery_of(order: dict) -> tuple[str, datetime | None, datetime]:
    """(what, its start, when it was delivered): the first line's title and
    start, and the end of the last line with a time — or the contract, for
    what has no time (a gift card)."""
    views = await _lines(order)
    what = views[0].title if views else ""
    starts = min((v.starts_at for v in views if v.starts_at), default=None)
    delivered = max((v.ends_at or v.starts_at for v in views if v.ends_at or v.starts_at), default=None)
    return what, starts, delivered or order["contract_at"] or order["created_at"]


@query
async def window_of(order: dict, now: datetime) -> domain.Window:
    """The time limits of a complaint about this order (L23)."""
    _, _, delivered = await delivery_of(order)
    return domain.window(delivered, now)


@query
async def of_order(order_id: int) -> list[dict]:
    """The order's complaints, oldest first (for the customer's page and the booking page)."""
    return await Complaint.select(*_COLUMNS).where(Complaint.order == order_id).order_by(Complaint.id)


@query
async def of_supplier(supplier_id: int, status: str | None = None, limit: int = 200) -> list[dict]:
    """The supplier's complaints, newest first, with their order's reference and customer."""
    q = Complaint.select(*_COLUMNS, *_ORDER_COLUMNS).where(Complaint.supplier == supplier_id)
    if status:
        q = q.where(Complaint.status == status)
    return await q.order_by(Complaint.id, ascending=False).limit(limit)


@query
async def counts(supplier_id: int) -> dict[str, int]:
    """How many of the supplier's complaints are in each status."""
    return {s.value: await Complaint.count().where((Complaint.supplier == supplier_id) & (Complaint.status == s.value)) for s in Status}


@query
async def get(complaint_id: int, supplier_id: int) -> dict | None:
    """One of the supplier's complaints (None for another supplier's)."""
    return await Complaint.select(*_COLUMNS, *_ORDER_COLUMNS).where((Complaint.id == complaint_id) & (Complaint.supplier == supplier_id)).first()


@query
async def photo_of(complaint_id: int, supplier_id: int) -> tuple[str, bytes] | None:
    """(media type, bytes) of the photo of one of the supplier's complaints."""
    complaint = await Complaint.select(Complaint.photo_format).where((Complaint.id == complaint_id) & (Complaint.supplier == supplier_id)).first()
    if complaint is None or complaint["photo_format"] not in domain.MEDIA_TYPES:
        return None
    row = await ComplaintPhoto.select(ComplaintPhoto.content).where(ComplaintPhoto.complaint == complaint_id).first()
    return (domain.MEDIA_TYPES[complaint["photo_format"]], bytes(row["content"])) if row else None


@query
async def order_context(order: dict, now: datetime) -> dict:
    """What the customer's order page and the complaint form show: the
    complaints with their answers, the time limits, and why a new one cannot
    be sent (None when it can)."""
    sent = await of_order(order["id"])
    limits = await window_of(order, now) if order["contract_at"] else None
    refusal = domain.may_send(limits, len(sent)) if limits else domain.NOT_A_BOOKING
    return {
        "complaints": sent,
        "complaint_window": limits,
        "complaint_refusal": refusal,
        "complaint_labels": domain.CUSTOMER_STATUS_LABELS,
    }


async def _supplier(supplier_id: int) -> dict:
    return await Supplier.select().where(Supplier.id == supplier_id).first()


@use_case("complaint.send")
async def send(actor: Actor, order_id: int, text: str, photo: Photo | None, now: datetime) -> int:
    """The customer's complaint about their order: stored with its (cleaned)
    photo, and forwarded to the supplier by email. NotAllowed for an empty or
    too long text, after the time limit, or past MAX_PER_ORDER."""
    text = text.strip()
    if (problem := domain.text_problem(text)) is not None:
        raise NotAllowed(problem)
    order = await Order.select().output(load_json=True).where(Order.id == order_id).first()
    if order is None or order["contract_at"] is None or actor.kind is not ActorKind.CUSTOMER:
        raise NotAllowed("no such order")
    what, starts, delivered = await delivery_of(order)
    sent_before = await Complaint.count().where(Complaint.order == order_id)
    if (problem := domain.may_send(domain.window(delivered, now), sent_before)) is not None:
        raise NotAllowed(problem)
    rows = await Complaint.insert(
        Complaint(order=order_id, supplier=order["supplier"], status=Status.NEW.value, text=text, photo_format=photo.format if photo else "", created_at=now)
    ).returning(Complaint.id)
    complaint_id = rows[0]["id"]
    if photo is not None:
        await ComplaintPhoto.insert(ComplaintPhoto(complaint=complaint_id, content=photo.content, sha256=photo.sha256, size=len(photo.content)))
    complaint = await Complaint.select(*_COLUMNS).where(Complaint.id == complaint_id).first()
    draft = messages.to_supplier(complaint, order, await _supplier(order["supplier"]), what=what, starts_at=starts, base_url=load_settings().base_url, now=now)
    if draft is not None:
        await outbox.insert([draft], now)
        after_commit(outbox.wake)
    await record(
        actor, "complaint.send", now=now, order_id=order_id, supplier_id=order["supplier"],
        after={"complaint": complaint_id, "chars": len(text), "photo": photo.format if photo else "", "forwarded": draft is not None},
    )
    return complaint_id


async def _own(actor: Actor, complaint_id: int) -> dict:
    if actor.kind is not ActorKind.STAFF or actor.supplier_id is None:
        raise NoSuchComplaint(complaint_id)
    complaint = await Complaint.select(*_COLUMNS).where((Complaint.id == complaint_id) & (Complaint.supplier == actor.supplier_id)).first()
    if complaint is None:
        raise NoSuchComplaint(complaint_id)
    return complaint


@use_case("complaint.answer")
async def answer(actor: Actor, complaint_id: int, text: str, now: datetime) -> None:
    """The supplier's answer: shown on the customer's order page and emailed to them."""
    text = text.strip()
    if (problem := domain.text_problem(text, empty=domain.ANSWER_FIRST, limit=domain.MAX_ANSWER)) is not None:
        raise NotAllowed(problem)
    complaint = await _own(actor, complaint_id)
    try:
        new_status = domain.next_status(complaint["status"], Event.ANSWER)
    except domain.Refused as exc:
        raise NotAllowed(domain.CHANGED_MEANWHILE) from exc
    changed = await Complaint.update(
        {Complaint.status: new_status.value, Complaint.answer: text, Complaint.answered_by: actor.name[:120], Complaint.answered_at: now}
    ).where((Complaint.id == complaint_id) & (Complaint.status == complaint["status"])).returning(Complaint.id)
    if not changed:
        raise NotAllowed(domain.CHANGED_MEANWHILE)
    order = await Order.select().output(load_json=True).where(Order.id == complaint["order"]).first()
    answered = {**complaint, "status": new_status.value, "answer": text, "answered_at": now}
    draft = messages.to_customer(answered, order, await _supplier(complaint["supplier"]), base_url=load_settings().base_url, now=now)
    if draft is not None:
        await outbox.insert([draft], now)
        after_commit(outbox.wake)
    await record(
        actor, "complaint.answer", now=now, order_id=complaint["order"], supplier_id=complaint["supplier"],
        before={"status": complaint["status"]}, after={"complaint": complaint_id, "status": new_status.value, "chars": len(text), "emailed": draft is not None},
    )


@use_case("complaint.close")
async def close(actor: Actor, complaint_id: int, now: datetime) -> None:
    """The supplier is done with the complaint (answered, or settled another way)."""
    complaint = await _own(actor, complaint_id)
    try:
        new_status = domain.next_status(complaint["status"], Event.CLOSE)
    except domain.Refused as exc:
        raise NotAllowed(domain.CHANGED_MEANWHILE) from exc
    changed = await Complaint.update({Complaint.status: new_status.value, Complaint.closed_at: now}).where(
        (Complaint.id == complaint_id) & (Complaint.status == complaint["status"])
    ).returning(Complaint.id)
    if not changed:
        raise NotAllowed(domain.CHANGED_MEANWHILE)
    await record(
        actor, "complaint.close", now=now, order_id=complaint["order"], supplier_id=complaint["supplier"],
        before={"status": complaint["status"]}, after={"complaint": complaint_id, "status": new_status.value},
    )


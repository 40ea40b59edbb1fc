"""The appointment kind: what portal.orders.kinds asks of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from portal.catalogue.service import offering_context_by_id
from portal.catalogue.tables import Resource
from portal.kinds.appointment import domain, meeting, messages, service
from portal.kinds.appointment.domain import END_EVENTS, ReservationEvent, ReservationStatus
from portal.kinds.appointment.tables import Reservation
from portal.legal.withdrawal import needs_early_start_request
from portal.lib.i18n import translations
from portal.orders.domain import FREES_CAPACITY, OrderState
from portal.orders.kinds import LineView
from portal.sales import withdrawal
from portal.settings import load as load_settings


class Appointment:
    name = "appointment"
    default_withdrawal_class = "standard"
    capacity = "claims"
    delivered_when_paid = False
    line_template = "partials/lines/appointment.html"
    gone_template = "partials/gone/appointment.html"
    means_allowed = frozenset({"onsite", "vipps", "deposit"})
    giftcard_payable = True

    async def lines(self, order: dict) -> list[LineView]:
        rows = await service.reservations_of(order["id"])
        if not rows:
            return []
        resources = {
            r["id"]: r["name"] for r in await Resource.select(Resource.id, Resource.name).where(Resource.id.is_in([r["resource"] for r in rows]))
        }
        terms = order["terms"] or {}
        s = terms.get("supplier") or {}
        t = translations(order["language"] or "nb")
        address = f"{s.get('street', '')}, {s.get('postcode', '')} {s.get('town', '')}".strip(", ")
        sent_later = t.gettext("Video meeting; the link is sent before the appointment.")
        return [
            LineView(
                kind=self.name,
                title=terms.get("offering_title", ""),
                starts_at=row["start"],
                ends_at=row["end"],
                where=(t.gettext("Video meeting") if row.get("meeting_url") else sent_later) if terms.get("online") else address,
                who=resources.get(row["resource"], ""),
                details={
                    "reservation_id": row["id"], "resource_id": row["resource"], "status": row["status"], "ics_sequence": row["ics_sequence"],
                    "meeting_url": row.get("meeting_url") or "", "meeting_opens_at": meeting.opens_at(row["start"]),
                },
            )
            for row in rows
        ]

    def needs_early_start(self, lines: list[LineView], withdrawal_class: str, contract_at: datetime) -> bool:
        return any(v.starts_at and needs_early_start_request(withdrawal_class, v.starts_at, contract_at) for v in lines)

    def may_deliver(self, lines: list[LineView], now: datetime) -> bool:
        return bool(lines) and all(domain.may_deliver(v.starts_at, now) for v in lines if v.starts_at)

    async def due_to_complete(self, now: datetime, after_hours: int) -> list[int]:
        rows = await Reservation.select(Reservation.order).where(
            (Reservation.status == ReservationStatus.CONFIRMED.value)
            & (Reservation.end <= now - timedelta(hours=after_hours))
            & (Reservation.order.state == OrderState.CONFIRMED.value)
        )
        return sorted({r["order"] for r in rows})

    async def hold_again(self, order: dict, now: datetime) -> bool:
        taken: list[dict] = []
        for row in await service.reservations_of(order["id"]):
            if row["status"] != ReservationStatus.RELEASED.value:
                continue
            capacity_of = (order["terms"] or {}).get("capacity", 1)
            if capacity_of > 1:
                try:
                    await service.claim_time(capacity_of, row)
                    ok = True
                except service.SlotTaken:
                    ok = False
            else:
                ok = await service.claim_time_if_free(row)
            if not ok:
                for back in taken:
                    await service.free_time(back, capacity_of > 1)
                return False
            taken.append(row)
        for row in taken:
            await service.set_status(row["id"], ReservationEvent.RECLAIM, now, {Reservation.hold_expires_at: order["expires_at"]})
        return True

    async def confirm(self, order: dict, now: datetime) -> None:
        online = bool((order["terms"] or {}).get("online"))
        for row in await service.reservations_of(order["id"]):
            if row["status"] == ReservationStatus.HELD.value:
                values = {Reservation.hold_expires_at: None}
                if online and not row.get("meeting_url"):
                    # M16: its own room, in the confirmation and reminder that follow in this transaction.
                    values[Reservation.meeting_url] = meeting.meeting_link(load_settings().meeting_base_url)
                await service.set_status(row["id"], ReservationEvent.CONFIRM, now, values, current=row["status"])

    async def release(self, order: dict, now: datetime) -> None:
        class_session = (order["terms"] or {}).get("capacity", 1) > 1
        for row in await service.reservations_of(order["id"]):
            if row["status"] == ReservationStatus.HELD.value and await service.set_status(row["id"], ReservationEvent.RELEASE, now, current=row["status"]):
                await service.free_time(row, class_session)

    async def end(self, order: dict, state: OrderState, now: datetime) -> None:
        event = END_EVENTS[state]
        class_session = (order["terms"] or {}).get("capacity", 1) > 1
        for row in await service.reservations_of(order["id"]):
            if row["status"] != ReservationStatus.CONFIRMED.value:
                continue
            frees = state in FREES_CAPACITY
            # A cancelled event is a new version of it for calendars: SEQUENCE grows.
            values = {Reservation.ics_sequence: row["ics_sequence"] + 1} if frees else None
            if await service.set_status(row["id"], event, now, values, current=row["status"]) and frees:
                await service.free_time(row, class_session)

    async def held_until(self, order: dict, until: datetime) -> None:
        await Reservation.update({Reservation.hold_expires_at: until}).where(
            (Reservation.order == order["id"]) & (Reservation.status == ReservationStatus.HELD.value)
        )

    async def paid(self, order: dict, now: datetime, receipt: object | None) -> bool:
        return False

    async def messages(self, order: dict, topic: str, now: datetime, *, dedupe_suffix: str = "") -> list:
        from portal.catalogue.tables import Offering, Supplier
        from portal.notify.domain import Topic
        from portal.outbox import service as outbox

        supplier = await Supplier.select(Supplier.name, Supplier.slug, Supplier.email).where(Supplier.id == order["supplier"]).first() or {}
        # L11: the confirmation carries the withdrawal form, issued with the contract.
        form = await withdrawal.form_for(order, now) if topic == Topic.CONFIRMATION else None
        drafts = []
        for row in await service.reservations_of(order["id"]):
            view = messages.booking_view(order, row)
            offering_slug = ""
            if topic == Topic.SLOT_LOST:
                offering = await Offering.select(Offering.slug).where(Offering.id == row["offering"]).first()
                offering_slug = offering["slug"] if offering else ""
            these = messages.booking_drafts(
                view,
                topic,
                supplier_name=supplier.get("name", ""),
                base_url=load_settings().base_url,
                now=now,
                supplier_slug=supplier.get("slug", ""),
                offering_slug=offering_slug,
                supplier_email=supplier.get("email", ""),
                dedupe_suffix=dedupe_suffix,
            )
            if form is not None:
                these = [_with_form(d, form.id) for d in these]
            if topic in (Topic.CHANGE, Topic.CANCELLATION):
                keep = [d.dedupe_key for d in these if d.topic == Topic.REMINDER]
                reason = "booking cancelled" if topic == Topic.CANCELLATION else "booking changed"
                await outbox.cancel_pending(order["id"], Topic.REMINDER.value, reason, keep=keep)
            drafts += these
        return drafts

    async def gone_context(self, order: dict, reason: object, now: datetime) -> dict:
        rows = await service.reservations_of(order["id"])
        if not rows:
            return {"nearest": [], "reason": reason, "reason_text": domain.reason_text}
        ctx = await offering_context_by_id(rows[0]["offering"])
        nearest = await service.nearest_free(ctx, rows[0]["start"], now) if ctx else []
        return {
            "nearest": nearest,
            "reason": reason,
            "reason_text": domain.reason_text,
            "ctx": ctx,
            "supplier": ctx.supplier if ctx else None,
            "offering": ctx.offering if ctx else None,
        }


def _with_form(draft, document_id: int):
    """The customer's confirmation email with the withdrawal form attached (other drafts as they are)."""
    from portal.notify.domain import SUPPLIER_KEY_MARK, Channel, Topic

    if draft.channel != Channel.EMAIL.value or draft.topic != Topic.CONFIRMATION.value or SUPPLIER_KEY_MARK in draft.dedupe_key:
        return draft
    attachments = [*(draft.payload.get("attachments") or []), {"document_id": document_id}]
    return replace(draft, payload={**draft.payload, "attachments": attachments})


KIND = Appointment()

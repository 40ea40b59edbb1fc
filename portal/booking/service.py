"""Booking use cases: availability for an offering, hold a time, confirm it.

Each write runs in one write transaction; the unique claim keys and the
conditional seat update make the database the judge of who got a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from portal.availability.domain import Claim, Reason, SeatUse, Slot, day_reasons, free_slots, why_not
from portal.availability.holidays import norwegian_holidays
from portal.booking import domain
from portal.booking.domain import Event, Status
from portal.booking.forms import CheckoutResult
from portal.booking.tables import Booking, ClassSession, SlotClaim
from portal.catalogue.service import OfferingContext, offering_context_by_id, schedules
from portal.lib import clock
from portal.lib.db import CONFLICT_ERRORS, write_transaction
from portal.identity.service import customer_for_booking
from portal.lib.money import split_vat
from portal.notify.service import enqueue_booking_messages
from portal.payments import coupon_store
from portal.payments.domain import available_means
from portal.payments.pricing import DepositRule, LineItem, Means, Quote, quote
from portal.payments.vat import vat_rate_bp


class PhoneNotVerified(Exception):
    """The booking's mobile number has not been proven with a code."""


class SlotTaken(Exception):
    """Someone else got there first, or the time is not offered at all.

    `reason` is None for a lost race; otherwise why the time is not offered
    (past, outside hours, …) so the customer gets the right message.
    """

    def __init__(self, reason: Reason | None = None) -> None:
        super().__init__(reason.value if reason else "taken")
        self.reason = reason

    @property
    def was_taken(self) -> bool:
        return self.reason in (None, Reason.BOOKED, Reason.BUFFER, Reason.FULL)


@dataclass(frozen=True)
class DayInfo:
    day: date
    free: int
    reason: Reason | None


# ---------------------------------------------------------------- reading


async def _occupancy(ctx: OfferingContext, start: datetime, end: datetime, now: datetime) -> tuple[list[Claim], list[SeatUse]]:
    """Live bookings on the offering's resources around [start, end)."""
    if not ctx.resource_ids:
        return [], []
    # Appointments (with buffers) last well under a day: bounding `start` on
    # both sides lets the database use the start index instead of reading
    # every past booking of the resource.
    margin = timedelta(hours=36)
    rows = await Booking.select(
        Booking.offering,
        Booking.resource,
        Booking.start,
        Booking.end,
        Booking.buffer_before_min,
        Booking.buffer_after_min,
        Booking.seats,
        Booking.status,
        Booking.hold_expires_at,
    ).where(
        Booking.resource.is_in(ctx.resource_ids)
        & Booking.status.is_in([s.value for s in domain.OCCUPYING])
        & (Booking.start < end + margin)
        & (Booking.start > start - margin)
        & (Booking.end > start - margin)
    )
    claims: list[Claim] = []
    seats: dict[tuple[int, datetime], int] = {}
    class_offering = ctx.offering["capacity"] > 1
    for row in rows:
        if not domain.occupies(row["status"], row["hold_expires_at"], now):
            continue
        if class_offering and row["offering"] == ctx.offering["id"]:
            key = (row["resource"], row["start"])
            seats[key] = seats.get(key, 0) + row["seats"]
        else:
            claims.append(
                Claim(row["resource"], row["start"], row["end"], row["buffer_before_min"], row["buffer_after_min"])
            )
    return claims, [SeatUse(rid, start_, taken) for (rid, start_), taken in seats.items()]


def _local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, datetime.min.time(), tzinfo=clock.OSLO).astimezone(clock.UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=clock.OSLO).astimezone(clock.UTC)
    return start, end


async def slots_between(ctx: OfferingContext, first: date, last: date, now: datetime, resource_id: int | None = None) -> list[Slot]:
    if not ctx.bookable:
        return []
    ids = [resource_id] if resource_id in ctx.resource_ids else ctx.resource_ids
    start, end = _local_bounds(first, last)
    claims, seats = await _occupancy(ctx, start, end, now)
    return free_slots(
        ctx.rules,
        await schedules(ids),
        claims,
        seats,
        first_day=first,
        last_day=last,
        now=now,
        holidays=norwegian_holidays(first, last),
    )


@dataclass(frozen=True)
class PickerView:
    strip: list[DayInfo]  # empty when only the day's slot list was asked for
    slots: list[Slot]  # free times of the chosen day
    day_reason: Reason | None  # why the chosen day has none


async def picker_view(
    ctx: OfferingContext,
    day: date,
    now: datetime,
    *,
    strip_start: date | None = None,
    strip_days: int = 14,
    resource_id: int | None = None,
) -> PickerView:
    """The chosen day's free times and, when `strip_start` is given, the strip
    of days with their counts — from one read of bookings and rules."""
    first, last = (strip_start, strip_start + timedelta(days=strip_days - 1)) if strip_start else (day, day)
    first, last = min(first, day), max(last, day)
    if not ctx.bookable:
        days_ = [first + timedelta(days=i) for i in range(strip_days)] if strip_start else []
        return PickerView([DayInfo(d, 0, Reason.CLOSED) for d in days_], [], Reason.CLOSED)
    ids = [resource_id] if resource_id in ctx.resource_ids else ctx.resource_ids
    lo, hi = _local_bounds(first, last)
    claims, seats = await _occupancy(ctx, lo, hi, now)
    sched = await schedules(ids)
    hol = norwegian_holidays(first, last)
    slots = free_slots(ctx.rules, sched, claims, seats, first_day=first, last_day=last, now=now, holidays=hol)
    by_day: dict[date, list[Slot]] = {}
    for slot in slots:
        by_day.setdefault(clock.to_local(slot.start).date(), []).append(slot)
    # Reasons cost a second pass of the engine: only when some day is empty.
    shown = [strip_start + timedelta(days=i) for i in range(strip_days)] if strip_start else [day]
    reasons: dict[date, Reason] = {}
    if any(d not in by_day for d in shown):
        reasons = day_reasons(ctx.rules, sched, claims, seats, first_day=first, last_day=last, now=now, holidays=hol)
    strip = []
    if strip_start:
        for i in range(strip_days):
            d = strip_start + timedelta(days=i)
            free = len(by_day.get(d, []))
            strip.append(DayInfo(d, free, None if free else reasons.get(d, Reason.CLOSED)))
    chosen = by_day.get(day, [])
    return PickerView(strip, chosen, None if chosen else reasons.get(day, Reason.CLOSED))


async def nearest_free(ctx: OfferingContext, wanted: datetime, now: datetime, limit: int = 3, resource_id: int | None = None) -> list[Slot]:
    """The free times closest to the one the customer lost, within two weeks."""
    day = clock.to_local(wanted).date()
    first = max(day - timedelta(days=7), clock.local_today(now))
    slots = await slots_between(ctx, first, day + timedelta(days=7), now, resource_id)
    slots.sort(key=lambda s: abs((s.start - wanted).total_seconds()))
    return sorted(slots[:limit], key=lambda s: s.start)


async def explain(ctx: OfferingContext, resource_id: int, start: datetime, now: datetime) -> Reason | None:
    """Why this start on this resource is not offered (None: it is)."""
    day = clock.to_local(start).date()
    lo, hi = _local_bounds(day, day)
    claims, seats = await _occupancy(ctx, lo, hi, now)
    (schedule,) = await schedules([resource_id])
    return why_not(
        ctx.rules,
        schedule,
        claims,
        seats,
        resource_id=resource_id,
        start=start,
        now=now,
        holidays=norwegian_holidays(day, day),
    )


async def live_hold(visitor: str | None, offering_id: int, now: datetime) -> dict | None:
    """This browser's unexpired hold on the offering, if any."""
    if not visitor:
        return None
    return await (
        Booking.select(Booking.hold_token, Booking.start, Booking.hold_expires_at)
        .where(
            (Booking.visitor == visitor)
            & (Booking.offering == offering_id)
            & (Booking.status == Status.HELD.value)
            & (Booking.hold_expires_at > now)
        )
        .first()
    )


async def get_by_hold_token(token: str) -> dict | None:
    return await Booking.select().output(load_json=True).where(Booking.hold_token == token).first()


async def get_by_manage_token(token: str) -> dict | None:
    if not token:
        return None
    return await Booking.select().output(load_json=True).where(Booking.manage_token == token).first()


# ---------------------------------------------------------------- writing


async def release_expired(now: datetime) -> int:
    """Turn holds past their expiry into `released` and free their claims."""
    expired = await Booking.select(Booking.id).where(
        (Booking.status == Status.HELD.value) & (Booking.hold_expires_at <= now)
    )
    for row in expired:
        # Status change and freed claims in one transaction (nested inside a
        # caller's transaction, it joins it).
        async with write_transaction():
            await _release(row["id"], Event.EXPIRE, now)
    return len(expired)


async def _release(booking_id: int, event: Event, now: datetime) -> None:
    """Release a hold, only if it is still a hold: a conditional update, so a
    confirmation that commits meanwhile is never overwritten."""
    new_status = domain.transition(Status.HELD, event)
    condition = (Booking.id == booking_id) & (Booking.status == Status.HELD.value)
    if event is Event.EXPIRE:
        condition &= Booking.hold_expires_at <= now
    changed = await (
        Booking.update({Booking.status: new_status.value, Booking.updated_at: now})
        .where(condition)
        .returning(Booking.id)
    )
    if changed:
        row = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
        await _free_claims(row)


async def _free_claims(row: dict) -> None:
    await SlotClaim.delete().where(SlotClaim.owner == f"b:{row['id']}")
    if row["seats"] and row["terms"].get("capacity", 1) > 1:
        key = domain.session_key(row["offering"], row["resource"], row["start"])
        await ClassSession.raw(
            "UPDATE class_session SET taken = taken - {} WHERE key = {} AND taken >= {}", row["seats"], key, row["seats"]
        )
        session = await ClassSession.select().where(ClassSession.key == key).first()
        if session and session["taken"] == 0:
            await SlotClaim.delete().where(SlotClaim.owner == f"s:{session['id']}")


async def _claim(ctx: OfferingContext, booking_id: int, resource_id: int, start: datetime, end: datetime, seats: int) -> None:
    """Take the time in the database; raises SlotTaken on a lost race."""
    o = ctx.offering
    keys = domain.claim_units(resource_id, start, end, o["buffer_before_min"], o["buffer_after_min"])
    try:
        if o["capacity"] > 1:
            key = domain.session_key(o["id"], resource_id, start)
            await ClassSession.raw(
                "INSERT INTO class_session (key, capacity, taken) VALUES ({}, {}, 0) ON CONFLICT (key) DO NOTHING",
                key,
                o["capacity"],
            )
            taken = await ClassSession.raw(
                "UPDATE class_session SET taken = taken + {} WHERE key = {} AND taken + {} <= capacity RETURNING id, taken",
                seats,
                key,
                seats,
            )
            if not taken:
                raise SlotTaken()
            owner = f"s:{taken[0]['id']}"
            if taken[0]["taken"] == seats:  # first seat: the session takes the resource's time
                await SlotClaim.insert(*[SlotClaim(key=k, owner=owner) for k in keys])
        else:
            await SlotClaim.insert(*[SlotClaim(key=k, owner=f"b:{booking_id}") for k in keys])
    except CONFLICT_ERRORS as exc:
        raise SlotTaken() from exc


def _terms_snapshot(ctx: OfferingContext) -> dict:
    s, o = ctx.supplier, ctx.offering
    return {
        "supplier": {k: s[k] for k in ("legal_name", "org_number", "company_form", "vat_registered", "street", "postcode", "town", "phone", "email")},
        "offering_title": o["title"],
        "kind": o["kind"],
        "online": o["online"],
        "capacity": o["capacity"],
        "cancel_free_hours": o["cancel_free_hours"],
        "cancel_fee_percent": o["cancel_fee_percent"],
        "cancel_fee_ore": o["cancel_fee_ore"],
        "reminder_hours": o["reminder_hours"],
        "withdrawal_class": o["withdrawal_class"],
        "supplier_terms": s["terms"],
    }


async def hold(
    ctx: OfferingContext,
    start: datetime,
    resource_id: int | None,
    visitor: str,
    now: datetime,
    hold_minutes: int,
) -> dict:
    """Hold a time for this visitor; reuse their live hold of the same time.

    Raises SlotTaken when the time is not offered or was just taken.
    """
    if not ctx.bookable:
        raise SlotTaken()
    day = clock.to_local(start).date()
    offered = [s for s in await slots_between(ctx, day, day, now) if s.start == start]
    candidates = list(offered[0].resource_ids) if offered else []
    if resource_id is not None:
        candidates = [r for r in candidates if r == resource_id]

    existing = await Booking.select().output(load_json=True).where(
        (Booking.visitor == visitor)
        & (Booking.offering == ctx.offering["id"])
        & (Booking.status == Status.HELD.value)
        & (Booking.hold_expires_at > now)
    )
    for row in existing:
        if row["start"] == start and (resource_id is None or row["resource"] == resource_id):
            return row
    if not candidates:
        probe = resource_id if resource_id is not None else ctx.resource_ids[0]
        raise SlotTaken(await explain(ctx, probe, start, now))

    o = ctx.offering
    end = start + timedelta(minutes=o["duration_min"])
    vat = split_vat(o["price_ore"], o["vat_rate_bp"])
    for candidate in candidates:
        for retry in (False, True):
            try:
                async with write_transaction():
                    for row in existing:
                        await _release(row["id"], Event.ABANDON, now)
                    reference = await _unused_reference()
                    inserted = await Booking.insert(
                        Booking(
                            reference=reference,
                            supplier=ctx.supplier["id"],
                            offering=o["id"],
                            resource=candidate,
                            start=start,
                            end=end,
                            buffer_before_min=o["buffer_before_min"],
                            buffer_after_min=o["buffer_after_min"],
                            seats=1,
                            status=Status.HELD.value,
                            hold_token=domain.new_token(),
                            visitor=visitor,
                            hold_expires_at=domain.hold_expiry(now, hold_minutes),
                            price_ore=o["price_ore"],
                            vat_rate_bp=o["vat_rate_bp"],
                            vat_ore=vat.vat_ore,
                            payment_method="onsite",
                            terms=_terms_snapshot(ctx),
                            consents={},
                            created_at=now,
                            updated_at=now,
                        )
                    ).returning(Booking.id)
                    booking_id = inserted[0]["id"]
                    await _claim(ctx, booking_id, candidate, start, end, 1)
                # Committed: the old holds are released for good.
                return await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
            except SlotTaken:
                # The engine already ignores expired holds, but their claims
                # stay until released: free them and try this resource again.
                if not retry and await release_expired(now):
                    continue
                break
    raise SlotTaken()


async def _unused_reference() -> str:
    while True:
        reference = domain.new_reference()
        if not await Booking.exists().where(Booking.reference == reference):
            return reference


def phone_is_verified(booking: dict, phone: str) -> bool:
    return bool(phone) and booking["phone"] == phone and booking["phone_verified_at"] is not None


async def mark_phone_verified(booking_id: int, phone: str, now: datetime) -> None:
    """The customer proved this number with a code during this checkout."""
    await Booking.update({Booking.phone: phone, Booking.phone_verified_at: now, Booking.updated_at: now}).where(
        (Booking.id == booking_id) & (Booking.status == Status.HELD.value)
    )


def price_quote(ctx: OfferingContext, *, means: Means, day: date, discount_ore: int = 0, coupon_code: str | None = None) -> Quote:
    """The pricing pipeline for one booking of this offering: line → coupon →
    total → deposit → what is paid when. VAT from the dated table (L18)."""
    o, s = ctx.offering, ctx.supplier
    rate = vat_rate_bp(o["vat_category"], day, vat_registered=s["vat_registered"])
    items = [LineItem(description=o["title"], quantity=1, unit_price_ore=o["price_ore"], vat_rate_bp=rate)]
    deposit = DepositRule(kind=o["deposit_kind"], value=o["deposit_value"])
    return quote(items, means=means, discount=discount_ore, coupon_code=coupon_code, deposit=deposit)


def means_for(ctx: OfferingContext) -> list[Means]:
    return available_means(ctx.supplier["payment_methods"] or [], ctx.offering["deposit_kind"])


class CheckoutRefused(Exception):
    """The coupon could not be used; nothing was changed."""

    def __init__(self, refusal: object, terms: object = None) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal
        self.terms = terms


async def _take_details(
    ctx: OfferingContext,
    row: dict,
    form: CheckoutResult,
    language: str,
    consent_texts: dict,
    means: Means,
    now: datetime,
    trusted_phone: str | None,
) -> dict:
    """Inside a write transaction: check the hold can be confirmed, redeem the
    coupon and store what the customer entered, the consents and the frozen
    quote. Returns the fields written."""
    if not (phone_is_verified(row, form.phone_e164) or (trusted_phone and trusted_phone == form.phone_e164)):
        raise PhoneNotVerified()
    if row["status"] == Status.RELEASED.value:
        # The sweeper freed it; take the time again if it is still free.
        await Booking.update({Booking.status: Status.HELD.value}).where(Booking.id == row["id"])
        await _claim(ctx, row["id"], row["resource"], row["start"], row["end"], row["seats"])
    elif row["status"] != Status.HELD.value:
        raise SlotTaken()
    if row["start"] <= now:
        raise SlotTaken(Reason.PAST)
    day = clock.to_local(row["start"]).date()
    discount, code = 0, None
    if row["coupon_code"]:
        full = price_quote(ctx, means=means, day=day)
        try:
            discount = await coupon_store.redeem(
                row["supplier"], row["coupon_code"], booking_id=row["id"], offering_id=row["offering"], amount_ore=full.total_ore, now=now
            )
        except coupon_store.CouponRefused as refused:
            raise CheckoutRefused(refused.refusal, refused.terms) from None
        code = row["coupon_code"]
    else:
        # A code redeemed on an earlier submit (sent to Vipps, then removed): its use comes back.
        await coupon_store.release(row["id"])
    frozen = price_quote(ctx, means=means, day=day, discount_ore=discount, coupon_code=code)
    consents = {key: {"at": now.isoformat(), "text": text} for key, text in consent_texts.items()}
    return {
        Booking.phone_verified_at: row["phone_verified_at"] or now,
        Booking.customer_name: form.values.name,
        Booking.phone: form.phone_e164,
        Booking.email: form.email_normalized,
        Booking.note: form.values.note,
        Booking.language: language,
        Booking.consents: consents,
        Booking.payment_method: frozen.means.value,
        Booking.quote: frozen.to_json(),
        Booking.price_ore: frozen.total_ore,
        Booking.vat_ore: frozen.vat_ore,
        Booking.updated_at: now,
    }


async def _finalise(booking_id: int, now: datetime) -> dict:
    """HELD → CONFIRMED with the details already stored: the customer is
    created or updated and the confirmation queued, in the caller's transaction."""
    row = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
    new_status = domain.transition(Status(row["status"]), Event.CONFIRM)
    customer_id = await customer_for_booking(
        phone=row["phone"],
        name=row["customer_name"],
        email=row["email"],
        language=row["language"],
        supplier_id=row["supplier"],
        now=now,
    )
    await Booking.update(
        {
            Booking.status: new_status.value,
            Booking.customer: customer_id,
            Booking.contract_at: now,
            Booking.manage_token: domain.new_token(),
            Booking.hold_expires_at: None,
            Booking.updated_at: now,
        }
    ).where(Booking.id == booking_id)
    confirmed = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
    await enqueue_booking_messages(confirmed, "confirmation", now)
    return confirmed


async def confirm(
    ctx: OfferingContext,
    booking: dict,
    form: CheckoutResult,
    language: str,
    consent_texts: dict,
    now: datetime,
    *,
    trusted_phone: str | None = None,
    means: Means = Means.ONSITE,
) -> dict:
    """Turn a hold into a confirmed booking paid on site. Idempotent for a double submit.

    The mobile number must be verified by a code in this checkout, or be the
    number of a remembered device (`trusted_phone`). The customer is created
    or updated, and the confirmation messages are queued in the same
    transaction. A hold past its expiry still confirms if nobody took its
    time meanwhile.
    """
    async with write_transaction():
        row = await Booking.select().output(load_json=True).where(Booking.id == booking["id"]).first()
        if row["status"] == Status.CONFIRMED.value:
            return row
        values = await _take_details(ctx, row, form, language, consent_texts, means, now, trusted_phone)
        await Booking.update(values).where(Booking.id == row["id"])
        return await _finalise(row["id"], now)


async def submit_for_payment(
    ctx: OfferingContext,
    booking: dict,
    form: CheckoutResult,
    language: str,
    consent_texts: dict,
    now: datetime,
    *,
    means: Means,
    trusted_phone: str | None = None,
    hold_minutes: int,
) -> dict:
    """Everything `confirm` checks and stores, but the booking stays a hold
    (for `hold_minutes` more) until Vipps reports the money reserved
    (`confirm_paid`)."""
    async with write_transaction():
        row = await Booking.select().output(load_json=True).where(Booking.id == booking["id"]).first()
        if row["status"] == Status.CONFIRMED.value:
            return row
        values = await _take_details(ctx, row, form, language, consent_texts, means, now, trusted_phone)
        values[Booking.hold_expires_at] = domain.hold_expiry(now, hold_minutes)
        await Booking.update(values).where(Booking.id == row["id"])
        return await Booking.select().output(load_json=True).where(Booking.id == row["id"]).first()


async def confirm_paid(booking_id: int, now: datetime) -> dict | None:
    """The booking's money is reserved: confirm it. Call inside a write transaction.

    A hold that was released meanwhile takes its time again if it is still
    free. Returns None when the time has gone to someone else (the caller
    cancels the reservation and tells the customer); a booking confirmed
    already is returned as it is.
    """
    row = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
    if row["status"] == Status.RELEASED.value:
        if not await _reclaim(row):
            return None
    elif row["status"] != Status.HELD.value:
        return row
    return await _finalise(row["id"], now)


async def _reclaim(row: dict) -> bool:
    """Take a released booking's time again without raising (so the caller's
    transaction stays usable on PostgreSQL): False when it is gone."""
    ctx = await offering_context_by_id(row["offering"])
    o = ctx.offering
    if o["capacity"] > 1:
        try:
            await _claim(ctx, row["id"], row["resource"], row["start"], row["end"], row["seats"])
        except SlotTaken:
            return False
    else:
        keys = domain.claim_units(row["resource"], row["start"], row["end"], row["buffer_before_min"], row["buffer_after_min"])
        owner = f"b:{row['id']}"
        got = await (
            SlotClaim.insert(*[SlotClaim(key=k, owner=owner) for k in keys])
            .on_conflict(target=SlotClaim.key, action="DO NOTHING")
            .returning(SlotClaim.key)
        )
        if len(got) < len(keys):
            await SlotClaim.delete().where(SlotClaim.owner == owner)
            return False
    await Booking.update({Booking.status: Status.HELD.value}).where(Booking.id == row["id"])
    return True


async def release_hold(booking_id: int, now: datetime) -> bool:
    """The payment ended without money: free the held time (and its coupon)."""
    row = await Booking.select(Booking.status).where(Booking.id == booking_id).first()
    if row is not None and row["status"] == Status.RELEASED.value:
        # Freed meanwhile (the customer held another time, or the sweeper took
        # the expired hold): no money will come, so its coupon use comes back too.
        await coupon_store.release(booking_id)
        return False
    if row is None or row["status"] != Status.HELD.value:
        return False
    await _release(booking_id, Event.ABANDON, now)
    await coupon_store.release(booking_id)
    return True


class NotAllowed(Exception):
    """The booking is not in a state (or at a time) that allows this."""


#: Ends that give the time back to others.
FREES_TIME = frozenset({Status.CANCELLED_BY_CUSTOMER, Status.CANCELLED_BY_SUPPLIER, Status.WITHDRAWN})


async def change_status(booking_id: int, event: Event, now: datetime) -> dict:
    """Move a confirmed booking on (completed, no-show, cancelled, withdrawn),
    inside the caller's write transaction. A conditional update: two clicks
    or two staff members cannot apply two ends. Cancelling frees the time,
    cancels pending reminders and queues the cancellation messages."""
    new_status = domain.transition(Status.CONFIRMED, event)
    changed = await (
        Booking.update({Booking.status: new_status.value, Booking.updated_at: now})
        .where((Booking.id == booking_id) & (Booking.status == Status.CONFIRMED.value))
        .returning(Booking.id)
    )
    if not changed:
        raise NotAllowed(event)
    row = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
    if new_status in FREES_TIME:
        await _free_claims(row)
        await Booking.update({Booking.ics_sequence: Booking.ics_sequence + 1}).where(Booking.id == booking_id)
        row = await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()
        await enqueue_booking_messages(row, "cancellation", now)
    return row


async def set_coupon(booking_id: int, code: str, now: datetime) -> None:
    """Remember (or forget) the coupon the customer typed on their hold; it
    is redeemed only when the booking is submitted."""
    await Booking.update({Booking.coupon_code: code[:40], Booking.updated_at: now}).where(
        (Booking.id == booking_id) & (Booking.status == Status.HELD.value)
    )


async def coupon_misses(visitor: str, now: datetime) -> int:
    """Wrong coupon codes this browser typed on holds made in the last hour."""
    rows = await Booking.select(Booking.coupon_misses).where(
        (Booking.visitor == visitor) & (Booking.created_at >= now - timedelta(hours=1)) & (Booking.coupon_misses > 0)
    )
    return sum(r["coupon_misses"] for r in rows)


async def record_coupon_miss(booking_id: int, now: datetime) -> None:
    await Booking.update({Booking.coupon_misses: Booking.coupon_misses + 1, Booking.updated_at: now}).where(Booking.id == booking_id)

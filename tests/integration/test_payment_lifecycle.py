"""The money of a Vipps booking from reservation to its end, against the
session's dev Vipps over real HTTP: reserved at booking, captured only once
the service is delivered (or a fee the customer accepted), released or given
back otherwise — and what the customer sees on the way.

Time is moved with time-machine (the app, the dev Vipps and the outbox all
read the one clock); the outbox is drained by hand with `drain_once`.

The helpers at the top are shared with test_payment_faults.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
import time_machine
from litestar.testing import AsyncTestClient
from markupsafe import escape

from portal.app import create_app
from portal.audit.domain import system
from portal.capacity.tables import SlotClaim
from portal.kinds.appointment import service as appointment
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.lib.i18n import translations
from portal.lib.money import format_nok
from portal.notify.domain import SUPPLIER_KEY_MARK
from portal.orders import service as orders
from portal.orders.tables import Order
from portal.outbox import worker
from portal.outbox.tables import OutboxMessage
from portal.payments import service
from portal.payments.tables import Payment
from portal.sales import settlement
from portal.sales.settlement import NotAllowed
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, slots
from tests.integration.staff import backoffice_action, slug_of, staff_login

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"  # kr 549,00, 25 % VAT, free cancel until 24 h before, then 50 %
MASSAGE = "/s/fjellro-massasje-bergen/massasje-90"  # kr 1 390,00 with a 30 % deposit (kr 417,00) in Vipps
NB = translations("nb")
OTHER_CUSTOMER = {"name": "Ola Hansen", "phone": "413 45 678", "email": "ola@example.no"}
#: Who the tests act as when they call a use case directly (the supplier's
#: marks and refunds, the sweeper, the reconciler).
ACTOR = system("test")


# ---------------------------------------------------------------- helpers (also used by test_payment_faults.py)


def says(html: str, msgid: str, **args: object) -> bool:
    """Does the page show this message, as the Bokmål catalogue renders it (escaped)?"""
    text = NB.gettext(msgid)
    if args:
        text = text % args
    return str(escape(text)) in html


def kr(ore: int) -> str:
    return format_nok(ore, "nb")


@dataclass
class Booked:
    checkout: str  # /checkout/<checkout token>
    checkout_token: str
    start: dt.datetime
    order_id: int
    reference: str  # the Vipps payment reference
    landing: str = ""  # where the browser was sent (the dev Vipps' landing page)
    manage_token: str = ""
    duration: dt.timedelta = dt.timedelta(0)

    @property
    def end(self) -> dt.datetime:
        return self.start + self.duration

    @property
    def signed(self) -> str:
        return service.return_token(self.checkout_token)


async def offered(client, path: str, day: dt.date) -> tuple[list[str], str]:
    """The times offered on that day and the page's CSRF token ('' on a day
    with nothing offered: the page then has no form)."""
    page = await client.get(f"{path}?day={day.isoformat()}")
    assert page.status_code == 200
    starts = slots(page.text)
    return starts, csrf(page.text) if starts else ""


async def hold_time(client, path: str = HAIRCUT, days_ahead: int = 3, start: str | None = None) -> tuple[str, dt.datetime]:
    """Hold the first offered time `days_ahead` days from now or later (or
    exactly `start`); returns (checkout url, start)."""
    today = clock.local_today()
    if start is not None:
        _, token = await offered(client, path, clock.to_local(dt.datetime.fromisoformat(start)).date())
    else:
        for offset in range(days_ahead, days_ahead + 14):
            starts, token = await offered(client, path, today + dt.timedelta(days=offset))
            if starts:
                start = starts[0]
                break
        assert start, f"nothing offered on {path}"
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303, held.text[:500]
    return held.headers["location"], dt.datetime.fromisoformat(start)


async def press_confirm(client, checkout: str, means: str = "vipps", customer: dict | None = None):
    """Press "confirm" again on a checkout whose number is already verified (no new code)."""
    page = await client.get(checkout)
    data = {**VALID_CUSTOMER, **(customer or {}), "means": means, "action": "confirm", "_csrf_token": csrf(page.text)}
    return await client.post(checkout, data=data, follow_redirects=False)


async def reservation(order_id: int) -> dict:
    """The order's (one) appointment reservation: its time, resource, status."""
    (row,) = await Reservation.select().where(Reservation.order == order_id)
    return row


async def by_checkout(checkout: str) -> dict:
    """The order of a checkout URL (/checkout/<checkout token>)."""
    found = await orders.by_checkout_token(checkout.rsplit("/", 1)[-1])
    assert found is not None, checkout
    return found


async def submit_to_vipps(client, path: str = HAIRCUT, days_ahead: int = 3, means: str = "vipps", start: str | None = None) -> Booked:
    """Hold a time and confirm with Vipps: the browser is sent to Vipps."""
    checkout, start_at = await hold_time(client, path, days_ahead, start)
    sent = await confirm_with_code(client, checkout, {"means": means})
    assert sent.status_code == 303, sent.text[-2000:]
    held = await by_checkout(checkout)
    reserved = await reservation(held["id"])
    payment = await service.latest_payment(held["id"])
    return Booked(
        checkout=checkout,
        checkout_token=held["checkout_token"],
        start=start_at,
        order_id=held["id"],
        reference=payment["reference"],
        landing=sent.headers["location"],
        duration=reserved["end"] - reserved["start"],
    )


async def come_back(client, booked: Booked):
    """The browser arrives at the return page."""
    return await client.get(f"/pay/{booked.signed}", follow_redirects=False)


async def book_with_vipps(client, vipps, path: str = HAIRCUT, days_ahead: int = 3, means: str = "vipps") -> Booked:
    """A confirmed booking whose money is reserved in Vipps (approved, back on the return page)."""
    booked = await submit_to_vipps(client, path, days_ahead, means)
    assert vipps.approve(booked.reference)
    back = await come_back(client, booked)
    assert back.status_code == 303, back.text[-2000:]
    location = back.headers["location"]
    assert location.startswith("/b/") and location.endswith("?new=1"), location
    booked.manage_token = location.split("/b/")[1].split("?")[0]
    return booked


async def order_row(order_id: int) -> dict:
    return await Order.select().output(load_json=True).where(Order.id == order_id).first()


async def claims(order_id: int) -> int:
    """The time claims the order's reservations hold (owner `r:<reservation id>`)."""
    owners = [f"r:{r['id']}" for r in await Reservation.select(Reservation.id).where(Reservation.order == order_id)]
    assert owners, f"order {order_id} has no reservation"
    return await SlotClaim.count().where(SlotClaim.owner.is_in(owners))


async def payment(reference: str) -> dict:
    return await Payment.select().where(Payment.reference == reference).first()


async def ops(reference: str) -> list[dict]:
    row = await payment(reference)
    return await service.operations(row["id"])


async def sweep(now: dt.datetime) -> dict:
    """What the app's sweeper does for money: reconcile the payments, then
    complete what time has delivered. The counts of both ("completed": how
    many orders were completed by time alone)."""
    counts = await service.reconcile(ACTOR, now)
    return {**counts, "completed": await settlement.auto_complete(ACTOR, now)}


async def drain(now: dt.datetime | None = None) -> int:
    """Run the outbox (emails, SMS and payment operations) until nothing is due
    at `now` (by default the clock, travelled or not: rows planned while
    travelling with a ticking clock are due a little after the moment travelled to)."""
    total = 0
    for _ in range(20):
        tried = await worker.drain_once(now)
        if not tried:
            return total
        total += tried
    raise AssertionError("the outbox never ran dry")


def requests(vipps, reference: str, *operations: str) -> list[dict]:
    """The calls the dev Vipps received for a payment, in order, leaving out
    those refused for a stale access token (the client fetches a new token
    and sends the same request again: the dev Vipps forgets its tokens
    between tests, the client's token cache does not)."""
    return [
        e
        for e in list(vipps.request_log)
        if e["operation"] in operations
        and e["path"].rstrip("/").split("/payments/")[-1].split("/")[0] == reference
        and (e["response"] or {}).get("status") != 401
    ]


def calls(vipps, reference: str, *operations: str) -> list[str]:
    """The operations the dev Vipps carried out or answered for a payment, in order."""
    return [e["operation"] for e in requests(vipps, reference, *operations)]


def aggregate(vipps, reference: str) -> dict[str, int]:
    p = vipps.payments[reference]
    return {"authorized": p.authorized_ore, "captured": p.captured_ore, "cancelled": p.cancelled_ore, "refunded": p.refunded_ore}


async def messages(order_id: int, topic: str, *, audience: str = "customer") -> list[dict]:
    """The order's outbox rows of a topic for the customer (audience="supplier": the supplier's; "all": both)."""
    where = (OutboxMessage.order_id == order_id) & (OutboxMessage.topic == topic)
    mark = f"%{SUPPLIER_KEY_MARK}%"
    if audience != "all":
        where &= OutboxMessage.dedupe_key.like(mark) if audience == "supplier" else OutboxMessage.dedupe_key.not_like(mark)
    return await OutboxMessage.select().where(where)


def travel(moment: dt.datetime):
    return time_machine.travel(moment, tick=True)


# ---------------------------------------------------------------- reserve at booking, capture at delivery


@pytest.mark.legal("L13")
@pytest.mark.legal("L17")
async def test_money_is_reserved_at_booking_and_captured_only_after_delivery(client, vipps):
    booked = await book_with_vipps(client, vipps)
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed"
    p = await payment(booked.reference)
    assert (p["state"], p["authorized_ore"], p["captured_ore"]) == ("authorized", 549_00, 0)
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 0, "refunded": 0}
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s reserved in Vipps, not charged.", amount=kr(549_00))

    # Before the appointment nobody can deliver it.
    for before in (clock.now(), booked.start - dt.timedelta(minutes=1)):
        with pytest.raises(NotAllowed):
            await settlement.mark_delivered(ACTOR, booked.order_id, before)
    assert await ops(booked.reference) == []

    # The reconciler, run at any time before end + 24 h, takes nothing.
    moments = [booked.start, booked.end, booked.end + dt.timedelta(hours=23, minutes=59)]
    for moment in moments:
        with travel(moment):
            await sweep(moment)
            await drain()
        assert vipps.payments[booked.reference].captured_ore == 0, moment
        assert (await order_row(booked.order_id))["state"] == "confirmed", moment
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []

    # After the start, the supplier marks it delivered: a capture, carried out by the outbox.
    delivered_at = booked.start + dt.timedelta(minutes=20)
    with travel(delivered_at):
        done = await settlement.mark_delivered(ACTOR, booked.order_id, delivered_at)
        assert done["state"] == "completed"
        (capture,) = await ops(booked.reference)
        assert (capture["kind"], capture["amount_ore"], capture["status"]) == ("capture", 549_00, "pending")
        assert vipps.payments[booked.reference].captured_ore == 0  # nothing moves before the worker runs
        await drain()
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 0}
    (capture,) = await ops(booked.reference)
    assert capture["status"] == "done"
    p = await payment(booked.reference)
    assert (p["captured_ore"], p["cancelled_ore"], p["refunded_ore"]) == (549_00, 0, 0)

    (movement,) = await service.movements(booked.order_id)
    assert (movement["kind"], movement["means"], movement["amount_ore"], movement["reason"]) == ("capture", "vipps", 549_00, "delivered")
    assert movement["operation"] == capture["id"] and movement["payment"] == p["id"]
    assert movement["seller"]["org_number"] and movement["seller"]["legal_name"]
    assert sum(line["gross_ore"] for line in movement["lines"]) == 549_00
    for line in movement["lines"]:
        assert line["net_ore"] + line["vat_ore"] == line["gross_ore"]
        assert all(isinstance(line[k], int) for k in ("gross_ore", "net_ore", "vat_ore"))
    assert movement["vat"] == [{"rate_bp": 2500, "base_ore": 439_20, "vat_ore": 109_80, "gross_ore": 549_00}]

    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s charged with Vipps.", amount=kr(549_00))
    assert not says(page.text, "%(amount)s reserved in Vipps, not charged.", amount=kr(549_00))
    assert says(page.text, "This appointment has taken place.")


async def test_a_booking_nobody_marks_is_completed_and_captured_24_hours_after_its_end(client, vipps):
    booked = await book_with_vipps(client, vipps)
    due = booked.end + dt.timedelta(hours=24)

    just_before = due - dt.timedelta(seconds=1)
    with travel(just_before):
        counts = await sweep(just_before)
        await drain()
    assert counts["completed"] == 0
    assert (await order_row(booked.order_id))["state"] == "confirmed"
    assert aggregate(vipps, booked.reference)["captured"] == 0
    assert await ops(booked.reference) == []

    with travel(due):
        counts = await sweep(due)
        await drain()
    assert counts["completed"] == 1
    assert (await order_row(booked.order_id))["state"] == "completed"
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 0}
    (movement,) = await service.movements(booked.order_id)
    assert (movement["kind"], movement["amount_ore"], movement["reason"]) == ("capture", 549_00, "delivered")

    # Later runs find nothing more to do.
    later = due + dt.timedelta(hours=6)
    with travel(later):
        counts = await sweep(later)
        await drain()
    assert counts["completed"] == 0
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture"]
    assert len(await service.movements(booked.order_id)) == 1


async def test_the_sweep_completes_a_backlog_in_batches_oldest_first(client, vipps):
    """After the portal was down, a pass completes at most `batch` orders (the
    oldest first) and the next pass the rest: nothing is skipped, nothing twice."""
    booked = [await book_with_vipps(client, vipps, days_ahead=days) for days in (3, 4, 5)]
    due = max(b.end for b in booked) + dt.timedelta(hours=24)
    with travel(due):
        first = await settlement.auto_complete(ACTOR, due, batch=2)
        states = [(await order_row(b.order_id))["state"] for b in booked]
        second = await settlement.auto_complete(ACTOR, due, batch=2)
        third = await settlement.auto_complete(ACTOR, due, batch=2)
        await drain()
    assert (first, second, third) == (2, 1, 0)
    assert states == ["completed", "completed", "confirmed"]
    assert [(await order_row(b.order_id))["state"] for b in booked] == ["completed"] * 3
    assert [aggregate(vipps, b.reference)["captured"] for b in booked] == [549_00] * 3


# ---------------------------------------------------------------- the customer cancels


async def _cancel_page(client, booked: Booked):
    page = await client.get(f"/b/{booked.manage_token}/cancel")
    assert page.status_code == 200
    return page


async def _cancel(client, booked: Booked, page) -> None:
    done = await client.post(f"/b/{booked.manage_token}/cancel", data={"_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/b/{booked.manage_token}?cancelled=1"


async def test_customer_cancels_for_free_and_the_whole_reservation_is_released(client, vipps):
    booked = await book_with_vipps(client, vipps, days_ahead=3)
    day = clock.to_local(booked.start).date()
    assert booked.start.isoformat() not in (await offered(client, HAIRCUT, day))[0]

    page = await _cancel_page(client, booked)
    assert says(page.text, "Cancelling now is free.")
    assert says(page.text, "The amount reserved in Vipps is released in full; nothing is charged.")
    assert not says(page.text, "The fee is charged from the amount reserved in Vipps; the rest of the reservation is released.")
    token = csrf(page.text)
    await _cancel(client, booked, page)

    assert (await order_row(booked.order_id))["state"] == "cancelled_by_customer"
    (cancel,) = await ops(booked.reference)
    assert (cancel["kind"], cancel["reason"], cancel["status"]) == ("cancel", "customer_cancel_free", "pending")
    assert {m["channel"] for m in await messages(booked.order_id, "cancellation")} == {"email", "sms"}
    assert booked.start.isoformat() in (await offered(client, HAIRCUT, day))[0]  # free again at once

    await drain()
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 549_00, "refunded": 0}
    p = await payment(booked.reference)
    assert (p["captured_ore"], p["cancelled_ore"]) == (0, 549_00)
    assert await service.movements(booked.order_id) == []
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "You have cancelled this booking.")
    assert says(page.text, "%(amount)s released: it will never be charged.", amount=kr(549_00))

    # A second press does nothing more.
    again = await client.post(f"/b/{booked.manage_token}/cancel", data={"_csrf_token": token}, follow_redirects=False)
    assert again.headers["location"] == f"/b/{booked.manage_token}/cancel"
    await drain()
    assert len(await ops(booked.reference)) == 1


@pytest.mark.legal("L17")
async def test_a_late_cancellation_captures_the_fee_then_releases_the_rest(client, vipps):
    # After the withdrawal period: inside it, cancelling is a withdrawal and costs no fee (L32).
    booked = await book_with_vipps(client, vipps, days_ahead=21)
    fee_text = "It is too late to cancel for free. Cancelling now costs %(fee)s, as agreed when you booked."
    # The free window ends 24 hours before the start.
    with travel(booked.start - dt.timedelta(hours=24, seconds=1)):
        page = await _cancel_page(client, booked)
        assert says(page.text, "Cancelling now is free.") and not says(page.text, fee_text, fee=kr(274_50))
    with travel(booked.start - dt.timedelta(hours=24)):
        page = await _cancel_page(client, booked)
        assert not says(page.text, "Cancelling now is free.") and says(page.text, fee_text, fee=kr(274_50))

    late = booked.start - dt.timedelta(hours=2)
    with travel(late):
        page = await _cancel_page(client, booked)
        assert says(page.text, fee_text, fee=kr(274_50))
        assert says(page.text, "The fee is charged from the amount reserved in Vipps; the rest of the reservation is released.")
        assert says(page.text, "Cancel and pay %(fee)s", fee=kr(274_50))
        await _cancel(client, booked, page)
        capture, cancel = await ops(booked.reference)
        assert (capture["kind"], capture["amount_ore"], capture["reason"]) == ("capture", 274_50, "customer_cancel_late")
        assert (cancel["kind"], cancel["reason"]) == ("cancel", "customer_cancel_late")
        await drain()
    assert (await order_row(booked.order_id))["state"] == "cancelled_by_customer"
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture", "cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 274_50, "cancelled": 274_50, "refunded": 0}
    (movement,) = await service.movements(booked.order_id)
    assert (movement["kind"], movement["amount_ore"], movement["reason"]) == ("capture", 274_50, "customer_cancel_late")
    assert sum(line["gross_ore"] for line in movement["lines"]) == 274_50
    assert movement["vat"] == [{"rate_bp": 2500, "base_ore": 219_60, "vat_ore": 54_90, "gross_ore": 274_50}]
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s charged with Vipps.", amount=kr(274_50))
    assert says(page.text, "%(amount)s released: it will never be charged.", amount=kr(274_50))


# ---------------------------------------------------------------- no-show


async def test_a_no_show_captures_the_fee_and_releases_the_rest_but_not_before_the_start(client, vipps):
    booked = await book_with_vipps(client, vipps)
    with pytest.raises(NotAllowed):
        await settlement.mark_no_show(ACTOR, booked.order_id, booked.start - dt.timedelta(minutes=1))
    assert (await order_row(booked.order_id))["state"] == "confirmed"
    assert await ops(booked.reference) == []

    at = booked.start + dt.timedelta(minutes=15)
    with travel(at):
        assert (await settlement.mark_no_show(ACTOR, booked.order_id, at))["state"] == "no_show"
        with pytest.raises(NotAllowed):  # and only once
            await settlement.mark_no_show(ACTOR, booked.order_id, at)
        await drain()
    assert [(o["kind"], o["amount_ore"], o["reason"], o["status"]) for o in await ops(booked.reference)] == [
        ("capture", 274_50, "no_show", "done"),
        ("cancel", 0, "no_show", "done"),
    ]
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture", "cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 274_50, "cancelled": 274_50, "refunded": 0}
    (movement,) = await service.movements(booked.order_id)
    assert (movement["amount_ore"], movement["reason"]) == (274_50, "no_show")


# ---------------------------------------------------------------- the supplier cancels, refunds


async def _backoffice(client, booked: Booked, action: str, **fields: str):
    """The supplier's owner, logged in to the back office, confirms `action` on the booking."""
    return await backoffice_action(client, booked.order_id, action, **fields)


@pytest.mark.legal("L9")
async def test_supplier_cancels_before_capture_and_everything_is_released(client, vipps):
    booked = await book_with_vipps(client, vipps)
    done = await _backoffice(client, booked, "cancel", reason="Frisøren er syk")
    assert done.status_code == 303
    assert (await order_row(booked.order_id))["state"] == "cancelled_by_supplier"
    assert {m["channel"] for m in await messages(booked.order_id, "cancellation")} == {"email", "sms"}
    await drain()
    assert [(o["kind"], o["reason"], o["status"]) for o in await ops(booked.reference)] == [("cancel", "supplier_cancel", "done")]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 549_00, "refunded": 0}
    assert await service.movements(booked.order_id) == []
    day = clock.to_local(booked.start).date()
    assert booked.start.isoformat() in (await offered(client, HAIRCUT, day))[0]


async def _delivered(client, vipps) -> Booked:
    booked = await book_with_vipps(client, vipps)
    at = booked.start + dt.timedelta(minutes=30)
    with travel(at):
        await settlement.mark_delivered(ACTOR, booked.order_id, at)
        await drain()
    assert aggregate(vipps, booked.reference)["captured"] == 549_00
    return booked


@pytest.mark.legal("L8")
@pytest.mark.legal("L9")
async def test_after_capture_the_supplier_refunds_everything_by_the_same_means(client, vipps):
    booked = await _delivered(client, vipps)
    done = await _backoffice(client, booked, "refund", amount="549,00")
    assert done.status_code == 303, done.text[-1500:]
    await drain()
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture", "refund"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 549_00}
    p = await payment(booked.reference)
    assert (p["captured_ore"], p["refunded_ore"]) == (549_00, 549_00)
    capture, refund = await service.movements(booked.order_id)
    assert (refund["kind"], refund["means"], refund["amount_ore"], refund["reason"]) == ("refund", "vipps", 549_00, "refund")
    assert refund["vat"] == capture["vat"] == [{"rate_bp": 2500, "base_ore": 439_20, "vat_ore": 109_80, "gross_ore": 549_00}]
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s refunded to you.", amount=kr(549_00))
    # Nothing is left to give back.
    refused = await _backoffice(client, booked, "refund", amount="0,01")
    assert refused.status_code == 422 and says(refused.text, "That is not possible for this booking now.")


@pytest.mark.legal("L17")
async def test_partial_refunds_use_their_own_keys_and_never_exceed_what_was_captured(client, vipps):
    booked = await _delivered(client, vipps)
    now = clock.now()
    first = await settlement.refund(ACTOR, booked.order_id, 100_00, now)
    second = await settlement.refund(ACTOR, booked.order_id, 150_50, now)
    assert first and second and set(first).isdisjoint(second)
    # Planned but not yet carried out: they already count.
    with pytest.raises(NotAllowed):
        await settlement.refund(ACTOR, booked.order_id, 549_00 - 250_50 + 1, now)
    for amount in (0, -1):
        with pytest.raises(NotAllowed):
            await settlement.refund(ACTOR, booked.order_id, amount, now)
    await drain()
    refunds = [o for o in await ops(booked.reference) if o["kind"] == "refund"]
    assert [(o["amount_ore"], o["status"]) for o in refunds] == [(100_00, "done"), (150_50, "done")]
    assert aggregate(vipps, booked.reference)["refunded"] == 250_50
    assert (await payment(booked.reference))["refunded_ore"] == 250_50

    with pytest.raises(NotAllowed):
        await settlement.refund(ACTOR, booked.order_id, 298_51, now)
    await settlement.refund(ACTOR, booked.order_id, 298_50, now)
    with pytest.raises(NotAllowed):
        await settlement.refund(ACTOR, booked.order_id, 1, now)
    await drain()
    refunds = [o for o in await ops(booked.reference) if o["kind"] == "refund"]
    keys = [e["headers"]["idempotency-key"] for e in requests(vipps, booked.reference, "refund")]
    assert keys == [o["idempotency_key"] for o in refunds] and len(set(keys)) == 3
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 549_00}
    movements = await service.movements(booked.order_id)
    assert [m["amount_ore"] for m in movements if m["kind"] == "refund"] == [100_00, 150_50, 298_50]
    for m in movements:
        assert sum(line["gross_ore"] for line in m["lines"]) == m["amount_ore"]
        assert sum(v["gross_ore"] for v in m["vat"]) == m["amount_ore"]
        assert all(v["base_ore"] + v["vat_ore"] == v["gross_ore"] for v in m["vat"])


# ---------------------------------------------------------------- a deposit


@pytest.mark.legal("L13")
async def test_a_deposit_is_reserved_at_booking_captured_at_delivery_and_the_rest_is_paid_on_site(client, vipps):
    checkout, start = await hold_time(client, MASSAGE)
    page = await client.get(checkout)
    wording = (
        "A deposit of %(deposit)s is reserved in Vipps when you book – reserved, not charged. "
        "It is charged after the appointment. You pay the rest, %(rest)s, at the appointment."
    )
    assert says(page.text, wording, deposit=kr(417_00), rest=kr(973_00))
    sent = await confirm_with_code(client, checkout, {"means": "deposit"})
    assert sent.status_code == 303, sent.text[-2000:]
    row = await by_checkout(checkout)
    p = await service.latest_payment(row["id"])
    assert (p["amount_ore"], p["purpose"]) == (417_00, "deposit")
    assert vipps.payments[p["reference"]].amount_ore == 417_00
    reserved = await reservation(row["id"])
    booked = Booked(checkout, row["checkout_token"], start, row["id"], p["reference"], duration=reserved["end"] - reserved["start"])

    assert vipps.approve(booked.reference)
    back = await come_back(client, booked)
    assert back.status_code == 303
    booked.manage_token = back.headers["location"].split("/b/")[1].split("?")[0]
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s reserved in Vipps, not charged.", amount=kr(417_00))
    assert says(page.text, "To pay at the appointment: %(amount)s.", amount=kr(973_00))

    at = start + dt.timedelta(minutes=90)
    with travel(at):
        await settlement.mark_delivered(ACTOR, booked.order_id, at)
        await drain()
    assert [(o["kind"], o["amount_ore"], o["status"]) for o in await ops(booked.reference)] == [("capture", 417_00, "done")]
    assert aggregate(vipps, booked.reference) == {"authorized": 417_00, "captured": 417_00, "cancelled": 0, "refunded": 0}
    (movement,) = await service.movements(booked.order_id)
    assert movement["amount_ore"] == 417_00
    assert sum(line["gross_ore"] for line in movement["lines"]) == 417_00
    assert sum(v["gross_ore"] for v in movement["vat"]) == 417_00
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s charged with Vipps.", amount=kr(417_00))
    assert says(page.text, "To pay at the appointment: %(amount)s.", amount=kr(973_00))


# ---------------------------------------------------------------- authorised after the hold was lost


async def test_an_authorisation_after_the_time_went_to_someone_else_releases_the_money(client, vipps, monkeypatch):
    from portal.settings import load as load_settings

    monkeypatch.setattr(vipps, "payment_seconds", 3600)  # the customer is slow, but within Vipps' own limit
    booked = await submit_to_vipps(client)
    first = await reservation(booked.order_id)
    later = clock.now() + dt.timedelta(minutes=load_settings().vipps.payment_hold_minutes, seconds=30)
    with travel(later):
        assert await appointment.release_expired(ACTOR, later) == 1
        assert (await order_row(booked.order_id))["state"] == "released"
        async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as other:
            checkout, _ = await hold_time(other, HAIRCUT, start=booked.start.isoformat())
            done = await confirm_with_code(other, checkout, {**OTHER_CUSTOMER, "means": "onsite"})
            assert done.status_code == 303 and done.headers["location"].startswith("/b/")
        second = await by_checkout(checkout)
        assert second["state"] == "confirmed" and (await reservation(second["id"]))["resource"] == first["resource"]

        assert vipps.approve(booked.reference)
        back = await come_back(client, booked)
        assert back.status_code == 200
        assert says(
            back.text,
            "The payment came through after your time was given to someone else. "
            "The reservation in Vipps has been cancelled: nothing is charged.",
        )
        assert says(back.text, "Choose another time") and f'href="{HAIRCUT}"' in back.text
        # The nearest free times are offered as buttons that hold them; the lost time is not among them.
        assert says(back.text, "These are the nearest free times:")
        offered_starts = re.findall(r'name="start" value="([^"]+)"', back.text)
        assert offered_starts and booked.start.isoformat() not in offered_starts
        assert f'action="{HAIRCUT}/hold"' in back.text
        assert 'hx-get="' not in back.text  # nothing more to wait for
        assert (await order_row(booked.order_id))["state"] == "released"
        p = await payment(booked.reference)
        assert (p["state"], p["outcome_applied"]) == ("authorized", "hold_lost")
        (cancel,) = await ops(booked.reference)
        assert (cancel["kind"], cancel["reason"]) == ("cancel", "hold_lost")
        lost = await messages(booked.order_id, "slot_lost")
        assert {m["channel"] for m in lost} == {"email", "sms"}
        assert {m["recipient"] for m in lost} == {"+4741234567", "kari@example.no"}
        await drain()

        # Coming back again changes nothing.
        assert (await come_back(client, booked)).status_code == 200
        await drain()
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["cancel"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 549_00, "refunded": 0}
    assert len(await messages(booked.order_id, "slot_lost")) == 2
    assert (await order_row(second["id"]))["state"] == "confirmed"
    assert await claims(second["id"]) > 0
    assert await claims(booked.order_id) == 0


# ---------------------------------------------------------------- the return page


async def test_the_return_page_works_in_another_browser_and_polls_until_authorised(client, vipps):
    booked = await submit_to_vipps(client)
    async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as fresh:
        assert not fresh.cookies
        page = await fresh.get(f"/pay/{booked.signed}", follow_redirects=False)
        assert page.status_code == 200
        assert says(page.text, "Waiting for Vipps …")
        assert f'hx-get="/pay/{booked.signed}/status?n=0"' in page.text
        assert 'hx-trigger="load delay:5s"' in page.text
        assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page.text)
        assert f'href="{booked.landing}"' in page.text  # open Vipps again

        polled = await fresh.get(f"/pay/{booked.signed}/status?n=0", headers={"HX-Request": "true"})
        assert polled.status_code == 200 and "HX-Redirect" not in polled.headers
        assert f'hx-get="/pay/{booked.signed}/status?n=1"' in polled.text and 'hx-trigger="load delay:2s"' in polled.text
        assert "<html" not in polled.text.lower()  # only the status block

        assert vipps.approve(booked.reference)
        polled = await fresh.get(f"/pay/{booked.signed}/status?n=1", headers={"HX-Request": "true"})
        assert polled.status_code == 200
        row = await order_row(booked.order_id)
        assert row["state"] == "confirmed"
        assert polled.headers["HX-Redirect"] == f"/b/{row['manage_token']}?new=1"

        page = await fresh.get(f"/pay/{booked.signed}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == f"/b/{row['manage_token']}?new=1"

        tampered = booked.signed[:-3] + ("aaa" if not booked.signed.endswith("aaa") else "bbb")
        for path in (f"/pay/{tampered}", f"/pay/{tampered}/status", f"/pay/{service.return_token('no-such-hold')}"):
            assert (await fresh.get(path)).status_code == 404, path
    assert len(await messages(booked.order_id, "confirmation")) == 2  # one email, one SMS: once


async def test_a_rejected_payment_frees_the_time_and_choosing_it_again_makes_a_new_booking(client, vipps):
    booked = await submit_to_vipps(client)
    day = clock.to_local(booked.start).date()
    assert booked.start.isoformat() not in (await offered(client, HAIRCUT, day))[0]
    assert vipps.reject(booked.reference)
    back = await come_back(client, booked)
    assert back.status_code == 200
    assert says(back.text, "The payment was not completed. Nothing is charged, and the time is free again.")
    assert says(back.text, "Choose a time again") and f'href="{HAIRCUT}"' in back.text
    assert (await order_row(booked.order_id))["state"] == "released"
    p = await payment(booked.reference)
    assert (p["state"], p["authorized_ore"]) == ("aborted", 0)
    assert booked.start.isoformat() in (await offered(client, HAIRCUT, day))[0]
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []

    again = await submit_to_vipps(client, start=booked.start.isoformat())
    assert again.order_id != booked.order_id and again.checkout_token != booked.checkout_token
    assert again.reference != booked.reference and again.reference.endswith("-1")

    # The old checkout cannot take the time back from the new booking, nor start a payment.
    stale = await press_confirm(client, booked.checkout)
    assert stale.status_code == 409, stale.status_code
    assert (await order_row(booked.order_id))["state"] == "released"
    assert await Payment.count().where(Payment.order == booked.order_id) == 1
    assert sorted(vipps.payments) == sorted([booked.reference, again.reference])

    assert vipps.approve(again.reference)
    assert (await come_back(client, again)).status_code == 303
    assert (await order_row(again.order_id))["state"] == "confirmed"
    assert (await order_row(booked.order_id))["state"] == "released"


async def test_a_refused_create_lets_the_customer_try_again_with_a_new_attempt(client, vipps):
    checkout, _ = await hold_time(client)
    vipps.fail_next("create", 400)
    refused = await confirm_with_code(client, checkout, {"means": "vipps"})
    assert refused.status_code == 422
    assert says(
        refused.text,
        "Vipps could not start the payment. Nothing has been charged. Try again, or choose to pay at the appointment if the seller offers it.",
    )
    row = await by_checkout(checkout)
    assert row["state"] == "held"
    first = await service.latest_payment(row["id"])
    assert (first["reference"], first["state"]) == (f"{row['reference']}-1", "failed")
    assert first["problem"]

    again = await press_confirm(client, checkout)
    assert again.status_code == 303 and "/landing/" in again.headers["location"]
    second = await service.latest_payment(row["id"])
    assert (second["reference"], second["attempt"]) == (f"{row['reference']}-2", 2)
    assert second["create_key"] != first["create_key"]
    assert list(vipps.payments) == [second["reference"]]
    assert vipps.approve(second["reference"])
    booked = Booked(checkout, row["checkout_token"], (await reservation(row["id"]))["start"], row["id"], second["reference"])
    assert (await come_back(client, booked)).status_code == 303
    assert (await order_row(row["id"]))["state"] == "confirmed"
    assert (await payment(second["reference"]))["outcome_applied"] == "confirmed"


async def test_a_late_authorisation_still_confirms_when_nobody_took_the_time(client, vipps, monkeypatch):
    from portal.settings import load as load_settings

    monkeypatch.setattr(vipps, "payment_seconds", 3600)
    booked = await submit_to_vipps(client)
    later = clock.now() + dt.timedelta(minutes=load_settings().vipps.payment_hold_minutes, seconds=30)
    with travel(later):
        assert await appointment.release_expired(ACTOR, later) == 1
        assert await claims(booked.order_id) == 0
        assert vipps.approve(booked.reference)
        back = await come_back(client, booked)
        assert back.status_code == 303, back.text[-1500:]
        await drain()
    row = await order_row(booked.order_id)
    assert row["state"] == "confirmed"
    assert await claims(booked.order_id) > 0
    assert (await payment(booked.reference))["outcome_applied"] == "confirmed"
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []
    assert await messages(booked.order_id, "slot_lost") == []
    day = clock.to_local(booked.start).date()
    assert booked.start.isoformat() not in (await offered(client, HAIRCUT, day))[0]


async def test_the_old_return_link_never_says_nothing_was_charged_once_money_was_taken(client, vipps):
    """The return URL stays in the browser's history: opened after the
    appointment (charged) or after a late cancellation (fee charged), it must
    lead to the booking as it is, not claim the payment never happened."""
    booked = await book_with_vipps(client, vipps)
    at = booked.start + dt.timedelta(minutes=30)
    with travel(at):
        await settlement.mark_delivered(ACTOR, booked.order_id, at)
        await drain()
    for path in (f"/pay/{booked.signed}", f"/pay/{booked.signed}/status"):
        landed = await client.get(path, follow_redirects=True)
        assert landed.status_code == 200
        assert not says(landed.text, "The payment was not completed. Nothing is charged, and the time is free again."), path
        if "HX-Redirect" in landed.headers:
            landed = await client.get(landed.headers["HX-Redirect"])
        assert says(landed.text, "%(amount)s charged with Vipps.", amount=kr(549_00)), path


async def test_the_same_refund_form_sent_twice_refunds_once(client, vipps):
    booked = await _delivered(client, vipps)
    account = await staff_login(client, await slug_of((await order_row(booked.order_id))["supplier"]))
    confirm_path = f"/kontor/{await slug_of(account['supplier_id'])}/ordre/{booked.order_id}/refund"
    page = await client.get(confirm_path)
    request_id = page.text.split('name="request_id" value="', 1)[1].split('"', 1)[0]
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"amount": "100,50", "request_id": request_id, "_csrf_token": token}
    for _ in range(2):  # a double click
        sent = await client.post(confirm_path, data=form, follow_redirects=False)
        assert sent.status_code == 303
    await drain()
    refunds = [o for o in await ops(booked.reference) if o["kind"] == "refund"]
    assert [(o["amount_ore"], o["status"]) for o in refunds] == [(100_50, "done")]
    assert aggregate(vipps, booked.reference)["refunded"] == 100_50
    # A new form (a new request id) is a new refund.
    page = await client.get(confirm_path)
    assert request_id not in page.text


async def test_a_late_cancellation_of_a_deposit_booking_costs_at_most_the_deposit(client):
    from portal.payments.pricing import DepositRule, LineItem, Means, quote

    # The costs are read from the order and the start of its line: a held massage.
    checkout, start = await hold_time(client, MASSAGE)
    held = await by_checkout(checkout)
    assert (await reservation(held["id"]))["start"] == start
    late = start - dt.timedelta(hours=2)
    terms = {"cancel_fee_percent": 50, "cancel_fee_ore": 0, "cancel_free_hours": 24}
    items = [LineItem("Klassisk massasje 90 min", 1, 1_390_00, 2500)]
    with_deposit = quote(items, means=Means.DEPOSIT, deposit=DepositRule.percent(30))
    paid_in_full = quote(items, means=Means.VIPPS)
    assert with_deposit.pay_now_ore == 417_00
    # 50 % of kr 1 390,00 is kr 695,00, but a deposit booking forfeits at most its deposit.
    assert await settlement.cancellation_costs({**held, "terms": terms, "quote": with_deposit.to_json()}, late) == 417_00
    assert await settlement.cancellation_costs({**held, "terms": terms, "quote": paid_in_full.to_json()}, late) == 695_00
    assert await settlement.cancellation_costs({**held, "terms": terms, "quote": with_deposit.to_json()}, start - dt.timedelta(hours=25)) == 0

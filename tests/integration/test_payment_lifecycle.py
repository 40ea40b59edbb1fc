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
from urllib.parse import urlparse

import pytest
import time_machine
from litestar.testing import AsyncTestClient
from markupsafe import escape

from portal.app import create_app
from portal.booking import service as booking_service
from portal.booking.tables import Booking, SlotClaim
from portal.lib import clock
from portal.lib.i18n import translations
from portal.lib.money import format_nok
from portal.notify import worker
from portal.notify.tables import OutboxMessage
from portal.payments import service
from portal.payments.tables import MoneyMovement, Payment, PaymentOperation
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, slots

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"  # kr 549,00, 25 % VAT, free cancel until 24 h before, then 50 %
MASSAGE = "/s/fjellro-massasje-bergen/massasje-90"  # kr 1 390,00 with a 30 % deposit (kr 417,00) in Vipps
NB = translations("nb")
OTHER_CUSTOMER = {"name": "Ola Hansen", "phone": "413 45 678", "email": "ola@example.no"}


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
    checkout: str  # /checkout/<hold token>
    hold_token: str
    start: dt.datetime
    booking_id: int
    reference: str  # the Vipps payment reference
    landing: str = ""  # where the browser was sent (the dev Vipps' landing page)
    manage_token: str = ""
    duration: dt.timedelta = dt.timedelta(0)

    @property
    def end(self) -> dt.datetime:
        return self.start + self.duration

    @property
    def signed(self) -> str:
        return service.return_token(self.hold_token)


async def offered(client, path: str, day: dt.date) -> tuple[list[str], str]:
    page = await client.get(f"{path}?day={day.isoformat()}")
    assert page.status_code == 200
    return slots(page.text), csrf(page.text)


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


async def submit_to_vipps(client, path: str = HAIRCUT, days_ahead: int = 3, means: str = "vipps", start: str | None = None) -> Booked:
    """Hold a time and confirm with Vipps: the browser is sent to Vipps."""
    checkout, start_at = await hold_time(client, path, days_ahead, start)
    sent = await confirm_with_code(client, checkout, {"means": means})
    assert sent.status_code == 303, sent.text[-2000:]
    hold_token = checkout.rsplit("/", 1)[-1]
    booking = await booking_service.get_by_hold_token(hold_token)
    payment = await service.latest_payment(booking["id"])
    return Booked(
        checkout=checkout,
        hold_token=hold_token,
        start=start_at,
        booking_id=booking["id"],
        reference=payment["reference"],
        landing=sent.headers["location"],
        duration=booking["end"] - booking["start"],
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


async def booking(booking_id: int) -> dict:
    return await Booking.select().output(load_json=True).where(Booking.id == booking_id).first()


async def payment(reference: str) -> dict:
    return await Payment.select().where(Payment.reference == reference).first()


async def ops(reference: str) -> list[dict]:
    row = await payment(reference)
    return await service.operations(row["id"])


async def drain(now: dt.datetime | None = None) -> int:
    """Run the outbox (emails, SMS and payment operations) until nothing is due at `now`."""
    total = 0
    for _ in range(20):
        tried = await worker.drain_once(now)
        if not tried:
            return total
        total += tried
    raise AssertionError("the outbox never ran dry")


def calls(vipps, reference: str, *operations: str) -> list[str]:
    """The modifying calls the dev Vipps received for a payment, in order."""
    return [
        e["operation"]
        for e in list(vipps.request_log)
        if e["operation"] in operations and e["path"].rstrip("/").split("/payments/")[-1].split("/")[0] == reference
    ]


def aggregate(vipps, reference: str) -> dict[str, int]:
    p = vipps.payments[reference]
    return {"authorized": p.authorized_ore, "captured": p.captured_ore, "cancelled": p.cancelled_ore, "refunded": p.refunded_ore}


async def messages(booking_id: int, topic: str) -> list[dict]:
    return await OutboxMessage.select().where((OutboxMessage.booking == booking_id) & (OutboxMessage.topic == topic))


def travel(moment: dt.datetime):
    return time_machine.travel(moment, tick=True)


# ---------------------------------------------------------------- reserve at booking, capture at delivery


@pytest.mark.legal("L13")
@pytest.mark.legal("L17")
async def test_money_is_reserved_at_booking_and_captured_only_after_delivery(client, vipps):
    booked = await book_with_vipps(client, vipps)
    row = await booking(booked.booking_id)
    assert row["status"] == "confirmed"
    p = await payment(booked.reference)
    assert (p["state"], p["authorized_ore"], p["captured_ore"]) == ("authorized", 549_00, 0)
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 0, "cancelled": 0, "refunded": 0}
    page = await client.get(f"/b/{booked.manage_token}")
    assert says(page.text, "%(amount)s reserved in Vipps, not charged.", amount=kr(549_00))

    # Before the appointment nobody can deliver it.
    for before in (clock.now(), booked.start - dt.timedelta(minutes=1)):
        with pytest.raises(booking_service.NotAllowed):
            await service.mark_delivered(booked.booking_id, before)
    assert await ops(booked.reference) == []

    # The reconciler, run at any time before end + 24 h, takes nothing.
    moments = [
        booked.start - dt.timedelta(hours=1),
        booked.start,
        booked.end,
        booked.end + dt.timedelta(hours=23, minutes=59),
    ]
    for moment in moments:
        with travel(moment):
            await service.reconcile(moment)
            await drain(moment)
        assert vipps.payments[booked.reference].captured_ore == 0, moment
        assert (await booking(booked.booking_id))["status"] == "confirmed", moment
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == []

    # After the start, the supplier marks it delivered: a capture, carried out by the outbox.
    delivered_at = booked.start + dt.timedelta(minutes=20)
    with travel(delivered_at):
        done = await service.mark_delivered(booked.booking_id, delivered_at)
        assert done["status"] == "completed"
        (capture,) = await ops(booked.reference)
        assert (capture["kind"], capture["amount_ore"], capture["status"]) == ("capture", 549_00, "pending")
        assert vipps.payments[booked.reference].captured_ore == 0  # nothing moves before the worker runs
        await drain(delivered_at)
    assert calls(vipps, booked.reference, "capture", "cancel", "refund") == ["capture"]
    assert aggregate(vipps, booked.reference) == {"authorized": 549_00, "captured": 549_00, "cancelled": 0, "refunded": 0}
    (capture,) = await ops(booked.reference)
    assert capture["status"] == "done"
    p = await payment(booked.reference)
    assert (p["captured_ore"], p["cancelled_ore"], p["refunded_ore"]) == (549_00, 0, 0)

    (movement,) = await service.movements(booked.booking_id)
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

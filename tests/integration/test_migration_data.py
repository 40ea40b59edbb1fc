"""The order model's migrations, run forwards WITH data, on this engine.

A database is built at the head before the order model (2026-11-22T05:52:47)
and filled the way that code wrote its rows: held, confirmed (on site, with
a coupon; in Vipps), delivered and captured, refunded, cancelled and
released bookings, a class booking with seats, their claims, payments,
events, operations, money movements, the coupon use and queued and sent
messages. Then the rest of the migrations run, and every booking is found
through the new model — order, line, reservation, claims, payments, money,
messages — with the same money; and the old links (the booking page, its
calendar file, the Vipps return link, "Mine bookinger") lead to their order.

The checks of the migrated database run in a separate process pointed at it
(this process's database engine is the test database's).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import DATABASE_URL, IS_POSTGRES, ROOT

OLD_HEAD = "2026-11-22T05:52:47:782591"
UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=0)
SOON = NOW + timedelta(days=2)  # the upcoming appointments
PAST = NOW - timedelta(days=3)  # the ones that have taken place


@pytest.fixture()
def migration_url(tmp_path: Path):
    """An empty database of the test's own: a file in tmp_path, or on PostgreSQL
    `<session database>_migration_<pid>` (unique: runs side by side must not
    share it), dropped afterwards."""
    if not IS_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migration.sqlite3'}"
        return
    base, name = DATABASE_URL.rsplit("/", 1)
    url = f"{base}/{name}_migration_{os.getpid()}"
    _recreate(url)
    try:
        yield url
    finally:
        _recreate(url, create=False)


def _env(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "PICCOLO_CONF": "portal.piccolo_conf"}


def _run(args: list[str], url: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(url), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


class OldDatabase:
    """Writes rows into the pre-order schema with `?` placeholders on both engines."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _value(self, value):
        if IS_POSTGRES:
            return json.dumps(value) if isinstance(value, (dict, list)) else value
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat(sep=" ")
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, bool):
            return int(value)
        return value

    def run(self, statements: list[tuple[str, tuple]]) -> list[list[tuple]]:
        converted = [(sql, tuple(self._value(v) for v in args)) for sql, args in statements]
        if IS_POSTGRES:
            import asyncpg

            async def go() -> list[list[tuple]]:
                conn = await asyncpg.connect(self.url)
                out = []
                try:
                    async with conn.transaction():
                        for sql, args in converted:
                            numbered = sql
                            for i in range(1, len(args) + 1):
                                numbered = numbered.replace("?", f"${i}", 1)
                            out.append([tuple(r) for r in await conn.fetch(numbered, *args)])
                finally:
                    await conn.close()
                return out

            return asyncio.run(go())
        conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
        try:
            out = [conn.execute(sql, args).fetchall() for sql, args in converted]
            conn.commit()
            return out
        finally:
            conn.close()

    def one(self, sql: str, *args) -> tuple:
        return self.run([(sql, args)])[0][0]


def _recreate(url: str, *, create: bool = True) -> None:
    """Drop the PostgreSQL database `url` names and, unless `create=False`, create it empty."""
    import asyncpg

    admin = DATABASE_URL

    async def go() -> None:
        conn = await asyncpg.connect(admin)
        try:
            name = url.rsplit("/", 1)[1]
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())


def _quote(price: int, rate_bp: int, *, means: str, discount: int = 0, code: str | None = None, deposit: int = 0) -> dict:
    """A frozen quote exactly as the code before gift cards wrote it (no gift card keys)."""
    from portal.lib.money import split_vat

    gross = price - discount
    split = split_vat(gross, rate_bp)
    pay_now = gross if means == "vipps" else deposit if means == "deposit" else 0
    return {
        "version": 1,
        "lines": [
            {
                "description": "Herreklipp",
                "quantity": 1,
                "unit_price_ore": price,
                "gross_ore": gross,
                "discount_ore": discount,
                "vat_rate_bp": rate_bp,
                "vat_ore": split.vat_ore,
                "net_ore": split.net_ore,
            }
        ],
        "subtotal_ore": price,
        "discount_ore": discount,
        "total_ore": gross,
        "vat": [{"rate_bp": rate_bp, "base_ore": split.net_ore, "vat_ore": split.vat_ore, "gross_ore": gross}],
        "vat_ore": split.vat_ore,
        "coupon_code": code,
        "means": means,
        "deposit_ore": deposit if means == "deposit" else 0,
        "pay_now_ore": pay_now,
        "pay_on_site_ore": gross - pay_now,
    }


BOOKING_COLUMNS = (
    "id, reference, supplier, offering, resource, start, \"end\", buffer_before_min, buffer_after_min, seats, status, "
    "hold_token, visitor, hold_expires_at, customer_name, phone, phone_verified_at, customer, email, note, language, "
    "price_ore, vat_rate_bp, vat_ore, payment_method, quote, coupon_code, coupon_misses, terms, consents, contract_at, "
    "manage_token, ics_sequence, created_at, updated_at"
)


def _booking(bid, ref, *, status, means, start, supplier, offering, resource, customer, quote, manage=None, seats=1, ics=0, coupon=""):
    terms = {
        "supplier": {"legal_name": "Saks og Stil Grünerløkka AS", "org_number": "918630252", "company_form": "AS", "vat_registered": True,
                     "street": "Thorvald Meyers gate 40", "postcode": "0555", "town": "Oslo", "phone": "+4722350417", "email": "post@saksogstil.eksempel.no"},
        "offering_title": "Herreklipp", "kind": "appointment", "online": False, "capacity": 1 if seats == 1 else 12,
        "cancel_free_hours": 24, "cancel_fee_percent": 50, "cancel_fee_ore": 0, "reminder_hours": 24,
        "withdrawal_class": "standard", "supplier_terms": "",
    }
    held = status == "held"
    contract = None if status in ("held", "released") else NOW - timedelta(days=5)
    consents = {} if contract is None else {"accept_terms": {"at": contract.isoformat(), "text": "Jeg godtar salgsvilkårene og avbestillingsvilkårene."}}
    args = (
        bid, ref, supplier, offering, resource, start, start + timedelta(minutes=45), 0, 10, seats, status,
        f"hold-{bid}-{ref}", f"visitor-{bid}", NOW + timedelta(minutes=8) if held else (NOW - timedelta(days=5) if status == "released" else None),
        "Kari Nordmann", "+4741234567", NOW - timedelta(days=5), customer if contract else None, "kari@example.no", "", "nb",
        quote["total_ore"], 2500, quote["vat_ore"], means, quote, coupon, 0, terms, consents, contract,
        manage, ics, NOW - timedelta(days=5), NOW - timedelta(days=5),
    )
    return (f"INSERT INTO booking ({BOOKING_COLUMNS}) VALUES ({', '.join('?' * len(args))})", args)


def _catalogue(db: OldDatabase) -> tuple[int, int, int, int]:
    """The salon as the code before orders seeded it: supplier, a stylist
    working every day 08–20, the men's haircut, the VELKOMMEN10 coupon."""
    from datetime import time

    supplier, = db.one(
        "INSERT INTO supplier (slug, name, legal_name, org_number, company_form, vat_registered, category, street, postcode, town, phone, "
        "email, description, terms, payment_methods, active, created_at) VALUES (?, ?, ?, ?, 'AS', ?, 'hair', ?, ?, ?, ?, ?, '', '', ?, ?, ?) RETURNING id",
        "saks-og-stil-grunerlokka", "Saks & Stil", "Saks og Stil Grünerløkka AS", "924173084", True, "Olaf Ryes plass 7", "0552", "Oslo",
        "+4722350417", "post@saksogstil.eksempel.no", ["vipps", "onsite"], True, NOW - timedelta(days=30),
    )
    resource, = db.one("INSERT INTO resource (supplier, name, title, active) VALUES (?, ?, ?, ?) RETURNING id", supplier, "Ingrid", "Frisør", True)
    for weekday in range(7):
        start, end = (time(8, 0), time(20, 0))
        if not IS_POSTGRES:
            start, end = start.isoformat(), end.isoformat()
        db.run([("INSERT INTO hours_rule (resource, weekday, start, \"end\", is_break) VALUES (?, ?, ?, ?, ?)", (resource, weekday, start, end, False))])
    offering, = db.one(
        "INSERT INTO offering (supplier, slug, kind, title, description, price_ore, vat_rate_bp, duration_min, buffer_before_min, buffer_after_min, "
        "step_min, capacity, online, withdrawal_class, cancel_free_hours, cancel_fee_percent, min_notice_min, max_advance_days, open_on_holidays, "
        "position, active, reminder_hours, cancel_fee_ore, deposit_kind, deposit_value, vat_category) "
        "VALUES (?, 'herreklipp', 'appointment', 'Herreklipp', '', 54900, 2500, 45, 0, 10, 15, 1, ?, 'standard', 24, 50, 60, 60, ?, 10, ?, 24, 0, 'none', 0, 'general') RETURNING id",
        supplier, False, True, True,
    )
    db.run([("INSERT INTO offering_resource (offering, resource) VALUES (?, ?)", (offering, resource))])
    coupon, = db.one(
        "INSERT INTO coupon (supplier, code, supplier_code, kind, value, max_uses, uses, min_amount_ore, offering_ids, active, created_at) "
        "VALUES (?, 'VELKOMMEN10', ?, 'percent', 10, NULL, 0, 0, ?, ?, ?) RETURNING id",
        supplier, f"{supplier}:VELKOMMEN10", [], True, NOW - timedelta(days=30),
    )
    return supplier, offering, resource, coupon


@pytest.mark.skipif(os.environ.get("PORTAL_SKIP_MIGRATION_TEST") == "1", reason="asked to skip")
def test_bookings_migrate_to_orders_with_the_same_money_and_links(migration_url):
    url = migration_url
    _run(["-m", "piccolo.main", "migrations", "forwards", "portal", OLD_HEAD], url)
    db = OldDatabase(url)
    supplier, offering, resource, coupon = _catalogue(db)
    customer, = db.one(
        "INSERT INTO customer (phone, name, email, language, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        "+4741234567", "Kari Nordmann", "kari@example.no", "nb", NOW - timedelta(days=5),
    )
    common = {"supplier": supplier, "offering": offering, "resource": resource, "customer": customer}
    vipps = _quote(54900, 2500, means="vipps")
    onsite_coupon = _quote(54900, 2500, means="onsite", discount=5490, code="VELKOMMEN10")
    onsite = _quote(54900, 2500, means="onsite")
    bookings = [
        _booking(1, "HELDAA", status="held", means="onsite", start=SOON, quote={**onsite, "total_ore": 54900}, **common),
        _booking(2, "ONSITE", status="confirmed", means="onsite", start=SOON + timedelta(hours=1), quote=onsite_coupon, manage="tok-onsite", coupon="VELKOMMEN10", **common),
        _booking(3, "VIPPSA", status="confirmed", means="vipps", start=SOON + timedelta(hours=2), quote=vipps, manage="tok-vipps", **common),
        _booking(4, "DONEAA", status="completed", means="vipps", start=PAST, quote=vipps, manage="tok-done", **common),
        _booking(5, "REFUND", status="cancelled_by_supplier", means="vipps", start=PAST + timedelta(hours=2), quote=vipps, manage="tok-refund", ics=1, **common),
        _booking(6, "CANCEL", status="cancelled_by_customer", means="onsite", start=SOON + timedelta(hours=3), quote=onsite, manage="tok-cancel", ics=1, **common),
        _booking(7, "GONEAA", status="released", means="onsite", start=SOON + timedelta(hours=4), quote=onsite, **common),
    ]
    from portal.capacity.domain import claim_units

    claims = []
    for bid, hours in ((1, 0), (2, 1), (3, 2)):
        start = SOON + timedelta(hours=hours)
        for key in claim_units(resource, start, start + timedelta(minutes=45), 0, 10):
            claims.append(("INSERT INTO slot_claim (key, owner) VALUES (?, ?)", (key, f"b:{bid}")))

    def payment(pid, bid, ref, state, authorized, captured, refunded, cancelled, outcome):
        return (
            "INSERT INTO payment (id, booking, supplier, reference, attempt, provider, purpose, amount_ore, state, authorized_ore, captured_ore, "
            "refunded_ore, cancelled_ore, create_key, redirect_url, psp_reference, problem, outcome_applied, created_at, updated_at, authorized_at) "
            "VALUES (?, ?, ?, ?, 1, 'vipps', 'vipps', 54900, ?, ?, ?, ?, ?, ?, ?, '', '', ?, ?, ?, ?)",
            (pid, bid, supplier, f"{ref}-1", state, authorized, captured, refunded, cancelled, f"create-{ref}",
             f"https://landing.vipps.no/?token={ref}", outcome, NOW - timedelta(days=5), NOW - timedelta(days=1), NOW - timedelta(days=5)),
        )

    def event(pid, ref, name, amount, key=""):
        return (
            "INSERT INTO payment_event (payment, reference, key, name, amount_ore, success, psp_reference, idempotency_key, occurred_at, source, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, 'webhook', ?)",
            (pid, f"{ref}-1", f"{ref}-1|{name}|{amount}|{key}", name, amount, True, key, NOW - timedelta(days=4), NOW - timedelta(days=4)),
        )

    def operation(oid, pid, kind, amount, reason, key):
        return (
            "INSERT INTO payment_operation (id, payment, kind, amount_ore, reason, idempotency_key, sequence, status, error, trace_id, created_at, done_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, 'done', '', '', ?, ?)",
            (oid, pid, kind, amount, reason, key, NOW - timedelta(days=2), NOW - timedelta(days=2)),
        )

    seller = json.loads(json.dumps(bookings[3][1][28]["supplier"]))
    vat_line = [{"description": "Herreklipp", "quantity": 1, "unit_price_ore": 54900, "gross_ore": 54900, "vat_rate_bp": 2500, "vat_ore": 10980, "net_ore": 43920}]
    vat_sum = [{"rate_bp": 2500, "base_ore": 43920, "vat_ore": 10980, "gross_ore": 54900}]

    def movement(bid, pid, oid, kind, reason):
        return (
            "INSERT INTO money_movement (booking, supplier, payment, operation, kind, means, amount_ore, reason, seller, lines, vat, at) "
            "VALUES (?, ?, ?, ?, ?, 'vipps', 54900, ?, ?, ?, ?, ?)",
            (bid, supplier, pid, oid, kind, reason, seller, vat_line, vat_sum, NOW - timedelta(days=2)),
        )

    money = [
        payment(1, 3, "VIPPSA", "authorized", 54900, 0, 0, 0, "confirmed"),
        event(1, "VIPPSA", "CREATED", 54900), event(1, "VIPPSA", "AUTHORIZED", 54900),
        payment(2, 4, "DONEAA", "authorized", 54900, 54900, 0, 0, "confirmed"),
        event(2, "DONEAA", "AUTHORIZED", 54900), event(2, "DONEAA", "CAPTURED", 54900, "DONEAA-1-delivered-capture"),
        operation(1, 2, "capture", 54900, "delivered", "DONEAA-1-delivered-capture"),
        movement(4, 2, 1, "capture", "delivered"),
        payment(3, 5, "REFUND", "authorized", 54900, 54900, 54900, 0, "confirmed"),
        event(3, "REFUND", "AUTHORIZED", 54900), event(3, "REFUND", "CAPTURED", 54900, "REFUND-1-delivered-capture"),
        event(3, "REFUND", "REFUNDED", 54900, "REFUND-1-rfabc-refund"),
        operation(2, 3, "capture", 54900, "delivered", "REFUND-1-delivered-capture"),
        operation(3, 3, "refund", 54900, "refund", "REFUND-1-rfabc-refund"),
        movement(5, 3, 2, "capture", "delivered"),
        movement(5, 3, 3, "refund", "refund"),
        ("INSERT INTO coupon_redemption (coupon, booking, discount_ore, at) VALUES (?, ?, ?, ?)", (coupon, 2, 5490, NOW - timedelta(days=5))),
        ("UPDATE coupon SET uses = uses + 1 WHERE id = ?", (coupon,)),
    ]

    def message(key, channel, topic, bid, status, due, payload):
        return (
            "INSERT INTO outbox_message (dedupe_key, channel, topic, booking, recipient, language, payload, status, attempts, next_attempt_at, "
            "locked_by, last_error, provider_id, delivery_status, created_at) VALUES (?, ?, ?, ?, ?, 'nb', ?, ?, 0, ?, '', '', '', '', ?)",
            (key, channel, topic, bid, "kari@example.no" if channel == "email" else "+4741234567", payload, status, due, NOW - timedelta(days=5)),
        )

    messages = [
        message("booking:2:confirmation:email", "email", "confirmation", 2, "sent", NOW - timedelta(days=5), {"subject": "Bestilling bekreftet", "text": "…"}),
        message("booking:2:confirmation:sms", "sms", "confirmation", 2, "sent", NOW - timedelta(days=5), {"text": "…"}),
        message("booking:2:reminder:0:x:email", "email", "reminder", 2, "pending", SOON, {"subject": "Påminnelse", "text": "…", "expires_at": SOON.isoformat()}),
        message("code:abc", "sms", "code", None, "sent", NOW - timedelta(days=5), {"text": "[one-time code removed]"}),
    ]
    db.run(bookings + claims + money + messages)
    if IS_POSTGRES:  # the rows above were written with their ids: the sequences follow
        db.run([(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))", ()) for t in ("booking", "payment", "payment_operation")])

    _run(["-m", "portal.cli", "migrate"], url)
    checked = json.loads(_run(["-c", CHECKER], url).strip().splitlines()[-1])

    # Every booking is an order with one appointment line holding its reservation.
    assert checked["orders"] == {
        "HELDAA": ["held", "held", "onsite", 54900], "ONSITE": ["confirmed", "confirmed", "onsite", 49410],
        "VIPPSA": ["confirmed", "confirmed", "vipps", 54900], "DONEAA": ["completed", "completed", "vipps", 54900],
        "REFUND": ["cancelled_by_supplier", "cancelled", "vipps", 54900], "CANCEL": ["cancelled_by_customer", "cancelled", "onsite", 54900],
        "GONEAA": ["released", "released", "onsite", 54900],
    }
    assert checked["lines"] == {ref: ["appointment", "Herreklipp", 54900, 2500] for ref in checked["orders"]}
    assert checked["same_ids"] is True  # order, line and reservation keep the booking's id
    assert checked["starts"]["ONSITE"] == (SOON + timedelta(hours=1)).isoformat()
    assert checked["ics_sequence"] == {"REFUND": 1, "CANCEL": 1}
    # Claims belong to the reservations now, none lost.
    assert checked["claims"] == {"r:1": len(claims) // 3, "r:2": len(claims) // 3, "r:3": len(claims) // 3}
    assert checked["time_taken"] == {"HELDAA": True, "ONSITE": True, "VIPPSA": True, "CANCEL": False}
    # The same money, through the order.
    assert checked["payments"] == {"VIPPSA": [54900, 0, 0], "DONEAA": [54900, 54900, 0], "REFUND": [54900, 54900, 54900]}
    assert checked["movements"] == {"DONEAA": [["capture", 54900]], "REFUND": [["capture", 54900], ["refund", 54900]]}
    assert checked["coupon"] == {"ONSITE": 5490}
    assert checked["quotes_read_back"] is True
    # Messages belong to their order; the code SMS is urgent; the reminder still pending.
    assert checked["messages"] == {"ONSITE": ["confirmation:email:sent", "confirmation:sms:sent", "reminder:email:pending"]}
    assert checked["urgent_codes"] == 1
    # New rows get new ids after the migrated ones.
    assert checked["next_ids_after_migrated"] is True
    # Old links lead to their order.
    assert checked["links"]["/b/tok-onsite"] == [200, True]
    assert checked["links"]["/b/tok-done"] == [200, True]
    assert checked["links"]["ics"][0] == 200 and checked["links"]["ics"][1].startswith("booking-2-ONSITE@")
    assert checked["links"]["pay"] == [303, "/b/tok-vipps?new=1"]
    assert checked["links"]["mine"] == [200, True]


CHECKER = textwrap.dedent(
    '''
    import asyncio, json
    from datetime import datetime

    async def main():
        from litestar.testing import AsyncTestClient
        from icalendar import Calendar
        from portal.app import create_app
        from portal.capacity.tables import SlotClaim
        from portal.kinds.appointment.tables import Reservation
        from portal.orders import kinds
        from portal.orders.tables import Order, OrderLine
        from portal.outbox.tables import OutboxMessage
        from portal.payments import service as payments
        from portal.payments.pricing import Quote
        from portal.payments.tables import CouponRedemption
        from portal.web.security import account_cookie
        from portal.capacity import store as capacity
        from portal.capacity.domain import claim_units

        app = create_app()
        out = {"orders": {}, "lines": {}, "starts": {}, "ics_sequence": {}, "payments": {}, "movements": {}, "coupon": {}, "messages": {}, "links": {}}
        orders = await Order.select().output(load_json=True).order_by(Order.id)
        same = True
        read_back = True
        taken = {}
        for o in orders:
            (line,) = await OrderLine.select().output(load_json=True).where(OrderLine.order == o["id"])
            (res,) = await Reservation.select().where(Reservation.order == o["id"])
            same &= line["id"] == o["id"] == res["id"] and res["line"] == line["id"]
            q = Quote.from_json(o["quote"])
            read_back &= q.total_ore == o["quote"]["total_ore"] and q.giftcard_ore == 0
            out["orders"][o["reference"]] = [o["state"], res["status"], o["means"], q.total_ore]
            out["lines"][o["reference"]] = [line["kind"], line["description"], line["unit_price_ore"], line["vat_rate_bp"]]
            out["starts"][o["reference"]] = res["start"].isoformat()
            if res["ics_sequence"]:
                out["ics_sequence"][o["reference"]] = res["ics_sequence"]
            views = await kinds.kind("appointment").lines(o)
            assert views and views[0].starts_at == res["start"]
            p = await payments.payment_of_record(o["id"])
            if p:
                out["payments"][o["reference"]] = [p["authorized_ore"], p["captured_ore"], p["refunded_ore"]]
            m = await payments.movements(o["id"])
            if m:
                out["movements"][o["reference"]] = [[r["kind"], r["amount_ore"]] for r in m]
            c = await CouponRedemption.select().where(CouponRedemption.order == o["id"]).first()
            if c:
                out["coupon"][o["reference"]] = c["discount_ore"]
            rows = await OutboxMessage.select().where(OutboxMessage.order_id == o["id"]).order_by(OutboxMessage.id)
            if rows:
                out["messages"][o["reference"]] = [f"{r['topic']}:{r['channel']}:{r['status']}" for r in rows]
            if o["reference"] in ("HELDAA", "ONSITE", "VIPPSA", "CANCEL"):
                # Is the reservation's time still claimed? A probe claim of the same units tells.
                keys = claim_units(res["resource"], res["start"], res["end"], res["buffer_before_min"], res["buffer_after_min"])
                got = await capacity.claim_if_free(keys, "probe")
                await capacity.free("probe")
                taken[o["reference"]] = not got
        out["time_taken"] = taken
        out["same_ids"] = same
        out["quotes_read_back"] = read_back
        claims = {}
        for row in await SlotClaim.select(SlotClaim.owner):
            claims[row["owner"]] = claims.get(row["owner"], 0) + 1
        out["claims"] = claims
        out["urgent_codes"] = await OutboxMessage.count().where((OutboxMessage.topic == "code") & (OutboxMessage.urgent == True))
        max_reservation = max(o["id"] for o in orders)
        async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
            for token in ("tok-onsite", "tok-done"):
                page = await client.get(f"/b/{token}")
                ref = {"tok-onsite": "ONSITE", "tok-done": "DONEAA"}[token]
                out["links"][f"/b/{token}"] = [page.status_code, ref in page.text]
            ics = await client.get("/b/tok-onsite/booking.ics")
            uid = str(next(iter(Calendar.from_ical(ics.content).walk("VEVENT")))["UID"])
            out["links"]["ics"] = [ics.status_code, uid]
            signed = payments.return_token("hold-3-VIPPSA")
            back = await client.get(f"/pay/{signed}", follow_redirects=False)
            out["links"]["pay"] = [back.status_code, back.headers.get("location")]
            customer = orders[1]["customer"]
            cookie = account_cookie(customer)
            client.cookies.set(cookie.key, cookie.value)
            mine = await client.get("/mine")
            out["links"]["mine"] = [mine.status_code, all(r in mine.text for r in ("ONSITE", "VIPPSA", "DONEAA"))]
            page = await client.get("/s/saks-og-stil-grunerlokka/herreklipp")
            import re
            start = re.findall(r'name="start" value="([^"]+)"', page.text)[0]
            token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
            held = await client.post("/s/saks-og-stil-grunerlokka/herreklipp/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
            new = await Order.select().where(Order.checkout_token == held.headers["location"].split("/")[-1]).first()
            (res,) = await Reservation.select().where(Reservation.order == new["id"])
            (line,) = await OrderLine.select().where(OrderLine.order == new["id"])
            out["next_ids_after_migrated"] = min(new["id"], res["id"], line["id"]) > max_reservation
        print(json.dumps(out))

    asyncio.run(main())
    '''
)

"""Vipps webhooks under load: duplicates, out-of-order deliveries, concurrency — and the final states.

    python bench/webhooks.py [--deliveries 5000] [--clients 8] [--duplicates 0.2]
                             [--out-of-order 0.25] [--seed 1] [--database bench_webhooks]

1. Builds a fresh PostgreSQL database (`--database`, dropped and created
   through BENCH_PG_URL's server), migrates and seeds the demo catalogue.
2. Inserts N held bookings — orders with one appointment line and its held
   reservation (Vipps or deposit, on the demo offerings, at distinct future
   times with their slot claims) — and for each one Payment in
   state `created`, as `portal.payments.service.start` writes it — without
   asking Vipps.
3. Gives every payment a realistic history, as Vipps would report it:
   CREATED, then AUTHORIZED (some then CAPTURED — whole, part with the rest
   CANCELLED, refunded in part, or a capture that failed — some CANCELLED
   whole), or ABORTED / EXPIRED / TERMINATED, or nothing more yet.
4. Serves the app with uvicorn (one worker, 127.0.0.1) with
   PORTAL_VIPPS_WEBHOOK_SECRET set, and sends the histories as
   `--deliveries` signed webhook POSTs to PORTAL_BASE_URL + /hooks/vipps
   (so the signed host is the app's) from `--clients` concurrent httpx
   clients: about `--duplicates` of the deliveries are repeats, and the
   events of about `--out-of-order` of the payments are shuffled. The
   payments' sequences are interleaved at random, so deliveries of one
   payment may also be in flight at the same time.
5. Compares every Payment row (state, authorized/captured/refunded/cancelled,
   problem, order effect) and its order (state, private link; its reservation's status) with the
   outcome computed from the history alone, and checks each distinct event
   was stored once.

Prints one JSON object on stdout; wrong_final_states must be 0. The database
is kept for a look. An event that arrives before one it needs (a capture
before the authorisation) makes the app read the payment from Vipps — here
the app's own dev Vipps, which does not know these payments (404) — as it
would in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, fresh_database, machine, percentile, portal_env, use_database  # noqa: E402

WEBHOOK_SECRET = "bench-webhook-secret-not-for-production"
#: (supplier, offering) booked; each payment picks one at random.
OFFERINGS = (
    ("saks-og-stil-grunerlokka", "herreklipp"),
    ("saks-og-stil-grunerlokka", "dameklipp"),
    ("fjellro-massasje-bergen", "massasje-60"),
    ("fjellro-massasje-bergen", "massasje-90"),  # a 30 % deposit
)
#: What can happen to a payment, and how often (weights).
SCENARIOS = {
    "pending": 8,  # CREATED: the customer is still in Vipps
    "aborted": 10,  # CREATED, ABORTED
    "expired": 5,  # CREATED, EXPIRED
    "terminated": 4,  # CREATED, TERMINATED (we cancelled before the customer answered)
    "authorized": 33,  # CREATED, AUTHORIZED
    "captured": 15,  # … CAPTURED (all)
    "fee_then_release": 6,  # … CAPTURED (a fee), CANCELLED (the rest)
    "released": 7,  # … CANCELLED (all)
    "refunded": 7,  # … CAPTURED (all), REFUNDED (part)
    "capture_failed": 5,  # … CAPTURED with success false
}
EVENT_TYPES = {
    name: f"epayments.payment.{name.lower()}.v1"
    for name in ("CREATED", "AUTHORIZED", "ABORTED", "EXPIRED", "TERMINATED", "CAPTURED", "REFUNDED", "CANCELLED")
}


# ---------------------------------------------------------------- histories


@dataclass
class Planned:
    """One payment: its booking, its history and the outcome that history means."""

    index: int
    offering: tuple[str, str]
    scenario: str
    reference: str = ""
    order_id: int = 0
    payment_id: int = 0
    amount_ore: int = 0
    create_key: str = ""
    events: list[dict] = field(default_factory=list)  # in the order they happened
    expected: dict = field(default_factory=dict)


def event_count(scenario: str) -> int:
    return {
        "pending": 1, "aborted": 2, "expired": 2, "terminated": 2, "authorized": 2, "captured": 3,
        "fee_then_release": 4, "released": 3, "refunded": 4, "capture_failed": 3,
    }[scenario]  # fmt: skip


def plan(deliveries: int, duplicates: float, rng: random.Random) -> list[Planned]:
    """Payments until their distinct events make (1 - duplicates) of the deliveries."""
    target = round(deliveries * (1 - duplicates))
    names, weights = zip(*SCENARIOS.items(), strict=True)
    planned: list[Planned] = []
    distinct = 0
    while distinct < target:
        scenario = rng.choices(names, weights)[0]
        if distinct + event_count(scenario) > target:
            scenario = "pending" if target - distinct < 2 else "aborted"
        planned.append(Planned(len(planned), rng.choice(OFFERINGS), scenario))
        distinct += event_count(scenario)
    return planned


def build_history(p: Planned, msn: str, started: datetime, rng: random.Random, psp: list[int]) -> None:
    """The events Vipps would report for `p`, and the payment and booking they must leave."""
    a = p.amount_ore
    t = started - timedelta(minutes=50) + timedelta(milliseconds=p.index)

    def event(name: str, amount: int, minutes: float, key: str | None, success: bool = True) -> None:
        psp[0] += 1
        p.events.append({
            "msn": msn,
            "reference": p.reference,
            "pspReference": f"{psp[0]:010d}",
            "name": EVENT_TYPES[name],
            "amount": {"currency": "NOK", "value": amount},
            "timestamp": (t + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            "idempotencyKey": key,
            "success": success,
        })  # fmt: skip

    authorized = captured = refunded = cancelled = 0
    state, status, effect, problem = "created", "held", "", ""
    event("CREATED", a, 0, p.create_key)
    s = p.scenario
    if s in ("aborted", "expired", "terminated"):
        event(s.upper(), a, 2, f"{p.reference}-superseded" if s == "terminated" else None)
        state, status, effect = s, "released", "released"
    elif s != "pending":
        event("AUTHORIZED", a, 1, None)
        authorized, state, status, effect = a, "authorized", "confirmed", "confirmed"
        if s in ("captured", "refunded"):
            event("CAPTURED", a, 30, f"{p.reference}-delivered-capture")
            captured = a
            if s == "refunded":
                refunded = rng.randint(1, a)
                event("REFUNDED", refunded, 40, f"{p.reference}-refund1-refund")
        elif s == "fee_then_release":
            fee = a // 2
            event("CAPTURED", fee, 30, f"{p.reference}-noshow-capture")
            event("CANCELLED", a - fee, 30.5, f"{p.reference}-noshow-cancel")
            captured, cancelled = fee, a - fee
        elif s == "released":
            event("CANCELLED", a, 20, f"{p.reference}-customercancelfree-cancel")
            cancelled = a
        elif s == "capture_failed":
            event("CAPTURED", a, 30, f"{p.reference}-delivered-capture", success=False)
            problem = "capture failed"
    p.expected = {
        "state": state,
        "authorized_ore": authorized,
        "captured_ore": captured,
        "refunded_ore": refunded,
        "cancelled_ore": cancelled,
        "problem": problem,
        "outcome_applied": effect,
        "booking_status": status,
    }


def schedule(planned: list[Planned], deliveries: int, out_of_order: float, window: int, rng: random.Random) -> tuple[list[tuple], dict]:
    """Each payment's deliveries (some shuffled, repeats added), interleaved at
    random into one list of (payment index, event index)."""
    sequences: dict[int, list[int]] = {}
    shuffled = 0
    for p in planned:
        order = list(range(len(p.events)))
        if len(order) > 1 and rng.random() < out_of_order:
            while order == sorted(order):
                rng.shuffle(order)
            shuffled += 1
        sequences[p.index] = order
    distinct = sum(len(s) for s in sequences.values())
    for _ in range(deliveries - distinct):  # a repeat, later than the event's first delivery
        p = rng.choice(planned)
        sequence = sequences[p.index]
        first = rng.randrange(len(sequence))
        sequence.insert(rng.randint(first + 1, len(sequence)), sequence[first])
    stats = Counter()
    for p in planned:
        seen: set[int] = set()
        highest = -1
        for e in sequences[p.index]:
            if e in seen:
                stats["duplicates"] += 1
            elif e < highest:
                stats["out_of_order"] += 1
            seen.add(e)
            highest = max(highest, e)
    # Interleave `window` payments at a time, as Vipps sends a payment's events
    # within moments of each other; each payment's sequence keeps its own order.
    waiting = list(sequences)
    rng.shuffle(waiting)
    waiting.reverse()
    active: list[int] = []
    cursors = dict.fromkeys(sequences, 0)
    merged = []
    while waiting or active:
        while waiting and len(active) < window:
            active.append(waiting.pop())
        i = rng.choice(active)
        merged.append((i, sequences[i][cursors[i]]))
        cursors[i] += 1
        if cursors[i] == len(sequences[i]):
            active.remove(i)
    stats["payments_shuffled"] = shuffled
    return merged, dict(stats)


# ---------------------------------------------------------------- the database


async def create_payments(planned: list[Planned], base_url: str, now: datetime) -> str:
    """Held orders — one appointment line with its held reservation and slot
    claims, the customer's details and the frozen quote, as checkout leaves an
    order it sends to Vipps — and one `created` Payment each, as
    `portal.payments.service.start` writes it. Returns the MSN."""
    from portal.capacity import store as capacity
    from portal.capacity.domain import claim_units
    from portal.capacity.tables import SlotClaim
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment.service import _terms_snapshot
    from portal.kinds.appointment.tables import Reservation
    from portal.lib import clock
    from portal.orders.domain import new_token
    from portal.orders.tables import Order, OrderLine
    from portal.payments import domain
    from portal.payments.pricing import DepositRule, LineItem, quote
    from portal.payments.tables import Payment
    from portal.payments.vat import vat_rate_bp
    from portal.settings import load

    contexts = {key: await offering_context(*key) for key in OFFERINGS}
    cursors: dict[int, datetime] = {}
    first = (now + timedelta(days=120)).replace(hour=6, minute=0, second=0, microsecond=0)
    orders, details = [], {}
    hold_until = now + timedelta(hours=2)  # longer than the run: the sweeper must not free them
    for p in planned:
        ctx = contexts[p.offering]
        o, s = ctx.offering, ctx.supplier
        resource = ctx.resources[p.index % len(ctx.resources)]["id"]
        start = cursors.get(resource, first) + timedelta(minutes=o["buffer_before_min"])
        end = start + timedelta(minutes=o["duration_min"])
        cursors[resource] = end + timedelta(minutes=o["buffer_after_min"] + 5)
        means = domain.available_means(s["payment_methods"] or [], o["deposit_kind"])[0]  # Vipps, or the deposit
        rate = vat_rate_bp(o["vat_category"], clock.to_local(start).date(), vat_registered=s["vat_registered"])
        frozen = quote(
            [LineItem(description=o["title"], quantity=1, unit_price_ore=o["price_ore"], vat_rate_bp=rate)],
            means=means,
            deposit=DepositRule(kind=o["deposit_kind"], value=o["deposit_value"]),
        )
        p.amount_ore = frozen.pay_now_ore
        order_reference = f"WH{p.index:05d}"
        p.reference = domain.payment_reference(order_reference, 1)
        p.create_key = f"create-{secrets.token_hex(16)}"
        details[order_reference] = (ctx, resource, start, end, rate, frozen)
        orders.append(
            Order(
                reference=order_reference, supplier=s["id"], state="held", checkout_token=new_token(), visitor=f"bench-{p.index}",
                expires_at=hold_until, customer_name=f"Kunde {p.index}", phone=f"+479{p.index:07d}", phone_verified_at=now,
                email=f"kunde{p.index}@eksempel.no", language="nb", means=frozen.means.value, quote=frozen.to_json(),
                terms=_terms_snapshot(ctx), consents={}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    for chunk in range(0, len(orders), 500):
        await Order.insert(*orders[chunk : chunk + 500])
    order_ids = {r["reference"]: r["id"] for r in await Order.select(Order.id, Order.reference).where(Order.reference.like("WH%"))}
    lines = []
    for reference, (ctx, _, _, _, rate, frozen) in details.items():
        o = ctx.offering
        lines.append(
            OrderLine(
                order=order_ids[reference], position=0, kind="appointment", offering=o["id"], quantity=1, description=o["title"][:300],
                unit_price_ore=o["price_ore"], vat_rate_bp=rate, price=frozen.to_json()["lines"][0], details={},
            )
        )  # fmt: skip
    for chunk in range(0, len(lines), 500):
        await OrderLine.insert(*lines[chunk : chunk + 500])
    line_ids = {r["order"]: r["id"] for r in await OrderLine.select(OrderLine.id, OrderLine.order).where(OrderLine.order.is_in(list(order_ids.values())))}
    reservations = []
    for reference, (ctx, resource, start, end, _, _) in details.items():
        o, s = ctx.offering, ctx.supplier
        order_id = order_ids[reference]
        reservations.append(
            Reservation(
                order=order_id, line=line_ids[order_id], supplier=s["id"], offering=o["id"], resource=resource, start=start, end=end,
                buffer_before_min=o["buffer_before_min"], buffer_after_min=o["buffer_after_min"], seats=1, status="held",
                hold_expires_at=hold_until, ics_sequence=0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    for chunk in range(0, len(reservations), 500):
        await Reservation.insert(*reservations[chunk : chunk + 500])
    claims = []
    for row in await Reservation.select().where(Reservation.order.is_in(list(order_ids.values()))):
        for key in claim_units(row["resource"], row["start"], row["end"], row["buffer_before_min"], row["buffer_after_min"]):
            claims.append(SlotClaim(key=key, owner=capacity.reservation_owner(row["id"])))
    payments = []
    for p in planned:
        p.order_id = order_ids[p.reference.rsplit("-", 1)[0]]
        ctx = contexts[p.offering]
        means = domain.available_means(ctx.supplier["payment_methods"] or [], ctx.offering["deposit_kind"])[0]
        payments.append(
            Payment(
                order=p.order_id, supplier=ctx.supplier["id"], reference=p.reference, attempt=1,
                purpose=means.value, amount_ore=p.amount_ore, state="created",
                create_key=p.create_key, redirect_url=f"{base_url}/dev/vipps/landing/{p.reference}", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    for chunk in range(0, len(claims), 1000):
        await SlotClaim.insert(*claims[chunk : chunk + 1000])
    for chunk in range(0, len(payments), 500):
        await Payment.insert(*payments[chunk : chunk + 500])
    by_reference = {r["reference"]: r["id"] for r in await Payment.select(Payment.id, Payment.reference)}
    for p in planned:
        p.payment_id = by_reference[p.reference]
    return load().vipps.merchant_serial_number


async def final_rows() -> tuple[dict, dict, Counter, dict]:
    from portal.kinds.appointment.tables import Reservation
    from portal.orders.tables import Order
    from portal.payments.tables import Payment, PaymentEvent, WebhookDelivery

    payments = {r["reference"]: r for r in await Payment.select()}
    orders = {r["id"]: r for r in await Order.select(Order.id, Order.state, Order.manage_token).where(Order.reference.like("WH%"))}
    for r in await Reservation.select(Reservation.order, Reservation.status).where(Reservation.order.is_in(list(orders) or [0])):
        orders[r["order"]].setdefault("reservations", []).append(r["status"])
    stored = Counter(r["reference"] for r in await PaymentEvent.select(PaymentEvent.reference))
    deliveries = {
        "stored": await WebhookDelivery.count(),
        "unprocessed": await WebhookDelivery.count().where(WebhookDelivery.processed_at.is_null()),
    }
    return payments, orders, stored, deliveries


def compare(planned: list[Planned], payments: dict, orders: dict, stored: Counter) -> list[dict]:
    wrong = []
    for p in planned:
        row = payments[p.reference]
        order = orders[p.order_id]
        got = {key: row[key] for key in ("state", "authorized_ore", "captured_ore", "refunded_ore", "cancelled_ore", "problem", "outcome_applied")}
        got["booking_status"] = order["state"]
        issues = {k: {"expected": v, "got": got[k]} for k, v in p.expected.items() if got[k] != v}
        # held, confirmed and released are the same words for the order and its reservation.
        if order.get("reservations") != [p.expected["booking_status"]]:
            issues["reservation_status"] = {"expected": [p.expected["booking_status"]], "got": order.get("reservations")}
        if (order["state"] == "confirmed") != bool(order["manage_token"]):
            issues["manage_token"] = {"expected": "set once confirmed", "got": order["manage_token"]}
        if stored[p.reference] != len(p.events):
            issues["events_stored"] = {"expected": len(p.events), "got": stored[p.reference]}
        if issues:
            wrong.append({"reference": p.reference, "scenario": p.scenario, **issues})
    return wrong


# ---------------------------------------------------------------- server and load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, base_url: str, log_path: Path) -> subprocess.Popen:
    import httpx

    env = {
        **portal_env(url),
        "PORTAL_BASE_URL": base_url,
        "PORTAL_VIPPS_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    env.pop("PORTAL_VIPPS_BASE_URL", None)  # the app's own dev Vipps answers the reads
    command = [sys.executable, "-m", "uvicorn", "portal.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    log = log_path.open("wb")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("uvicorn did not answer /healthz within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


async def send(planned: list[Planned], merged: list[tuple], hook_url: str, clients: int) -> dict:
    """`clients` concurrent httpx clients (one keep-alive connection each) take
    the deliveries in order from one queue; each is signed when it is sent."""
    import httpx

    from portal.payments.vipps import signing

    queue: asyncio.Queue = asyncio.Queue()
    for item in merged:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    in_flight: Counter = Counter()
    overlapping = 0

    async def client() -> None:
        nonlocal overlapping
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            while not queue.empty():
                index, e = queue.get_nowait()
                body = json.dumps(planned[index].events[e], separators=(",", ":")).encode()
                headers = {"Content-Type": "application/json", **signing.sign(WEBHOOK_SECRET, url=hook_url, body=body)}
                if in_flight[index]:
                    overlapping += 1
                in_flight[index] += 1
                t0 = time.perf_counter()
                try:
                    response = await http.post(hook_url, content=body, headers=headers)
                    statuses[response.status_code] += 1
                    if response.status_code >= 300 and len(errors) < 5:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    statuses["error"] += 1
                    if len(errors) < 5:
                        errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)
                in_flight[index] -= 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"seconds": seconds, "latencies": latencies, "statuses": statuses, "errors": errors, "overlapping": overlapping}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent httpx clients (default 8)")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of deliveries that repeat one (default 0.2)")
    parser.add_argument("--out-of-order", type=float, default=0.25, help="share of payments whose events are shuffled (default 0.25)")
    parser.add_argument("--window", type=int, default=16, help="payments whose deliveries are interleaved at a time (default 16)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default="bench_webhooks", help="PostgreSQL database to (re)create (default bench_webhooks)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    if args.deliveries < 10 or args.clients < 1 or args.window < 1 or not 0 <= args.duplicates < 0.9 or not 0 <= args.out_of_order <= 1:
        parser.error("need --deliveries >= 10, --clients >= 1, 0 <= --duplicates < 0.9, 0 <= --out-of-order <= 1")

    rng = random.Random(args.seed)
    url = fresh_database("postgres", args.database)
    use_database(url)
    port = args.port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    os.environ["PORTAL_BASE_URL"] = base_url  # this process builds the same settings as the server
    os.environ["PORTAL_VIPPS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    from portal.lib import clock

    now = clock.now()
    planned = plan(args.deliveries, args.duplicates, rng)
    msn = asyncio.run(create_payments(planned, base_url, now))
    psp = [0]
    for p in planned:
        build_history(p, msn, now, rng, psp)
    merged, stats = schedule(planned, args.deliveries, args.out_of_order, args.window, rng)

    log_path = Path(f"/tmp/bench-webhooks-{os.getpid()}.log")
    server = start_server(url, port, base_url, log_path)
    try:
        run = asyncio.run(send(planned, merged, f"{base_url}/hooks/vipps", args.clients))
    finally:
        stop_server(server)
    payments, orders, stored, deliveries = asyncio.run(final_rows())
    wrong = compare(planned, payments, orders, stored)
    ok = sum(n for code, n in run["statuses"].items() if isinstance(code, int) and 200 <= code < 300)
    ms = [x * 1000 for x in run["latencies"]]
    server_log = log_path.read_text(errors="replace")
    result = {
        "deliveries": len(merged),
        "payments": len(planned),
        "scenarios": dict(Counter(p.scenario for p in planned)),
        "duplicates": stats.get("duplicates", 0),
        "out_of_order": stats.get("out_of_order", 0),
        "payments_shuffled": stats.get("payments_shuffled", 0),
        "sent_while_same_payment_in_flight": run["overlapping"],
        "clients": args.clients,
        "window": args.window,
        "seconds": round(run["seconds"], 2),
        "accepted_per_second": round(ok / run["seconds"], 1) if run["seconds"] else None,
        "latency_ms": {q: round(percentile(ms, q), 1) for q in (50, 95, 99)} | {"max": round(ms[-1], 1)},
        "non_2xx": len(merged) - ok,
        "statuses": {str(k): v for k, v in run["statuses"].items()},
        "errors": run["errors"],
        "wrong_final_states": len(wrong),
        "wrong_examples": wrong[:5],
        "webhook_deliveries_stored": deliveries["stored"],
        "webhook_deliveries_unprocessed": deliveries["unprocessed"],
        "server_tracebacks": server_log.count("Traceback"),
        "server_log": str(log_path),
        "database": url,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()

"""The back office's day view of a busy supplier: 20 calendars, 200 bookings on one day.

    python bench/backoffice.py [--engine sqlite|postgres] [--requests 300] [--warmup 30]
                               [--calls 300] [--database portal_bench_backoffice]

1. Builds a fresh database (a tmp SQLite file by default; `--engine postgres`
   (re)creates `portal_bench_backoffice` on BENCH_PG_URL's server), migrates and
   seeds the demo catalogue, then adds one supplier with 20 resources, each open
   Monday–Friday 08:00–18:00 with a break 12:00–12:30, and one 45-minute
   appointment offering they all perform. On the measured day (the next
   Wednesday at least two days ahead) it inserts 200 confirmed bookings, 10 per
   resource inside its opening hours, as bench/slots.py does: an order, its
   appointment line and its confirmed reservation sharing one id (no claims).
   An owner account (no TOTP: dev) gets a membership of the supplier.
2. Starts the app with uvicorn (one worker) on a free port of 127.0.0.1, logs
   in through /kontor/logg-inn (CSRF token from the form) and checks that both
   responses hold 200 `class="booking` blocks.
3. One sequential httpx client (one keep-alive connection) requests, after
   `--warmup` unmeasured requests each, `--requests` times each:
   the full page GET /kontor/<slug>?dato=<day>, and its HTMX fragment (the
   same with `HX-Request: true` + `HX-Target: calendar`, only the `calendar`
   block is rendered). Latency is the client's wall time per request on
   localhost, i.e. server time plus a loopback round trip; beside it the
   server process's CPU time per request (/proc, all threads), which other
   work on the machine inflates far less than the wall time.
4. In this process: `portal.backoffice.views.day` alone (the reads and the grid,
   no HTTP, no template) `--calls` times for the same workplace and day.

Prints one JSON object on stdout: p50/p95/p99 ms and req/s of each, the goal
(p95 ≤ 50 ms for the page and the fragment) and whether it is met, machine info
(the 1-minute load average: on a shared 2-core machine it decides the tail).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import discard, fresh_database, machine, percentile, use_database  # noqa: E402
from slots import TABLES, free_port, insert_postgres, insert_sqlite, start_server, stop_server  # noqa: E402

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "bench-kontor"
RESOURCES = 20
BOOKINGS = 200
OPEN, CLOSE, BREAK = (dtime(8), dtime(18), (dtime(12), dtime(12, 30)))
DURATION_MIN = 45
OWNER_EMAIL = "eier@bench-kontor.test"
PASSWORD = "et-langt-benchpassord"
FRAGMENT_HEADERS = {"HX-Request": "true", "HX-Target": "calendar"}
GOAL_P95_MS = 50.0
BOOKING_RE = re.compile(r'class="booking[\s"]')


# ---------------------------------------------------------------- setup


def measured_day(today: date) -> date:
    """The next Wednesday at least two days ahead (a working day, not today: no now-line)."""
    day = today + timedelta(days=2)
    return day + timedelta(days=(2 - day.weekday()) % 7)


def _starts(day: date) -> list[datetime]:
    """Every back-to-back 45-minute start inside one resource's opening hours on `day` (local)."""
    out = []
    for a, b in ((OPEN, BREAK[0]), (BREAK[1], CLOSE)):
        cursor, end = datetime.combine(day, a, OSLO), datetime.combine(day, b, OSLO)
        while cursor + timedelta(minutes=DURATION_MIN) <= end:
            out.append(cursor)
            cursor += timedelta(minutes=DURATION_MIN)
    return out


async def build_supplier(day: date, now: datetime, seed: int = 1) -> dict[str, list[tuple]]:
    """The supplier, its resources, hours, offering and owner; returns the booking rows to insert."""
    from portal.audit import domain as actors
    from portal.audit import service as audit
    from portal.catalogue import service as catalogue
    from portal.catalogue.tables import HoursRule, Offering, OfferingResource, Resource, Supplier
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role
    from portal.kinds.appointment.service import _terms_snapshot
    from portal.orders.tables import Order
    from portal.payments.pricing import LineItem, Means, quote

    actor = actors.system("bench-backoffice")
    async with audit.acting(actor, "bench.seed_backoffice", now=now):  # catalogue writes need an author
        supplier = Supplier(
            slug=SLUG, name="Bench Kontor", legal_name="Bench Kontor AS", org_number="999999999", company_form="AS",
            vat_registered=True, category="hair", street="Benkveien 1", postcode="0150", town="Oslo", phone="+4722000000",
            email="post@bench-kontor.test", description="", terms="", payment_methods=["onsite"], active=True, created_at=now,
        )  # fmt: skip
        await supplier.save()
        resource_ids = []
        hours = []
        for i in range(RESOURCES):
            resource = Resource(supplier=supplier.id, name=f"Ansatt {i + 1:02d}", title="Frisør")
            await resource.save()
            resource_ids.append(resource.id)
            for weekday in range(5):
                hours.append(HoursRule(resource=resource.id, weekday=weekday, start=OPEN, end=CLOSE, is_break=False))
                hours.append(HoursRule(resource=resource.id, weekday=weekday, start=BREAK[0], end=BREAK[1], is_break=True))
        await HoursRule.insert(*hours)
        offering = Offering(
            supplier=supplier.id, slug="klipp", kind="appointment", title="Klipp", price_ore=650_00, vat_rate_bp=2500,
            duration_min=DURATION_MIN, step_min=15, capacity=1, position=10, active=True,
        )  # fmt: skip
        await offering.save()
        await OfferingResource.insert(*(OfferingResource(offering=offering.id, resource=r) for r in resource_ids))
        await catalogue.changed()

    account_id = await staff.create_account(actor, email=OWNER_EMAIL, name="Eier Bench", password=PASSWORD, now=now)
    await staff.add_membership(actor, account_id=account_id, supplier_id=supplier.id, role=Role.OWNER, resource_id=None, now=now)

    ctx = await catalogue.offering_context_by_id(offering.id)
    snapshot = json.dumps(_terms_snapshot(ctx))
    frozen = quote(
        [LineItem(ctx.offering["title"], 1, ctx.offering["price_ore"], ctx.offering["vat_rate_bp"])], means=Means.ONSITE
    ).to_json()
    quote_json, line_json = json.dumps(frozen), json.dumps(frozen["lines"][0])

    rng = random.Random(seed)
    starts = _starts(day)
    per_resource = BOOKINGS // RESOURCES
    if per_resource > len(starts):
        raise SystemExit(f"{per_resource} bookings do not fit in one resource's day ({len(starts)} times)")
    first_id = (await Order.select(Order.id).order_by(Order.id, ascending=False).first() or {"id": 0})["id"] + 1
    rows: dict[str, list[tuple]] = {table: [] for table in TABLES}
    for rid in resource_ids:
        for start in sorted(rng.sample(starts, per_resource)):
            n = len(rows["orders"])
            key = first_id + n
            begin = start.astimezone(timezone.utc)
            end = begin + timedelta(minutes=DURATION_MIN)
            created = now - timedelta(days=rng.randint(1, 20))
            rows["orders"].append((
                key, f"BK{n:05d}", supplier.id, "confirmed", f"bench-bo-h-{n}", f"bench-bo-v-{n}", None, f"Kunde {n:03d} Nordmann",
                f"+479{n:07d}", f"kunde{n}@eksempel.no", "", "nb", "onsite", quote_json, snapshot, "{}", created,
                f"bench-bo-m-{n}", created, created,
            ))  # fmt: skip
            rows["order_line"].append((key, key, 0, "appointment", offering.id, 1, "Klipp", 650_00, 2500, line_json, "{}"))
            rows["reservation"].append((
                key, key, key, supplier.id, offering.id, rid, begin, end, 0, 0, 1, "confirmed", None, 0, created, created,
            ))  # fmt: skip
    return rows


# ---------------------------------------------------------------- measuring


def _stats(latencies: list[float], elapsed: float) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(ms),
        "requests_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2),
    }


def log_in(client) -> None:
    page = client.get("/kontor/logg-inn")
    page.raise_for_status()
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    if not token:
        raise SystemExit("the login form has no CSRF token")
    done = client.post(
        "/kontor/logg-inn",
        data={"email": OWNER_EMAIL, "password": PASSWORD, "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    if done.status_code != 303 or "/kontor/kode" in done.headers.get("location", ""):
        raise SystemExit(f"login failed: {done.status_code} {done.headers.get('location')} {done.text[:300]}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(client, path: str, headers: dict, warmup: int, requests: int, server_pid: int) -> dict:
    for _ in range(warmup):
        client.get(path, headers=headers).raise_for_status()
    latencies, bad = [], 0
    cpu0 = cpu_seconds(server_pid)
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path, headers=headers)
        latencies.append(time.perf_counter() - t0)
        bad += response.status_code != 200
    result = _stats(latencies, time.perf_counter() - started)
    result["server_cpu_ms_per_request"] = round((cpu_seconds(server_pid) - cpu0) * 1000 / requests, 2)
    result["non_200"] = bad
    return result


async def in_process(cookie: str, day: date, calls: int, engine: str) -> dict:
    """`views.day` alone, for the owner's workplace, as the route calls it."""
    from portal.backoffice import access, views
    from portal.catalogue.tables import Supplier
    from portal.identity.staff import service as staff
    from portal.lib import clock
    from portal.settings import load as load_settings

    engine_ = Supplier._meta.db
    pooled = engine == "postgres" and load_settings().db_pool_size > 0
    if pooled:  # as the app's lifespan does
        await engine_.start_connection_pool(min_size=1, max_size=2)
    try:
        token = access._serializer().loads(cookie)
        user = await staff.user_of(token, clock.now())
        membership = user.membership(SLUG)
        supplier = await Supplier.select().where(Supplier.id == membership.supplier_id).first()
        wp = access.Workplace(user=user, membership=membership, supplier=supplier)
        now = clock.now()
        grid = None
        for _ in range(max(10, calls // 10)):  # warm-up (the catalogue cache among others)
            grid = await views.day(wp, day, now)
        latencies = []
        cpu0 = time.process_time()
        started = time.perf_counter()
        for _ in range(calls):
            t0 = time.perf_counter()
            grid = await views.day(wp, day, now)
            latencies.append(time.perf_counter() - t0)
        result = _stats(latencies, time.perf_counter() - started)
        del result["requests"], result["requests_per_s"]
        result["cpu_ms_per_call"] = round((time.process_time() - cpu0) * 1000 / calls, 2)
        result["calls"] = calls
        result["bookings_in_grid"] = sum(b.kind == "booking" for c in grid.columns for b in c.blocks)
        result["columns"] = len(grid.columns)
        return result
    finally:
        if pooled:
            await engine_.close_connection_pool()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--database", default="portal_bench_backoffice", help="PostgreSQL: the database to (re)create")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per target (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per target first")
    parser.add_argument("--calls", type=int, default=300, help="in-process calls of views.day (0: skip)")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.calls < 0:
        parser.error("--requests must be ≥ 1, --warmup and --calls ≥ 0")
    if args.engine == "postgres" and args.database in ("test", "postgres"):
        parser.error("use a database of the bench's own")

    url = fresh_database(args.engine, args.database)
    try:
        use_database(url)
        from portal.lib import clock

        now = clock.now()
        day = measured_day(clock.local_today(now))
        t0 = time.perf_counter()
        rows = asyncio.run(build_supplier(day, now))
        if args.engine == "postgres":
            asyncio.run(insert_postgres(url, rows))
        else:
            insert_sqlite(url, rows)
        seeded = time.perf_counter() - t0
        inserted = len(rows["reservation"])
        del rows

        import httpx

        path = f"/kontor/{SLUG}?dato={day.isoformat()}"
        port = args.port or free_port()
        server = start_server(url, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                log_in(client)
                page = client.get(path)
                fragment = client.get(path, headers=FRAGMENT_HEADERS)
                for name, response in (("page", page), ("fragment", fragment)):
                    if response.status_code != 200:
                        raise SystemExit(f"{name}: {response.status_code} {response.text[:300]}")
                    if len(BOOKING_RE.findall(response.text)) != BOOKINGS:
                        raise SystemExit(f"{name}: {len(BOOKING_RE.findall(response.text))} booking blocks, not {BOOKINGS}")
                if not fragment.text.lstrip().startswith('<div id="calendar"') or "<html" in fragment.text:
                    raise SystemExit("the fragment is not the calendar block: " + fragment.text[:200])
                shape = {
                    "page_bytes": len(page.content),
                    "fragment_bytes": len(fragment.content),
                    "booking_blocks": {
                        "page": len(BOOKING_RE.findall(page.text)),
                        "fragment": len(BOOKING_RE.findall(fragment.text)),
                    },
                }
                results = {
                    "page": run(client, path, {}, args.warmup, args.requests, server.pid),
                    "fragment": run(client, path, FRAGMENT_HEADERS, args.warmup, args.requests, server.pid),
                }
                cookie = client.cookies.get("pk")
        finally:
            stop_server(server)
        if args.calls:
            results["views_day_in_process"] = asyncio.run(in_process(cookie, day, args.calls, args.engine))
    finally:
        discard(url)

    met = {name: results[name]["p95_ms"] <= GOAL_P95_MS and results[name]["non_200"] == 0 for name in ("page", "fragment")}
    result = {
        "engine": args.engine,
        "supplier": SLUG,
        "calendars": RESOURCES,
        "bookings_on_day": inserted,
        "day": day.isoformat(),
        "path": path,
        "fragment_headers": FRAGMENT_HEADERS,
        "seed_seconds": round(seeded, 2),
        **shape,
        "client": "httpx, 1 sequential keep-alive connection, 127.0.0.1",
        "results": results,
        "goal": {"p95_max_ms": GOAL_P95_MS, "met": {**met, "all": all(met.values())}},
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

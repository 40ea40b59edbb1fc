"""The slot list of a busy offering under load, against a trivial endpoint of the same app.

    python bench/slots.py [--engine postgres|sqlite] [--bookings 100000] [--seconds 20]
                          [--baseline-path /healthz] [--port 8765] [--client auto|wrk|httpx]

1. Builds a fresh database (`portal_bench` on the local PostgreSQL server, or a
   tmp SQLite file), migrates, seeds the demo catalogue and bulk-inserts
   `--bookings` bookings — each an order with one appointment line and its
   reservation, confirmed (completed where the portal's sweep would have
   completed it already), the ids shared as the
   orders migration made them (COPY on PostgreSQL, executemany on SQLite) —
   on the demo suppliers' resources: back to back inside each resource's
   opening hours, with the offering's duration and buffers, about 60 % full in
   the coming 8 weeks and 80 % full going back in time until the count is
   reached. No claim rows: this is a read benchmark.
2. Starts the app with uvicorn (one worker) on 127.0.0.1.
3. Loads, for `--seconds` each, at 1 and at 10 concurrent connections:
   (a) the slot fragment of a busy future day of saks-og-stil-grunerlokka/herreklipp
       (`HX-Request: true` + `HX-Target: slots`, as htmx sends for a day link:
       only the `slots` block is rendered), and
   (b) the baseline path: by default `/_bench/baseline`, a trivial template
       rendered through the same stack (`page()`, middleware, security
       headers). `--baseline-path /healthz` (JSON, no template) is accepted
       and labelled as a stand-in in the output.
4. Weighs the full offering page with everything it references (HTML + CSS + JS),
   each gzip-compressed (level 6), against 30 KB.

Prints one JSON object on stdout. Uses `wrk` when installed, else an asyncio/httpx client.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, discard, fresh_database, machine, percentile, portal_env, use_database  # noqa: E402

OSLO = ZoneInfo("Europe/Oslo")
SUPPLIER, OFFERING = "saks-og-stil-grunerlokka", "herreklipp"
OFFERING_PATH = f"/s/{SUPPLIER}/{OFFERING}"
#: What htmx sends when a day link (hx-target="#slots") is clicked; the route renders only the
#: `slots` block when both are present (HX-Request alone now gets the larger `picker` block).
FRAGMENT_HEADERS = {"HX-Request": "true", "HX-Target": "slots"}
FUTURE_DAYS = 56
FUTURE_FILL, PAST_FILL = 0.6, 0.8
GOALS = {"ratio_min": 0.6, "p99_10_conns_max_x_baseline": 2.0, "p99_1_conn_max_ms": 10.0, "page_weight_gzip_max_bytes": 30 * 1024}
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

#: One booking is three rows with the same id: its order, the order's line, the line's reservation.
TABLES = {
    "orders": (
        "id", "reference", "supplier", "state", "checkout_token", "visitor", "expires_at", "customer_name", "phone",
        "email", "note", "language", "means", "quote", "terms", "consents", "contract_at", "manage_token",
        "created_at", "updated_at",
    ),
    "order_line": (
        "id", "order", "position", "kind", "offering", "quantity", "description", "unit_price_ore", "vat_rate_bp",
        "price", "details",
    ),
    "reservation": (
        "id", "order", "line", "supplier", "offering", "resource", "start", "end", "buffer_before_min",
        "buffer_after_min", "seats", "status", "hold_expires_at", "ics_sequence", "created_at", "updated_at",
    ),
}  # fmt: skip
START = TABLES["reservation"].index("start")


# ---------------------------------------------------------------- bookings


def _reference(i: int) -> str:
    """A distinct 7-character reference per row (real ones have 6: no collision)."""
    chars = []
    for _ in range(7):
        i, r = divmod(i, len(REFERENCE_ALPHABET))
        chars.append(REFERENCE_ALPHABET[r])
    return "".join(reversed(chars))


async def _catalogue() -> dict:
    """Per resource: its weekly hours (minus breaks) and the appointment offerings it performs."""
    from portal.catalogue.service import offering_context_by_id, schedules
    from portal.catalogue.tables import Offering
    from portal.kinds.appointment.service import _terms_snapshot

    offerings = await Offering.select(Offering.id).where(
        (Offering.kind == "appointment") & (Offering.active == True) & Offering.duration_min.is_not_null()  # noqa: E712
    )
    by_resource: dict[int, list] = defaultdict(list)
    for row in offerings:
        ctx = await offering_context_by_id(row["id"])
        snapshot = json.dumps(_terms_snapshot(ctx))
        for r in ctx.resources:
            by_resource[r["id"]].append((ctx, snapshot))
    weekly = {}
    for schedule in await schedules(sorted(by_resource)):
        days: dict[int, list] = defaultdict(list)
        for h in schedule.hours:
            breaks = sorted((b.start, b.end) for b in schedule.breaks if b.weekday == h.weekday)
            cursor = h.start
            for b_start, b_end in breaks:  # cut the working span at its breaks
                if cursor < b_start < h.end:
                    days[h.weekday].append((cursor, b_start))
                    cursor = max(cursor, b_end)
            if cursor < h.end:
                days[h.weekday].append((cursor, h.end))
        weekly[schedule.resource_id] = days
    return {"offerings": by_resource, "weekly": weekly}


def _day_bookings(rng: random.Random, catalogue: dict, day: date, fill: float):
    """(ctx, snapshot, resource_id, start_utc, seats) for one local day, never overlapping on a resource."""
    for rid, choices in catalogue["offerings"].items():
        for span_start, span_end in catalogue["weekly"].get(rid, {}).get(day.weekday(), ()):
            cursor = datetime.combine(day, span_start, OSLO)
            end_of_span = datetime.combine(day, span_end, OSLO)
            while True:
                ctx, snapshot = rng.choice(choices)
                o = ctx.offering
                start = cursor + timedelta(minutes=o["buffer_before_min"])
                finish = start + timedelta(minutes=o["duration_min"] + o["buffer_after_min"])
                if finish > end_of_span:
                    break
                if rng.random() < fill:
                    seats = max(1, round(o["capacity"] * fill * rng.uniform(0.6, 1.0))) if o["capacity"] > 1 else 1
                    for _ in range(seats):  # a class: one booking per seat at the same start
                        yield ctx, snapshot, rid, start.astimezone(timezone.utc), 1
                    cursor = finish
                else:
                    cursor += timedelta(minutes=o["step_min"])


def _days(today: date):
    """The coming weeks (fairly full), then today and back in time (fuller)."""
    for offset in range(FUTURE_DAYS, 0, -1):
        yield today + timedelta(days=offset), FUTURE_FILL
    for back in range(365 * 30):
        yield today - timedelta(days=back), PAST_FILL


def generate(catalogue: dict, n: int, today: date, now: datetime, seed: int = 1) -> tuple[dict[str, list[tuple]], dict[date, int]]:
    """Rows per table (TABLES' columns) for n bookings paid on site: confirmed, or completed
    where they ended longer ago than `PORTAL_AUTO_COMPLETE_HOURS` (as the sweep leaves them)."""
    from portal.payments.pricing import LineItem, Means, quote
    from portal.settings import load as load_settings

    completed_before = now - timedelta(hours=load_settings().vipps.auto_complete_hours)

    rng = random.Random(seed)
    rows: dict[str, list[tuple]] = {table: [] for table in TABLES}
    salon_by_day: dict[date, int] = defaultdict(int)
    if n == 0:
        return rows, salon_by_day
    quotes: dict[int, tuple[str, str]] = {}  # offering id -> (quote JSON, priced line JSON), as checkout freezes them
    for day, fill in _days(today):
        for ctx, snapshot, rid, start, seats in _day_bookings(rng, catalogue, day, fill):
            o, s = ctx.offering, ctx.supplier
            if o["id"] not in quotes:
                frozen = quote([LineItem(o["title"], 1, o["price_ore"], o["vat_rate_bp"])], means=Means.ONSITE).to_json()
                quotes[o["id"]] = (json.dumps(frozen), json.dumps(frozen["lines"][0]))
            quote_json, line_json = quotes[o["id"]]
            i = len(rows["orders"])
            key = i + 1  # order, line and reservation share the id
            created = min(now, start) - timedelta(days=rng.randint(1, 30))
            end = start + timedelta(minutes=o["duration_min"])
            # What the portal's own sweep has done by now: long-past orders count as delivered.
            state = "completed" if end <= completed_before else "confirmed"
            rows["orders"].append((
                key, _reference(i), s["id"], state, f"bench-h-{i}", f"bench-v-{i}", None, f"Kunde {i}",
                f"+479{i % 10_000_000:07d}", f"kunde{i}@eksempel.no", "", "nb", "onsite", quote_json, snapshot, "{}",
                created, f"bench-m-{i}", created, created,
            ))  # fmt: skip
            rows["order_line"].append((
                key, key, 0, "appointment", o["id"], 1, o["title"][:300], o["price_ore"], o["vat_rate_bp"], line_json, "{}",
            ))  # fmt: skip
            rows["reservation"].append((
                key, key, key, s["id"], o["id"], rid, start, end, o["buffer_before_min"], o["buffer_after_min"], seats,
                state, None, 0, created, created,
            ))  # fmt: skip
            if s["slug"] == SUPPLIER and day > today:
                salon_by_day[day] += 1
            if i + 1 == n:
                return rows, salon_by_day
    raise SystemExit("could not place that many bookings")


async def insert_postgres(url: str, rows: dict[str, list[tuple]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for table, columns in TABLES.items():  # orders first: the others reference them
            await conn.copy_records_to_table(table, records=rows[table], columns=list(columns))
            # The app's next id follows the copied ones.
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
            )
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()


def insert_sqlite(url: str, rows: dict[str, list[tuple]]) -> None:
    import sqlite3

    def value(v):  # what Piccolo's SQLite adapter stores: str() of the UTC datetime
        return str(v.astimezone(timezone.utc)) if isinstance(v, datetime) else v

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        with conn:
            for table, names in TABLES.items():
                columns = ", ".join(f'"{c}"' for c in names)
                marks = ", ".join("?" for _ in names)
                conn.executemany(
                    f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', ([value(v) for v in row] for row in rows[table])
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()


# ---------------------------------------------------------------- server and load


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int) -> subprocess.Popen:
    import socket

    with socket.socket() as sock:  # never measure somebody else's server on that port
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is already in use")
    env = portal_env(url)
    command = [sys.executable, "-m", "uvicorn", "portal.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200 and server.poll() is None:
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


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def load_wrk(url: str, headers: dict, connections: int, seconds: float) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if requests and "99" not in latency:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    if requests == 0:  # nothing finished inside the run: no latency to report
        latency = {"50": None, "99": None}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(_ms(latency["50"]), 2) if latency["50"] else None,
        "p99_ms": round(_ms(latency["99"]), 2) if latency["99"] else None,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


async def _load_httpx(url: str, headers: dict, connections: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    bad = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_connection() -> None:
            nonlocal bad
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                bad += response.status_code >= 400

        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "non_2xx": bad,
        "socket_errors": 0,
    }


def settle(base: str, limit: float = 60.0) -> None:
    """Wait until requests a load run left queued in the server are done (healthz answers fast again)."""
    import httpx

    deadline = time.monotonic() + limit
    # One client for all probes: making an httpx client costs ~30 ms (its TLS
    # context), more than the 20 ms that counts as fast.
    with httpx.Client(timeout=limit) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            client.get(base + "/healthz")
            if time.perf_counter() - t0 < 0.02:
                return
            time.sleep(0.2)


def load(client: str, url: str, headers: dict, connections: int, seconds: float) -> dict:
    if client == "wrk":
        result = load_wrk(url, headers, connections, seconds)
    else:
        result = asyncio.run(_load_httpx(url, headers, connections, seconds))
    settle(url.split("/", 3)[0] + "//" + url.split("/", 3)[2])
    return result


def page_weight(base: str) -> dict:
    """The offering page and every same-origin stylesheet, script and image it references, gzipped."""
    import httpx

    with httpx.Client(base_url=base, timeout=10) as client:
        html = client.get(OFFERING_PATH)
        html.raise_for_status()
        assets = re.findall(r'<(?:link[^>]+href|script[^>]+src|img[^>]+src)="(/[^"]+)"', html.text)
        parts = {OFFERING_PATH: html.content}
        for path in dict.fromkeys(assets):
            response = client.get(path)
            response.raise_for_status()
            parts[path] = response.content
    sizes = {path: {"bytes": len(body), "gzip_bytes": len(gzip.compress(body, compresslevel=6))} for path, body in parts.items()}
    return {"total_gzip_bytes": sum(s["gzip_bytes"] for s in sizes.values()), "files": sizes}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--database", default="portal_bench", help="PostgreSQL: the database to (re)create (default portal_bench)")
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per load run (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each load run")
    parser.add_argument("--connections", default="1,10", help="comma-separated concurrency levels")
    parser.add_argument("--baseline-path", default="/_bench/baseline")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or args.bookings < 0:
        parser.error("--seconds must be within 1..600 and --bookings >= 0")
    levels = [int(c) for c in args.connections.split(",")]
    client = ("wrk" if shutil.which("wrk") else "httpx") if args.client == "auto" else args.client

    url = fresh_database(args.engine, args.database)
    try:
        use_database(url)
        from portal.lib import clock

        now = clock.now()
        today = clock.local_today(now)
        t0 = time.perf_counter()
        catalogue = asyncio.run(_catalogue())
        rows, salon_by_day = generate(catalogue, args.bookings, today, now)
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        if args.engine == "postgres":
            asyncio.run(insert_postgres(url, rows))
        else:
            insert_sqlite(url, rows)
        inserted = time.perf_counter() - t0
        starts = [r[START] for r in rows["reservation"]]
        # The busiest salon day in the first 14-day page of the strip (the page a visitor sees first).
        first_page = {d: n for d, n in salon_by_day.items() if d <= today + timedelta(days=13)}
        busy_day = max(first_page, key=lambda d: (first_page[d], d)) if first_page else today + timedelta(days=1)
        del rows

        fragment_path = f"{OFFERING_PATH}?day={busy_day.isoformat()}"
        port = args.port or free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, port)
        try:
            import httpx

            probe = httpx.get(base + fragment_path, headers=FRAGMENT_HEADERS, timeout=10)
            assert probe.status_code == 200, probe.status_code
            assert probe.text.lstrip().startswith('<section id="slots"'), "not the slots fragment: " + probe.text[:200]
            free_shown = len(re.findall(r'name="start" value=', probe.text))
            baseline_probe = httpx.get(base + args.baseline_path, timeout=10)
            if baseline_probe.status_code != 200:
                raise SystemExit(f"{args.baseline_path} answered {baseline_probe.status_code}; try --baseline-path /healthz")

            targets = {
                "fragment": (base + fragment_path, FRAGMENT_HEADERS),
                "baseline": (base + args.baseline_path, {}),
            }
            results: dict[str, dict] = {}
            for connections in levels:
                level = {}
                for name, (target, headers) in targets.items():
                    if args.warmup > 0:
                        load(client, target, headers, connections, args.warmup)
                    level[name] = load(client, target, headers, connections, args.seconds)
                level["ratio_rps"] = round(level["fragment"]["requests_per_s"] / level["baseline"]["requests_per_s"], 3)
                level["p99_x_baseline"] = round(level["fragment"]["p99_ms"] / level["baseline"]["p99_ms"], 2)
                results[str(connections)] = level
            weight = page_weight(base)
        finally:
            stop_server(server)
    finally:
        discard(url)

    def goal_met(check) -> bool | None:
        """None when that concurrency was not run; False when nothing was measured."""
        try:
            return bool(check())
        except KeyError:
            return None
        except TypeError:  # a None figure: no request finished
            return False

    stand_in = args.baseline_path == "/healthz"
    result = {
        "engine": args.engine,
        "bookings": len(starts),
        "bookings_span": [min(starts).date().isoformat(), max(starts).date().isoformat()] if starts else None,
        "seed_seconds": {"generate": round(generated, 1), "insert": round(inserted, 1)},
        "busy_day": busy_day.isoformat(),
        "salon_bookings_on_busy_day": salon_by_day.get(busy_day, 0),
        "free_times_in_fragment": free_shown,
        "fragment_path": fragment_path,
        "fragment_headers": FRAGMENT_HEADERS,
        "baseline_path": args.baseline_path,
        "baseline_label": (
            "STAND-IN: /healthz returns JSON without a template or database"
            if stand_in
            else "trivial template through the same stack"
        ),
        "client": client,
        "seconds_per_run": args.seconds,
        "results": results,
        "page_weight_gzip_bytes": weight["total_gzip_bytes"],
        "page_weight_files": weight["files"],
        "goal": {
            **GOALS,
            "met": {
                "ratio_1_conn": goal_met(lambda: results["1"]["ratio_rps"] >= GOALS["ratio_min"]),
                "ratio_10_conns": goal_met(lambda: results["10"]["ratio_rps"] >= GOALS["ratio_min"]),
                "p99_10_conns": goal_met(lambda: results["10"]["p99_x_baseline"] <= GOALS["p99_10_conns_max_x_baseline"]),
                "p99_1_conn": goal_met(lambda: results["1"]["fragment"]["p99_ms"] <= GOALS["p99_1_conn_max_ms"]),
                "page_weight": weight["total_gzip_bytes"] <= GOALS["page_weight_gzip_max_bytes"],
            },
        },
        "machine": machine(),
    }
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()

"""Holds racing across OS processes: one slot (exactly one may win), then distinct slots (throughput).

    python bench/race.py --engine sqlite|postgres [--attempts 200] [--processes 4]
                         [--concurrency 1] [--profile 50]

Builds a fresh database (a tmp SQLite file, or `portal_bench` on the local
PostgreSQL server; BENCH_PG_URL names the maintenance connection), migrates
and seeds the demo catalogue, then:

1. P spawned processes, each with its own event loop and connections, wait
   at a barrier and make `attempts` calls of `portal.kinds.appointment.service.hold()`
   between them for ONE start of the single-resource offering, each as a
   different visitor (the customer actor of that visitor): exactly one
   booking (a held order with its reservation) may result.
2. The same processes make `attempts` holds at distinct, non-overlapping
   times spread over the appointment offerings, their resources and days
   (planned with `service.slots_between`): all must succeed; bookings/s is
   the number of bookings divided by the wall time from the barrier to the
   last reply.

With --profile K, K more holds run one after another in this process: the
JSON gets queries and (SQLite) connections opened per hold and where the
time goes (each query, the slot engine, the write transaction); then K more
run under cProfile, whose table (by own time) goes to stderr.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import pstats
import random
import sys
import time
import traceback
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import discard, fresh_database, machine, percentile, use_database  # noqa: E402

SINGLE = ("lunde-radgivning", "videokonsultasjon")
GOALS = {"bookings_same_slot": 1, "distinct_bookings_per_s": {"sqlite": 200, "postgres": 400}}
HOLD_MINUTES = 10


# ---------------------------------------------------------------- worker process


def _worker(index: int, barrier, attempts: list[dict], now, concurrency: int, pool: bool, results) -> None:
    """One racer: env is inherited from the parent (set before anything imported portal)."""
    try:
        results.put((index, asyncio.run(_work(barrier, attempts, now, concurrency, pool))))
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put((index, {"error": traceback.format_exc()}))


async def _work(barrier, attempts: list[dict], now, concurrency: int, pool: bool) -> dict:
    from portal.audit.domain import customer
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.lib import db

    engine = db.engine()
    if pool and hasattr(engine, "start_connection_pool"):
        size = max(2, concurrency + 1)
        await engine.start_connection_pool(min_size=size, max_size=size)  # as the app's lifespan does
    try:
        contexts = {}
        for a in attempts:
            key = tuple(a["offering"])
            if key not in contexts:
                contexts[key] = await offering_context(*key)
        loop = asyncio.get_running_loop()
        pending = list(reversed(attempts))
        outcomes: Counter = Counter()
        latencies: list[float] = []
        errors: list[str] = []

        async def lane() -> None:
            while pending:
                a = pending.pop()
                t0 = time.perf_counter()
                try:
                    await service.hold(
                        customer(visitor=a["visitor"]), contexts[tuple(a["offering"])], a["start"], a.get("resource"), a["visitor"], now, HOLD_MINUTES
                    )
                    outcomes["held"] += 1
                except service.SlotTaken:
                    outcomes["taken"] += 1
                except Exception as exc:  # noqa: BLE001 - a 500 in the app; counted and shown
                    outcomes["error"] += 1
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

        await loop.run_in_executor(None, barrier.wait, 120)
        started = time.time()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        finished = time.time()
        return {"started": started, "finished": finished, "outcomes": dict(outcomes), "latencies": latencies, "errors": errors[:3]}
    finally:
        if pool and getattr(engine, "pool", None) is not None:
            await engine.close_connection_pool()


def run_phase(attempts: list[dict], processes: int, now, concurrency: int, pool: bool) -> dict:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    shares = [attempts[i::processes] for i in range(processes)]
    workers = [
        context.Process(target=_worker, args=(i, barrier, shares[i], now, concurrency, pool, results), daemon=True)
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    replies = {}
    while len(replies) < processes:
        index, reply = results.get(timeout=600)
        if "error" in reply:
            for w in workers:
                w.kill()
            raise SystemExit(f"worker {index} failed:\n{reply['error']}")
        replies[index] = reply
    for w in workers:
        w.join(timeout=30)
    outcomes: Counter = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    for reply in replies.values():
        outcomes.update(reply["outcomes"])
        latencies.extend(reply["latencies"])
        errors.extend(reply["errors"])
    latencies.sort()
    wall = max(r["finished"] for r in replies.values()) - min(r["started"] for r in replies.values())
    return {
        "outcomes": dict(outcomes),
        "seconds": wall,
        "latency_ms": {
            "p50": round(percentile(latencies, 50) * 1000, 1),
            "p99": round(percentile(latencies, 99) * 1000, 1),
        },
        "errors": errors[:3],
    }


# ---------------------------------------------------------------- planning (this process)


async def _appointment_contexts():
    from portal.catalogue.service import offering_context_by_id
    from portal.catalogue.tables import Offering

    rows = await Offering.select(Offering.id).where(
        (Offering.kind == "appointment") & (Offering.capacity == 1) & (Offering.active == True)  # noqa: E712
    ).order_by(Offering.id)
    contexts = [await offering_context_by_id(r["id"]) for r in rows]
    return [c for c in contexts if c.bookable]


async def plan_same_slot(now) -> dict:
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.lib import clock

    ctx = await offering_context(*SINGLE)
    today = clock.local_today(now)
    for offset in range(1, 30):
        day = today + timedelta(days=offset)
        slots = await service.slots_between(ctx, day, day, now)
        if slots:
            return {"offering": SINGLE, "start": slots[0].start}
    raise SystemExit("no free time for the same-slot race")


async def plan_distinct(n: int, now, seed: int = 7, refused: list | None = None) -> list[dict]:
    """n offered (offering, resource, start) whose occupied intervals (with buffers) never overlap.

    `refused` collects offered times that `service.explain` says are not bookable."""
    refused = [] if refused is None else refused
    from portal.kinds.appointment import service
    from portal.lib import clock

    contexts = await _appointment_contexts()
    by_slug = {(c.supplier["slug"], c.offering["slug"]): c for c in contexts}
    today = clock.local_today(now)
    rng = random.Random(seed)
    taken: dict[int, list[tuple]] = {}
    chosen: list[dict] = []
    first = 1
    while len(chosen) < n and first < 90:
        candidates = []
        for ctx in contexts:
            o = ctx.offering
            for slot in await service.slots_between(ctx, today + timedelta(days=first), today + timedelta(days=first + 13), now):
                for rid in slot.resource_ids:
                    lo = slot.start - timedelta(minutes=o["buffer_before_min"])
                    hi = slot.end + timedelta(minutes=o["buffer_after_min"])
                    candidates.append(((ctx.supplier["slug"], o["slug"]), rid, slot.start, lo, hi))
        rng.shuffle(candidates)  # spread over offerings, resources and days
        for offering, rid, start, lo, hi in candidates:
            busy = taken.setdefault(rid, [])
            if any(lo < b_hi and b_lo < hi for b_lo, b_hi in busy):
                continue
            # Cross-check with the rule-by-rule explanation (another code path than free_slots):
            # a time the slot list offers but the rules refuse would fail as SlotTaken and be
            # miscounted as a lost race, so it is left out and counted instead.
            reason = await service.explain(by_slug[offering], rid, start, now)
            if reason is not None:
                refused.append({"offering": "/".join(offering), "resource": rid, "start": start.isoformat(), "reason": str(reason)})
                continue
            busy.append((lo, hi))
            chosen.append({"offering": offering, "resource": rid, "start": start})
            if len(chosen) == n:
                break
        first += 14
    if len(chosen) < n:
        raise SystemExit(f"only {len(chosen)} distinct free times found for {n} attempts")
    return chosen


async def count_live(start=None) -> int:
    """Reservations that occupy their time (held or confirmed), optionally at one start."""
    from portal.kinds.appointment.tables import Reservation

    query = Reservation.count().where(Reservation.status.is_in(["held", "confirmed"]))
    if start is not None:
        query = query.where(Reservation.start == start)
    return await query


# ---------------------------------------------------------------- profile (this process)


async def profile_holds(k: int, now, pool: bool) -> dict:
    """K holds one after another: where a hold's time goes (queries, connections, pure code)."""
    import contextlib
    import re

    from portal.audit.domain import customer
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.lib import db

    engine = db.engine()
    if pool and hasattr(engine, "start_connection_pool"):
        await engine.start_connection_pool(min_size=2, max_size=2)
    targets = await plan_distinct(k, now, seed=11)
    contexts = {t["offering"]: await offering_context(*t["offering"]) for t in targets}

    spent: Counter = Counter()  # label -> seconds
    counts: Counter = Counter()  # label -> calls
    table_re = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.I)

    engine_class = type(engine)
    real_run = engine_class.run_querystring

    async def timed_run(self, querystring, *args, **kwargs):
        sql = str(querystring).strip()
        table = table_re.search(sql)
        label = f"sql {sql.split(None, 1)[0].upper()} {table.group(1) if table else '?'}"
        t0 = time.perf_counter()
        try:
            return await real_run(self, querystring, *args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - t0
            counts[label] += 1

    real_free_slots = service.free_slots

    def timed_free_slots(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real_free_slots(*args, **kwargs)
        finally:
            spent["python free_slots (pure slot engine)"] += time.perf_counter() - t0
            counts["python free_slots (pure slot engine)"] += 1

    real_write_transaction = service.write_transaction

    @contextlib.asynccontextmanager
    async def timed_write_transaction():
        t0 = time.perf_counter()
        try:
            async with real_write_transaction():
                yield
        finally:
            spent["write transaction (whole block, incl. BEGIN/COMMIT)"] += time.perf_counter() - t0
            counts["write transaction (whole block, incl. BEGIN/COMMIT)"] += 1

    real_slots_between = service.slots_between

    async def timed_slots_between(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return await real_slots_between(*args, **kwargs)
        finally:
            spent["slots_between (availability read)"] += time.perf_counter() - t0
            counts["slots_between (availability read)"] += 1

    connections: Counter = Counter()
    import piccolo.engine.sqlite as piccolo_sqlite

    real_connect = piccolo_sqlite.aiosqlite.connect

    def counting_connect(*args, **kwargs):
        connections["sqlite"] += 1
        return real_connect(*args, **kwargs)

    engine_class.run_querystring = timed_run
    service.free_slots = timed_free_slots
    service.write_transaction = timed_write_transaction
    service.slots_between = timed_slots_between
    piccolo_sqlite.aiosqlite.connect = counting_connect
    held = 0
    try:
        # 1. plain timing, 2. the same kind of holds under cProfile (CPU hot spots to stderr)
        t0, cpu0 = time.perf_counter(), time.process_time()
        for i, t in enumerate(targets):
            try:
                await service.hold(customer(visitor=f"profile-{i}"), contexts[t["offering"]], t["start"], t["resource"], f"profile-{i}", now, HOLD_MINUTES)
                held += 1
            except service.SlotTaken:
                pass
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        engine_class.run_querystring = real_run
        service.free_slots = real_free_slots
        service.write_transaction = real_write_transaction
        service.slots_between = real_slots_between
        piccolo_sqlite.aiosqlite.connect = real_connect

    more = await plan_distinct(k, now, seed=13)
    contexts.update({t["offering"]: await offering_context(*t["offering"]) for t in more if t["offering"] not in contexts})
    profiler = cProfile.Profile()
    profiler.enable()
    for i, t in enumerate(more):
        with contextlib.suppress(service.SlotTaken):
            await service.hold(customer(visitor=f"cprofile-{i}"), contexts[t["offering"]], t["start"], t["resource"], f"cprofile-{i}", now, HOLD_MINUTES)
    profiler.disable()
    if pool and getattr(engine, "pool", None) is not None:
        await engine.close_connection_pool()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    sys.stderr.write(f"cProfile of {k} sequential holds, by own time:\n{out.getvalue()}")
    cpu_top = []
    for (filename, line, name), (cc, nc, tt, ct, callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]:
        package = next((p for p in ("portal", "piccolo", "aiosqlite", "asyncpg", "asyncio", "sqlite3") if p in filename), "")
        cpu_top.append({"function": f"{package}/{Path(filename).name}:{line}({name})", "own_ms_per_hold": round(tt * 1000 / k, 2)})

    query_total = sum(v for key, v in spent.items() if key.startswith("sql "))
    return {
        "holds": k,
        "held": held,
        "ms_per_hold_sequential": round(elapsed * 1000 / k, 2),
        "cpu_ms_per_hold_this_process": round(cpu * 1000 / k, 2),
        "queries_per_hold": round(sum(n for key, n in counts.items() if key.startswith("sql ")) / k, 1),
        "sqlite_connections_opened_per_hold": round(connections["sqlite"] / k, 1) if connections else 0,
        "ms_per_hold_in_queries": round(query_total * 1000 / k, 2),
        "breakdown_ms_per_hold": {
            key: {"ms": round(v * 1000 / k, 2), "calls": round(counts[key] / k, 1)}
            for key, v in sorted(spent.items(), key=lambda kv: -kv[1])
        },
        "cpu_top_own_time": cpu_top,
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--database", default="portal_bench", help="PostgreSQL: the database to (re)create (default portal_bench)")
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1, help="holds in flight per process (default 1)")
    parser.add_argument("--no-pool", action="store_true", help="PostgreSQL: a new connection per query instead of a pool")
    parser.add_argument("--profile", type=int, default=0, metavar="K", help="then profile K sequential holds in-process")
    args = parser.parse_args(argv)
    if args.attempts < 1 or args.processes < 1 or args.concurrency < 1:
        parser.error("attempts, processes and concurrency must be positive")

    url = fresh_database(args.engine, args.database)
    try:
        use_database(url)
        from portal.lib import clock

        pool = args.engine == "postgres" and not args.no_pool
        now = clock.now()

        same = asyncio.run(plan_same_slot(now))
        same_attempts = [{**same, "visitor": f"same-{i}"} for i in range(args.attempts)]
        same_run = run_phase(same_attempts, args.processes, now, args.concurrency, pool)
        bookings_same_slot = asyncio.run(count_live(same["start"]))

        refused: list[dict] = []
        distinct = asyncio.run(plan_distinct(args.attempts, now, refused=refused))
        distinct_attempts = [{**t, "visitor": f"distinct-{i}"} for i, t in enumerate(distinct)]
        distinct_run = run_phase(distinct_attempts, args.processes, now, args.concurrency, pool)
        distinct_bookings = asyncio.run(count_live()) - bookings_same_slot
        per_s = distinct_bookings / distinct_run["seconds"] if distinct_run["seconds"] else None

        goal_rate = GOALS["distinct_bookings_per_s"][args.engine]
        result = {
            "engine": args.engine,
            "processes": args.processes,
            "attempts": args.attempts,
            "concurrency_per_process": args.concurrency,
            "postgres_pool": pool,
            "bookings_same_slot": bookings_same_slot,
            "same_slot_outcomes": same_run["outcomes"],
            "distinct_bookings": distinct_bookings,
            "distinct_outcomes": distinct_run["outcomes"],
            "distinct_seconds": round(distinct_run["seconds"], 3),
            "distinct_bookings_per_s": round(per_s, 1) if per_s is not None else None,
            "distinct_hold_latency_ms": distinct_run["latency_ms"],
            "errors": same_run["errors"] + distinct_run["errors"],
            "offered_but_refused_by_explain": {"count": len(refused), "examples": refused[:3]},
            "goal": {
                "bookings_same_slot": 1,
                "distinct_bookings": args.attempts,
                "distinct_bookings_per_s": goal_rate,
                "met": {
                    "bookings_same_slot": bookings_same_slot == 1,
                    "distinct_bookings": distinct_bookings == args.attempts,
                    "distinct_bookings_per_s": per_s is not None and per_s >= goal_rate,
                },
            },
            "machine": machine(),
        }
        if args.profile:
            result["profile"] = asyncio.run(profile_holds(args.profile, clock.now(), pool))
    finally:
        discard(url)
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()

"""Invariant 1 (DESIGN.md): no double booking, across OS processes, on SQLite and PostgreSQL.

Every racer is a separate OS process (multiprocessing "spawn") with its own
event loop, its own Piccolo engine and its own connections; it gets
DATABASE_URL before it imports portal. The racers wait at a shared barrier
and then call the real `portal.kinds.appointment.service.hold()` at the same
moment (each hold: a new order with one appointment line and its reservation,
whose time is claimed in the same transaction).

Following pretix's concurrency tests, the race is first shown to exist with
the guard switched off (the claim step, `service.claim_time`, replaced by a
no-op): then two or more processes book the same time. With the guard on, and under the very same
forced interleaving (every racer has read "free" before anyone writes),
exactly one wins.

Engines: the one DATABASE_URL selects (the session database of this run),
plus the other engine in a database of our own (a tmp SQLite file, or a
`portal_race_<pid>` database on the local PostgreSQL server, dropped at the
end; PORTAL_RACE_PG_URL names the maintenance connection), so that one run
covers both. The racers are started once per engine and reused; racer 0
also plans (free starts via `service.slots_between`) and inspects the
database, since this process's Piccolo engine is bound to DATABASE_URL only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import re
import traceback
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.race

RACERS = 4  # OS processes per engine
BARRIER_TIMEOUT = 30.0  # seconds; a stuck racer breaks the barrier instead of hanging the run
REPLY_TIMEOUT = 90.0
PG_ADMIN_URL = os.environ.get("PORTAL_RACE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_RACE_DB = f"portal_race_{os.getpid()}"  # unique: parallel runs must not drop each other's database

SINGLE = ("lunde-radgivning", "videokonsultasjon")  # one resource, 45 min, no buffers
CLASS = ("pust-yoga-stavanger", "yoga-flow")  # capacity 12
SALON = ("saks-og-stil-grunerlokka", "herreklipp")  # three stylists, 30 min

LIVE = ("held", "confirmed")


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


# ---------------------------------------------------------------- the racer process


def _racer(url: str, index: int, barrier, inbox, outbox) -> None:
    """Entry point of one racer process: environment first, then portal."""
    os.environ["DATABASE_URL"] = url
    os.environ["PICCOLO_CONF"] = "portal.piccolo_conf"
    os.environ.setdefault("PORTAL_SECRET_KEY", "test-secret-key-not-for-production")
    os.environ["PORTAL_ENV"] = "dev"
    asyncio.run(_serve(index, barrier, inbox, outbox))


async def _serve(index: int, barrier, inbox, outbox) -> None:
    from portal import wiring

    wiring.configure()  # the kinds, outbox handlers and payment effects, as the app's start does
    loop = asyncio.get_running_loop()
    while True:
        task = await loop.run_in_executor(None, inbox.get)
        if task is None:
            return
        try:
            reply = {"ok": True, "value": await _handle(task, barrier)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            reply = {"ok": False, "error": f"{exc!r}\n{traceback.format_exc()}"}
        outbox.put((index, reply))


async def _handle(task: dict, barrier):
    kind = task["kind"]
    if kind == "plan":
        return await _plan(task)
    if kind == "clean":
        from portal.capacity.tables import ClassSession, SlotClaim
        from portal.kinds.appointment.tables import Reservation
        from portal.orders.tables import Order, OrderLine
        from portal.outbox.tables import OutboxMessage
        from portal.payments.tables import (
            CouponRedemption,
            MoneyMovement,
            Payment,
            PaymentEvent,
            PaymentOperation,
            WebhookDelivery,
        )

        # What refers to an order goes first (the session database may hold another test's payments).
        for table in (MoneyMovement, PaymentEvent, WebhookDelivery, OutboxMessage, PaymentOperation, Payment, CouponRedemption):
            await table.delete(force=True)
        for table in (SlotClaim, ClassSession, Reservation, OrderLine, Order):
            await table.delete(force=True)
        return None
    if kind == "inspect":
        from portal.capacity.tables import ClassSession, SlotClaim
        from portal.kinds.appointment.tables import Reservation
        from portal.orders.tables import Order, OrderLine

        return {
            "orders": await Order.select(Order.id, Order.state, Order.visitor),
            "lines": await OrderLine.select(OrderLine.id, OrderLine.order, OrderLine.kind),
            "reservations": await Reservation.select(
                Reservation.id,
                Reservation.order,
                Reservation.offering,
                Reservation.resource,
                Reservation.start,
                Reservation.end,
                Reservation.status,
            ),
            "claims": await SlotClaim.select(SlotClaim.key, SlotClaim.owner),
            "sessions": await ClassSession.select(),
        }
    if kind == "hold":
        return await _race(task, barrier)
    raise ValueError(f"unknown task {kind!r}")


async def _plan(task: dict) -> dict:
    """A future day with at least `min_free` free starts (one of them on at
    least `min_resources` resources at once), via service.slots_between."""
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.lib import clock

    ctx = await offering_context(*task["offering"])
    now = task["now"]
    today = clock.local_today(now)
    for offset in range(1, 60):
        day = today + timedelta(days=offset)
        slots = await service.slots_between(ctx, day, day, now)
        if len(slots) >= task["min_free"] and any(len(s.resource_ids) >= task.get("min_resources", 1) for s in slots):
            return {
                "day": day,
                "slots": [(s.start, s.resource_ids, s.seats_left) for s in slots],
                "offering": {k: ctx.offering[k] for k in ("id", "duration_min", "buffer_before_min", "buffer_after_min", "capacity")},
                "resource_ids": ctx.resource_ids,
            }
    raise AssertionError(f"no day with {task['min_free']} free starts for {task['offering']}")


async def _race(task: dict, barrier) -> list[dict]:
    """Wait at the start line with the other processes, then hold.

    `guard=False` switches the database guard off: `claim_time` becomes a
    no-op, so only the application's read ("is it free?") stands between racers.
    `pause_after_read=True` forces the worst interleaving: every racer has
    read the free slots before any of them writes.
    """
    from portal.audit.domain import customer
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.kinds.appointment.tables import Reservation

    loop = asyncio.get_running_loop()

    async def line_up() -> None:
        await loop.run_in_executor(None, barrier.wait, BARRIER_TIMEOUT)

    attempts = task["attempts"]
    contexts = {a["offering"]: await offering_context(*a["offering"]) for a in attempts}  # before the start line

    real_claim, real_slots_between = service.claim_time, service.slots_between

    async def no_claim(*args, **kwargs) -> None:
        return None

    async def read_then_wait(*args, **kwargs):
        slots = await real_slots_between(*args, **kwargs)
        await line_up()
        return slots

    if not task["guard"]:
        service.claim_time = no_claim
    if task["pause_after_read"]:
        assert len(attempts) == 1, "the read barrier counts one attempt per process"
        service.slots_between = read_then_wait

    async def attempt(a: dict) -> dict:
        try:
            order = await service.hold(
                customer(visitor=a["visitor"]), contexts[a["offering"]], a["start"], a.get("resource"), a["visitor"], task["now"], 10
            )
        except service.SlotTaken:
            return {"visitor": a["visitor"], "outcome": "taken"}
        except Exception as exc:  # noqa: BLE001 - a 500 in the app: reported, fails the test
            return {"visitor": a["visitor"], "outcome": "error", "error": f"{exc!r}\n{traceback.format_exc()}"}
        (reservation,) = await Reservation.select(Reservation.id, Reservation.resource).where(Reservation.order == order["id"])
        return {
            "visitor": a["visitor"],
            "outcome": "held",
            "order": order["id"],
            "reservation": reservation["id"],
            "resource": reservation["resource"],
        }

    try:
        await line_up()
        return list(await asyncio.gather(*(attempt(a) for a in attempts)))
    finally:
        service.claim_time, service.slots_between = real_claim, real_slots_between


# ---------------------------------------------------------------- the parent side


class Racers:
    """RACERS spawned processes bound to one database, reused across tests."""

    def __init__(self, url: str, count: int = RACERS) -> None:
        context = multiprocessing.get_context("spawn")
        self.url = url
        self.count = count
        self.barrier = context.Barrier(count)
        self.outbox = context.Queue()
        self.inboxes = [context.Queue() for _ in range(count)]
        self.processes = [
            context.Process(target=_racer, args=(url, i, self.barrier, self.inboxes[i], self.outbox), daemon=True)
            for i in range(count)
        ]
        for process in self.processes:
            process.start()

    def _collect(self, expected: set[int]) -> dict[int, object]:
        replies: dict[int, object] = {}
        while expected - replies.keys():
            try:
                index, reply = self.outbox.get(timeout=REPLY_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"racers {sorted(expected - replies.keys())} did not answer") from None
            if not reply["ok"]:
                if self.barrier.broken:
                    self.barrier.reset()
                raise AssertionError(f"racer {index} failed: {reply['error']}")
            replies[index] = reply["value"]
        return replies

    def ask(self, task: dict):
        """One task on racer 0 (planning, cleaning, inspecting)."""
        self.inboxes[0].put(task)
        return self._collect({0})[0]

    def race(self, attempts_per_racer: list[list[dict]], *, now, guard: bool = True, pause_after_read: bool = False) -> list[dict]:
        """Every racer gets its attempts; all start together. Returns all outcomes."""
        assert len(attempts_per_racer) == self.count
        for inbox, attempts in zip(self.inboxes, attempts_per_racer):
            inbox.put({"kind": "hold", "attempts": attempts, "now": now, "guard": guard, "pause_after_read": pause_after_read})
        replies = self._collect(set(range(self.count)))
        outcomes = [o for i in range(self.count) for o in replies[i]]
        errors = [o["error"] for o in outcomes if o["outcome"] == "error"]
        assert not errors, errors[0]
        return outcomes

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def _engine_params() -> list:
    env_url = os.environ["DATABASE_URL"]
    env_engine = "postgresql" if _is_postgres(env_url) else "sqlite"
    other = "sqlite" if env_engine == "postgresql" else "postgresql"
    # `make test` (SQLite) races both engines; `make test-postgres` sets
    # PORTAL_TEST_OTHER_ENGINE=0 so the same SQLite race is not run twice in CI.
    if os.environ.get("PORTAL_TEST_OTHER_ENGINE", "1") == "0":
        return [pytest.param("env", id=f"{env_engine}-DATABASE_URL")]
    return [pytest.param("env", id=f"{env_engine}-DATABASE_URL"), pytest.param(other, id=other)]


async def _recreate_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module", params=_engine_params())
def racers(request, tmp_path_factory):
    from tests.conftest import reset_database

    drop = None
    if request.param == "env":
        url = os.environ["DATABASE_URL"]  # migrated and seeded at session start
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('race') / 'race.sqlite3'}"
        reset_database(url)
    else:
        try:
            asyncio.run(_recreate_pg_database(PG_ADMIN_URL, PG_RACE_DB))
        except (TimeoutError, OSError) as exc:
            pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} (set PORTAL_RACE_PG_URL): {exc!r}")
        url = _with_database(PG_ADMIN_URL, PG_RACE_DB)
        reset_database(url)
        drop = lambda: asyncio.run(_drop_pg_database(PG_ADMIN_URL, PG_RACE_DB))  # noqa: E731
    pool = Racers(url)
    try:
        pool.ask({"kind": "clean"})
        yield pool
        pool.ask({"kind": "clean"})  # leave the shared session database as the other tests expect it
    finally:
        pool.close()
        if drop:
            drop()


def _now():
    from portal.lib import clock

    return clock.now()


def _units(plan: dict, resource_id: int, start) -> set[str]:
    from portal.capacity.domain import claim_units

    o = plan["offering"]
    end = start + timedelta(minutes=o["duration_min"])
    return set(claim_units(resource_id, start, end, o["buffer_before_min"], o["buffer_after_min"]))


def _bookings(state: dict) -> list[dict]:
    """Each held order as one row (its order, its one appointment line, its
    reservation): order id, reservation id, visitor, start, resource, state.
    Every order has exactly one line and one reservation, and the two agree
    on their state."""
    orders = {o["id"]: o for o in state["orders"]}
    reservations = {r["order"]: r for r in state["reservations"]}
    assert len(reservations) == len(state["reservations"]), "an order with two reservations"
    assert reservations.keys() == orders.keys(), "an order without its reservation, or a reservation without its order"
    assert sorted(line["order"] for line in state["lines"]) == sorted(orders), "an order without exactly one line"
    assert {line["kind"] for line in state["lines"]} <= {"appointment"}
    rows = []
    for order_id, order in orders.items():
        r = reservations[order_id]
        assert order["state"] == r["status"], (order, r)
        rows.append(
            {"id": order_id, "reservation": r["id"], "visitor": order["visitor"], "start": r["start"], "resource": r["resource"], "status": order["state"]}
        )
    return sorted(rows, key=lambda b: b["id"])


def _visitors(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


# ---------------------------------------------------------------- 1 + 2: one time, many racers


def _same_start_round(racers: Racers, *, guard: bool, pause_after_read: bool, tag: str) -> tuple[dict, object, list, dict]:
    now = _now()
    racers.ask({"kind": "clean"})
    plan = racers.ask({"kind": "plan", "offering": SINGLE, "min_free": 1, "now": now})
    start = plan["slots"][0][0]
    attempts = [[{"offering": SINGLE, "start": start, "visitor": v}] for v in _visitors(tag, racers.count)]
    outcomes = racers.race(attempts, now=now, guard=guard, pause_after_read=pause_after_read)
    return plan, start, outcomes, racers.ask({"kind": "inspect"})


def test_race_exists_without_the_guard(racers):
    """With `claim_time` switched off, racers that all read "free" before
    writing book the same time more than once: the test below can fail."""
    doubled = []
    for round_ in range(3):
        plan, start, outcomes, state = _same_start_round(racers, guard=False, pause_after_read=True, tag=f"naive{round_}")
        live = [b for b in _bookings(state) if b["start"] == start and b["status"] in LIVE]
        doubled.append(len(live))
        if len(live) > 1:
            break
    assert max(doubled) > 1, f"the unguarded race never double-booked (live bookings per round: {doubled})"


@pytest.mark.parametrize("pause_after_read", [False, True], ids=["same-start", "all-read-before-any-write"])
def test_one_time_one_winner(racers, pause_after_read):
    plan, start, outcomes, state = _same_start_round(racers, guard=True, pause_after_read=pause_after_read, tag="racer")

    won = [o for o in outcomes if o["outcome"] == "held"]
    lost = [o for o in outcomes if o["outcome"] == "taken"]
    assert len(won) == 1, outcomes
    assert len(lost) == racers.count - 1, outcomes

    (winner,) = won
    bookings = _bookings(state)
    live = [b for b in bookings if b["status"] in LIVE]
    assert [(b["id"], b["reservation"], b["visitor"], b["start"]) for b in live] == [
        (winner["order"], winner["reservation"], winner["visitor"], start)
    ]
    assert len(state["orders"]) == len(state["reservations"]) == len(state["lines"]) == 1, "a loser left an order row behind"

    units = _units(plan, winner["resource"], start)
    owners = {c["key"]: c["owner"] for c in state["claims"]}
    assert units <= owners.keys(), "the winner does not hold every unit of its time"
    assert {owners[k] for k in units} == {f"r:{winner['reservation']}"}
    assert set(owners.values()) == {f"r:{winner['reservation']}"}


# ---------------------------------------------------------------- 3: seats


def test_class_capacity_is_never_exceeded(racers):
    now = _now()
    racers.ask({"kind": "clean"})
    plan = racers.ask({"kind": "plan", "offering": CLASS, "min_free": 1, "now": now})
    start, (resource_id,), seats_left = plan["slots"][0]
    capacity = plan["offering"]["capacity"]
    assert capacity == seats_left == 12
    per_racer = 4  # 4 processes x 4 concurrent attempts = 16 for 12 seats
    visitors = _visitors("yogi", racers.count * per_racer)
    attempts = [
        [{"offering": CLASS, "start": start, "visitor": v} for v in visitors[i * per_racer : (i + 1) * per_racer]]
        for i in range(racers.count)
    ]
    outcomes = racers.race(attempts, now=now)

    assert sum(o["outcome"] == "held" for o in outcomes) == capacity, outcomes
    assert sum(o["outcome"] == "taken" for o in outcomes) == len(visitors) - capacity, outcomes

    state = racers.ask({"kind": "inspect"})
    bookings = _bookings(state)
    live = [b for b in bookings if b["start"] == start and b["status"] in LIVE]
    assert len(live) == capacity == len(bookings) == len(state["orders"])
    assert len({b["visitor"] for b in live}) == capacity
    (session,) = state["sessions"]
    assert (session["taken"], session["capacity"]) == (capacity, capacity)
    units = _units(plan, resource_id, start)
    owners = {c["key"]: c["owner"] for c in state["claims"]}
    assert units == owners.keys()
    assert set(owners.values()) == {f"s:{session['id']}"}, "the session, not a reservation, holds the room"


# ---------------------------------------------------------------- 4: no false conflicts


def test_distinct_times_all_succeed(racers):
    """Back-to-back times on one resource (adjacent, sharing no claim unit) and
    one start on each of the salon's stylists: nobody loses, even when every
    racer has read before anyone writes."""
    now = _now()
    racers.ask({"kind": "clean"})
    single = racers.ask({"kind": "plan", "offering": SINGLE, "min_free": 8, "now": now})
    duration = timedelta(minutes=single["offering"]["duration_min"])
    free = {s[0] for s in single["slots"]}
    first = next(s for s in sorted(free) if s + duration in free)
    back_to_back = [first, first + duration]

    salon = racers.ask({"kind": "plan", "offering": SALON, "min_free": 1, "min_resources": racers.count - 2, "now": now})
    start, resource_ids, _ = next(s for s in salon["slots"] if len(s[1]) >= racers.count - 2)
    stylists = list(resource_ids[: racers.count - 2])

    attempts = [[{"offering": SINGLE, "start": s, "visitor": f"single-{i}"}] for i, s in enumerate(back_to_back)]
    attempts += [[{"offering": SALON, "start": start, "resource": r, "visitor": f"salon-{r}"}] for r in stylists]
    outcomes = racers.race(attempts, now=now, pause_after_read=True)

    assert [o["outcome"] for o in outcomes] == ["held"] * racers.count, outcomes
    state = racers.ask({"kind": "inspect"})
    assert len([b for b in _bookings(state) if b["status"] in LIVE]) == racers.count
    owners = {c["owner"] for c in state["claims"]}
    assert owners == {f"r:{o['reservation']}" for o in outcomes}


# ---------------------------------------------------------------- the loser's page


async def test_loser_sees_taken_page_with_nearest_times(client):
    """The time goes to another visitor between page load and POST: 409, the
    "that time was just taken" block with the nearest free times, never a 500."""
    from portal.audit.domain import customer
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service
    from portal.kinds.appointment.tables import Reservation
    from portal.lib import clock
    from portal.orders.tables import Order
    from tests.integration.helpers import first_free_slot

    path = "/s/lunde-radgivning/videokonsultasjon"
    start, token = await first_free_slot(client, path)

    ctx = await offering_context(*SINGLE)
    other = await service.hold(customer(visitor="another-visitor"), ctx, _parse(start), None, "another-visitor", clock.now(), 10)

    response = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 409, response.text[:500]
    assert "text/html" in response.headers["content-type"]
    taken = re.search(r'<div class="alert" role="alert" id="taken">(.*?)</div>', response.text, re.S)
    assert taken, "no 'that time was just taken' block"
    nearest = re.findall(r'name="start" value="([^"]+)"', taken.group(1))
    assert nearest, "no nearest free times offered"
    assert start not in nearest

    live = await Order.select(Order.id, Order.visitor).where(Order.state.is_in(list(LIVE)))
    assert live == [{"id": other["id"], "visitor": "another-visitor"}]
    assert await Reservation.select(Reservation.order).where(Reservation.status.is_in(list(LIVE))) == [{"order": other["id"]}]


def _parse(value: str):
    from datetime import datetime

    from portal.lib import clock

    return datetime.fromisoformat(value).astimezone(clock.UTC)

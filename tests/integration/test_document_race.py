"""Receipt numbers raced for by separate OS processes: 1..N, no gap, no duplicate.

Invariant 7 (DESIGN.md), LEGAL.md L14/L16. Every racer is a spawned OS
process (own event loop, own Piccolo engine, own connections; DATABASE_URL
set before portal is imported). They meet at a barrier and then issue
receipts for the SAME supplier as fast as they can, each in its own write
transaction, the way the payment code will (`issue()` inside
`write_transaction()`); some of those transactions roll back after the
receipt was issued (the payment failed after all).

Following pretix's concurrency tests, the race is first shown to exist: a
naive numbering — read `max(number) + 1`, then insert — run with the same
interleaving (every racer has read before anyone writes) hands out the same
number more than once. It writes to a scratch table without our guards,
since on `document` the UNIQUE key and the triggers would refuse it.

Engines: the one DATABASE_URL selects, plus the other one in a database of
our own (a tmp SQLite file, or `portal_docrace_<pid>` on the local
PostgreSQL server, created through PORTAL_RACE_PG_URL — default: DATABASE_URL
when it is PostgreSQL, else postgresql://postgres@127.0.0.1:5432/test — and
dropped at the end), so one run covers both.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import traceback
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.race

RACERS = 4
PER_RACER = 12  # receipts each racer tries to issue
ROLLBACK_EVERY = 3  # every third transaction rolls back after issuing
NAIVE_ROUNDS = 3
BARRIER_TIMEOUT = 30.0
REPLY_TIMEOUT = 120.0
PG_RACE_DB = f"portal_docrace_{os.getpid()}"


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _admin_url() -> str:
    env = os.environ["DATABASE_URL"]
    return os.environ.get("PORTAL_RACE_PG_URL") or (env if _is_postgres(env) else "postgresql://postgres@127.0.0.1:5432/test")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class _PaymentFailed(Exception):
    """Raised inside the transaction after the receipt was issued: everything rolls back."""


# ---------------------------------------------------------------- the racer process


def _racer(url: str, index: int, barrier, inbox, outbox) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["PICCOLO_CONF"] = "portal.piccolo_conf"
    os.environ.setdefault("PORTAL_SECRET_KEY", "test-secret-key-not-for-production")
    os.environ["PORTAL_ENV"] = "dev"
    os.environ["PORTAL_DB_POOL_SIZE"] = "0"
    asyncio.run(_serve(index, barrier, inbox, outbox))


async def _serve(index: int, barrier, inbox, outbox) -> None:
    loop = asyncio.get_running_loop()
    while True:
        task = await loop.run_in_executor(None, inbox.get)
        if task is None:
            return
        try:
            reply = {"ok": True, "value": await _handle(index, task, barrier)}
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            reply = {"ok": False, "error": f"{exc!r}\n{traceback.format_exc()}"}
        outbox.put((index, reply))


async def _handle(index: int, task: dict, barrier):
    loop = asyncio.get_running_loop()

    async def line_up() -> None:
        await loop.run_in_executor(None, barrier.wait, BARRIER_TIMEOUT)

    if task["kind"] == "issue":
        return await _issue_many(index, task, line_up)
    if task["kind"] == "capture-setup":
        return await _capture_setup(task["count"])
    if task["kind"] == "capture":
        return await _capture_many(task["operations"][index], line_up)
    if task["kind"] == "naive":
        return await _naive_many(task, line_up)
    if task["kind"] == "inspect":
        from portal.documents import service
        from portal.documents.tables import DocumentSeries

        series = await DocumentSeries.select().where(DocumentSeries.supplier_id.is_in(task["suppliers"]))
        return {
            "numbers": {s: await service.numbers_of_supplier(s) for s in task["suppliers"]},
            "last": {row["supplier_id"]: row["last"] for row in series},
        }
    if task["kind"] == "naive-setup":
        from portal.lib.db import engine

        id_column = "SERIAL PRIMARY KEY" if _is_postgres(os.environ["DATABASE_URL"]) else "INTEGER PRIMARY KEY"
        await engine().run_ddl(
            f"CREATE TABLE IF NOT EXISTS naive_receipt (id {id_column}, supplier_id INTEGER NOT NULL, number INTEGER NOT NULL)"
        )
        return None
    if task["kind"] == "naive-drop":
        from portal.lib.db import engine

        await engine().run_ddl("DROP TABLE IF EXISTS naive_receipt")
        return None
    if task["kind"] == "naive-inspect":
        from portal.documents.tables import Document

        rows = await Document.raw("SELECT number FROM naive_receipt WHERE supplier_id = {} ORDER BY number", task["supplier"])
        return [row["number"] for row in rows]
    raise ValueError(f"unknown task {task['kind']!r}")


async def _issue_many(index: int, task: dict, line_up) -> list[dict]:
    """The real thing: `issue()` inside a write transaction, PER_RACER times,
    alternating between the task's suppliers; every ROLLBACK_EVERY-th
    transaction fails after issuing. A short pause inside the transaction
    keeps it open while the others wait on the series."""
    from portal.audit.domain import system
    from portal.audit.service import acting
    from portal.documents import service
    from portal.lib import clock
    from tests.document_drafts import receipt_draft

    rng = random.Random(index)
    outcomes = []
    await line_up()
    for attempt in range(task["count"]):
        supplier = task["suppliers"][attempt % len(task["suppliers"])]
        rollback = (attempt + index) % ROLLBACK_EVERY == 0
        seen = None
        try:
            # A document is issued by the use case that takes the money: here, an ad-hoc one.
            async with acting(system("race"), "test.documents", now=clock.now()):
                doc = await service.issue(receipt_draft(supplier, order_id=index * 1000 + attempt + 1), now=clock.now())
                seen = doc.number
                await asyncio.sleep(rng.uniform(0, 0.004))
                if rollback:
                    raise _PaymentFailed()
        except _PaymentFailed:
            outcomes.append({"supplier": supplier, "number": seen, "committed": False})
        else:
            outcomes.append({"supplier": supplier, "number": seen, "committed": True})
    return outcomes


async def _capture_setup(count: int) -> dict:
    """`count` confirmed orders of one supplier, each with a Vipps payment
    authorised and its capture planned (pending), as the settlement writes them."""
    from datetime import timedelta

    from portal.catalogue.tables import Supplier
    from portal.documents import service as documents
    from portal.lib import clock
    from portal.orders.tables import Order, OrderLine
    from portal.payments.pricing import LineItem, Means, quote
    from portal.payments.tables import Payment, PaymentOperation

    supplier = await Supplier.select().where(Supplier.slug == "saks-og-stil-grunerlokka").first()
    terms = {"supplier": {k: supplier[k] for k in ("legal_name", "org_number", "company_form", "vat_registered", "street", "postcode", "town", "phone", "email")}}
    priced = quote([LineItem("Herreklipp", 1, 54900, 2500)], means=Means.VIPPS)
    now = clock.now()
    operations = []
    for n in range(count):
        tag = f"{os.getpid()}{n}{random.randrange(10**6)}"
        order = await Order.insert(
            Order(
                reference=f"R{tag}"[:12], supplier=supplier["id"], state="confirmed", checkout_token=f"race-{tag}", visitor="race",
                customer_name="Kari Nordmann", phone="+4741234567", email="kari@example.no", language="nb", means="vipps",
                quote=priced.to_json(), terms=terms, consents={}, contract_at=now - timedelta(days=1), manage_token=f"race-m-{tag}",
                created_at=now, updated_at=now,
            )
        ).returning(Order.id)
        order_id = order[0]["id"]
        await OrderLine.insert(OrderLine(order=order_id, position=0, kind="appointment", offering=1, quantity=1, description="Herreklipp",
                                         unit_price_ore=54900, vat_rate_bp=2500, price={}, details={}))
        payment = await Payment.insert(
            Payment(order=order_id, supplier=supplier["id"], reference=f"R{tag}-1"[:50], attempt=1, purpose="vipps", amount_ore=54900,
                    state="authorized", authorized_ore=54900, create_key=f"create-{tag}", outcome_applied="confirmed", created_at=now, updated_at=now)
        ).returning(Payment.id)
        op = await PaymentOperation.insert(
            PaymentOperation(payment=payment[0]["id"], kind="capture", amount_ore=54900, reason="delivered", idempotency_key=f"cap-{tag}"[:50],
                             sequence=0, status="pending", created_at=now)
        ).returning(PaymentOperation.id)
        operations.append(op[0]["id"])
    before = await documents.numbers_of_supplier(supplier["id"])
    return {"supplier": supplier["id"], "operations": operations, "before": before}


async def _capture_many(operation_ids: list[int], line_up) -> list[int]:
    """The real money transaction: Vipps accepted each capture (`_succeed`):
    the money movement and its receipt, numbered by the database, in one
    transaction — all racers at once."""
    from portal import wiring
    from portal.audit.domain import system
    from portal.lib import clock
    from portal.payments import service as payments
    from portal.payments.tables import Payment, PaymentOperation

    wiring.configure()
    rows = []
    for op_id in operation_ids:
        op = await PaymentOperation.select().where(PaymentOperation.id == op_id).first()
        rows.append((op, await Payment.select().where(Payment.id == op["payment"]).first()))
    await line_up()
    for op, payment in rows:
        await payments._succeed(system("race"), op, payment, clock.now())
    return operation_ids


async def _naive_many(task: dict, line_up) -> list[int]:
    """The naive numbering: read max + 1, then write it (everyone reads before anyone writes)."""
    from portal.documents.tables import Document
    from portal.lib.db import write_transaction

    taken = []
    for _ in range(task["count"]):
        rows = await Document.raw(
            "SELECT COALESCE(MAX(number), 0) + 1 AS next FROM naive_receipt WHERE supplier_id = {}", task["supplier"]
        )
        number = rows[0]["next"]
        await line_up()
        async with write_transaction():
            await Document.raw("INSERT INTO naive_receipt (supplier_id, number) VALUES ({}, {})", task["supplier"], number)
        taken.append(number)
        await line_up()  # the next round starts together again
    return taken


# ---------------------------------------------------------------- the parent side


class Racers:
    def __init__(self, url: str, count: int = RACERS) -> None:
        context = multiprocessing.get_context("spawn")
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
        self.inboxes[0].put(task)
        return self._collect({0})[0]

    def race(self, task: dict) -> list:
        for inbox in self.inboxes:
            inbox.put(task)
        replies = self._collect(set(range(self.count)))
        return [replies[i] for i in range(self.count)]

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


async def _recreate_pg_database(admin_url: str, name: str, *, create: bool = True) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _engine_params() -> list:
    env_engine = "postgresql" if _is_postgres(os.environ["DATABASE_URL"]) else "sqlite"
    other = "sqlite" if env_engine == "postgresql" else "postgresql"
    # `make test` (SQLite) races both engines; `make test-postgres` sets
    # PORTAL_TEST_OTHER_ENGINE=0 so the same SQLite race is not run twice in CI.
    if os.environ.get("PORTAL_TEST_OTHER_ENGINE", "1") == "0":
        return [pytest.param("env", id=f"{env_engine}-DATABASE_URL")]
    return [pytest.param("env", id=f"{env_engine}-DATABASE_URL"), pytest.param(other, id=other)]


@pytest.fixture(scope="module", params=_engine_params())
def racers(request, tmp_path_factory):
    from tests.conftest import reset_database

    drop = None
    if request.param == "env":
        url = os.environ["DATABASE_URL"]
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('docrace') / 'race.sqlite3'}"
        reset_database(url)
    else:
        admin = _admin_url()
        try:
            asyncio.run(_recreate_pg_database(admin, PG_RACE_DB))
        except (TimeoutError, OSError) as exc:
            pytest.skip(f"PostgreSQL not reachable at {admin} (set PORTAL_RACE_PG_URL): {exc!r}")
        url = _with_database(admin, PG_RACE_DB)
        reset_database(url)
        drop = lambda: asyncio.run(_recreate_pg_database(admin, PG_RACE_DB, create=False))
    pool = Racers(url)
    try:
        yield pool
    finally:
        pool.close()
        if drop:
            drop()


def _supplier() -> int:
    from tests.document_drafts import fresh_supplier_id

    return fresh_supplier_id()


@pytest.mark.legal("L14")
def test_the_race_exists_with_a_naive_max_plus_one(racers):
    """Read max(number) + 1, then write: racers that all read before anyone
    writes take the same number — the test below can fail."""
    racers.ask({"kind": "naive-setup"})
    supplier = _supplier()
    try:
        racers.race({"kind": "naive", "supplier": supplier, "count": NAIVE_ROUNDS})
        numbers = racers.ask({"kind": "naive-inspect", "supplier": supplier})
    finally:
        racers.ask({"kind": "naive-drop"})
    assert len(numbers) == RACERS * NAIVE_ROUNDS
    duplicates = len(numbers) - len(set(numbers))
    assert duplicates > 0, f"the naive numbering never handed out a number twice: {numbers}"
    assert sorted(set(numbers)) != list(range(1, len(numbers) + 1)), "and it does not give 1..N"


@pytest.mark.legal("L14")
@pytest.mark.legal("L16")
@pytest.mark.parametrize("suppliers", [1, 2], ids=["one-supplier", "two-suppliers-interleaved"])
def test_parallel_receipts_are_numbered_1_to_n_without_gaps_or_duplicates(racers, suppliers):
    ids = [_supplier() for _ in range(suppliers)]
    outcomes = [o for per_racer in racers.race({"kind": "issue", "suppliers": ids, "count": PER_RACER}) for o in per_racer]
    state = racers.ask({"kind": "inspect", "suppliers": ids})

    assert len(outcomes) == RACERS * PER_RACER
    assert all(o["number"] is not None for o in outcomes), "every attempt got a number inside its transaction"
    rolled_back = [o for o in outcomes if not o["committed"]]
    assert rolled_back, "some transactions rolled back after issuing"
    for supplier in ids:
        committed = sorted(o["number"] for o in outcomes if o["committed"] and o["supplier"] == supplier)
        assert committed == list(range(1, len(committed) + 1)), f"supplier {supplier}: {committed}"
        assert state["numbers"][supplier] == committed, "the database holds exactly the committed numbers"
        assert state["last"][supplier] == len(committed), "the series stands at the last number given out"
    # A rolled-back number was given to a later transaction: nothing is lost, nothing skipped.
    reused = {(o["supplier"], o["number"]) for o in rolled_back} & {
        (o["supplier"], o["number"]) for o in outcomes if o["committed"]
    }
    assert reused or all(o["number"] > state["last"][o["supplier"]] for o in rolled_back)


@pytest.mark.legal("L13")
@pytest.mark.legal("L14")
def test_parallel_captures_each_get_the_next_receipt_number(racers):
    """Captures recorded at the same moment by four processes (the way the
    outbox workers record Vipps' answers): each gets its receipt in its money
    transaction, and the supplier's numbers stay 1..N with no gap and no duplicate."""
    per_racer = 6
    setup = racers.ask({"kind": "capture-setup", "count": RACERS * per_racer})
    chunks = [setup["operations"][i::RACERS] for i in range(RACERS)]
    racers.race({"kind": "capture", "operations": chunks})
    state = racers.ask({"kind": "inspect", "suppliers": [setup["supplier"]]})
    numbers = state["numbers"][setup["supplier"]]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert len(numbers) - len(setup["before"]) == RACERS * per_racer, "one receipt per capture"

"""Outbox throughput: 10,000 emails drained into a local SMTP server by 1, then 2, worker processes.

    python bench/outbox.py [--messages 10000] [--workers 1 2] [--batch 20] [--database portal_bench_outbox]

PostgreSQL only (several workers need `FOR UPDATE SKIP LOCKED`): a
`portal_bench_outbox` database (`--database`) on the server named by BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/test) is created if missing and reset
with tests.conftest.reset_database (all migrations, demo seed) before each
run. Each run enqueues N realistic confirmation emails (text, HTML, calendar
part and attachment, rendered once by portal.kinds.appointment.messages) with
distinct dedupe keys, starts an aiosmtpd server in its own process, starts P
`python -m portal.cli worker` processes (default settings apart from the
SMTP port and `--batch`), waits until every row is `sent`, stops them with
SIGTERM, and counts what the server received by Message-ID.

Prints one JSON object: per worker count, messages/s (first to last message
the server accepted, and from starting the workers to the last row marked
sent), received (must equal N), duplicates (must be 0: nobody was killed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PG_ADMIN_URL, ROOT, machine, pg_url, portal_env, use_database  # noqa: E402

DB_NAME = "portal_bench_outbox"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.I | re.M)


# ---------------------------------------------------------------- the SMTP server (own process)


def _smtp_server(port: int, log_path: str, ready) -> None:
    """Accept everything; append '<unix time> <Message-ID>' per accepted message."""
    from aiosmtpd.controller import Controller

    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the process

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            match = MESSAGE_ID.search(envelope.content)
            log.write(b"%.6f %s\n" % (time.time(), match.group(1) if match else b"-"))
            return "250 2.0.0 Ok: queued"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- database


async def _ensure_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME):
            await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


def _payload() -> dict:
    """One realistic confirmation email (nb), rendered by the real templates
    from the booking view of an order and its reservation."""
    from portal.kinds.appointment.messages import booking_view, email_payload

    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
    reservation = {"id": 1, "offering": 1, "start": start, "end": start + timedelta(minutes=45), "ics_sequence": 0}
    order = {
        "id": 1,
        "reference": "BENCH1",
        "supplier": 1,
        "language": "nb",
        "customer_name": "Kari Nordmann",
        "phone": "+4741234567",
        "email": "kari@example.no",
        "quote": {"total_ore": 59900},
        "manage_token": "bench-manage-token",
        "updated_at": datetime.now(timezone.utc),
        "terms": {
            "supplier": {
                "legal_name": "Saks og Stil Grünerløkka AS",
                "org_number": "918630252",
                "vat_registered": True,
                "street": "Thorvald Meyers gate 40",
                "postcode": "0555",
                "town": "Oslo",
                "phone": "+4722350417",
                "email": "post@saksogstil.eksempel.no",
            },
            "offering_title": "Herreklipp",
            "online": False,
            "cancel_free_hours": 24,
            "cancel_fee_percent": 0,
            "withdrawal_class": "standard",
        },
    }
    return email_payload(booking_view(order, reservation), "confirmation", supplier_name="Saks og Stil", base_url="https://portal.example", now=datetime.now(timezone.utc))


async def _enqueue(count: int) -> int:
    from portal.lib import clock
    from portal.lib.db import write_transaction
    from portal.notify.domain import Channel, Topic
    from portal.outbox.domain import Draft
    from portal.outbox.service import insert

    payload = _payload()
    now = clock.now()
    for first in range(0, count, 500):
        drafts = [
            Draft(Channel.EMAIL.value, Topic.CONFIRMATION.value, f"guest{i}@example.no", f"bench:{i}", "nb", payload, now)
            for i in range(first, min(count, first + 500))
        ]
        async with write_transaction():
            await insert(drafts, now)
    return len(json.dumps(payload))


async def _sent() -> int:
    from portal.outbox.tables import OutboxMessage

    return await OutboxMessage.count().where(OutboxMessage.status == "sent")


# ---------------------------------------------------------------- one run


def run(url: str, messages: int, workers: int, batch: int) -> dict:
    from tests.conftest import reset_database

    reset_database(url)
    payload_bytes = asyncio.run(_enqueue(messages))

    port = _free_port()
    log_path = Path(tempfile.mkdtemp(prefix="bench-outbox-")) / "received.log"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=_smtp_server, args=(port, str(log_path), ready), daemon=True)
    server.start()
    if not ready.wait(30):
        raise SystemExit("SMTP server did not start")

    env = {
        **portal_env(url),
        "PORTAL_MAIL_BACKEND": "smtp",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(port),
        "PORTAL_SMTP_SECURITY": "none",
        "PORTAL_OUTBOX_BATCH": str(batch),
        "PORTAL_DB_POOL_SIZE": "4",  # a pool per worker, as in production (tests.conftest sets 0)
        "PORTAL_LOG_LEVEL": "WARNING",
    }
    started = time.time()
    procs = [subprocess.Popen([sys.executable, "-m", "portal.cli", "worker"], cwd=ROOT, env=env) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 1800
        while True:
            done = asyncio.run(_sent())
            if done >= messages:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"stuck at {done} of {messages} sent")
            time.sleep(0.2)
        finished = time.time()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        os.kill(server.pid, signal.SIGTERM)
        server.join(timeout=30)

    lines = log_path.read_bytes().split(b"\n")
    stamps, ids = [], Counter()
    for line in filter(None, lines):
        stamp, message_id = line.split(b" ", 1)
        stamps.append(float(stamp))
        ids[message_id] += 1
    span = max(stamps) - min(stamps) if len(stamps) > 1 else float("nan")
    return {
        "workers": workers,
        "batch_size": batch,
        "messages_per_s": round(len(stamps) / span, 1),
        "messages_per_s_incl_startup": round(messages / (finished - started), 1),
        "seconds": round(finished - started, 2),
        "received": len(ids),
        "accepted_raw": len(stamps),
        "duplicates": sum(n - 1 for n in ids.values()),
        "payload_json_bytes": payload_bytes,
    }


def main() -> None:
    global DB_NAME
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=20, help="OutboxSettings.batch_size (PORTAL_OUTBOX_BATCH)")
    parser.add_argument("--database", default=DB_NAME, help=f"the PostgreSQL database to use (default {DB_NAME})")
    args = parser.parse_args()
    DB_NAME = args.database
    asyncio.run(_ensure_database())
    url = pg_url(DB_NAME)
    use_database(url)  # before anything imports portal
    runs = [run(url, args.messages, workers, args.batch) for workers in args.workers]
    ok = all(r["received"] == args.messages and r["duplicates"] == 0 for r in runs)
    print(json.dumps({"bench": "outbox", "engine": "postgres", "database": DB_NAME, "messages": args.messages, "runs": runs, "ok": ok, "machine": machine()}, indent=2))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()

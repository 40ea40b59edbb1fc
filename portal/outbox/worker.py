"""The outbox worker: claims due rows, hands each to its channel's handler,
records the outcome.

    portal worker        (`portal.cli`: configures the handlers, then `main()`)

Any number of workers may run against PostgreSQL: a batch is claimed with
`SELECT … FOR UPDATE SKIP LOCKED`, so two workers never claim the same row at
the same time. On SQLite the claim runs in an IMMEDIATE write transaction
(portal.lib.db.write_transaction), which serialises claims; there the worker
normally runs inside the web process (`OutboxSettings.embedded_worker`, see
`lifespan`).

The worker knows no domain: `portal.outbox.handlers` gives it one handler
per channel (email, sms, payment, document …), registered at the
composition root (portal.wiring).

Claiming sets status `sending`, `attempts + 1` and a lease: `locked_until =
now + lease_seconds`, `locked_by = <host>:<pid>:<claim token>`. Each row is then
sent and its outcome written at once, in its own transaction, fenced on that
token (a worker whose lease ran out cannot overwrite a newer claim):

* sent: `status=sent`, `provider_id` (what the handler returned: SMTP's
  reply to DATA, Twilio's SID, the DevMessage id …), `sent_at`;
* temporary failure: back to `pending` with `next_attempt_at = now +
  backoff` (exponential, capped, jittered: portal.notify.domain.backoff_seconds)
  and `last_error`;
* permanent failure (a refused address), `max_attempts` used up, or too late
  (past the payload's `expires_at`: a code past its validity, a reminder
  after the start): `failed` with `last_error`.

Urgent rows (`urgent`, one-time codes) are claimed first and retried
quickly. Fields the payload names in `scrub` (a code's text) are wiped once
the row is sent or given up.

A worker that dies (SIGKILL, power loss) leaves its claimed rows in
`sending`; once their lease has run out any worker claims them again.

What "exactly once" means here
------------------------------
Every row is delivered at least once: nothing is marked sent before the
provider accepted it, and a crashed worker's rows are claimed again when the
lease ends. For SMTP and Twilio, our database and the provider cannot commit
together, so there is one unavoidable window: the provider has accepted the
message (SMTP answered 250) and the worker dies before its UPDATE commits.
The next claim sends the row again. Two things make that resend harmless
and rare:

* the resend is the SAME message: an email carries a Message-ID derived only
  from the outbox row (`<outbox-{id}-{hash of dedupe key}@{our domain}>`),
  the same Date and the same bytes, so mail stores and clients that
  de-duplicate by Message-ID show it once, and anyone can tell it is a
  resend and not a second message;
* the window is one message wide per crash: each row's outcome is committed
  right after the provider's answer (not at the end of the batch), so a
  crash can repeat at most the one message that was in flight.

So: exactly once as the recipient's mailbox sees it (de-duplicated by
Message-ID), at most one raw duplicate per worker crash, and never a lost
message. The dev backends write their DevMessage in the same transaction
that marks the row sent, so they deliver exactly once, full stop. Twilio's
Messages API has no idempotency key; an SMS in flight during a crash can
arrive twice (the same text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from portal.lib import clock, db
from portal.lib.db import write_transaction
from portal.outbox import service
from portal.outbox.domain import URGENT_BASE_DELAY_SECONDS, URGENT_MAX_DELAY_SECONDS, Outcome, Status, after_failure
from portal.outbox.handlers import Handler, SendError, open_handlers
from portal.outbox.tables import OutboxMessage
from portal.settings import Settings, load

log = logging.getLogger("portal.outbox.worker")

WORKER_ID = f"{socket.gethostname()[:32]}:{os.getpid()}"

#: Kept for callers: portal.outbox.service.wake is the one to use.
wake = service.wake


class _LeaseLost(Exception):
    """Our claim on a row is gone (lease ran out and someone else took it)."""


# ---------------------------------------------------------------- claiming


def _claimable(now: datetime):
    return (
        OutboxMessage.status.is_in([Status.PENDING.value, Status.SENDING.value])
        & (OutboxMessage.next_attempt_at <= now)
        & (OutboxMessage.locked_until.is_null() | (OutboxMessage.locked_until < now))
    )


async def claim(now: datetime, limit: int, token: str, settings: Settings) -> list[dict]:
    """Claim up to `limit` due rows for `token`: urgent ones first, then by due time."""
    if not await OutboxMessage.exists().where(_claimable(now)):
        return []  # the common idle case: no write lock taken
    is_postgres = settings.is_postgres
    async with write_transaction():
        picked: list[dict] = []
        for only in (OutboxMessage.urgent == True, OutboxMessage.urgent == False):  # noqa: E712 - SQL
            if len(picked) >= limit:
                break
            query = (
                OutboxMessage.select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.last_error)
                .where(_claimable(now) & only)
                .order_by(OutboxMessage.next_attempt_at)
                .order_by(OutboxMessage.id)
                .limit(limit - len(picked))
            )
            if is_postgres:
                query = query.lock_rows("UPDATE", skip_locked=True)
            picked += await query
        if not picked:
            return []
        max_attempts = settings.outbox.max_attempts
        for row in picked:
            if row["attempts"] >= max_attempts:
                # Every try so far ended with the worker gone (a message that crashes it?): stop here.
                error = row["last_error"] or "the worker stopped during each try"
                await OutboxMessage.update(
                    {
                        OutboxMessage.status: Status.FAILED.value,
                        OutboxMessage.locked_until: None,
                        OutboxMessage.last_error: f"gave up after {row['attempts']} tries: {error}"[:2000],
                    }
                ).where(OutboxMessage.id == row["id"])
        ids = [row["id"] for row in picked if row["attempts"] < max_attempts]
        if not ids:
            return []
        await OutboxMessage.update(
            {
                OutboxMessage.status: Status.SENDING.value,
                OutboxMessage.locked_until: now + timedelta(seconds=settings.outbox.lease_seconds),
                OutboxMessage.locked_by: token,
                OutboxMessage.attempts: OutboxMessage.attempts + 1,
            }
        ).where(OutboxMessage.id.is_in(ids))
        rows = await OutboxMessage.select().where(OutboxMessage.id.is_in(ids)).output(load_json=True)
    order = {row_id: i for i, row_id in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r["id"]])


def _fenced(row: dict, token: str):
    return (
        (OutboxMessage.id == row["id"])
        & (OutboxMessage.locked_by == token)
        & (OutboxMessage.status == Status.SENDING.value)
        & (OutboxMessage.attempts == row["attempts"])
    )


def _scrubbed(row: dict) -> dict:
    """A row that is done keeps none of the fields its payload names in `scrub` (a code's text)."""
    payload = dict(row["payload"] or {})
    for name in payload.get("scrub") or ():
        if name in payload:
            payload[name] = "[removed]"
    return payload


async def _finish(row: dict, token: str, values: dict) -> bool:
    done = await OutboxMessage.update(values).where(_fenced(row, token)).returning(OutboxMessage.id)
    if not done:
        log.warning("outbox %s: lease lost before its outcome was written (%s)", row["id"], values.get(OutboxMessage.status))
    return bool(done)


def _sent_values(row: dict, provider_id: str, now: datetime) -> dict:
    return {
        OutboxMessage.status: Status.SENT.value,
        OutboxMessage.provider_id: provider_id[:200],
        OutboxMessage.sent_at: now,
        OutboxMessage.locked_until: None,
        OutboxMessage.last_error: "",
        OutboxMessage.payload: _scrubbed(row),
    }


def _outcome_values(row: dict, outcome: Outcome) -> dict:
    values = {
        OutboxMessage.status: outcome.status.value,
        OutboxMessage.locked_until: None,
        OutboxMessage.last_error: outcome.error[:2000],
    }
    if outcome.next_attempt_at is not None:
        values[OutboxMessage.next_attempt_at] = outcome.next_attempt_at
    if outcome.status is Status.FAILED:
        values[OutboxMessage.payload] = _scrubbed(row)
    return values


def _expires_at(row: dict) -> datetime | None:
    raw = (row["payload"] or {}).get("expires_at")
    return datetime.fromisoformat(raw) if raw else None


# ---------------------------------------------------------------- sending


async def _deliver(row: dict, backend: Handler | None, token: str, settings: Settings, now: Callable[[], datetime]) -> None:
    moment = now()
    expires_at = _expires_at(row)
    if expires_at is not None and moment >= expires_at:
        await _finish(row, token, _outcome_values(row, Outcome(Status.FAILED, error="expired before it could be sent")))
        return
    if backend is None:
        error = f"no handler for channel {row['channel']!r}"
        await _finish(row, token, _outcome_values(row, Outcome(Status.FAILED, error=error)))
        return
    try:
        if backend.transactional:
            # Dev backends: the stored message and "sent" commit together, or neither does.
            async with write_transaction():
                provider_id = await backend.send(row)
                if not await _finish(row, token, _sent_values(row, provider_id, now())):
                    raise _LeaseLost()
        else:
            provider_id = await backend.send(row)
            # The window between the provider's "accepted" and this commit is the
            # only place a crash can cause a resend (see the module docstring).
            await _finish(row, token, _sent_values(row, provider_id, now()))
        return
    except _LeaseLost:
        return
    except SendError as exc:
        error, permanent = str(exc), exc.permanent
    except Exception as exc:  # noqa: BLE001 - a bug or an outage must not stop the other rows
        log.exception("outbox %s: unexpected error while sending", row["id"])
        error, permanent = f"unexpected error: {exc!r}", False
    urgent = bool(row.get("urgent"))
    outcome = after_failure(
        attempts=row["attempts"],
        max_attempts=settings.outbox.max_attempts,
        permanent=permanent,
        error=error,
        now=now(),
        base=URGENT_BASE_DELAY_SECONDS if urgent else settings.outbox.base_delay_seconds,
        cap=URGENT_MAX_DELAY_SECONDS if urgent else settings.outbox.max_delay_seconds,
        expires_at=expires_at,
    )
    log.info("outbox %s (%s %s) try %s failed: %s -> %s", row["id"], row["channel"], row["topic"], row["attempts"], error, outcome.status)
    await _finish(row, token, _outcome_values(row, outcome))


async def _release(rows: list[dict], token: str) -> None:
    """Give back claimed rows we will not get to before the lease ends (not counted as a try)."""
    for row in rows:
        await OutboxMessage.update(
            {
                OutboxMessage.status: Status.PENDING.value,
                OutboxMessage.locked_until: None,
                OutboxMessage.attempts: OutboxMessage.attempts - 1,
            }
        ).where(_fenced(row, token))


async def drain_once(now: datetime | None = None, *, settings: Settings | None = None, backends: dict[str, Handler] | None = None) -> int:
    """Claim one batch (`OutboxSettings.batch_size`) of due rows and try each once.

    Returns how many rows were tried (sent, retried later or parked).
    `now` fixes the clock for the whole batch (tests); by default the real
    clock. `settings`/`backends` default to portal.settings.load() and the
    registered handlers (portal.outbox.handlers).
    """
    settings = settings or load()
    fixed = now.astimezone(clock.UTC) if now is not None else None
    current: Callable[[], datetime] = (lambda: fixed) if fixed is not None else clock.now
    token = f"{WORKER_ID}:{secrets.token_hex(4)}"
    started = time.monotonic()
    rows = await claim(current(), settings.outbox.batch_size, token, settings)
    if not rows:
        return 0
    own = backends is None
    backends = backends if backends is not None else open_handlers(settings)
    # Stop early enough that a row is never still being sent when its lease ends.
    margin = min(settings.outbox.lease_seconds / 2, settings.mail.timeout_seconds + 5)
    deadline = started + settings.outbox.lease_seconds - margin
    tried = 0
    try:
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:
                await _release(rows[index:], token)
                break
            await _deliver(row, backends.get(row["channel"]), token, settings, current)
            tried += 1
    finally:
        if own:
            for backend in backends.values():
                try:
                    await backend.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    log.exception("closing %s", type(backend).__name__)
    return tried


# ---------------------------------------------------------------- running


async def run_worker(stop: asyncio.Event) -> None:
    """Drain until `stop` is set: at once while there is work, else every
    `OutboxSettings.poll_seconds` (or sooner when `wake()` is called)."""
    settings = load()
    woken = asyncio.Event()
    service.set_wake_event(woken)
    log.info("outbox worker %s started (email: %s, sms: %s)", WORKER_ID, settings.mail.backend, settings.sms.backend)
    while not stop.is_set():
        try:
            tried = await drain_once(settings=settings)
        except Exception:  # noqa: BLE001 - the database may be away for a moment; keep going
            log.exception("outbox worker: drain failed")
            tried = 0
        if tried:
            await asyncio.sleep(0)  # there may be more: look again at once
            continue
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
        try:
            await asyncio.wait(waiters, timeout=settings.outbox.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            woken.clear()
    service.set_wake_event(None)
    log.info("outbox worker %s stopped", WORKER_ID)


@contextlib.asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[None]:
    """Run the worker inside the web process when `OutboxSettings.embedded_worker`
    (the SQLite default). Add to the app's lifespans."""
    settings = load()
    if not settings.outbox.embedded_worker:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stop), name="outbox-worker")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=settings.mail.timeout_seconds + 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


async def _main() -> None:
    settings = load()
    engine = db.engine()
    await db.prepare()
    pooled = settings.is_postgres and settings.db_pool_size > 0
    if pooled:
        await engine.start_connection_pool(min_size=min(2, settings.db_pool_size), max_size=settings.db_pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_worker(stop)
    finally:
        if pooled:
            await engine.close_connection_pool()


def main() -> None:
    """`portal worker`: drain the outbox until SIGTERM/SIGINT (finishes the row in hand)."""
    logging.basicConfig(level=os.environ.get("PORTAL_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())


"""Invariant 4 for email: SIGKILL the worker PROCESS at random points while it
drains 200 emails into a real SMTP server; restart it; every message arrives.

What "exactly once" means (see portal.outbox.worker): the SMTP server's 250
and our database commit cannot be one atomic step, so a kill between them
makes the next worker send that row again. The resend carries the same
Message-ID (`<outbox-{id}-{hash}@host>`) and the same bytes, so this test's
mailbox — like real mail stores — counts messages by Message-ID. We assert:

* every one of the 200 Message-IDs arrived (nothing lost);
* no Message-ID we did not enqueue arrived;
* raw duplicates (DATA accepted twice for one Message-ID) are at most the
  number of kills — one in-flight message per crash — and each duplicate
  is byte-identical to the first copy.

Some kills are made by the SMTP server itself right after it has stored a
message and before its 250 reaches the worker: exactly the dangerous
window, hit on purpose rather than by luck. The others land at random times.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from portal.lib import clock
from portal.lib.db import write_transaction
from portal.notify.backends import mail_host
from portal.notify.domain import Channel, Topic, message_id
from portal.outbox import service
from portal.outbox.domain import Draft
from portal.outbox.tables import OutboxMessage
from portal.settings import ROOT
from tests.integration.test_notify_support import SmtpServer, clean_outbox, settings_with  # noqa: F401

pytestmark = pytest.mark.usefixtures("clean_outbox")

MESSAGES = 200
KILLS_IN_WINDOW = 2  # by the SMTP server, after storing a message, before its 250 is read
KILLS_AT_RANDOM = 3  # by the test, at a random moment while the worker sends


def _start_worker(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_MAIL_BACKEND": "smtp",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(port),
        "PORTAL_SMTP_SECURITY": "none",
        "PORTAL_OUTBOX_LEASE": "1",
        "PORTAL_OUTBOX_BATCH": "10",
        "PORTAL_LOG_LEVEL": "WARNING",
    }
    # `portal worker`: portal.cli registers the outbox handlers (portal.wiring.configure), then runs portal.outbox.worker.
    return subprocess.Popen([sys.executable, "-m", "portal.cli", "worker"], cwd=ROOT, env=env, stderr=subprocess.PIPE)


def _payload(i: int) -> dict:
    """Multipart like a real confirmation (text, HTML, calendar part, attachment)."""
    ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:crash-{i}@portal.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    return {"subject": f"Melding {i}", "text": f"Hei {i}\n", "html": f"<p>Hei {i}</p>", "ics": ics, "ics_method": "REQUEST", "ics_filename": f"b{i}.ics"}


async def _sent() -> int:
    return await OutboxMessage.count().where(OutboxMessage.status == "sent")


async def test_sigkill_while_draining_loses_nothing_and_duplicates_at_most_one_per_kill():
    rng = random.Random(os.environ.get("NOTIFY_CRASH_SEED") or None)
    now = clock.now()
    drafts = [
        Draft(Channel.EMAIL.value, Topic.CONFIRMATION.value, f"guest{i}@example.no", f"test:crash:{i}", "nb", _payload(i), now)
        for i in range(MESSAGES)
    ]
    async with write_transaction():
        await service.insert(drafts, now)
    rows = await OutboxMessage.select(OutboxMessage.id, OutboxMessage.dedupe_key)
    host = mail_host(settings_with().mail)
    expected = {message_id(r["id"], r["dedupe_key"], host) for r in rows}
    assert len(expected) == MESSAGES

    server = SmtpServer()
    server.start()
    current = {"proc": None}
    # Kill on accepting these message numbers (spread over the first two thirds of the run).
    window_kills = set(rng.sample(range(5, MESSAGES * 2 // 3), KILLS_IN_WINDOW))

    def kill_in_window(number: int) -> None:
        proc = current["proc"]
        if number in window_kills and proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

    server.mailbox.on_message = kill_in_window
    kills = 0
    try:
        random_kills_left = KILLS_AT_RANDOM
        deadline = time.monotonic() + 45
        while await _sent() < MESSAGES:
            assert time.monotonic() < deadline, f"only {await _sent()} of {MESSAGES} sent"
            arrived_before = len(server.mailbox.raw)
            proc = current["proc"] = _start_worker(server.port)
            kill_at, killed, done, tick = None, False, False, 0
            while proc.poll() is None and not done:
                if random_kills_left and kill_at is None and len(server.mailbox.raw) > arrived_before:
                    kill_at = time.monotonic() + rng.uniform(0, 0.25)  # it is draining: kill it somewhere in there
                if kill_at is not None and time.monotonic() >= kill_at:
                    proc.kill()  # SIGKILL
                    random_kills_left -= 1
                    killed = True
                    break
                await asyncio.sleep(0.01)
                tick += 1
                if tick % 20 == 0:
                    done = await _sent() >= MESSAGES
            if killed or proc.poll() is not None:
                code = proc.wait(timeout=10)
                assert code == -signal.SIGKILL, f"worker exited with {code}: {proc.stderr.read().decode()}"
                kills += 1
            else:  # all sent: stop it the polite way
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()
    finally:
        current["proc"] = None
        if proc.poll() is None:
            proc.kill()
        server.stop()

    received = defaultdict(list)
    for raw, msg in zip(server.mailbox.raw, server.mailbox.parsed()):
        received[str(msg["Message-ID"])].append(raw)
    assert kills >= 1, "no kill happened: the test proved nothing"
    assert set(received) == expected, "lost or unknown messages"
    duplicates = len(server.mailbox.raw) - len(received)
    assert duplicates <= kills, f"{duplicates} raw duplicates for {kills} kills"
    for copies in received.values():
        assert all(copy == copies[0] for copy in copies), "a resend must be the same message"
    statuses = await OutboxMessage.select(OutboxMessage.status, OutboxMessage.provider_id)
    assert all(r["status"] == "sent" and "queued as" in r["provider_id"] for r in statuses)
    print(f"\n{MESSAGES} messages, {kills} kills, {duplicates} raw duplicates (deduplicated by Message-ID)")

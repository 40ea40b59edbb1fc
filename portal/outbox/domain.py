"""The outbox's rules as pure functions: how long to wait before the next
try, and what to write after one. No I/O; `now` and the random source are
arguments.

Row life (OutboxMessage.status):

    pending ──claim──> sending ──handler said done──> sent
       ^                  │ ──temporary error, tries left──> pending (next_attempt_at = now + backoff)
       │                  │ ──permanent error / no tries left / too late──> failed (last_error says why)
       │                  └ ──worker died: lease (locked_until) runs out──> claimable again
       └── (made pointless by a later change, e.g. a reminder of a cancelled booking) ──> cancelled
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Urgent rows (one-time codes) are short-lived: retried quickly, never after they expire.
URGENT_BASE_DELAY_SECONDS = 2
URGENT_MAX_DELAY_SECONDS = 20


@dataclass(frozen=True)
class Draft:
    """One outbox row to insert."""

    channel: str
    topic: str
    recipient: str
    dedupe_key: str
    language: str
    payload: dict
    next_attempt_at: datetime
    order_id: int | None = None
    status: Status = Status.PENDING
    last_error: str = ""
    urgent: bool = False


def backoff_seconds(attempt: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Delay before try number `attempt + 1`, after `attempt` failed tries (attempt ≥ 1).

    Exponential (base · 2^(attempt−1), at most `cap`) with "equal jitter": a
    random point in the upper half of that window. Workers that failed at the
    same moment (an SMTP outage) therefore spread out when it ends, and the
    wait never drops below half the exponential step.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    window = min(float(cap), float(base) * (2 ** min(attempt - 1, 32)))
    r = (rand or random).random()
    return window / 2 + r * window / 2


@dataclass(frozen=True)
class Outcome:
    """What to write on a row after a try."""

    status: Status
    next_attempt_at: datetime | None = None
    error: str = ""


def after_failure(
    *,
    attempts: int,
    max_attempts: int,
    permanent: bool,
    error: str,
    now: datetime,
    base: float,
    cap: float,
    expires_at: datetime | None = None,
    rand: random.Random | None = None,
) -> Outcome:
    """A try failed: retry later, or park the row as failed with the error."""
    if permanent:
        return Outcome(Status.FAILED, error=error)
    if attempts >= max_attempts:
        return Outcome(Status.FAILED, error=f"gave up after {attempts} tries: {error}")
    at = now + timedelta(seconds=backoff_seconds(attempts, base, cap, rand))
    if expires_at is not None and at >= expires_at:
        return Outcome(Status.FAILED, error=f"expired before it could be sent: {error}")
    return Outcome(Status.PENDING, next_attempt_at=at, error=error)

"""Writing to the outbox, inside the CALLER's open write transaction: the
rows exist if and only if the change that causes them was committed, and no
request waits on SMTP, SMS or Vipps. Each row has a unique dedupe key and is
inserted with `INSERT … ON CONFLICT (dedupe_key) DO NOTHING`, so enqueuing
the same event twice (a double submit, a retried request) is a no-op."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import datetime

from portal.lib import clock
from portal.outbox.domain import Draft, Status
from portal.outbox.tables import OutboxMessage

_wake: asyncio.Event | None = None


def set_wake_event(event: asyncio.Event | None) -> None:
    """The worker of this process registers the event that `wake()` sets."""
    global _wake
    _wake = event


def wake() -> None:
    """Ask the worker of this process (if any) to look now rather than at its next poll."""
    if _wake is not None:
        _wake.set()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass UTC-aware datetimes")
    return moment.astimezone(clock.UTC)


async def insert(drafts: Iterable[Draft], now: datetime) -> None:
    """Insert rows; a row whose dedupe key exists already is skipped."""
    drafts = list(drafts)
    if not drafts:
        return
    now = _utc(now)
    await OutboxMessage.insert(
        *[
            OutboxMessage(
                dedupe_key=d.dedupe_key,
                channel=d.channel,
                topic=d.topic,
                order_id=d.order_id,
                urgent=d.urgent,
                recipient=d.recipient,
                language=d.language,
                payload=d.payload,
                status=d.status.value,
                attempts=0,
                next_attempt_at=_utc(d.next_attempt_at),
                last_error=d.last_error,
                created_at=now,
            )
            for d in drafts
        ]
    ).on_conflict(target=OutboxMessage.dedupe_key, action="DO NOTHING")


async def cancel_pending(order_id: int, topic: str, reason: str, *, keep: Iterable[str] = ()) -> None:
    """Rows of an order that a later change made pointless (a reminder of a
    cancelled or moved booking): `cancelled`, unless their key is in `keep`."""
    keep = list(keep)
    query = OutboxMessage.update({OutboxMessage.status: Status.CANCELLED.value, OutboxMessage.last_error: reason}).where(
        (OutboxMessage.order_id == order_id) & (OutboxMessage.topic == topic) & (OutboxMessage.status == Status.PENDING.value)
    )
    if keep:
        query = query.where(OutboxMessage.dedupe_key.not_in(keep))
    await query


LOG_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.channel,
    OutboxMessage.topic,
    OutboxMessage.recipient,
    OutboxMessage.language,
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.next_attempt_at,
    OutboxMessage.created_at,
    OutboxMessage.sent_at,
    OutboxMessage.provider_id,
    OutboxMessage.delivery_status,
    OutboxMessage.last_error,
    OutboxMessage.payload,
)


async def rows_of_order(order_id: int, channels: Iterable[str], *, exclude_key_part: str = "") -> list[dict]:
    """An order's rows on these channels, oldest first, each with its email `subject` (if any) instead of the payload."""
    query = (
        OutboxMessage.select(*LOG_COLUMNS)
        .where((OutboxMessage.order_id == order_id) & OutboxMessage.channel.is_in(list(channels)))
        .order_by(OutboxMessage.created_at)
        .order_by(OutboxMessage.id)
        .output(load_json=True)
    )
    if exclude_key_part:
        query = query.where(OutboxMessage.dedupe_key.not_like(f"%{exclude_key_part}%"))
    rows = []
    for row in await query:
        payload = row.pop("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        row["subject"] = payload.get("subject", "")
        rows.append(row)
    return rows


async def requeue_failed(ids: list[int], now: datetime) -> int:
    """Operations: try parked (failed) rows again from scratch, e.g. after fixing SMTP credentials."""
    if not ids:
        return 0
    done = await OutboxMessage.update(
        {
            OutboxMessage.status: Status.PENDING.value,
            OutboxMessage.attempts: 0,
            OutboxMessage.next_attempt_at: _utc(now),
            OutboxMessage.locked_until: None,
        }
    ).where(OutboxMessage.id.is_in(ids) & (OutboxMessage.status == Status.FAILED.value)).returning(OutboxMessage.id)
    return len(done)

"""Session bookkeeping that is not a business change (no audit entry)."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.identity.staff.tables import StaffSession

#: How stale `last_seen_at` may get before a request writes it again (far below the idle timeout).
TOUCH_EVERY = timedelta(minutes=1)


def touch_due(last_seen_at: datetime | None, now: datetime) -> bool:
    """Whether this request should write the session's last seen time (most need not: no write per page)."""
    return last_seen_at is None or last_seen_at < now - TOUCH_EVERY


async def touch(session_id: int, now: datetime) -> None:
    """Keep an active session alive for the idle timeout; written at most once a minute."""
    await StaffSession.update({StaffSession.last_seen_at: now}).where((StaffSession.id == session_id) & (StaffSession.last_seen_at < now - TOUCH_EVERY))

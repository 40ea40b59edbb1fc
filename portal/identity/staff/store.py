"""Session bookkeeping that is not a business change (no audit entry)."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.identity.staff.tables import StaffSession


async def touch(session_id: int, now: datetime) -> None:
    """Keep an active session alive for the idle timeout; written at most once a minute."""
    await StaffSession.update({StaffSession.last_seen_at: now}).where((StaffSession.id == session_id) & (StaffSession.last_seen_at < now - timedelta(minutes=1)))

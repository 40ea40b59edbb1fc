"""How long what we hold about a customer is kept (L19, L26), and when a
customer's SMS code is fresh enough for export or erasure (L24). Pure.

* Receipts, credit notes and payment records: 5 years after the end of the
  accounting year (bokføringsloven § 13; the calendar year in Oslo time), so
  a receipt issued in 2026 may go from 1 January 2032, Oslo time.
* Contact data of a customer with no activity: removed `inactive_days` after
  the last order ended (PORTAL_RETENTION_INACTIVE_DAYS, default 90).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
UTC = ZoneInfo("UTC")

#: Years after the end of the accounting year that bookkeeping is kept (L19).
BOOKKEEPING_YEARS = 5

#: How old the SMS code that unlocks export and erasure may be.
FRESH_CODE_MINUTES = 10


def bookkeeping_until(issued_at: datetime) -> datetime:
    """The first moment a document issued (or money moved) at `issued_at` may
    be removed: midnight, 1 January of the sixth year after, Oslo time (UTC)."""
    year = issued_at.astimezone(OSLO).year + BOOKKEEPING_YEARS + 1
    return datetime(year, 1, 1, tzinfo=OSLO).astimezone(UTC)


def hold_until(moments: list[datetime]) -> datetime | None:
    """Until when an order's bookkeeping must stay: the latest of its
    documents' and money movements' limits (None: nothing to keep)."""
    return max((bookkeeping_until(m) for m in moments), default=None)


def expired(until: datetime, now: datetime) -> bool:
    return now >= until


def is_fresh(verified_at: datetime | None, now: datetime, minutes: int = FRESH_CODE_MINUTES) -> bool:
    """A code typed at `verified_at` still unlocks export and erasure at `now`."""
    return verified_at is not None and verified_at <= now < verified_at + timedelta(minutes=minutes)


def inactive(last_ended: datetime | None, now: datetime, days: int) -> bool:
    """No activity for `days` after the customer's last order ended (or, with
    no order that ended, since `last_ended` is the customer's creation)."""
    return last_ended is not None and now >= last_ended + timedelta(days=days)

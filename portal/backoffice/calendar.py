"""The day and week grids of the back office, as pure layout: which rows a
booking, a break or a closed stretch covers. No I/O; `now` is an argument.

The grid has one row per 15 minutes of local (Europe/Oslo) wall time
between the earliest opening and the latest closing of the columns shown
(08–17 when nothing opens); row 1 is the header. The page places a block
with the classes `gr-<first row>` and `gs-<rows spanned>` (static CSS: no
inline style under the CSP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.availability.domain import ResourceSchedule

OSLO = ZoneInfo("Europe/Oslo")
ROW_MINUTES = 15
DEFAULT_RANGE = (8 * 60, 17 * 60)


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute if t != time(0) else 0


def _span(start: time, end: time) -> tuple[int, int] | None:
    a, b = _minutes(start), (_minutes(end) or 24 * 60)
    return (a, b) if b > a else None


def day_hours(schedule: ResourceSchedule, day: date) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Opening spans and breaks of one resource on one local date, in minutes after midnight."""
    exception = next((e for e in schedule.exceptions if e.day == day), None)
    if exception is not None:
        raw = [] if exception.closed else list(exception.hours)
    else:
        raw = [(h.start, h.end) for h in schedule.hours if h.weekday == day.weekday()]
    spans = sorted(s for s in (_span(a, b) for a, b in raw) if s)
    breaks = sorted(s for s in (_span(h.start, h.end) for h in schedule.breaks if h.weekday == day.weekday()) if s) if spans else []
    return spans, breaks


@dataclass(frozen=True)
class Booking:
    """What the grid shows of one reservation (or a blocked time)."""

    order_id: int | None
    start: datetime
    end: datetime
    title: str
    customer: str
    state: str
    blocked: bool = False  # staff's own absence or meeting
    block_id: int | None = None  # the blocked time's, to open and remove it


@dataclass
class Block:
    row: int
    span: int
    kind: str  # booking | blocked | break | closed
    booking: Booking | None = None
    label: str = ""


@dataclass
class Column:
    key: str  # resource id, or the ISO date in a week view
    title: str
    day: date
    blocks: list[Block] = field(default_factory=list)
    closed_all_day: bool = False
    now_row: int | None = None  # the now-line, on today's column


@dataclass
class Grid:
    first_minute: int
    last_minute: int
    columns: list[Column]
    hours: list[tuple[int, str]]  # (row, "09:00") labels
    rows: int


def grid_range(spans: list[tuple[int, int]], bookings: list[tuple[int, int]]) -> tuple[int, int]:
    """Whole hours around every opening and booking shown."""
    edges = spans + bookings
    if not edges:
        return DEFAULT_RANGE
    lo = min(a for a, _ in edges)
    hi = max(b for _, b in edges)
    return (lo // 60) * 60, min(24 * 60, -(-hi // 60) * 60)


_MINUTE = timedelta(minutes=1)


def _local_minutes(moment: datetime, day: date) -> int:
    """Minutes of wall time after local midnight of `day` (may be < 0 or > 1440 for other days)."""
    return (moment.astimezone(OSLO).replace(tzinfo=None) - datetime.combine(day, time(0))) // _MINUTE


def _row(minute: int, first: int) -> int:
    return (minute - first) // ROW_MINUTES + 2


def _rows(a: int, b: int, first: int, last: int) -> tuple[int, int] | None:
    a, b = max(a, first), min(b, last)
    if b <= a:
        return None
    start = _row(a, first)
    end = max(start + 1, _row(b + ROW_MINUTES - 1, first))
    return start, end - start


def _gaps(spans: list[tuple[int, int]], first: int, last: int) -> list[tuple[int, int]]:
    out, cursor = [], first
    for a, b in spans:
        if a > cursor:
            out.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < last:
        out.append((cursor, last))
    return out


@dataclass(frozen=True)
class ColumnInput:
    key: str
    title: str
    day: date
    spans: list[tuple[int, int]]
    breaks: list[tuple[int, int]]
    bookings: list[Booking]


def build(columns: list[ColumnInput], now: datetime) -> Grid:
    """Place every column's closed stretches, breaks and bookings on one grid."""
    all_spans = [s for c in columns for s in c.spans]
    # Each booking's local minutes, worked out once (200 bookings a day is a busy salon).
    timed = [[(b, _local_minutes(b.start, c.day), _local_minutes(b.end, c.day)) for b in c.bookings] for c in columns]
    first, last = grid_range(all_spans, [(max(0, a), min(24 * 60, b)) for mine in timed for _, a, b in mine])
    out = []
    for c, mine in zip(columns, timed):
        col = Column(key=c.key, title=c.title, day=c.day, closed_all_day=not c.spans)
        for a, b in _gaps(c.spans, first, last):
            placed = _rows(a, b, first, last)
            if placed:
                col.blocks.append(Block(*placed, kind="closed"))
        for a, b in c.breaks:
            placed = _rows(a, b, first, last)
            if placed:
                col.blocks.append(Block(*placed, kind="break"))
        for booking, a, b in sorted(mine, key=lambda x: x[0].start):
            placed = _rows(a, b, first, last)
            if placed:
                col.blocks.append(Block(*placed, kind="blocked" if booking.blocked else "booking", booking=booking))
        out.append(col)
    rows = (last - first) // ROW_MINUTES
    hours = [(_row(m, first), f"{m // 60:02d}:00") for m in range(first, last, 60)]
    today = now.astimezone(OSLO).date()
    minute = _local_minutes(now, today)
    for col in out:
        if col.day == today and first <= minute < last:
            col.now_row = _row(minute, first)
    return Grid(first_minute=first, last_minute=last, columns=out, hours=hours, rows=rows)


def week_of(day: date) -> list[date]:
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=i) for i in range(7)]

"""The slot engine: which appointment starts can be booked, and why not.

Pure functions, no I/O; ``now`` is always an argument. Every datetime that
crosses this API is timezone-aware (returned ones are UTC). Wall-clock rules
(opening hours, breaks, exceptions, "today") are read in the offering's zone.

Semantics, in short
-------------------
* Resolution is one second: sub-second parts of ``time`` values in rules are
  ignored, a claim's start is rounded down and its end up, and a start with
  microseconds is never offered.
* An opening interval ``start``-``end`` of a local date D runs, as instants,
  from the first moment the local clock reads ``start`` on D to the first moment
  it reads ``end`` (a wall time inside a spring-forward gap therefore means the
  moment of the jump). ``end == time(0)`` means midnight at the end of D;
  other intervals with ``end <= start`` are empty and ignored. Intervals are not
  merged: a slot must lie inside one of them.
* Candidate starts are the wall times ``start + k*step`` of each interval. A
  wall time that does not exist that day is skipped; an ambiguous one is the
  first occurrence (fold=0). The end is ``start + duration`` in real elapsed
  time and must not be later than the interval's end; ``[start, end)`` must not
  overlap a break (a break is an interval of the same kind, weekly).
* A day's hours come from the resource's weekly ``hours`` unless a
  ``DayException`` exists for that date: ``closed=True`` (or no hours) closes
  the day, otherwise its hours replace the weekly ones. Several exceptions for
  one date: closed if any is closed, else their hours together. A public
  holiday closes the day unless ``rules.open_on_holidays`` or the resource has
  an exception with hours for that date (the explicit dated choice wins).
* Claims (bookings and live holds, any offering) block a start when
  ``[start - buffer_before, end + buffer_after)`` overlaps the claim's
  ``[start - its buffer_before, end + its buffer_after)``. They block for every
  capacity; for a capacity > 1 offering pass only other offerings' claims and
  give this offering's own sessions as ``SeatUse`` rows: ``seats_left`` is
  ``capacity - taken`` (summed over rows for that resource and exact start),
  offered while > 0. A merged ``Slot``'s ``seats_left`` is the best single
  resource's figure, so it never exceeds ``capacity``.
* A start is offered only if ``start >= now``, ``start >= now + min_notice``
  and its local date is at most ``max_advance_days`` after now's local date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from itertools import repeat
from operator import add, sub
from zoneinfo import ZoneInfo

__all__ = [
    "Claim",
    "DayException",
    "HoursRule",
    "OfferingRules",
    "Reason",
    "ResourceSchedule",
    "SeatUse",
    "Slot",
    "day_reasons",
    "free_slots",
    "why_not",
]

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
_DAY_S = 86_400


# --------------------------------------------------------------------------
# Input and output types
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoursRule:
    """A weekly interval of local wall time; weekday 0 = Monday.

    ``end == time(0)`` means midnight at the end of the day.
    """

    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class DayException:
    """A dated exception for one resource.

    ``closed=True`` closes the day. Otherwise ``hours`` replace the weekly hours
    of that day (extra or changed hours; an empty tuple means no hours, i.e.
    closed). Weekly breaks still apply.
    """

    day: date
    closed: bool
    hours: tuple[tuple[time, time], ...] = ()


@dataclass(frozen=True, slots=True)
class ResourceSchedule:
    resource_id: int
    hours: tuple[HoursRule, ...]
    breaks: tuple[HoursRule, ...] = ()
    exceptions: tuple[DayException, ...] = ()


@dataclass(frozen=True, slots=True)
class OfferingRules:
    duration_min: int
    step_min: int = 15
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    capacity: int = 1
    min_notice_min: int = 0
    max_advance_days: int = 60
    open_on_holidays: bool = False
    tz: str = "Europe/Oslo"

    def __post_init__(self) -> None:
        if self.duration_min < 1:
            raise ValueError("duration_min must be at least 1")
        if self.step_min < 1:
            raise ValueError("step_min must be at least 1")
        if self.buffer_before_min < 0 or self.buffer_after_min < 0:
            raise ValueError("buffers must not be negative")
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        if self.min_notice_min < 0:
            raise ValueError("min_notice_min must not be negative")
        if self.max_advance_days < 0:
            raise ValueError("max_advance_days must not be negative")


@dataclass(frozen=True, slots=True)
class Claim:
    """An existing booking or live hold on a resource (any offering).

    Occupies ``[start - buffer_before, end + buffer_after)``.
    """

    resource_id: int
    start: datetime
    end: datetime
    buffer_before_min: int = 0
    buffer_after_min: int = 0


@dataclass(frozen=True, slots=True)
class SeatUse:
    """Seats already taken in a session of THIS offering at (resource, start)."""

    resource_id: int
    start: datetime
    taken: int


@dataclass(frozen=True, slots=True)
class Slot:
    """One bookable start; ``resource_ids`` are all resources free then (sorted)."""

    start: datetime
    end: datetime
    resource_ids: tuple[int, ...]
    seats_left: int


class Reason(StrEnum):
    PAST = "past"
    NOTICE = "notice"
    TOO_FAR_AHEAD = "too_far_ahead"
    CLOSED = "closed"
    HOLIDAY = "holiday"
    OUTSIDE_HOURS = "outside_hours"
    BREAK = "break"
    BOOKED = "booked"
    BUFFER = "buffer"
    FULL = "full"
    OFF_GRID = "off_grid"


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {dt!r}")


def _floor_s(dt: datetime) -> int:
    """Seconds since the epoch, rounded down (exact integer arithmetic)."""
    return (dt - _EPOCH) // _SECOND


def _ceil_s(dt: datetime) -> int:
    return -((_EPOCH - dt) // _SECOND)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _sod(t: time) -> int:
    """Seconds of the day of a wall time (sub-second part ignored)."""
    return t.hour * 3600 + t.minute * 60 + t.second


def _span(start: time, end: time) -> tuple[int, int] | None:
    """A wall-time interval as seconds of the day, or None when empty."""
    a = _sod(start)
    b = _DAY_S if end == time(0) else _sod(end)
    return (a, b) if b > a else None


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # ZoneInfo caches instances itself


class _Day:
    """One local date in a zone: wall time (seconds of day) -> UTC seconds.

    On a day without an offset change (all but about two a year) this is
    ``base + sod``; otherwise the slow, exact path through zoneinfo is used.
    """

    __slots__ = ("day", "tz", "base")

    def __init__(self, tz: ZoneInfo, day: date) -> None:
        self.day = day
        self.tz = tz
        m0 = datetime(day.year, day.month, day.day, tzinfo=tz)
        nxt = day + _ONE_DAY
        m1 = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        self.base: int | None = (
            _floor_s(m0) if m0.utcoffset() == m1.utcoffset() else None
        )

    def _naive(self, sod: int) -> datetime:
        d = self.day
        return datetime(d.year, d.month, d.day) + timedelta(seconds=sod)

    def _wall(self, u: int) -> datetime:
        return datetime.fromtimestamp(u, self.tz).replace(tzinfo=None)

    def instant(self, sod: int) -> int | None:
        """The instant the clock reads ``sod`` (first time if twice); None if never."""
        if self.base is not None:
            return self.base + sod
        naive = self._naive(sod)
        u = _floor_s(naive.replace(tzinfo=self.tz))
        return u if self._wall(u) == naive else None

    def boundary(self, sod: int) -> int:
        """The first instant at which the local clock reads ``sod`` or later."""
        if self.base is not None:
            return self.base + sod
        naive = self._naive(sod)
        u0 = _floor_s(naive.replace(tzinfo=self.tz))
        if self._wall(u0) == naive:
            return u0
        # Inside a gap: fold=0 and fold=1 bracket the jump; bisect to it.
        u1 = _floor_s(naive.replace(tzinfo=self.tz, fold=1))
        lo, hi = min(u0, u1), max(u0, u1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._wall(mid) >= naive:
                hi = mid
            else:
                lo = mid
        return hi

    def grid(self, a: int, b: int, step: int, dur: int) -> Iterable[int]:
        """Candidate starts (UTC seconds, ascending) of interval [a, b) that fit."""
        if self.base is not None:
            base = self.base
            return range(base + a, base + b - dur + 1, step)
        out = []
        end = self.boundary(b)
        for sod in range(a, b, step):
            u = self.instant(sod)
            if u is None:
                continue
            if u + dur > end:
                break
            out.append(u)
        return out


_NO_EXCEPTION: tuple = ("no exception",)  # sentinel
_CLOSED = None


class _Resource:
    """A ResourceSchedule prepared for fast lookups (seconds of the day)."""

    __slots__ = ("rid", "week", "breaks", "exc")

    def __init__(self, sched: ResourceSchedule) -> None:
        self.rid = sched.resource_id
        week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for r in sched.hours:
            span = _span(r.start, r.end)
            if span is not None and 0 <= r.weekday <= 6:
                week[r.weekday].append(span)
        self.week = tuple(tuple(sorted(w)) for w in week)
        brk: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for r in sched.breaks:
            span = _span(r.start, r.end)
            if span is not None and 0 <= r.weekday <= 6:
                brk[r.weekday].append(span)
        self.breaks = tuple(tuple(sorted(w)) for w in brk)
        exc: dict[date, tuple[tuple[int, int], ...] | None] = {}
        for e in sched.exceptions:
            if e.closed or exc.get(e.day, ()) is _CLOSED:
                exc[e.day] = _CLOSED
                continue
            spans = [s for s in (_span(a, b) for a, b in e.hours) if s is not None]
            exc[e.day] = tuple(sorted((*exc.get(e.day, ()), *spans)))
        self.exc = exc

    def plan(
        self, day: date, weekday: int, holiday_closed: bool
    ) -> tuple[Reason | None, tuple[tuple[int, int], ...]]:
        """(reason it is shut, ()) or (None, opening intervals) for a local date."""
        exc = self.exc.get(day, _NO_EXCEPTION)
        if exc is _NO_EXCEPTION:
            if holiday_closed:
                return Reason.HOLIDAY, ()
            spans = self.week[weekday]
            return (None, spans) if spans else (Reason.CLOSED, ())
        if exc:  # explicit hours for this date: open even on a holiday
            return None, exc
        return (Reason.HOLIDAY if holiday_closed else Reason.CLOSED), ()


class _Context:
    """Per-call constants derived from the rules and ``now``."""

    __slots__ = (
        "rules", "tz", "dur", "step", "bb", "ba", "now_s", "thr", "today",
        "last_day", "holidays",
    )

    def __init__(
        self, rules: OfferingRules, now: datetime, holidays: Collection[date]
    ) -> None:
        _require_aware(now, "now")
        self.rules = rules
        self.tz = _zone(rules.tz)
        self.dur = rules.duration_min * 60
        self.step = rules.step_min * 60
        self.bb = rules.buffer_before_min * 60
        self.ba = rules.buffer_after_min * 60
        self.now_s = _ceil_s(now)  # an integer start s is >= now iff s >= now_s
        self.thr = _ceil_s(now + timedelta(minutes=rules.min_notice_min))
        self.today = now.astimezone(self.tz).date()
        self.last_day = self.today + timedelta(days=rules.max_advance_days)
        if rules.open_on_holidays:
            self.holidays: Collection[date] = frozenset()
        elif isinstance(holidays, (set, frozenset)):
            self.holidays = holidays
        else:
            self.holidays = frozenset(holidays)

    def raw_blockers(self, claims: Iterable[Claim]) -> list[tuple[int, int]]:
        """Open intervals (lo, hi) of starts s that the claims block: lo < s < hi.

        A start s is blocked by a claim occupying [os, oe) when
        [s - buffer_before, s + duration + buffer_after) overlaps it, i.e. when
        os - buffer_after - duration < s < oe + buffer_before.
        """
        epoch, second = _EPOCH, _SECOND
        lead = self.ba + self.dur
        bb = self.bb
        raw = []
        for c in claims:
            occ_start = (c.start - epoch) // second - c.buffer_before_min * 60
            occ_end = -((epoch - c.end) // second) + c.buffer_after_min * 60
            if occ_end > occ_start:
                raw.append((occ_start - lead, occ_end + bb))
        return raw


def _merge(raw: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Union of open intervals, as two strictly increasing lists (los, his)."""
    raw.sort()
    los: list[int] = []
    his: list[int] = []
    for lo, hi in raw:
        if his and lo < his[-1]:
            if hi > his[-1]:
                his[-1] = hi
        else:
            los.append(lo)
            his.append(hi)
    return los, his


def _seat_map(seats: Iterable[SeatUse]) -> dict[int, dict[int, int]]:
    """resource -> start (UTC seconds) -> seats taken."""
    out: dict[int, dict[int, int]] = {}
    for su in seats:
        _require_aware(su.start, "SeatUse.start")
        if su.start.microsecond:
            continue  # can never be a candidate start
        per = out.setdefault(su.resource_id, {})
        s = _floor_s(su.start)
        per[s] = per.get(s, 0) + su.taken
    return out


def _days(first: date, last: date) -> Iterable[date]:
    d = first
    while d <= last:
        yield d
        d += _ONE_DAY


# --------------------------------------------------------------------------
# free_slots
# --------------------------------------------------------------------------


def free_slots(
    rules: OfferingRules,
    schedules: Sequence[ResourceSchedule],
    claims: Iterable[Claim],
    seats: Iterable[SeatUse],
    *,
    first_day: date,
    last_day: date,
    now: datetime,
    holidays: Collection[date],
) -> list[Slot]:
    """Every bookable start on the local dates ``first_day..last_day`` (inclusive).

    Sorted by start, one Slot per distinct UTC start with every resource free
    then. ``holidays`` are local dates of public holidays (see
    ``portal.availability.holidays.norwegian_holidays``).

    How it stays fast: every time is an integer (UTC seconds). Each claim
    becomes one open interval of forbidden *starts*, merged and sorted per
    resource. Per resource and weekday the opening intervals minus the breaks
    are precomputed as runs of grid starts (seconds of the day); on a day
    without an offset change a run is shifted by the day's midnight and the
    claims are cut out of it by a pointer walk. One sweep per day over the
    runs of all resources gives each start its set of resources (a bitmask,
    turned into a tuple once per distinct set). Only the two days a year with
    an offset change go through zoneinfo candidate by candidate.
    """
    ctx = _Context(rules, now, holidays)
    first = max(first_day, ctx.today)
    last = min(last_day, ctx.last_day)
    if first > last or not schedules:
        return []

    resources = sorted((_Resource(s) for s in schedules), key=lambda r: r.rid)
    rids = [r.rid for r in resources]
    if len(set(rids)) != len(rids):
        raise ValueError("two schedules for one resource")

    dur, step, thr = ctx.dur, ctx.step, ctx.thr
    capacity = rules.capacity

    # Claims, and sessions without a seat left, as forbidden starts per resource.
    by_res: dict[int, list[Claim]] = {rid: [] for rid in rids}
    for c in claims:
        lst = by_res.get(c.resource_id)
        if lst is not None:
            lst.append(c)
    seat_map = _seat_map(seats)
    pieces_cache: dict[tuple, tuple[tuple[tuple[int, int], ...], bool, int | None]] = {}

    def pieces(spans, brk):
        key = (spans, brk)
        got = pieces_cache.get(key)
        if got is None:
            got = pieces_cache[key] = _pieces(spans, brk, dur, step)
        return got

    prepared = []
    for index, res in enumerate(resources):
        raw = ctx.raw_blockers(by_res[res.rid])
        raw.extend((t - 1, t + 1) for t, n in seat_map.get(res.rid, {}).items() if n >= capacity)
        los, his = _merge(raw)
        week = tuple(pieces(res.week[wd], res.breaks[wd]) for wd in range(7))
        prepared.append((1 << index, res, week, res.exc, los, his))

    hol = ctx.holidays
    tz = ctx.tz
    names = _Names(rids)
    starts: list[int] = []
    groups: list[tuple[int, ...]] = []
    day_marks: list[tuple[int, int | None]] = []  # (index into starts, the day's _Day.base)

    for day in _days(first, last):
        dconv = _Day(tz, day)
        base = dconv.base
        weekday = day.weekday()
        holiday_closed = day in hol
        runs: list[tuple[int, int, int]] = []  # (first start, last start, bit), step apart
        add = runs.append
        same_grid = base is not None  # all runs on one grid (checked below)
        grid = -1  # the phase (mod step) of the day's runs, once known
        for bit, res, week, exc, los, his in prepared:
            if exc and day in exc:
                shut, spans = res.plan(day, weekday, holiday_closed)
                if shut is not None:
                    continue
                day_pieces, disjoint, phase = pieces(spans, res.breaks[weekday])
            elif holiday_closed:
                continue
            else:
                day_pieces, disjoint, phase = week[weekday]
            if base is None:
                # An offset change: the wall-time pieces do not hold (a span shorter
                # than the duration on the clock may be longer in real time).
                _slow_day(dconv, res, weekday, holiday_closed, los, his, bit, dur, step, thr, runs)
                continue
            if not day_pieces:
                continue
            if phase != grid:
                if grid == -1 and phase is not None:
                    grid = phase
                else:
                    same_grid = False
            if not disjoint:
                mine: list[tuple[int, int, int]] = []
                add = mine.append
            n = len(los)
            for s, e in day_pieces:
                s += base
                e += base
                if s < thr:
                    s += -((s - thr) // step) * step
                    if s > e:
                        continue
                j = bisect_right(his, s)
                while j < n:
                    lo = los[j]
                    if lo >= e:
                        break
                    hi = his[j]
                    j += 1
                    if hi <= s:
                        continue
                    if lo >= s:
                        add((s, lo - (lo - s) % step, bit))
                    s += -((s - hi) // step) * step
                    if s > e:
                        break
                if s <= e:
                    add((s, e, bit))
            if not disjoint:
                runs.extend(_merge_runs(mine, step))
                add = runs.append
        if runs:
            day_marks.append((len(starts), base))
            _sweep(runs, step, names, starts, groups, same_grid)

    return _build(starts, groups, day_marks, dur, capacity, seat_map)


class _Seconds(dict):
    """Seconds -> timedelta, made on first use."""

    __slots__ = ()

    def __missing__(self, seconds: int) -> timedelta:
        td = self[seconds] = timedelta(seconds=seconds)
        return td


def _build(
    starts: list[int],
    groups: list[tuple[int, ...]],
    day_marks: list[tuple[int, int | None]],
    dur: int,
    capacity: int,
    seat_map: dict[int, dict[int, int]],
) -> list[Slot]:
    """The Slot objects, made with C-level ``map`` loops (this runs once per slot).

    Start datetimes are the day's midnight plus a cached timedelta (cheaper than
    ``fromtimestamp``); the frozen dataclass is filled through its slot
    descriptors, exactly what its ``__init__`` does, without a Python frame per
    object.
    """
    n = len(starts)
    if not n:
        return []
    tds = _Seconds()
    begins: list[datetime] = []
    marks = [*day_marks, (n, None)]
    for (i0, base), (i1, _) in zip(marks, marks[1:]):
        day_starts = starts[i0:i1]
        if base is None:  # a day with an offset change
            begins.extend(map(_utc, day_starts))
        else:
            offsets = map(tds.__getitem__, map(sub, day_starts, repeat(base)))
            begins.extend(map(add, repeat(_utc(base)), offsets))
    ends = map(add, begins, repeat(timedelta(seconds=dur)))
    if seat_map:
        seat_times = {t for per in seat_map.values() for t in per}
        lefts: Iterable[int] = [
            min(capacity, max(capacity - seat_map.get(rid, {}).get(t, 0) for rid in group))
            if t in seat_times else capacity
            for t, group in zip(starts, groups)
        ]
    else:
        lefts = repeat(capacity)
    slots: list[Slot] = list(map(object.__new__, repeat(Slot, n)))
    fields = Slot.start, Slot.end, Slot.resource_ids, Slot.seats_left  # type: ignore[attr-defined]
    for field, values in zip(fields, (begins, ends, groups, lefts)):
        deque(map(field.__set__, slots, values), maxlen=0)
    return slots


def _pieces(
    spans: tuple[tuple[int, int], ...],
    breaks: tuple[tuple[int, int], ...],
    dur: int,
    step: int,
) -> tuple[tuple[tuple[int, int], ...], bool, int | None]:
    """Grid starts (seconds of the day) that fit the spans and miss the breaks,
    as runs (first, last): first, first+step, ... last. Valid on a day without
    an offset change. Also tells whether the spans are disjoint (if not, one
    resource's runs may overlap and must be merged before the sweep) and the
    runs' common phase (first start mod step; None if they differ).
    """
    out: list[tuple[int, int]] = []
    blk = sorted((bs - dur, be) for bs, be in breaks)
    for a, b in spans:
        if b - dur < a:
            continue
        e = a + (b - dur - a) // step * step  # the last grid start that fits
        s = a
        for lo, hi in blk:
            if hi <= s:
                continue
            if lo >= e:
                break
            if lo >= s:
                out.append((s, lo - (lo - s) % step))
            s += -((s - hi) // step) * step
            if s > e:
                break
        if s <= e:
            out.append((s, e))
    disjoint = all(spans[k + 1][0] >= spans[k][1] for k in range(len(spans) - 1))
    phases = {s % step for s, _ in out}
    return tuple(out), disjoint, (phases.pop() if len(phases) == 1 else None)


def _slow_day(
    dconv: _Day,
    res: _Resource,
    weekday: int,
    holiday_closed: bool,
    los: list[int],
    his: list[int],
    bit: int,
    dur: int,
    step: int,
    thr: int,
    runs: list[tuple[int, int, int]],
) -> None:
    """Candidates of a day with an offset change, checked one by one."""
    shut, spans = res.plan(dconv.day, weekday, holiday_closed)
    if shut is not None:
        return
    brk = []
    for a, b in res.breaks[weekday]:
        bs, be = dconv.boundary(a), dconv.boundary(b)
        if be > bs:
            brk.append((bs - dur, be))
    n = len(los)
    found: set[int] = set()
    for a, b in spans:
        for t in dconv.grid(a, b, step, dur):
            if t < thr or any(lo < t < hi for lo, hi in brk):
                continue
            j = bisect_right(his, t)
            if j < n and los[j] < t:
                continue
            found.add(t)
    runs.extend((t, t, bit) for t in sorted(found))


def _merge_runs(runs: list[tuple[int, int, int]], step: int) -> list[tuple[int, int, int]]:
    """One resource's runs of a day made disjoint (overlapping opening intervals)."""
    out: list[tuple[int, int, int]] = []
    by_phase: dict[int, list[tuple[int, int, int]]] = {}
    for r in runs:
        by_phase.setdefault(r[0] % step, []).append(r)
    for group in by_phase.values():
        group.sort()
        merged: list[list[int]] = []
        for s, e, bit in group:
            if merged and s <= merged[-1][1] + step:
                if e > merged[-1][1]:
                    merged[-1][1] = e
            else:
                merged.append([s, e, bit])
        out.extend((s, e, bit) for s, e, bit in merged)
    if len(by_phase) > 1:
        # Different grids may still share instants: keep each instant once.
        seen: set[int] = set()
        points = []
        for s, e, bit in out:
            for t in range(s, e + 1, step):
                if t not in seen:
                    seen.add(t)
                    points.append((t, t, bit))
        return points
    return out


class _Names:
    """Bitmask of resource indexes -> sorted tuple of resource ids (cached)."""

    __slots__ = ("rids", "cache", "tables")

    def __init__(self, rids: list[int]) -> None:
        self.rids = rids
        self.cache: dict[int, tuple[int, ...]] = {}
        self.tables: list[dict[int, tuple[int, ...]]] = [{} for _ in range(0, len(rids), 8)]

    def __call__(self, mask: int) -> tuple[int, ...]:
        got = self.cache.get(mask)
        if got is not None:
            return got
        out: tuple[int, ...] = ()
        k = 0
        m = mask
        while m:
            chunk = m & 255
            if chunk:
                table = self.tables[k]
                part = table.get(chunk)
                if part is None:
                    part = table[chunk] = tuple(
                        self.rids[8 * k + i] for i in range(8) if chunk >> i & 1
                    )
                out += part
            m >>= 8
            k += 1
        self.cache[mask] = out
        return out


def _sweep(
    runs: list[tuple[int, int, int]],
    step: int,
    names: _Names,
    starts: list[int],
    groups: list[tuple[int, ...]],
    same_grid: bool,
) -> None:
    """Append one day's distinct starts (ascending) and their resource tuples.

    ``runs`` are (first, last, bit): the starts first, first+step, ... last are
    free on the resource ``bit`` stands for; one resource's runs are disjoint.
    ``same_grid``: the caller knows every run's first start is congruent
    modulo ``step``.
    """
    if not same_grid:
        # Runs on different grids (odd interval anchors, DST day): sweep each
        # grid on its own, then interleave.
        by_phase: dict[int, list[tuple[int, int, int]]] = {}
        for r in runs:
            by_phase.setdefault(r[0] % step, []).append(r)
        day_starts: list[int] = []
        day_groups: list[tuple[int, ...]] = []
        for part in by_phase.values():
            _sweep(part, step, names, day_starts, day_groups, True)
        for t, g in sorted(zip(day_starts, day_groups)):
            starts.append(t)
            groups.append(g)
        return
    # Bits are added where a run opens and taken away one step after it ends;
    # a resource's runs are disjoint, so the running sum is the active mask.
    delta: dict[int, int] = {}
    get = delta.get
    for s, e, bit in runs:
        delta[s] = get(s, 0) + bit
        e += step
        delta[e] = get(e, 0) - bit
    times = sorted(delta)
    mask = 0
    cached = names.cache.get
    for t, nxt in zip(times, times[1:]):
        mask += delta[t]
        if mask:
            starts.extend(range(t, nxt, step))
            groups.extend([cached(mask) or names(mask)] * ((nxt - t) // step))


# --------------------------------------------------------------------------
# why_not
# --------------------------------------------------------------------------


def why_not(
    rules: OfferingRules,
    schedule: ResourceSchedule,
    claims: Iterable[Claim],
    seats: Iterable[SeatUse],
    *,
    resource_id: int | None = None,
    start: datetime,
    now: datetime,
    holidays: Collection[date],
) -> Reason | None:
    """None if ``free_slots`` would offer ``start`` on this resource, else the
    first reason in the order PAST, NOTICE, TOO_FAR_AHEAD, HOLIDAY, CLOSED,
    OUTSIDE_HOURS, BREAK, OFF_GRID, FULL, BOOKED, BUFFER.

    ``resource_id`` defaults to ``schedule.resource_id`` and must match it;
    claims and seats of other resources are ignored.
    """
    rid = schedule.resource_id if resource_id is None else resource_id
    if rid != schedule.resource_id:
        raise ValueError("resource_id does not match schedule.resource_id")
    _require_aware(start, "start")
    ctx = _Context(rules, now, holidays)

    if start < now:
        return Reason.PAST
    if start < now + timedelta(minutes=rules.min_notice_min):
        return Reason.NOTICE
    local = start.astimezone(ctx.tz)
    day = local.date()
    if day > ctx.last_day:
        return Reason.TOO_FAR_AHEAD

    res = _Resource(schedule)
    weekday = day.weekday()
    shut, spans = res.plan(day, weekday, day in ctx.holidays)
    if shut is not None:
        return shut

    dconv = _Day(ctx.tz, day)
    s = _floor_s(start)
    dur, step = ctx.dur, ctx.step
    fits = [
        (a, b) for a, b in spans
        if dconv.boundary(a) <= s and s + dur <= dconv.boundary(b)
    ]
    if not fits:
        return Reason.OUTSIDE_HOURS
    for ba_, bb_ in res.breaks[weekday]:
        bs, be = dconv.boundary(ba_), dconv.boundary(bb_)
        if bs < be and bs < s + dur and s < be:
            return Reason.BREAK
    sod = local.hour * 3600 + local.minute * 60 + local.second
    on_grid = (
        local.microsecond == 0
        and local.fold == 0
        and any(sod >= a and (sod - a) % step == 0 for a, _ in fits)
    )
    if not on_grid:
        return Reason.OFF_GRID

    taken = 0
    for su in seats:
        if su.resource_id == rid and su.start == start:
            taken += su.taken
    if rules.capacity - taken <= 0:
        return Reason.FULL

    mine = [c for c in claims if c.resource_id == rid]
    for c in mine:
        cs, ce = _floor_s(c.start), _ceil_s(c.end)
        if cs < ce and cs < s + dur and s < ce:
            return Reason.BOOKED
    los, his = _merge(ctx.raw_blockers(mine))
    j = bisect_right(his, s)
    if j < len(los) and los[j] < s:
        return Reason.BUFFER
    return None


# --------------------------------------------------------------------------
# day_reasons
# --------------------------------------------------------------------------


def day_reasons(
    rules: OfferingRules,
    schedules: Sequence[ResourceSchedule],
    claims: Iterable[Claim],
    seats: Iterable[SeatUse],
    *,
    first_day: date,
    last_day: date,
    now: datetime,
    holidays: Collection[date],
) -> dict[date, Reason]:
    """For each local date in ``first_day..last_day`` without a single free
    slot, the one reason to show a customer. Dates with slots are absent.

    Decided in this order:

    * ``TOO_FAR_AHEAD`` — after the booking horizon;
    * ``PAST`` — before today, or every start of the day has gone by;
    * ``HOLIDAY`` — no resource opens, and the day is a public holiday that
      closes (otherwise ``CLOSED``);
    * ``CLOSED`` — no resource opens, or the hours leave no room for the
      duration outside breaks;
    * ``NOTICE`` — the day's remaining starts are within the minimum notice;
    * ``FULL`` (capacity > 1) or ``BOOKED`` — starts exist but are taken.
    """
    claims = list(claims)
    seats = list(seats)
    ctx = _Context(rules, now, holidays)
    offered = {
        s.start.astimezone(ctx.tz).date()
        for s in free_slots(
            rules, schedules, claims, seats,
            first_day=first_day, last_day=last_day, now=now, holidays=holidays,
        )
    }
    resources = [_Resource(s) for s in schedules]
    taken_reason = Reason.FULL if rules.capacity > 1 else Reason.BOOKED
    out: dict[date, Reason] = {}
    for day in _days(first_day, last_day):
        if day in offered:
            continue
        if day > ctx.last_day:
            out[day] = Reason.TOO_FAR_AHEAD
            continue
        if day < ctx.today:
            out[day] = Reason.PAST
            continue
        weekday = day.weekday()
        holiday_closed = day in ctx.holidays
        dconv = _Day(ctx.tz, day)
        latest: int | None = None
        any_open = False
        for res in resources:
            shut, spans = res.plan(day, weekday, holiday_closed)
            if shut is not None:
                continue
            any_open = True
            brk = []
            for a, b in res.breaks[weekday]:
                bs, be = dconv.boundary(a), dconv.boundary(b)
                if be > bs:
                    brk.append((bs - ctx.dur, be))
            for a, b in spans:
                for t in dconv.grid(a, b, ctx.step, ctx.dur):
                    if not any(lo < t < hi for lo, hi in brk):
                        latest = t if latest is None else max(latest, t)
        if not any_open:
            out[day] = Reason.HOLIDAY if holiday_closed else Reason.CLOSED
        elif latest is None:
            out[day] = Reason.CLOSED
        elif latest < ctx.now_s:
            out[day] = Reason.PAST
        elif latest < ctx.thr:
            out[day] = Reason.NOTICE
        else:
            out[day] = taken_reason
    return out

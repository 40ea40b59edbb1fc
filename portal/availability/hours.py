"""Editing a calendar's opening hours: the checks of a week's hours and
breaks and of a dated exception, and which bookings a new schedule would
leave outside its hours. Pure: no I/O, "today" is an argument.

A booking *fits* a schedule when the slot engine would still place it
there, leaving aside notice, horizon, grid and other bookings: on the local
date of its start the day is open (weekly hours, or the date's exception;
a public holiday closes it unless its offering opens on holidays or the
date has its own hours), ``[start, end)`` lies inside one opening interval
and overlaps no break. The reading of the schedule is the engine's own
(``portal.availability.domain``), so "fits" can never mean something else
here than there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.availability.domain import DayException, HoursRule, ResourceSchedule, _Day, _floor_s, _Resource
from portal.lib.i18n import N_

__all__ = [
    "Booking",
    "ExceptionInput",
    "IntervalInput",
    "check_exception",
    "check_week",
    "fits",
    "newly_outside",
    "parse_clock",
]

#: How far ahead a dated exception may be set.
EXCEPTION_HORIZON = timedelta(days=3 * 366)
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-4])[:.]([0-5][0-9])(?::00)?$")

BAD_TIME = N_("Write the time as HH:MM, like 09:00.")
BOTH = N_("Give both a start and an end, or leave both empty.")
ORDER = N_("The start must be before the end.")
OVERLAP = N_("This overlaps another interval of the same day.")
BREAK_OUTSIDE = N_("A break must lie inside the day's opening hours.")
BAD_DATE = N_("Choose a date.")
PAST_DATE = N_("That date has passed.")
FAR_DATE = N_("Choose a date within the next three years.")
ALREADY_CLOSED = N_("That date is closed already.")
HOURS_REQUIRED = N_("Give the hours of that date, or choose closed.")


def parse_clock(text: str, *, end: bool = False) -> time | None:
    """'09:00' (or '9:00', '09.00') as a wall time; None when it is not one.
    As an end, '24:00' and '00:00' mean midnight at the end of the day
    (``time(0)``, as the engine reads it); as a start, '24:00' is refused."""
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        return time(0) if end and minute == 0 else None
    return time(hour, minute)


def _seconds(value: time, *, end: bool) -> int:
    seconds = value.hour * 3600 + value.minute * 60
    return 86_400 if end and seconds == 0 else seconds


@dataclass(frozen=True)
class IntervalInput:
    """One row of the week form as typed: `key` names it for its message."""

    key: str
    weekday: int  # 0 = Monday
    start: str
    end: str
    is_break: bool = False


def check_week(rows: Iterable[IntervalInput]) -> tuple[tuple[HoursRule, ...], tuple[HoursRule, ...], dict[str, str]]:
    """(opening hours, breaks, messages by row key). Empty rows are skipped
    (a day without hours is closed); a row with a message is not kept. The
    intervals of one kind on one day must not overlap; each break must lie
    inside one opening interval of its day."""
    errors: dict[str, str] = {}
    kept: dict[bool, list[tuple[IntervalInput, int, int, HoursRule]]] = {False: [], True: []}
    for row in rows:
        if not (0 <= row.weekday <= 6):
            continue
        start_text, end_text = row.start.strip(), row.end.strip()
        if not start_text and not end_text:
            continue
        if not start_text or not end_text:
            errors[row.key] = BOTH
            continue
        start, end = parse_clock(start_text), parse_clock(end_text, end=True)
        if start is None or end is None:
            errors[row.key] = BAD_TIME
            continue
        a, b = _seconds(start, end=False), _seconds(end, end=True)
        if a >= b:
            errors[row.key] = ORDER
            continue
        kept[row.is_break].append((row, a, b, HoursRule(row.weekday, start, end)))
    for is_break in (False, True):
        by_day: dict[int, list] = {}
        for item in kept[is_break]:
            by_day.setdefault(item[0].weekday, []).append(item)
        for items in by_day.values():
            items.sort(key=lambda item: (item[1], item[2]))
            reach = -1  # the latest end among the intervals before
            for row, a, b, _ in items:
                if a < reach:
                    errors.setdefault(row.key, OVERLAP)
                reach = max(reach, b)
    opening: dict[int, list[tuple[int, int]]] = {}
    for row, a, b, _ in kept[False]:
        if row.key not in errors:
            opening.setdefault(row.weekday, []).append((a, b))
    for row, a, b, _ in kept[True]:
        if row.key not in errors and not any(oa <= a and b <= ob for oa, ob in opening.get(row.weekday, [])):
            errors[row.key] = BREAK_OUTSIDE
    hours = tuple(sorted((rule for row, _, _, rule in kept[False] if row.key not in errors), key=_order))
    breaks = tuple(sorted((rule for row, _, _, rule in kept[True] if row.key not in errors), key=_order))
    return hours, breaks, errors


def _order(rule: HoursRule) -> tuple:
    return (rule.weekday, rule.start, rule.end)


@dataclass(frozen=True)
class ExceptionInput:
    """The dated-exception form as typed."""

    day: str
    closed: bool
    start: str = ""
    end: str = ""


def check_exception(values: ExceptionInput, *, today: date, existing: Sequence[DayException]) -> tuple[DayException | None, dict[str, str]]:
    """The exception to add, or messages by field ('day', 'start', 'end').
    The date is today or later (and within the horizon); a closed date is
    not closed twice nor given hours; changed hours do not overlap the
    date's other changed hours."""
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(values.day.strip())
    except ValueError:
        return None, {"day": BAD_DATE}
    if day < today:
        errors["day"] = PAST_DATE
    elif day > today + EXCEPTION_HORIZON:
        errors["day"] = FAR_DATE
    same_day = [e for e in existing if e.day == day]
    if any(e.closed for e in same_day):
        errors.setdefault("day", ALREADY_CLOSED)
    if values.closed:
        return (None, errors) if errors else (DayException(day=day, closed=True), {})
    if not values.start.strip() and not values.end.strip():
        errors["start"] = HOURS_REQUIRED
        return None, errors
    start, end = parse_clock(values.start), parse_clock(values.end, end=True)
    if start is None:
        errors["start"] = BAD_TIME
    if end is None:
        errors["end"] = BAD_TIME
    if start is not None and end is not None:
        a, b = _seconds(start, end=False), _seconds(end, end=True)
        if a >= b:
            errors["end"] = ORDER
        elif any(_seconds(s, end=False) < b and a < _seconds(e, end=True) for other in same_day for s, e in other.hours):
            errors["start"] = OVERLAP
    if errors:
        return None, errors
    return DayException(day=day, closed=False, hours=((start, end),)), {}


# --------------------------------------------------------------------------
# Bookings and a schedule
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    """A confirmed booking on the calendar; `key` is whatever the caller
    needs back (its reservation id)."""

    key: object
    start: datetime
    end: datetime
    open_on_holidays: bool = False


def fits(schedule: ResourceSchedule, booking: Booking, *, holidays: Collection[date], tz: str = "Europe/Oslo") -> bool:
    """Would the engine still place this booking in this schedule's hours?"""
    zone = ZoneInfo(tz)
    day = booking.start.astimezone(zone).date()
    weekday = day.weekday()
    res = _Resource(schedule)
    shut, spans = res.plan(day, weekday, day in holidays and not booking.open_on_holidays)
    if shut is not None:
        return False
    clock = _Day(zone, day)
    s, e = _floor_s(booking.start), _floor_s(booking.end)
    if not any(clock.boundary(a) <= s and e <= clock.boundary(b) for a, b in spans):
        return False
    for a, b in res.breaks[weekday]:
        bs, be = clock.boundary(a), clock.boundary(b)
        if bs < be and bs < e and s < be:
            return False
    return True


def newly_outside(
    bookings: Iterable[Booking], before: ResourceSchedule, after: ResourceSchedule, *, holidays: Collection[date], tz: str = "Europe/Oslo"
) -> list[Booking]:
    """The bookings a change from `before` to `after` would orphan: inside
    the old hours, outside the new ones (outside hours, in a new break, on a
    newly closed day), in time order. A booking that was already outside
    the old hours (made by the desk out of hours) is not the change's doing."""
    out = [b for b in bookings if fits(before, b, holidays=holidays, tz=tz) and not fits(after, b, holidays=holidays, tz=tz)]
    return sorted(out, key=lambda b: b.start)

"""Unit tests of editing opening hours (portal.availability.hours) and of the
team's rules (portal.identity.staff.roster): the checks of a week and of a
dated exception, which bookings a new schedule leaves outside, and that a
supplier keeps an owner."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.availability import hours
from portal.availability.domain import DayException, HoursRule, OfferingRules, ResourceSchedule, free_slots
from portal.identity.staff import roster
from portal.identity.staff.domain import Role

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc
MONDAY = date(2027, 3, 1)  # a Monday without a holiday or an offset change


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=OSLO).astimezone(UTC)


def row(key: str, weekday: int, start: str, end: str, is_break: bool = False) -> hours.IntervalInput:
    return hours.IntervalInput(key=key, weekday=weekday, start=start, end=end, is_break=is_break)


def booking(key: str, day: date, hh: int, mm: int = 0, minutes: int = 30, holidays: bool = False) -> hours.Booking:
    start = at(day, hh, mm)
    return hours.Booking(key=key, start=start, end=start + timedelta(minutes=minutes), open_on_holidays=holidays)


# ---------------------------------------------------------------- the week


def test_a_week_of_hours_and_breaks_is_read_and_each_bad_row_named():
    good, breaks, errors = hours.check_week(
        [
            row("o-0-0", 0, "09:00", "12:00"),
            row("o-0-1", 0, "13:00", "17:30"),
            row("b-0-0", 0, "10:30", "10:45", True),
            row("o-5-0", 5, "9.00", "00:00"),  # Saturday until midnight
            row("o-6-0", 6, "", ""),  # Sunday left empty: closed
        ]
    )
    assert errors == {}
    assert good == (HoursRule(0, time(9), time(12)), HoursRule(0, time(13), time(17, 30)), HoursRule(5, time(9), time(0)))
    assert breaks == (HoursRule(0, time(10, 30), time(10, 45)),)

    good, breaks, errors = hours.check_week(
        [
            row("o-1-0", 1, "9", "12:00"),
            row("o-1-1", 1, "14:00", ""),
            row("o-2-0", 2, "12:00", "09:00"),
            row("o-3-0", 3, "09:00", "17:00"),
            row("o-3-1", 3, "10:00", "11:00"),
            row("o-3-2", 3, "12:00", "13:00"),  # overlaps the first interval, not the one before it
            row("o-3-3", 3, "17:00", "18:00"),  # touching is fine
            row("b-3-0", 3, "16:30", "17:30", True),  # sticks out of 09–17
            row("o-4-0", 4, "24:00", "10:00"),
            row("o-4-1", 4, "25:00", "26:00"),
        ]
    )
    assert errors == {
        "o-1-0": hours.BAD_TIME,
        "o-1-1": hours.BOTH,
        "o-2-0": hours.ORDER,
        "o-3-1": hours.OVERLAP,
        "o-3-2": hours.OVERLAP,
        "b-3-0": hours.BREAK_OUTSIDE,
        "o-4-0": hours.BAD_TIME,
        "o-4-1": hours.BAD_TIME,
    }
    assert good == (HoursRule(3, time(9), time(17)), HoursRule(3, time(17), time(18))) and breaks == ()


def test_a_dated_exception_is_today_or_later_and_never_closes_a_closed_date_twice():
    today = MONDAY
    closed, errors = hours.check_exception(hours.ExceptionInput(day="2027-03-01", closed=True), today=today, existing=[])
    assert errors == {} and closed == DayException(day=today, closed=True)
    changed, errors = hours.check_exception(hours.ExceptionInput(day="2027-03-02", closed=False, start="10:00", end="14:00"), today=today, existing=[])
    assert errors == {} and changed == DayException(day=date(2027, 3, 2), closed=False, hours=((time(10), time(14)),))

    def problems(values: hours.ExceptionInput, existing=()) -> dict:
        made, errors = hours.check_exception(values, today=today, existing=list(existing))
        assert made is None
        return errors

    assert problems(hours.ExceptionInput(day="2027-02-28", closed=True)) == {"day": hours.PAST_DATE}
    assert problems(hours.ExceptionInput(day="1. mars", closed=True)) == {"day": hours.BAD_DATE}
    assert problems(hours.ExceptionInput(day="2031-03-01", closed=True)) == {"day": hours.FAR_DATE}
    assert problems(hours.ExceptionInput(day="2027-03-01", closed=True), [closed]) == {"day": hours.ALREADY_CLOSED}
    assert problems(hours.ExceptionInput(day="2027-03-02", closed=False)) == {"start": hours.HOURS_REQUIRED}
    assert problems(hours.ExceptionInput(day="2027-03-02", closed=False, start="14", end="10:00")) == {"start": hours.BAD_TIME}
    assert problems(hours.ExceptionInput(day="2027-03-02", closed=False, start="14:00", end="10:00")) == {"end": hours.ORDER}
    assert problems(hours.ExceptionInput(day="2027-03-02", closed=False, start="13:00", end="15:00"), [changed]) == {"start": hours.OVERLAP}
    # Other hours the same date that do not overlap are more hours.
    more, errors = hours.check_exception(hours.ExceptionInput(day="2027-03-02", closed=False, start="16:00", end="18:00"), today=today, existing=[changed])
    assert errors == {} and more.hours == ((time(16), time(18)),)


# ---------------------------------------------------------------- bookings outside the hours


WEEK = ResourceSchedule(
    resource_id=1,
    hours=tuple(HoursRule(wd, time(9), time(17)) for wd in range(5)),
    breaks=(HoursRule(0, time(12), time(12, 30)),),
)


def test_a_change_names_the_bookings_it_would_leave_outside_the_hours_and_only_those():
    early, late, lunch, tuesday = booking("early", MONDAY, 9), booking("late", MONDAY, 16, 30), booking("lunch", MONDAY, 13), booking("tue", MONDAY + timedelta(days=1), 10)
    bookings = [late, lunch, early, tuesday]
    shorter = ResourceSchedule(1, hours=(HoursRule(0, time(10), time(17)), *WEEK.hours[1:]), breaks=WEEK.breaks)
    assert hours.newly_outside(bookings, WEEK, shorter, holidays=()) == [early]
    new_break = ResourceSchedule(1, hours=WEEK.hours, breaks=(HoursRule(0, time(12, 45), time(13, 15)),))
    assert hours.newly_outside(bookings, WEEK, new_break, holidays=()) == [lunch]
    closed_tuesday = ResourceSchedule(1, hours=WEEK.hours, breaks=WEEK.breaks, exceptions=(DayException(MONDAY + timedelta(days=1), closed=True),))
    assert hours.newly_outside(bookings, WEEK, closed_tuesday, holidays=()) == [tuesday]
    # Changed hours on the date replace the week's: 09:00 and 16:30 are outside 12:00–16:30 (the 16:30 one ends at 17:00).
    changed_monday = ResourceSchedule(1, hours=WEEK.hours, breaks=(), exceptions=(DayException(MONDAY, closed=False, hours=((time(12), time(16, 30)),)),))
    assert hours.newly_outside(bookings, WEEK, changed_monday, holidays=()) == [early, late]
    # Nothing closed: nothing named; the same schedule leaves everything where it was.
    assert hours.newly_outside(bookings, WEEK, WEEK, holidays=()) == []
    # A booking that was already outside the old hours (the desk booked it late) is not the change's doing.
    evening = booking("evening", MONDAY, 18)
    assert not hours.fits(WEEK, evening, holidays=())
    assert hours.newly_outside([evening], WEEK, shorter, holidays=()) == []


def test_a_holiday_booking_of_an_offering_open_on_holidays_counts_the_weekly_hours():
    easter_monday = date(2027, 3, 29)
    open_kind, closed_kind = booking("open", easter_monday, 10, holidays=True), booking("shut", easter_monday, 10)
    assert hours.fits(WEEK, open_kind, holidays={easter_monday})
    assert not hours.fits(WEEK, closed_kind, holidays={easter_monday})
    monday_off = ResourceSchedule(1, hours=WEEK.hours[1:])
    assert hours.newly_outside([open_kind, closed_kind], WEEK, monday_off, holidays={easter_monday}) == [open_kind]


def test_across_the_autumn_change_a_booking_fits_by_the_wall_clock():
    sunday = date(2027, 10, 31)  # 03:00 summer time is 02:00 winter time: the day has 25 hours
    night = ResourceSchedule(1, hours=(HoursRule(6, time(1), time(4)),))
    late = hours.Booking("b", start=at(sunday, 3, 0), end=at(sunday, 4, 0))
    assert hours.fits(night, late, holidays=())
    assert not hours.fits(ResourceSchedule(1, hours=(HoursRule(6, time(1), time(3, 30)),)), late, holidays=())


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, 20 * 4),
    length=st.integers(1, 12 * 4),
    brk=st.integers(0, 24 * 4 - 1),
    duration=st.sampled_from([15, 30, 45, 60, 90]),
)
def test_every_time_the_engine_offers_fits_its_schedule(start, length, brk, duration):
    """The engine (free_slots) and `fits` read a schedule alike: each offered start, booked, fits."""
    a = time(start // 4, start % 4 * 15)
    end_q = min(start + length, 24 * 4)
    b = time(0) if end_q == 24 * 4 else time(end_q // 4, end_q % 4 * 15)
    br = time(brk // 4, brk % 4 * 15)
    br_end = (datetime.combine(MONDAY, br) + timedelta(minutes=30)).time()
    schedule = ResourceSchedule(1, hours=(HoursRule(0, a, b),), breaks=(HoursRule(0, br, br_end),) if br_end > br else ())
    rules = OfferingRules(duration_min=duration, step_min=15, max_advance_days=400)
    slots = free_slots(rules, [schedule], [], [], first_day=MONDAY, last_day=MONDAY, now=at(MONDAY, 0) - timedelta(days=1), holidays=frozenset())
    for slot in slots:
        assert hours.fits(schedule, hours.Booking("s", slot.start, slot.end), holidays=())
    closed = ResourceSchedule(1, hours=(), exceptions=())
    assert all(not hours.fits(closed, hours.Booking("s", s.start, s.end), holidays=()) for s in slots)


# ---------------------------------------------------------------- the team


def test_an_invitation_needs_an_email_a_name_a_role_and_a_free_calendar_of_this_supplier():
    made, errors = roster.check_invitation({"email": " Kari@Example.no ", "name": "Kari", "role": "front_desk", "resource": "7"}, calendars=[7, 8])
    assert errors == {} and made == roster.Invitation(email="kari@example.no", name="Kari", role=Role.FRONT_DESK, resource_id=7)
    made, errors = roster.check_invitation({"email": "kari@", "name": " ", "role": "boss", "resource": "9"}, calendars=[7, 8])
    assert made is None and errors == {"email": roster.BAD_EMAIL, "name": roster.NAME_REQUIRED, "role": roster.BAD_ROLE, "resource": roster.BAD_CALENDAR}
    _, errors = roster.check_invitation({"email": "a@example.no", "name": "A", "role": "staff", "resource": "8"}, calendars=[7, 8], taken=[8])
    assert errors == {"resource": roster.CALENDAR_TAKEN}
    made, errors = roster.check_invitation({"email": "a@example.no", "name": "A", "role": "staff", "resource": ""}, calendars=[7])
    assert errors == {} and made.resource_id is None


def test_the_last_owner_can_neither_leave_nor_step_down():
    team = {1: Role.OWNER, 2: Role.FRONT_DESK, 3: "staff"}
    assert not roster.keeps_an_owner(team, 1, None)
    assert not roster.keeps_an_owner(team, 1, Role.STAFF)
    assert roster.keeps_an_owner(team, 1, Role.OWNER)
    assert roster.keeps_an_owner(team, 2, None) and roster.keeps_an_owner(team, 3, Role.FRONT_DESK)
    assert roster.keeps_an_owner({**team, 2: Role.OWNER}, 1, None)  # with a second owner the first may go

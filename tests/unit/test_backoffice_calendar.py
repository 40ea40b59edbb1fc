"""The day grid's layout and the staff rules, as pure functions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from portal.availability.domain import DayException, HoursRule, ResourceSchedule
from portal.backoffice import calendar
from portal.identity.staff import domain

OSLO = calendar.OSLO
DAY = date(2026, 12, 7)  # a Monday


def at(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), OSLO)


SCHEDULE = ResourceSchedule(
    resource_id=1,
    hours=(HoursRule(0, time(9), time(17)),),
    breaks=(HoursRule(0, time(12), time(12, 30)),),
    exceptions=(DayException(day=DAY + timedelta(days=7), closed=True),),
)


def test_day_hours_follow_the_week_the_breaks_and_the_dated_exceptions():
    assert calendar.day_hours(SCHEDULE, DAY) == ([(540, 1020)], [(720, 750)])
    assert calendar.day_hours(SCHEDULE, DAY + timedelta(days=1)) == ([], [])  # Tuesday: no hours
    assert calendar.day_hours(SCHEDULE, DAY + timedelta(days=7)) == ([], [])  # closed that Monday


def test_a_booking_takes_the_rows_of_its_time_and_closed_hours_are_blocks_too():
    spans, breaks = calendar.day_hours(SCHEDULE, DAY)
    booking = calendar.Booking(order_id=7, start=at(10, 15), end=at(11), title="Herreklipp", customer="Kari", state="confirmed")
    grid = calendar.build([calendar.ColumnInput("1", "Ingrid", DAY, spans, breaks, [booking])], now=at(10, 40))
    assert (grid.first_minute, grid.last_minute) == (540, 1020)
    assert grid.rows == 32 and grid.hours[0] == (2, "09:00") and grid.hours[-1] == (30, "16:00")
    (column,) = grid.columns
    kinds = {(b.kind, b.row, b.span) for b in column.blocks}
    assert ("booking", 2 + 5, 3) in kinds  # 10:15 is the 6th quarter after 09:00; 45 minutes is 3 rows
    assert ("break", 2 + 12, 2) in kinds
    assert not [b for b in column.blocks if b.kind == "closed"]  # open the whole range shown
    assert column.now_row == 2 + 6  # 10:40 is in the 10:30 row


def test_bookings_outside_the_hours_widen_the_grid_and_other_days_have_no_now_line():
    late = calendar.Booking(order_id=1, start=at(18), end=at(19, 30), title="x", customer="y", state="confirmed")
    grid = calendar.build([calendar.ColumnInput("1", "A", DAY, [(540, 1020)], [], [late])], now=at(10, day=DAY + timedelta(days=1)))
    assert grid.last_minute == 20 * 60
    assert [b.kind for b in grid.columns[0].blocks] == ["closed", "booking"]
    assert grid.columns[0].now_row is None


def test_a_day_with_nothing_open_shows_the_default_hours_closed():
    grid = calendar.build([calendar.ColumnInput("1", "A", DAY, [], [], [])], now=at(10))
    assert (grid.first_minute, grid.last_minute) == calendar.DEFAULT_RANGE
    assert grid.columns[0].closed_all_day


def test_the_stylesheet_has_a_placement_class_for_every_row_and_column_the_grid_can_use():
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "kontor.css").read_text()
    rows = 24 * 60 // calendar.ROW_MINUTES
    for n in range(1, rows + 2):
        assert f".gr-{n} {{" in css, n
    for n in range(1, rows + 1):
        assert f".gs-{n} {{" in css, n
    for n in range(1, 31):
        assert f".gc-{n} {{" in css, n


def test_roles_allow_what_the_issue_says():
    P = domain.Permission
    assert all(domain.may("owner", p) for p in P)
    assert domain.may("front_desk", P.SEE_ALL_CALENDARS) and not domain.may("front_desk", P.SETTINGS) and not domain.may("front_desk", P.REPORTS)
    assert domain.may("staff", P.ACT_ON_BOOKINGS) and not domain.may("staff", P.SEE_ALL_CALENDARS) and not domain.may("staff", P.REFUND)
    assert not domain.may("nobody", P.ACT_ON_BOOKINGS)
    assert domain.sees_booking("staff", 3, [3]) and not domain.sees_booking("staff", 3, [4]) and not domain.sees_booking("staff", None, [4])
    assert domain.sees_booking("front_desk", None, [4])


def test_lockout_lasts_until_the_oldest_counted_failure_leaves_the_window():
    now = datetime(2026, 12, 7, 12, tzinfo=OSLO)
    window = timedelta(minutes=15)
    fails = [now - timedelta(minutes=m) for m in (14, 10, 5, 2, 1)]
    assert domain.locked_until(fails, 5, window, now) == fails[0] + window
    assert domain.locked_until(fails[1:], 5, window, now) is None
    assert domain.locked_until(fails + [now - timedelta(minutes=30)], 5, window, now) == fails[0] + window


def test_sessions_end_when_idle_too_long_too_old_or_ended():
    rules = domain.SessionRules()
    t0 = datetime(2026, 12, 7, 8, tzinfo=OSLO)
    assert domain.session_alive(created_at=t0, last_seen_at=t0, ended_at=None, now=t0 + timedelta(minutes=29), rules=rules)
    assert not domain.session_alive(created_at=t0, last_seen_at=t0, ended_at=None, now=t0 + timedelta(minutes=30), rules=rules)
    assert not domain.session_alive(created_at=t0, last_seen_at=t0 + timedelta(hours=12), ended_at=None, now=t0 + timedelta(hours=12, minutes=1), rules=rules)
    assert not domain.session_alive(created_at=t0, last_seen_at=t0, ended_at=t0, now=t0 + timedelta(minutes=1), rules=rules)


def test_passwords_need_some_length_and_are_not_the_email():
    assert domain.password_problem("kort", "a@b.no") is domain.PasswordProblem.TOO_SHORT
    assert domain.password_problem("x" * 201, "a@b.no") is domain.PasswordProblem.TOO_LONG
    assert domain.password_problem("Kari@Salong.no", "kari@salong.no") is domain.PasswordProblem.SAME_AS_EMAIL
    assert domain.password_problem("et langt passord", "kari@salong.no") is None

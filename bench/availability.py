"""Benchmark of the pure slot engine: 90 days x 20 resources, 2,000 bookings.

Run from the repository root:  python bench/availability.py [--runs N]
Prints one JSON object; times are milliseconds per free_slots call.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal.availability.domain import (  # noqa: E402
    Claim,
    DayException,
    HoursRule,
    OfferingRules,
    ResourceSchedule,
    SeatUse,
    free_slots,
)
from portal.availability.holidays import norwegian_holidays  # noqa: E402

GOAL_MS = 20.0
OSLO = ZoneInfo("Europe/Oslo")
FIRST = date(2026, 9, 14)  # the window spans the October DST change
DAYS = 90
LAST = FIRST + timedelta(days=DAYS - 1)
NOW = datetime(2026, 9, 14, 7, 0, tzinfo=OSLO).astimezone(timezone.utc)
RESOURCES = 20
BOOKINGS = 2_000


def schedules(rng: random.Random) -> list[ResourceSchedule]:
    out = []
    for rid in range(1, RESOURCES + 1):
        hours = [HoursRule(wd, time(8), time(18)) for wd in range(5)]
        hours.append(HoursRule(5, time(10), time(16)))
        if rid % 4 == 0:  # some work Sundays, incl. the DST Sunday
            hours.append(HoursRule(6, time(0), time(6)))
        breaks = tuple(HoursRule(wd, time(12), time(12, 30)) for wd in range(5))
        exceptions = []
        for _ in range(3):
            day = FIRST + timedelta(days=rng.randrange(DAYS))
            if rng.random() < 0.5:
                exceptions.append(DayException(day, closed=True))
            else:
                exceptions.append(DayException(day, closed=False, hours=((time(14), time(20)),)))
        out.append(ResourceSchedule(rid, tuple(hours), breaks, tuple(exceptions)))
    return out


def claims(rng: random.Random) -> list[Claim]:
    out = []
    while len(out) < BOOKINGS:
        day = FIRST + timedelta(days=rng.randrange(DAYS))
        if day.weekday() >= 5:
            continue
        minute = rng.randrange(8 * 60, 17 * 60, 15)
        start = datetime.combine(day, time(minute // 60, minute % 60), OSLO).astimezone(timezone.utc)
        length = rng.choice((30, 45, 60, 90))
        out.append(
            Claim(
                rng.randrange(1, RESOURCES + 1),
                start,
                start + timedelta(minutes=length),
                rng.choice((0, 5, 10)),
                rng.choice((0, 5, 10)),
            )
        )
    return out


def measure(fn, runs: int) -> tuple[float, float, int]:
    fn()  # warm-up
    times = []
    result = None
    for _ in range(runs):
        t0 = clock.perf_counter()
        result = fn()
        times.append((clock.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, len(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    rng = random.Random(20261122)
    scheds = schedules(rng)
    cls = claims(rng)
    hols = norwegian_holidays(FIRST, LAST)
    rules = OfferingRules(
        duration_min=45, step_min=15, buffer_before_min=5, buffer_after_min=10,
        min_notice_min=120, max_advance_days=120,
    )

    def run():
        return free_slots(rules, scheds, cls, (), first_day=FIRST, last_day=LAST, now=NOW, holidays=hols)

    median, p95, n = measure(run, args.runs)

    # For information: the same calendar as a 12-seat class (counts seats per start).
    class_rules = OfferingRules(
        duration_min=60, step_min=30, capacity=12, min_notice_min=120, max_advance_days=120,
    )
    seat_rows = [SeatUse(c.resource_id, c.start, rng.randint(1, 12)) for c in cls[:500]]

    def run_class():
        return free_slots(class_rules, scheds, cls[500:], seat_rows, first_day=FIRST, last_day=LAST, now=NOW, holidays=hols)

    c_median, c_p95, c_n = measure(run_class, args.runs)

    print(json.dumps({
        "bench": "availability.free_slots",
        "days": DAYS,
        "resources": RESOURCES,
        "bookings": BOOKINGS,
        "runs": args.runs,
        "slots": n,
        "median_ms": round(median, 2),
        "p95_ms": round(p95, 2),
        "goal_ms": GOAL_MS,
        "meets_goal": p95 <= GOAL_MS,
        "capacity12_median_ms": round(c_median, 2),
        "capacity12_p95_ms": round(c_p95, 2),
        "capacity12_slots": c_n,
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()

"""Benchmark of the pure slot engine: 90 days x 20 resources, 2,000 bookings.

Run from the repository root:  python bench/availability.py [--runs N]
Prints one JSON object; times are milliseconds per free_slots call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


def measure(fn, runs: int) -> dict[str, float]:
    """Wall-clock and CPU milliseconds per call (median, p95) after a warm-up.

    CPU time (this process only) is reported too because the machines this runs
    on are shared: under load the wall clock includes time spent waiting for a core.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        c0, t0 = clock.process_time(), clock.perf_counter()
        fn()
        wall.append((clock.perf_counter() - t0) * 1000)
        cpu.append((clock.process_time() - c0) * 1000)

    def p95(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]

    return {
        "median_ms": round(statistics.median(wall), 2),
        "p95_ms": round(p95(wall), 2),
        "min_ms": round(min(wall), 2),
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "cpu_p95_ms": round(p95(cpu), 2),
    }


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

    slots = len(run())
    main_figures = measure(run, args.runs)

    # For information: the same calendar as a 12-seat class (counts seats per start).
    class_rules = OfferingRules(
        duration_min=60, step_min=30, capacity=12, min_notice_min=120, max_advance_days=120,
    )
    seat_rows = [SeatUse(c.resource_id, c.start, rng.randint(1, 12)) for c in cls[:500]]

    def run_class():
        return free_slots(class_rules, scheds, cls[500:], seat_rows, first_day=FIRST, last_day=LAST, now=NOW, holidays=hols)

    class_figures = measure(run_class, args.runs)

    print(json.dumps({
        "bench": "availability.free_slots",
        "days": DAYS,
        "resources": RESOURCES,
        "bookings": BOOKINGS,
        "runs": args.runs,
        "slots": slots,
        **main_figures,
        "goal_ms": GOAL_MS,
        "meets_goal": main_figures["p95_ms"] <= GOAL_MS,
        "meets_goal_cpu": main_figures["cpu_p95_ms"] <= GOAL_MS,
        "capacity12": {"slots": len(run_class()), **class_figures},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()

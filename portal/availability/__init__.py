"""The slot engine: pure functions, no I/O. See ``domain`` for the rules."""

from portal.availability.domain import (
    Claim,
    DayException,
    HoursRule,
    OfferingRules,
    Reason,
    ResourceSchedule,
    SeatUse,
    Slot,
    day_reasons,
    free_slots,
    why_not,
)
from portal.availability.holidays import norwegian_holidays

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
    "norwegian_holidays",
    "why_not",
]

"""Right of withdrawal (angrerett): classes, deadline, the early-start request.

Pure: no I/O; `contract_at` and `start` are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.availability.holidays import norwegian_holidays
from portal.lib.i18n import N_

OSLO = ZoneInfo("Europe/Oslo")

#: L4: the classes an offering can have.
CLASSES = ("standard", "exempt_dated_leisure", "exempt_custom", "digital_content")


@dataclass(frozen=True)
class WithdrawalInfo:
    """What the customer is told about the right of withdrawal (L4, L6)."""

    applies: bool
    message: str


WITHDRAWAL_MESSAGES = {
    "standard": N_(
        "You have a right of withdrawal for 14 days after the booking. If the appointment is "
        "within those 14 days, you must ask for it to start early; the right then lapses once "
        "the service has been fully performed."
    ),
    "exempt_dated_leisure": N_(
        "No right of withdrawal: this is a leisure activity on a specific date (angrerettloven § 22)."
    ),
    "exempt_custom": N_("No right of withdrawal: the service is made to your specification."),
    "digital_content": N_(
        "The right of withdrawal lapses when delivery of the digital content starts with your consent."
    ),
}


def withdrawal_info(withdrawal_class: str) -> WithdrawalInfo:
    if withdrawal_class not in WITHDRAWAL_MESSAGES:
        raise ValueError(f"unknown withdrawal class {withdrawal_class!r}")
    return WithdrawalInfo(applies=withdrawal_class in {"standard", "digital_content"}, message=WITHDRAWAL_MESSAGES[withdrawal_class])


WITHDRAWAL_DAYS = 14


#: L12: how long the period grows when the withdrawal information or form was not given.
EXTENSION_MONTHS = 12


def _working_day(day: date) -> date:
    """`day`, or the next day that is neither a Saturday, a Sunday nor a Norwegian public holiday."""
    closed = norwegian_holidays(day, day + timedelta(days=14))
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


def _plus_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def withdrawal_deadline(contract_at: datetime) -> date:
    """L5: the last local day of the withdrawal period. The day of contract
    does not count; a deadline on a Saturday, Sunday or Norwegian public
    holiday moves to the next working day."""
    return _working_day(contract_at.astimezone(OSLO).date() + timedelta(days=WITHDRAWAL_DAYS))


def deadline_with_information(contract_at: datetime, informed_at: datetime | None) -> date:
    """L5 with L12: the last local day to withdraw, given when the customer got
    the withdrawal information and form (`informed_at`; None: never).
    Given with the contract (the same day): the ordinary deadline. Never
    given: 12 months longer. Given later: 14 days from the day it was given,
    but never past the 12-month extension."""
    ordinary = withdrawal_deadline(contract_at)
    longest = _working_day(_plus_months(ordinary, EXTENSION_MONTHS))
    if informed_at is None:
        return longest
    if informed_at.astimezone(OSLO).date() <= contract_at.astimezone(OSLO).date():
        return ordinary
    return min(withdrawal_deadline(informed_at), longest)


def within_period(contract_at: datetime | None, informed_at: datetime | None, now: datetime) -> bool:
    """Is `now` inside the withdrawal period (False before a contract exists)?"""
    if contract_at is None:
        return False
    return now.astimezone(OSLO).date() <= deadline_with_information(contract_at, informed_at)


def may_withdraw(withdrawal_class: str, contract_at: datetime | None, informed_at: datetime | None, now: datetime) -> bool:
    """L4, L10: a `standard` service may be withdrawn from for the whole period."""
    return withdrawal_class == "standard" and within_period(contract_at, informed_at, now)


def late_fee_may_apply(withdrawal_class: str, contract_at: datetime | None, informed_at: datetime | None, now: datetime) -> bool:
    """L32: inside the withdrawal period a customer's cancellation of a
    `standard` service is a withdrawal and never costs the late-cancellation
    fee. Outside the period, before a contract, and for the exempt classes
    the fee accepted at checkout applies (whether it is due is the
    cancellation terms' own question)."""
    return not may_withdraw(withdrawal_class, contract_at, informed_at, now)


def payable_after_withdrawal(*, price_ore: int, early_start: bool, started: bool, delivered_ore: int | None) -> int | None:
    """L8: what the customer pays after withdrawing. Nothing before the
    service starts, and nothing without the early-start request (even after
    delivery). With the request and once started: the part delivered as the
    supplier states it, bounded by the price; None while it is not stated."""
    if not early_start or not started:
        return 0
    if delivered_ore is None:
        return None
    return max(0, min(int(delivered_ore), int(price_ore)))


def needs_early_start_request(withdrawal_class: str, start: datetime, contract_at: datetime) -> bool:
    """L7: a `standard` service that starts before the withdrawal deadline has
    ended needs the customer's own request to start early."""
    if withdrawal_class != "standard":
        return False
    return start.astimezone(OSLO).date() <= withdrawal_deadline(contract_at)

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


def withdrawal_deadline(contract_at: datetime) -> date:
    """L5: the last local day of the withdrawal period. The day of contract
    does not count; a deadline on a Saturday, Sunday or Norwegian public
    holiday moves to the next working day."""
    deadline = contract_at.astimezone(OSLO).date() + timedelta(days=WITHDRAWAL_DAYS)
    closed = norwegian_holidays(deadline, deadline + timedelta(days=14))
    while deadline.weekday() >= 5 or deadline in closed:
        deadline += timedelta(days=1)
    return deadline


def needs_early_start_request(withdrawal_class: str, start: datetime, contract_at: datetime) -> bool:
    """L7: a `standard` service that starts before the withdrawal deadline has
    ended needs the customer's own request to start early."""
    if withdrawal_class != "standard":
        return False
    return start.astimezone(OSLO).date() <= withdrawal_deadline(contract_at)

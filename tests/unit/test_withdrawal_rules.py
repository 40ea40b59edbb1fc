"""The withdrawal rules (portal.legal.withdrawal): the deadline with its
extension (L5, L12), what is paid after a withdrawal (L8), and the
late-cancellation fee that never applies inside the period (L32) — the
latter as a property over times, classes and early-start requests, against
an independent day-by-day reading of the rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.legal.withdrawal import (
    CLASSES,
    deadline_with_information,
    late_fee_may_apply,
    payable_after_withdrawal,
    withdrawal_deadline,
)
from portal.payments.domain import Ledger, Outcome, in_free_window, settlement

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc


def oslo(y, m, d, h=12, mi=0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=OSLO).astimezone(UTC)


def oracle_deadline(contract_at: datetime) -> date:
    """Count 14 days from the day after the contract; step past Saturdays, Sundays and holidays."""
    day = contract_at.astimezone(OSLO).date()
    for _ in range(14):
        day += timedelta(days=1)
    closed = holidays.country_holidays("NO", years=[day.year, day.year + 1])
    while day.weekday() in (5, 6) or (day in closed and closed.get(day) != "Søndag"):
        day += timedelta(days=1)
    return day


@pytest.mark.legal("L5")
@pytest.mark.legal("L12")
def test_the_deadline_moves_past_weekends_and_holidays_and_grows_when_the_form_was_not_given():
    # Booked Thursday 19 March 2026 (local): 14 days later is Thursday 2 April, Maundy Thursday;
    # Good Friday, the weekend and Easter Monday follow: the deadline is Tuesday 7 April.
    contract = oslo(2026, 3, 19, 23, 30)
    assert withdrawal_deadline(contract) == date(2026, 4, 7)
    # Any time of the local day is that day (23:30 and 00:10 in Oslo alike).
    assert withdrawal_deadline(oslo(2026, 3, 19, 0, 10)) == date(2026, 4, 7)
    # L12: given with the contract → as is; never given → 12 months longer; given later → 14 days from then.
    assert deadline_with_information(contract, contract + timedelta(minutes=1)) == date(2026, 4, 7)
    assert deadline_with_information(contract, None) == date(2027, 4, 7)
    given_late = oslo(2026, 5, 4, 10)
    assert deadline_with_information(contract, given_late) == withdrawal_deadline(given_late) == date(2026, 5, 18)
    # Given after the 12-month extension ran out: the extension is the end.
    assert deadline_with_information(contract, oslo(2027, 12, 1)) == date(2027, 4, 7)


@pytest.mark.legal("L8")
def test_after_a_withdrawal_the_customer_pays_only_the_part_delivered_after_an_early_start():
    assert payable_after_withdrawal(price_ore=549_00, early_start=True, started=False, delivered_ore=None) == 0
    assert payable_after_withdrawal(price_ore=549_00, early_start=False, started=True, delivered_ore=549_00) == 0
    assert payable_after_withdrawal(price_ore=549_00, early_start=True, started=True, delivered_ore=None) is None
    assert payable_after_withdrawal(price_ore=549_00, early_start=True, started=True, delivered_ore=900_00) == 549_00
    captured = Ledger(authorized_ore=549_00, captured_ore=549_00)
    assert settlement(Outcome.WITHDRAWN, captured, due_ore=549_00, fee_ore=274_50, keep_ore=200_00).refund_ore == 349_00
    assert settlement(Outcome.WITHDRAWN, captured, due_ore=549_00, fee_ore=274_50).refund_ore == 549_00
    reserved = Ledger(authorized_ore=549_00)
    part = settlement(Outcome.WITHDRAWN, reserved, due_ore=549_00, fee_ore=274_50, keep_ore=200_00)
    assert (part.capture_ore, part.cancel_rest, part.refund_ore) == (200_00, True, 0)


moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@pytest.mark.legal("L32")
@settings(max_examples=150, deadline=None)
@given(
    contract_at=moments,
    later_minutes=st.integers(min_value=0, max_value=40 * 24 * 60),
    start_after_minutes=st.integers(min_value=1, max_value=40 * 24 * 60),
    withdrawal_class=st.sampled_from(CLASSES),
    early_start=st.booleans(),
    informed=st.sampled_from(["with_contract", "never"]),
)
def test_a_cancellation_inside_the_withdrawal_period_never_costs_the_late_fee(
    contract_at, later_minutes, start_after_minutes, withdrawal_class, early_start, informed
):
    now = contract_at + timedelta(minutes=later_minutes)
    start = now + timedelta(minutes=start_after_minutes)
    informed_at = contract_at if informed == "with_contract" else None
    fee_ore, free_hours = 274_50, 24
    applies = late_fee_may_apply(withdrawal_class, contract_at, informed_at, now)
    charged = fee_ore if applies and not in_free_window(start, now, free_hours) else 0
    # The oracle: the last day, counted day by day (12 months more when the form never came).
    last = oracle_deadline(contract_at)
    if informed_at is None:
        last = deadline_with_information(contract_at, None)
        assert last >= date(last.year, 1, 1) and (last - oracle_deadline(contract_at)).days >= 365
    inside = now.astimezone(OSLO).date() <= last
    if withdrawal_class == "standard" and inside:
        assert charged == 0, "a cancellation inside the period is a withdrawal: no late fee, early start or not"
        # …and what the customer pays is decided by L8 alone, never more than the price.
        paid = payable_after_withdrawal(price_ore=549_00, early_start=early_start, started=False, delivered_ore=None)
        assert paid == 0
    else:
        assert applies, "outside the period, or for an exempt class, the accepted fee applies"
        assert charged == (fee_ore if now >= start - timedelta(hours=free_hours) else 0)
    # Before a contract exists there is no period: the terms decide.
    assert late_fee_may_apply(withdrawal_class, None, informed_at, now)

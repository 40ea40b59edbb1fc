"""How long bookkeeping is kept, when a code is fresh, when a customer is inactive (L19, L24, L26)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.account.forms import parse_new_phone, parse_profile
from portal.legal import retention

UTC = timezone.utc


@pytest.mark.legal("L19")
def test_bookkeeping_stays_five_years_after_the_end_of_the_oslo_accounting_year():
    end_2032 = datetime(2031, 12, 31, 23, 0, tzinfo=UTC)  # 1 January 2032, 00:00 in Oslo
    assert retention.bookkeeping_until(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == end_2032
    assert retention.bookkeeping_until(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == end_2032
    # 00:30 on New Year's Day in Oslo is still 2026 in UTC: it counts as 2027.
    assert retention.bookkeeping_until(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == datetime(2032, 12, 31, 23, 0, tzinfo=UTC)
    assert retention.hold_until([]) is None
    assert retention.hold_until([datetime(2026, 5, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)]) == datetime(2032, 12, 31, 23, 0, tzinfo=UTC)
    assert not retention.expired(end_2032, end_2032 - timedelta(seconds=1)) and retention.expired(end_2032, end_2032)


@pytest.mark.legal("L24")
@pytest.mark.legal("L26")
def test_a_code_is_fresh_for_ten_minutes_and_a_customer_inactive_after_the_days_set():
    typed = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert retention.is_fresh(typed, typed + timedelta(minutes=9, seconds=59))
    assert not retention.is_fresh(typed, typed + timedelta(minutes=10))
    assert not retention.is_fresh(None, typed) and not retention.is_fresh(typed, typed - timedelta(seconds=1))
    assert not retention.inactive(typed, typed + timedelta(days=89, hours=23), 90)
    assert retention.inactive(typed, typed + timedelta(days=90), 90) and not retention.inactive(None, typed, 90)


def test_profile_and_new_number_are_checked_and_normalised():
    good = parse_profile({"name": "  Kari  ", "email": "Kari@Example.NO"})
    assert (good.name, good.email, good.errors) == ("Kari", "Kari@example.no", {})
    assert set(parse_profile({"name": "", "email": "nei"}).errors) == {"name", "email"}
    assert set(parse_profile({"name": "x" * 201, "email": ""}).errors) == {"name", "email"}
    assert parse_new_phone({"phone": "480 12 345"}, "+4741234567") == ("+4748012345", None)
    assert parse_new_phone({"phone": "412 34 567"}, "+4741234567")[1] is not None
    assert parse_new_phone({"phone": "22 33 44 55"}, "+4741234567")[1] is not None  # a landline gets no code

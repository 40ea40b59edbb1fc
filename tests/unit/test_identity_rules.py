"""One-time code rules: limits, expiry, tries, hashing, SMS countries (L31)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.identity import domain
from portal.identity.domain import Limits, Refusal

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
LIMITS = Limits(valid_seconds=300, max_wrong_tries=5, resend_after_seconds=30, per_number_per_hour=5, per_ip_per_hour=20)
NO = "+4741234567"


def decide(**kw):
    args = {"phone": NO, "now": NOW, "limits": LIMITS, "number_sent_last_hour": [], "ip_sent_last_hour": [], "last_for_subject": None}
    args.update(kw)
    return domain.may_send(**args)


def test_first_code_is_allowed():
    assert decide().allowed


def test_resend_only_after_30_seconds():
    refused = decide(last_for_subject=NOW - timedelta(seconds=10))
    assert refused.refusal is Refusal.TOO_SOON and refused.retry_at == NOW + timedelta(seconds=20)
    assert decide(last_for_subject=NOW - timedelta(seconds=30)).allowed


def test_five_codes_per_number_per_hour():
    sent = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    refused = decide(number_sent_last_hour=sent)
    assert refused.refusal is Refusal.NUMBER_LIMIT
    assert refused.retry_at == NOW + timedelta(minutes=10)  # when the oldest of the five is an hour old
    assert decide(number_sent_last_hour=sent[1:]).allowed
    assert decide(number_sent_last_hour=[NOW - timedelta(minutes=61)] * 5).allowed


def test_twenty_codes_per_ip_per_hour():
    refused = decide(ip_sent_last_hour=[NOW - timedelta(minutes=1)] * 20)
    assert refused.refusal is Refusal.IP_LIMIT
    assert decide(ip_sent_last_hour=[NOW - timedelta(minutes=1)] * 19).allowed


@pytest.mark.legal("L31")
@pytest.mark.parametrize(
    ("number", "allowed"),
    [("+4741234567", True), ("+46701234567", True), ("+447400123456", True), ("+12025550123", True),
     ("+4915123456789", False), ("+33612345678", False), ("+8613812345678", False), ("garbage", False)],
)
def test_sms_only_to_the_countries_we_serve(number, allowed):
    assert domain.sms_allowed(number) is allowed
    assert (decide(phone=number).refusal is Refusal.COUNTRY) is (not allowed)


def test_attempts_expire_and_are_limited():
    expires = NOW + timedelta(minutes=5)
    assert domain.check_attempt(expires_at=expires, used=False, wrong_tries=0, now=NOW, limits=LIMITS) is None
    assert domain.check_attempt(expires_at=expires, used=False, wrong_tries=5, now=NOW, limits=LIMITS) is Refusal.TOO_MANY_TRIES
    assert domain.check_attempt(expires_at=NOW, used=False, wrong_tries=0, now=NOW, limits=LIMITS) is Refusal.EXPIRED
    assert domain.check_attempt(expires_at=expires, used=True, wrong_tries=0, now=NOW, limits=LIMITS) is Refusal.NO_CODE
    assert domain.check_attempt(expires_at=None, used=False, wrong_tries=0, now=NOW, limits=LIMITS) is Refusal.NO_CODE


@given(st.integers(0, 999_999), st.integers(0, 999_999))
def test_code_hash_matches_only_the_same_code_number_and_subject(a, b):
    code_a, code_b = f"{a:06d}", f"{b:06d}"
    stored = domain.hash_code("secret", NO, "checkout", "hold-1", code_a)
    assert stored != code_a and len(stored) == 64
    assert domain.code_matches("secret", NO, "checkout", "hold-1", code_b, stored) is (a == b)
    assert not domain.code_matches("secret", NO, "checkout", "hold-2", code_a, stored)
    assert not domain.code_matches("secret", "+4741234568", "checkout", "hold-1", code_a, stored)
    assert not domain.code_matches("other", NO, "checkout", "hold-1", code_a, stored)


def test_typed_code_may_contain_spaces():
    stored = domain.hash_code("s", NO, "login", NO, "012345")
    assert domain.code_matches("s", NO, "login", NO, " 012 345 ", stored)


def test_new_codes_are_six_digits_and_vary():
    codes = {domain.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190

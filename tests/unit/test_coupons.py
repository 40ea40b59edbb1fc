"""Coupon rules (portal.payments.coupons): codes, validity, discounts.

Expected values are written out by hand; boundaries are tested on both sides.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.payments.coupons import (
    REFUSAL_ARGS,
    REFUSAL_TEXT,
    CouponKind,
    CouponRefusal,
    CouponTerms,
    check,
    discount_for,
    normalise_code,
)

UTC = timezone.utc
OSLO = ZoneInfo("Europe/Oslo")
PROPS = settings(max_examples=300, deadline=None, database=None)

START = datetime(2026, 6, 1, 0, 0, tzinfo=OSLO)
END = datetime(2026, 9, 1, 0, 0, tzinfo=OSLO)
INSIDE = datetime(2026, 7, 15, 12, 0, tzinfo=OSLO)
TINY = timedelta(microseconds=1)


def terms(**changes) -> CouponTerms:
    base = dict(
        code="SUMMER-25",
        kind=CouponKind.PERCENT,
        value=25,
        valid_from=START,
        valid_until=END,
        max_uses=10,
        uses=3,
        min_amount_ore=500_00,
        offering_ids=frozenset({7, 8}),
        active=True,
    )
    base.update(changes)
    return CouponTerms(**base)


def run(t: CouponTerms | None, *, offering_id: int = 7, amount_ore: int = 1_000_00, now: datetime = INSIDE):
    return check(t, offering_id=offering_id, amount_ore=amount_ore, now=now)


# ---------------------------------------------------------------- check


def test_a_good_coupon_is_accepted():
    assert run(terms()) is None


def test_unknown():
    assert run(None) is CouponRefusal.UNKNOWN


def test_inactive():
    assert run(terms(active=False)) is CouponRefusal.INACTIVE


def test_valid_from_is_inclusive():
    assert run(terms(), now=START) is None
    assert run(terms(), now=START - TINY) is CouponRefusal.NOT_YET_VALID
    # The same moment in another zone is the same moment.
    assert run(terms(), now=START.astimezone(UTC)) is None


def test_valid_until_is_exclusive():
    assert run(terms(), now=END - TINY) is None
    assert run(terms(), now=END) is CouponRefusal.EXPIRED
    assert run(terms(), now=END + timedelta(days=400)) is CouponRefusal.EXPIRED


def test_open_ended_validity():
    open_ = terms(valid_from=None, valid_until=None)
    assert run(open_, now=datetime(2000, 1, 1, tzinfo=UTC)) is None
    assert run(open_, now=datetime(2100, 1, 1, tzinfo=UTC)) is None


def test_used_up_at_max_uses():
    assert run(terms(max_uses=10, uses=9)) is None
    assert run(terms(max_uses=10, uses=10)) is CouponRefusal.USED_UP
    assert run(terms(max_uses=10, uses=11)) is CouponRefusal.USED_UP
    assert run(terms(max_uses=1, uses=0)) is None
    assert run(terms(max_uses=None, uses=10**6)) is None


def test_minimum_amount_is_enough():
    assert run(terms(min_amount_ore=500_00), amount_ore=500_00) is None
    assert run(terms(min_amount_ore=500_00), amount_ore=499_99) is CouponRefusal.BELOW_MINIMUM
    assert run(terms(min_amount_ore=0), amount_ore=0) is None


def test_only_for_listed_offerings():
    assert run(terms(offering_ids=frozenset({7, 8})), offering_id=8) is None
    assert run(terms(offering_ids=frozenset({7, 8})), offering_id=9) is CouponRefusal.NOT_FOR_THIS_OFFERING
    assert run(terms(offering_ids=frozenset()), offering_id=9) is None, "empty: every offering"


def test_the_first_reason_wins_in_the_documented_order():
    everything_wrong = terms(active=False, max_uses=1, uses=1, min_amount_ore=10**9)
    assert run(everything_wrong, offering_id=99, now=START - TINY) is CouponRefusal.INACTIVE
    assert run(terms(max_uses=1, uses=1, min_amount_ore=10**9), offering_id=99, now=START - TINY) is CouponRefusal.NOT_YET_VALID
    assert run(terms(max_uses=1, uses=1, min_amount_ore=10**9), offering_id=99, now=END) is CouponRefusal.EXPIRED
    assert run(terms(max_uses=1, uses=1, min_amount_ore=10**9), offering_id=99) is CouponRefusal.USED_UP
    assert run(terms(min_amount_ore=10**9), offering_id=99) is CouponRefusal.NOT_FOR_THIS_OFFERING
    assert run(terms(min_amount_ore=10**9)) is CouponRefusal.BELOW_MINIMUM


def test_check_needs_an_aware_now():
    with pytest.raises(ValueError):
        run(terms(), now=datetime(2026, 7, 15, 12, 0))


@pytest.mark.parametrize(
    "changes",
    [
        {"code": "summer-25"},  # not normalised
        {"kind": "weekly"},
        {"kind": CouponKind.PERCENT, "value": 0},
        {"kind": CouponKind.PERCENT, "value": 101},
        {"kind": CouponKind.FIXED, "value": 0},
        {"kind": CouponKind.FIXED, "value": 10.5},
        {"valid_from": datetime(2026, 6, 1)},  # naive
        {"valid_until": START},  # not after valid_from
        {"max_uses": 0},
        {"uses": -1},
        {"min_amount_ore": -1},
    ],
)
def test_terms_refuse_nonsense(changes):
    with pytest.raises((ValueError, TypeError)):
        terms(**changes)


def test_terms_take_a_kind_as_text():
    assert terms(kind="fixed", value=100_00).kind is CouponKind.FIXED


# ---------------------------------------------------------------- discount_for


@pytest.mark.parametrize(
    ("kind", "value", "amount", "expected"),
    [
        (CouponKind.FIXED, 100_00, 1_000_00, 100_00),
        (CouponKind.FIXED, 100_00, 100_00, 100_00),
        (CouponKind.FIXED, 100_00, 60_00, 60_00),  # never more than the amount
        (CouponKind.FIXED, 100_00, 0, 0),
        (CouponKind.PERCENT, 10, 1_000_00, 100_00),
        (CouponKind.PERCENT, 10, 5, 1),  # 0,5 øre: half up
        (CouponKind.PERCENT, 10, 4, 0),  # 0,4 øre: down
        (CouponKind.PERCENT, 25, 999, 250),  # 249,75 → 250
        (CouponKind.PERCENT, 15, 1_234_50, 18_518),  # 18 517,5 → 18 518
        (CouponKind.PERCENT, 33, 101, 33),  # 33,33 → 33
        (CouponKind.PERCENT, 100, 1_234_56, 1_234_56),
        (CouponKind.PERCENT, 1, 0, 0),
    ],
)
def test_discount_for(kind, value, amount, expected):
    assert discount_for(terms(kind=kind, value=value), amount) == expected


@PROPS
@given(value=st.integers(1, 100), amount=st.integers(0, 10**10))
def test_percent_discount_rounds_half_up_and_stays_within_the_amount(value, amount):
    discount = discount_for(terms(kind=CouponKind.PERCENT, value=value), amount)
    assert type(discount) is int and 0 <= discount <= amount
    exact = Fraction(amount * value, 100)
    assert abs(discount - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):
        assert discount == int(exact) + 1


@PROPS
@given(value=st.integers(1, 10**9), amount=st.integers(0, 10**10))
def test_fixed_discount_is_the_value_capped_at_the_amount(value, amount):
    assert discount_for(terms(kind=CouponKind.FIXED, value=value), amount) == min(value, amount)


def test_discount_for_refuses_a_negative_or_float_amount():
    for amount in (-1, 10.0):
        with pytest.raises(ValueError):
            discount_for(terms(), amount)


# ---------------------------------------------------------------- normalise_code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("SUMMER-25", "SUMMER-25"),
        ("  summer-25 ", "SUMMER-25"),
        ("summer 25", "SUMMER25"),
        ("Su mm er-2 5", "SUMMER-25"),
        ("\tsummer-25\n", "SUMMER-25"),
        ("summer\u00a025", "SUMMER25"),  # a no-break space pasted from a mail
        ("abc", "ABC"),
        ("a-1", "A-1"),
        ("X" * 40, "X" * 40),
        (" " + "x" * 40 + " ", "X" * 40),  # spaces do not count
        ("0123456789", "0123456789"),
    ],
)
def test_normalise_code_accepts(raw, code):
    assert normalise_code(raw) == code


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ab",  # too short
        " a b ",  # too short once the spaces are gone
        "X" * 41,  # too long
        "SOMMER-ÆØÅ",
        "blåbær",
        "straße",  # 'ß'.upper() would be 'SS'
        "ſummer",  # long s: 'ſ'.upper() would be 'S'
        "\ufb00ab",  # ligature ff: upper() would be 'FF'
        "Ｓummer",  # full-width S
        "summer١٢",  # Arabic-Indic digits
        "summer_25",
        "summer.25",
        "summer+25",
        "---",  # no letter or digit
    ],
)
def test_normalise_code_refuses(raw):
    assert normalise_code(raw) is None


def test_normalise_code_refuses_what_is_not_text():
    assert normalise_code(None) is None  # type: ignore[arg-type]


@PROPS
@given(st.text(max_size=60))
def test_normalise_code_gives_a_stored_form_or_none(raw):
    code = normalise_code(raw)
    if code is not None:
        assert re.fullmatch(r"[A-Z0-9-]{3,40}", code)
        assert normalise_code(code) == code
        assert normalise_code(f"  {code.lower()}  ") == code


# ---------------------------------------------------------------- texts


def test_every_refusal_has_a_text_with_its_documented_arguments():
    assert set(REFUSAL_TEXT) == set(CouponRefusal)
    for refusal, text in REFUSAL_TEXT.items():
        names = set(re.findall(r"%\((\w+)\)s", text))
        assert names == set(REFUSAL_ARGS.get(refusal, ())), refusal
        assert text % {name: "x" for name in names}
        assert text.endswith("."), "a whole sentence"
        assert len(re.findall(r"[.!?](?:\s|$)", text)) >= 2, f"{refusal}: say what is wrong and what to do"
    assert "%(minimum)s" in REFUSAL_TEXT[CouponRefusal.BELOW_MINIMUM]
    assert REFUSAL_TEXT[CouponRefusal.EXPIRED].startswith("This code has expired.")

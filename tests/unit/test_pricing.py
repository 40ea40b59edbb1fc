"""Prices, VAT and deposits (portal.payments.pricing, portal.payments.vat): L17, L18, L20.

The worked examples are computed by hand in the comments next to them. The
property tests check sums and exact fractions; the only thing taken from the
code under test's neighbourhood is split_vat, which tests/unit/test_money.py
proves on its own.
"""

from __future__ import annotations

import ast
import json
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.lib.money import split_vat
from portal.payments import pricing, vat
from portal.payments.pricing import (
    DepositRule,
    LineItem,
    Means,
    PricedLine,
    Quote,
    VatSummary,
    allocate,
    cancellation_fee,
    deposit_amount,
    quote,
    vat_summary,
)
from portal.payments.vat import VAT_TABLE, VatCategory, vat_rate_bp

PROPS = settings(max_examples=300, deadline=None, database=None)

# ---------------------------------------------------------------- strategies

rates = st.one_of(st.sampled_from([0, 1200, 1500, 2500]), st.integers(0, 10_000))
items_st = st.lists(
    st.builds(
        LineItem,
        description=st.sampled_from(["Haircut", "Room", "Ticket", "Fee", "Lunch"]),
        quantity=st.integers(1, 20),
        unit_price_ore=st.one_of(st.integers(0, 5_000_000), st.sampled_from([0, 1, 2, 3, 99, 100])),
        vat_rate_bp=rates,
    ),
    min_size=1,
    max_size=6,
)
deposit_rules = st.one_of(
    st.just(DepositRule.none()),
    st.builds(DepositRule.fixed, st.integers(1, 200_000_000)),
    st.builds(DepositRule.percent, st.integers(1, 100)),
)
means_st = st.sampled_from(list(Means))


@st.composite
def quotes(draw: st.DrawFn) -> tuple[list[LineItem], int, Means, DepositRule, Quote]:
    items = draw(items_st)
    subtotal = sum(i.quantity * i.unit_price_ore for i in items)
    discount = draw(
        st.one_of(
            st.integers(0, 10**10),  # anything, often above the subtotal (capped)
            st.integers(0, subtotal),
            st.sampled_from([0, subtotal, max(subtotal - 1, 0)]),
        )
    )
    means = draw(means_st)
    rule = draw(deposit_rules)
    q = quote(items, means=means, discount=discount, coupon_code="TEST" if discount else None, deposit=rule)
    return items, discount, means, rule, q


def all_values(obj: object):
    """Every leaf value of a quote (dataclasses, tuples, dicts, lists)."""
    if is_dataclass(obj):
        for f in fields(obj):
            yield from all_values(getattr(obj, f.name))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from all_values(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from all_values(value)
    else:
        yield obj


def by_hand_line(description, quantity, unit, gross, discount, rate, vat_ore) -> PricedLine:
    return PricedLine(description, quantity, unit, gross, discount, rate, vat_ore, gross - vat_ore)


# ---------------------------------------------------------------- properties of every quote


@pytest.mark.legal("L17")
@PROPS
@given(quotes())
def test_lines_add_up_to_the_total_to_the_ore(case):
    items, discount, _, _, q = case
    subtotal = sum(i.quantity * i.unit_price_ore for i in items)
    assert q.subtotal_ore == subtotal
    assert q.discount_ore == min(discount, subtotal)
    assert q.subtotal_ore - q.discount_ore == q.total_ore
    assert sum(line.gross_ore for line in q.lines) == q.total_ore
    assert sum(line.discount_ore for line in q.lines) == q.discount_ore
    assert len(q.lines) == len(items)
    for item, line in zip(items, q.lines):
        assert (line.description, line.quantity, line.unit_price_ore, line.vat_rate_bp) == (
            item.description,
            item.quantity,
            item.unit_price_ore,
            item.vat_rate_bp,
        )
        assert line.gross_ore == item.quantity * item.unit_price_ore - line.discount_ore
        assert 0 <= line.discount_ore <= item.quantity * item.unit_price_ore


@pytest.mark.legal("L17")
@PROPS
@given(quotes())
def test_discount_is_spread_in_proportion_within_one_ore(case):
    """Largest remainder: each line's discount is its exact share rounded down or up, never further off."""
    _, _, _, _, q = case
    if q.subtotal_ore == 0:
        assert all(line.discount_ore == 0 for line in q.lines)
        return
    for line in q.lines:
        exact = Fraction(q.discount_ore * line.quantity * line.unit_price_ore, q.subtotal_ore)
        assert abs(line.discount_ore - exact) < 1


@pytest.mark.legal("L18")
@PROPS
@given(quotes())
def test_vat_is_derived_once_per_line_and_summed_per_rate(case):
    _, _, _, _, q = case
    for line in q.lines:
        assert line.net_ore + line.vat_ore == line.gross_ore
        assert line.vat_ore == split_vat(line.gross_ore, line.vat_rate_bp).vat_ore
    rates_with_money = {line.vat_rate_bp for line in q.lines if line.gross_ore}
    assert [s.rate_bp for s in q.vat] == sorted(rates_with_money, reverse=True)
    for summary in q.vat:
        mine = [line for line in q.lines if line.vat_rate_bp == summary.rate_bp]
        assert summary.gross_ore == sum(line.gross_ore for line in mine)
        assert summary.vat_ore == sum(line.vat_ore for line in mine)
        assert summary.base_ore == sum(line.net_ore for line in mine)
        assert summary.base_ore + summary.vat_ore == summary.gross_ore
    assert q.vat_ore == sum(line.vat_ore for line in q.lines) == sum(s.vat_ore for s in q.vat)
    assert sum(s.gross_ore for s in q.vat) == q.total_ore


@pytest.mark.legal("L20")
@PROPS
@given(quotes())
def test_what_is_paid_now_and_on_site_is_the_total(case):
    _, _, means, rule, q = case
    assert q.pay_now_ore + q.pay_on_site_ore == q.total_ore
    assert 0 <= q.pay_now_ore <= q.total_ore
    assert 0 <= q.deposit_ore <= q.total_ore
    if q.pay_now_ore == 0:
        assert q.means is Means.ONSITE, "nothing to reserve: no Vipps payment"
    elif means is Means.VIPPS:
        assert q.means is Means.VIPPS and q.pay_now_ore == q.total_ore and q.deposit_ore == 0
    elif means is Means.DEPOSIT:
        assert q.means is Means.DEPOSIT
        assert q.deposit_ore == q.pay_now_ore == deposit_amount(rule, q.total_ore)
    if q.means is not Means.DEPOSIT:
        assert q.deposit_ore == 0
    if means is Means.ONSITE:
        assert q.means is Means.ONSITE and q.pay_now_ore == 0 and q.pay_on_site_ore == q.total_ore


@pytest.mark.legal("L17")
@PROPS
@given(quotes(), st.data())
def test_allocate_any_amount_exactly_with_vat_per_line(case, data):
    _, _, _, _, q = case
    amount = data.draw(st.one_of(st.integers(0, q.total_ore), st.sampled_from([0, q.total_ore])), label="amount")
    parts = allocate(q, amount)
    assert len(parts) == len(q.lines)
    assert sum(p.gross_ore for p in parts) == amount
    for part, line in zip(parts, q.lines):
        assert (part.description, part.quantity, part.unit_price_ore, part.vat_rate_bp) == (
            line.description,
            line.quantity,
            line.unit_price_ore,
            line.vat_rate_bp,
        )
        assert part.discount_ore == 0
        assert 0 <= part.gross_ore <= line.gross_ore
        assert part.vat_ore == split_vat(part.gross_ore, part.vat_rate_bp).vat_ore
        assert part.net_ore + part.vat_ore == part.gross_ore
        if q.total_ore:
            assert abs(part.gross_ore - Fraction(amount * line.gross_ore, q.total_ore)) < 1
    summary = vat_summary(parts)
    assert sum(s.gross_ore for s in summary) == amount
    assert sum(s.vat_ore for s in summary) == sum(p.vat_ore for p in parts)


@PROPS
@given(quotes())
def test_allocating_the_whole_total_gives_the_quote_lines(case):
    _, _, _, _, q = case
    parts = allocate(q, q.total_ore)
    assert [(p.gross_ore, p.vat_ore, p.net_ore) for p in parts] == [(l.gross_ore, l.vat_ore, l.net_ore) for l in q.lines]
    assert vat_summary(parts) == q.vat


@pytest.mark.legal("L17")
@PROPS
@given(quotes())
def test_no_floats_anywhere(case):
    _, _, _, _, q = case
    for value in all_values(q):
        assert not isinstance(value, float)
    for value in all_values(q.to_json()):
        assert value is None or type(value) in (int, str), repr(value)
    for part in allocate(q, q.total_ore // 3):
        assert all(type(v) is int for v in all_values(part) if not isinstance(v, str))


@PROPS
@given(quotes())
def test_json_round_trip_is_exact(case):
    _, _, _, _, q = case
    data = q.to_json()
    again = Quote.from_json(json.loads(json.dumps(data)))
    assert again == q
    assert again.to_json() == data
    assert isinstance(again.means, Means)


# ---------------------------------------------------------------- a gift card as part of the payment


@st.composite
def quotes_with_card(draw: st.DrawFn) -> tuple[list[LineItem], int, Means, DepositRule, int, Quote]:
    """A quote where a gift card with `balance` øre pays first (the card's balance, often more than the total)."""
    items, discount, means, rule, plain = draw(quotes())
    total = plain.total_ore
    balance = draw(
        st.one_of(
            st.integers(0, 10**10),
            st.integers(0, total),
            st.sampled_from([0, 1, total, max(total - 1, 0), total + 1]),
        ),
        label="balance",
    )
    q = quote(
        items,
        means=means,
        discount=discount,
        coupon_code="TEST" if discount else None,
        deposit=rule,
        giftcard_ore=balance,
        giftcard_code="…7Q2M",
    )
    return items, discount, means, rule, balance, q


@pytest.mark.legal("L20")
@PROPS
@given(quotes_with_card())
def test_pay_now_on_site_and_gift_card_add_up_to_the_total(case):
    *_, q = case
    assert q.pay_now_ore + q.pay_on_site_ore + q.giftcard_ore == q.total_ore
    assert min(q.pay_now_ore, q.pay_on_site_ore, q.giftcard_ore) >= 0


@PROPS
@given(quotes_with_card())
def test_a_gift_card_never_pays_more_than_the_total(case):
    _, _, _, _, balance, q = case
    assert 0 <= q.giftcard_ore <= q.total_ore
    assert q.giftcard_ore <= balance
    assert q.giftcard_ore == min(balance, q.total_ore), "the card pays first, as much as it holds"
    if q.giftcard_ore:
        assert q.giftcard_code == "…7Q2M"
    else:
        assert q.giftcard_code is None, "a card that paid nothing is not named"


@pytest.mark.legal("L20")
@PROPS
@given(quotes_with_card())
def test_vipps_pays_the_total_less_the_gift_card(case):
    _, _, means, rule, _, q = case
    rest = q.total_ore - q.giftcard_ore
    if means is Means.VIPPS:
        if rest:
            assert q.means is Means.VIPPS and q.pay_now_ore == rest and q.pay_on_site_ore == 0 and q.deposit_ore == 0
        else:
            assert q.means is Means.ONSITE and q.pay_now_ore == 0, "a card that pays it all leaves nothing for Vipps"
    elif means is Means.DEPOSIT:
        expected = min(deposit_amount(rule, q.total_ore), rest)
        assert q.pay_now_ore == expected and q.pay_on_site_ore == rest - expected
        assert q.means is (Means.DEPOSIT if expected else Means.ONSITE)
        assert q.deposit_ore == (expected if expected else 0)
    else:
        assert q.means is Means.ONSITE and q.pay_now_ore == 0 and q.pay_on_site_ore == rest
    if q.pay_now_ore == 0:
        assert q.means is Means.ONSITE, "nothing to reserve: no Vipps payment"


@pytest.mark.legal("L18")
@PROPS
@given(quotes_with_card())
def test_a_gift_card_is_a_means_of_payment_the_vat_stays_on_the_lines(case):
    items, discount, means, rule, _, q = case
    plain = quote(items, means=means, discount=discount, coupon_code="TEST" if discount else None, deposit=rule)
    assert (q.lines, q.subtotal_ore, q.discount_ore, q.total_ore, q.vat, q.vat_ore) == (
        plain.lines,
        plain.subtotal_ore,
        plain.discount_ore,
        plain.total_ore,
        plain.vat,
        plain.vat_ore,
    )


@PROPS
@given(quotes_with_card())
def test_json_round_trip_with_a_gift_card_is_exact(case):
    *_, q = case
    data = q.to_json()
    assert data["giftcard_ore"] == q.giftcard_ore and data["giftcard_code"] == q.giftcard_code
    for value in all_values(data):
        assert value is None or type(value) in (int, str), repr(value)
    again = Quote.from_json(json.loads(json.dumps(data)))
    assert again == q
    assert again.to_json() == data


@PROPS
@given(quotes())
def test_old_json_without_the_gift_card_keys_reads_back_as_before(case):
    *_, q = case
    old = {k: v for k, v in q.to_json().items() if k not in ("giftcard_ore", "giftcard_code")}
    again = Quote.from_json(json.loads(json.dumps(old)))
    assert again == q
    assert (again.giftcard_ore, again.giftcard_code) == (0, None)
    assert again.pay_now_ore + again.pay_on_site_ore == again.total_ore


def test_a_quote_frozen_before_gift_cards_existed_reads_back():
    # Written out by hand as a booking from before gift cards stored it: 650,00 at 25 %, all with Vipps.
    old = {
        "version": 1,
        "lines": [
            {
                "description": "Haircut",
                "quantity": 1,
                "unit_price_ore": 650_00,
                "gross_ore": 650_00,
                "discount_ore": 0,
                "vat_rate_bp": 2500,
                "vat_ore": 130_00,
                "net_ore": 520_00,
            }
        ],
        "subtotal_ore": 650_00,
        "discount_ore": 0,
        "total_ore": 650_00,
        "vat": [{"rate_bp": 2500, "base_ore": 520_00, "vat_ore": 130_00, "gross_ore": 650_00}],
        "vat_ore": 130_00,
        "coupon_code": None,
        "means": "vipps",
        "deposit_ore": 0,
        "pay_now_ore": 650_00,
        "pay_on_site_ore": 0,
    }
    q = Quote.from_json(old)
    assert q == quote([LineItem("Haircut", 1, 650_00, 2500)], means=Means.VIPPS)
    assert (q.giftcard_ore, q.giftcard_code, q.pay_now_ore, q.means) == (0, None, 650_00, Means.VIPPS)
    assert q.to_json() == {**old, "giftcard_ore": 0, "giftcard_code": None}


@pytest.mark.legal("L20")
def test_a_gift_card_of_200_kroner_on_650_kroner():
    # 650,00: the card pays 200,00; Vipps reserves the other 450,00. VAT stays 130,00 on the line.
    q = quote([LineItem("Haircut", 1, 650_00, 2500)], means=Means.VIPPS, giftcard_ore=200_00, giftcard_code="…AB12")
    assert (q.total_ore, q.giftcard_ore, q.pay_now_ore, q.pay_on_site_ore, q.vat_ore) == (650_00, 200_00, 450_00, 0, 130_00)
    assert q.means is Means.VIPPS and q.giftcard_code == "…AB12"
    # A card holding 1 000,00 pays all 650,00; nothing is left for Vipps.
    q = quote([LineItem("Haircut", 1, 650_00, 2500)], means=Means.VIPPS, giftcard_ore=1_000_00, giftcard_code="…AB12")
    assert (q.giftcard_ore, q.pay_now_ore, q.pay_on_site_ore, q.means) == (650_00, 0, 0, Means.ONSITE)
    # 20 % deposit of 900,00 is 180,00; a card of 800,00 leaves 100,00, so 100,00 is reserved and nothing is on site.
    items = [LineItem("Massage", 1, 800_00, 2500), LineItem("Lunch", 2, 100_00, 1500)]
    q = quote(items, means=Means.DEPOSIT, discount=100_00, deposit=DepositRule.percent(20), giftcard_ore=800_00, giftcard_code="…CD34")
    assert (q.means, q.deposit_ore, q.pay_now_ore, q.pay_on_site_ore, q.giftcard_ore) == (Means.DEPOSIT, 100_00, 100_00, 0, 800_00)
    # On site: the card pays first, the rest is paid on site.
    q = quote(items, means=Means.ONSITE, discount=100_00, giftcard_ore=300_00, giftcard_code="…CD34")
    assert (q.means, q.pay_now_ore, q.pay_on_site_ore, q.giftcard_ore) == (Means.ONSITE, 0, 600_00, 300_00)


def test_gift_card_amounts_are_whole_non_negative_ore():
    item = LineItem("x", 1, 100_00, 2500)
    with pytest.raises(TypeError):
        quote([item], means=Means.VIPPS, giftcard_ore=50.0)
    with pytest.raises(TypeError):
        quote([item], means=Means.VIPPS, giftcard_ore=True)
    with pytest.raises(ValueError):
        quote([item], means=Means.VIPPS, giftcard_ore=-1)


def test_from_json_refuses_gift_card_figures_that_do_not_add_up():
    q = quote([LineItem("x", 1, 100_00, 2500)], means=Means.VIPPS, giftcard_ore=30_00, giftcard_code="…EF56")
    good = q.to_json()
    assert Quote.from_json(good) == q
    for key, value in [("giftcard_ore", 30_01), ("giftcard_ore", -1), ("pay_now_ore", 100_00)]:
        with pytest.raises(ValueError):
            Quote.from_json({**good, key: value})
    # Vipps reserves the total less the card: moving an øre from Vipps to on site does not add up for Vipps.
    with pytest.raises(ValueError):
        Quote.from_json({**good, "pay_now_ore": 69_99, "pay_on_site_ore": 1})
    with pytest.raises(TypeError):
        Quote.from_json({**good, "giftcard_ore": 30.0})
    with pytest.raises(TypeError):
        Quote.from_json({**good, "giftcard_code": 7})


# ---------------------------------------------------------------- worked examples


@pytest.mark.legal("L18")
def test_650_kroner_at_25_percent():
    # 650,00 × 25/125 = 130,00 VAT; net 520,00.
    q = quote([LineItem("Haircut", 1, 650_00, 2500)], means=Means.VIPPS)
    assert q.lines == (by_hand_line("Haircut", 1, 650_00, 650_00, 0, 2500, 130_00),)
    assert q.lines[0].net_ore == 520_00
    assert q.vat == (VatSummary(rate_bp=2500, base_ore=520_00, vat_ore=130_00, gross_ore=650_00),)
    assert (q.total_ore, q.vat_ore, q.pay_now_ore, q.pay_on_site_ore) == (650_00, 130_00, 650_00, 0)


@pytest.mark.legal("L18")
def test_1234_50_at_12_percent():
    # 123 450 øre × 12/112 = 13 226,79 øre → 13 227 øre VAT (132,27); net 1 102,23.
    q = quote([LineItem("Hotel night", 1, 1_234_50, 1200)], means=Means.ONSITE)
    assert q.vat == (VatSummary(rate_bp=1200, base_ore=1_102_23, vat_ore=132_27, gross_ore=1_234_50),)
    assert q.means is Means.ONSITE and q.pay_now_ore == 0 and q.pay_on_site_ore == 1_234_50


@pytest.mark.legal("L17")
@pytest.mark.legal("L18")
def test_ten_percent_coupon_on_two_lines_of_different_rates():
    # Subtotal 800,00 (25 %) + 2 × 100,00 (15 %) = 1 000,00; 10 % off = 100,00,
    # spread 80,00 / 20,00. Line 1: 720,00 × 25/125 = 144,00 VAT.
    # Line 2: 180,00 × 15/115 = 23,478… → 23,48 VAT. Total 900,00, VAT 167,48.
    q = quote(
        [LineItem("Massage", 1, 800_00, 2500), LineItem("Lunch", 2, 100_00, 1500)],
        means=Means.VIPPS,
        discount=100_00,
        coupon_code="SUMMER-10",
    )
    assert q.lines == (
        by_hand_line("Massage", 1, 800_00, 720_00, 80_00, 2500, 144_00),
        by_hand_line("Lunch", 2, 100_00, 180_00, 20_00, 1500, 23_48),
    )
    assert q.vat == (
        VatSummary(rate_bp=2500, base_ore=576_00, vat_ore=144_00, gross_ore=720_00),
        VatSummary(rate_bp=1500, base_ore=156_52, vat_ore=23_48, gross_ore=180_00),
    )
    assert (q.subtotal_ore, q.discount_ore, q.total_ore, q.vat_ore) == (1_000_00, 100_00, 900_00, 167_48)
    assert q.coupon_code == "SUMMER-10"


@pytest.mark.legal("L17")
def test_leftover_ore_go_to_the_largest_remainder_then_the_earlier_line():
    # 1 kr off three lines of 1 kr: 33⅓ øre each → 33 + 33 + 33, and the
    # one øre left goes to the first line (equal remainders).
    q = quote([LineItem(n, 1, 100, 0) for n in "abc"], means=Means.ONSITE, discount=100)
    assert [line.discount_ore for line in q.lines] == [34, 33, 33]
    # 10 øre off 1, 2 and 7 øre... weights 100, 200, 700: exact 1, 2, 7.
    q = quote([LineItem("a", 1, 100, 0), LineItem("b", 1, 200, 0), LineItem("c", 1, 700, 0)], means=Means.ONSITE, discount=10)
    assert [line.discount_ore for line in q.lines] == [1, 2, 7]
    # 5 øre off 100 and 300: exact 1,25 and 3,75 → 1 and 3, the left-over øre
    # goes to the larger remainder (0,75), the second line.
    q = quote([LineItem("a", 1, 100, 0), LineItem("b", 1, 300, 0)], means=Means.ONSITE, discount=5)
    assert [line.discount_ore for line in q.lines] == [1, 4]


@pytest.mark.legal("L18")
def test_rate_vat_is_the_sum_of_line_vat_not_a_second_rounding():
    # Three lines of 0,03 kr at 25 %: each 3 × 25/125 = 0,6 → 1 øre VAT, so the
    # rate carries 3 øre. Rounding the rate's 9 øre again would give 1,8 → 2.
    q = quote([LineItem(n, 1, 3, 2500) for n in "abc"], means=Means.ONSITE)
    assert [line.vat_ore for line in q.lines] == [1, 1, 1]
    assert q.vat == (VatSummary(rate_bp=2500, base_ore=6, vat_ore=3, gross_ore=9),)


@pytest.mark.legal("L20")
def test_hundred_percent_coupon_reserves_nothing():
    items = [LineItem("Course", 1, 1_500_00, 0), LineItem("Booking fee", 1, 49_00, 2500)]
    for means in Means:
        q = quote(items, means=means, discount=1_549_00, coupon_code="FREE", deposit=DepositRule.percent(20))
        assert q.total_ore == 0 and q.discount_ore == 1_549_00
        assert [line.gross_ore for line in q.lines] == [0, 0]
        assert [line.discount_ore for line in q.lines] == [1_500_00, 49_00]
        assert q.vat == () and q.vat_ore == 0
        assert q.means is Means.ONSITE
        assert (q.deposit_ore, q.pay_now_ore, q.pay_on_site_ore) == (0, 0, 0)
        assert allocate(q, 0) == (
            by_hand_line("Course", 1, 1_500_00, 0, 0, 0, 0),
            by_hand_line("Booking fee", 1, 49_00, 0, 0, 2500, 0),
        )


def test_a_discount_above_the_subtotal_is_capped():
    q = quote([LineItem("x", 2, 150_00, 2500)], means=Means.VIPPS, discount=1_000_00)
    assert (q.subtotal_ore, q.discount_ore, q.total_ore) == (300_00, 300_00, 0)


@pytest.mark.legal("L20")
def test_deposit_of_twenty_percent_and_its_receipt_lines():
    # Total 900,00 as above; 20 % deposit = 180,00 now, 720,00 on site.
    # Spread 180,00 over 720,00 / 180,00: 144,00 and 36,00.
    # VAT 144,00 × 25/125 = 28,80; 36,00 × 15/115 = 4,695… → 4,70.
    q = quote(
        [LineItem("Massage", 1, 800_00, 2500), LineItem("Lunch", 2, 100_00, 1500)],
        means=Means.DEPOSIT,
        discount=100_00,
        deposit=DepositRule.percent(20),
    )
    assert (q.means, q.deposit_ore, q.pay_now_ore, q.pay_on_site_ore) == (Means.DEPOSIT, 180_00, 180_00, 720_00)
    parts = allocate(q, q.deposit_ore)
    assert parts == (
        by_hand_line("Massage", 1, 800_00, 144_00, 0, 2500, 28_80),
        by_hand_line("Lunch", 2, 100_00, 36_00, 0, 1500, 4_70),
    )
    assert vat_summary(parts) == (
        VatSummary(rate_bp=2500, base_ore=115_20, vat_ore=28_80, gross_ore=144_00),
        VatSummary(rate_bp=1500, base_ore=31_30, vat_ore=4_70, gross_ore=36_00),
    )


def test_a_deposit_that_comes_to_nothing_reserves_nothing():
    # 10 % of 4 øre = 0,4 → 0: nothing to reserve, so everything on site.
    q = quote([LineItem("Sticker", 1, 4, 2500)], means=Means.DEPOSIT, deposit=DepositRule.percent(10))
    assert (q.means, q.deposit_ore, q.pay_now_ore, q.pay_on_site_ore) == (Means.ONSITE, 0, 0, 4)
    q = quote([LineItem("Sticker", 1, 400, 2500)], means=Means.DEPOSIT)  # no deposit rule
    assert (q.means, q.pay_now_ore, q.pay_on_site_ore) == (Means.ONSITE, 0, 400)


@pytest.mark.parametrize(
    ("rule", "total", "expected"),
    [
        (DepositRule.none(), 1_000_00, 0),
        (DepositRule.fixed(200_00), 1_000_00, 200_00),
        (DepositRule.fixed(200_00), 150_00, 150_00),  # never more than the total
        (DepositRule.fixed(200_00), 0, 0),
        (DepositRule.percent(20), 1_000_00, 200_00),
        (DepositRule.percent(10), 5, 1),  # 0,5 øre: half up
        (DepositRule.percent(10), 4, 0),  # 0,4 øre: down, nothing reserved
        (DepositRule.percent(15), 999, 150),  # 149,85 → 150
        (DepositRule.percent(33), 1_234_56, 40_740),  # 40 740,48 → 40 740
        (DepositRule.percent(100), 1_234_56, 1_234_56),
        (DepositRule.percent(50), 0, 0),
    ],
)
def test_deposit_amount(rule, total, expected):
    assert deposit_amount(rule, total) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("none", -1),
        ("fixed", 0),
        ("fixed", -5),
        ("fixed", True),
        ("percent", 0),
        ("percent", 101),
        ("percent", 2.5),
        ("weekly", 1),
    ],
)
def test_bad_deposit_rules_are_refused(kind, value):
    with pytest.raises((ValueError, TypeError)):
        DepositRule(kind, value)


def test_a_none_deposit_ignores_a_left_over_value():
    assert DepositRule("none", 30) == DepositRule.none() == DepositRule("none")
    assert deposit_amount(DepositRule("none", 30), 1_000_00) == 0


@pytest.mark.parametrize(
    ("total", "percent", "fixed", "expected"),
    [
        (1_000_00, 50, 0, 500_00),
        (999, 50, 0, 500),  # 499,5 → 500
        (997, 25, 0, 249),  # 249,25 → 249
        (1_000_00, 50, 150_00, 150_00),  # a fixed fee wins over the percent
        (100_00, 0, 150_00, 100_00),  # never more than the total
        (1_000_00, 0, 0, 0),
        (1_000_00, 100, 0, 1_000_00),
        (0, 50, 100_00, 0),
    ],
)
def test_cancellation_fee(total, percent, fixed, expected):
    assert cancellation_fee(total_ore=total, fee_percent=percent, fee_fixed_ore=fixed) == expected


@PROPS
@given(total=st.integers(0, 10**10), percent=st.integers(0, 100), fixed=st.integers(0, 10**10))
def test_cancellation_fee_is_within_the_total_and_rounded_half_up(total, percent, fixed):
    fee = cancellation_fee(total_ore=total, fee_percent=percent, fee_fixed_ore=fixed)
    assert type(fee) is int and 0 <= fee <= total
    if fixed == 0:
        exact = Fraction(total * percent, 100)
        assert abs(fee - exact) <= Fraction(1, 2)
        if exact - int(exact) == Fraction(1, 2):
            assert fee == int(exact) + 1


@PROPS
@given(total=st.integers(0, 10**10), rule=deposit_rules)
def test_deposit_is_within_the_total_and_rounded_half_up(total, rule):
    deposit = deposit_amount(rule, total)
    assert type(deposit) is int and 0 <= deposit <= total
    if rule.kind == "percent":
        exact = Fraction(total * rule.value, 100)
        assert abs(deposit - exact) <= Fraction(1, 2)
        if exact - int(exact) == Fraction(1, 2):
            assert deposit == int(exact) + 1


# ---------------------------------------------------------------- refusals


@pytest.mark.legal("L17")
@pytest.mark.parametrize(
    "make",
    [
        lambda: LineItem("x", 1, 100.0, 2500),  # float øre
        lambda: LineItem("x", 1, 100, 25.0),
        lambda: LineItem("x", 1.0, 100, 2500),
        lambda: LineItem("x", 0, 100, 2500),
        lambda: LineItem("x", 1, -1, 2500),
        lambda: LineItem("x", 1, 100, -1),
        lambda: LineItem("x", True, 100, 2500),
    ],
)
def test_line_items_take_whole_non_negative_ore(make):
    with pytest.raises((TypeError, ValueError)):
        make()


def test_quote_refusals():
    item = LineItem("x", 1, 100_00, 2500)
    with pytest.raises(ValueError):
        quote([], means=Means.VIPPS)
    with pytest.raises((TypeError, ValueError)):
        quote([item], means=Means.VIPPS, discount=1.5)
    with pytest.raises(ValueError):
        quote([item], means=Means.VIPPS, discount=-1)
    with pytest.raises(ValueError):
        quote([item], means="card")


def test_allocate_refuses_more_than_the_total_or_less_than_nothing():
    q = quote([LineItem("x", 1, 100_00, 2500)], means=Means.VIPPS)
    with pytest.raises(ValueError):
        allocate(q, 100_01)
    with pytest.raises(ValueError):
        allocate(q, -1)
    with pytest.raises(TypeError):
        allocate(q, 50.0)


def test_from_json_refuses_a_quote_that_does_not_add_up():
    items = [LineItem("a", 1, 100_00, 2500), LineItem("b", 1, 50_00, 1200)]
    q = quote(items, means=Means.DEPOSIT, deposit=DepositRule.fixed(30_00))
    good = q.to_json()
    assert Quote.from_json(good) == q
    for key, value in [("total_ore", 150_01), ("pay_now_ore", 30_01), ("vat_ore", 0), ("means", "vipps"), ("version", 2)]:
        with pytest.raises(ValueError):
            Quote.from_json({**good, key: value})
    bad_line = {**good["lines"][0], "vat_ore": good["lines"][0]["vat_ore"] + 1}
    with pytest.raises(ValueError):
        Quote.from_json({**good, "lines": [bad_line, good["lines"][1]]})
    with pytest.raises(TypeError):
        Quote.from_json({**good, "total_ore": 150.0})


# ---------------------------------------------------------------- the VAT table (L18)


@pytest.mark.legal("L18")
@pytest.mark.parametrize(
    ("category", "rate"),
    [
        (VatCategory.GENERAL, 2500),
        (VatCategory.FOOD, 1500),
        (VatCategory.REDUCED, 1200),
        (VatCategory.EXEMPT, 0),
        ("general", 2500),
        ("reduced", 1200),
    ],
)
def test_vat_rates_2025_2026(category, rate):
    for day in (date(2025, 1, 1), date(2025, 7, 1), date(2026, 12, 31)):
        assert vat_rate_bp(category, day) == rate


@pytest.mark.legal("L18")
def test_unregistered_supplier_charges_no_vat():
    for category in VatCategory:
        assert vat_rate_bp(category, date(2026, 3, 1), vat_registered=False) == 0


@pytest.mark.legal("L18")
def test_unknown_category_or_date_before_the_table_is_refused():
    with pytest.raises(ValueError):
        vat_rate_bp("luxury", date(2026, 1, 1))
    with pytest.raises(ValueError):
        vat_rate_bp("GENERAL", date(2026, 1, 1))
    with pytest.raises(ValueError):
        vat_rate_bp(VatCategory.GENERAL, date(2024, 12, 31))
    with pytest.raises(ValueError):
        vat_rate_bp("luxury", date(2026, 1, 1), vat_registered=False)
    with pytest.raises(ValueError):
        vat_rate_bp(VatCategory.GENERAL, date(2024, 12, 31), vat_registered=False)
    with pytest.raises(TypeError):
        vat_rate_bp(VatCategory.GENERAL, datetime(2026, 1, 1, 12, 0))


@pytest.mark.legal("L18")
def test_the_table_is_dated_sorted_and_complete():
    days = [valid_from for valid_from, _ in VAT_TABLE]
    assert days == sorted(days) and len(set(days)) == len(days)
    assert days[0] == date(2025, 1, 1)
    for _, row in VAT_TABLE:
        assert set(row) == set(VatCategory)
        assert all(type(r) is int and 0 <= r <= 10_000 for r in row.values())


@pytest.mark.legal("L18")
def test_a_later_row_overrides_from_its_date(monkeypatch):
    later = MappingProxyType(
        {VatCategory.GENERAL: 2600, VatCategory.FOOD: 1500, VatCategory.REDUCED: 1200, VatCategory.EXEMPT: 0}
    )
    monkeypatch.setattr(vat, "VAT_TABLE", (*VAT_TABLE, (date(2027, 1, 1), later)))
    assert vat.vat_rate_bp(VatCategory.GENERAL, date(2026, 12, 31)) == 2500
    assert vat.vat_rate_bp(VatCategory.GENERAL, date(2027, 1, 1)) == 2600
    assert vat.vat_rate_bp(VatCategory.FOOD, date(2030, 1, 1)) == 1500
    assert vat.vat_rate_bp(VatCategory.GENERAL, date(2027, 1, 1), vat_registered=False) == 0


def test_pricing_and_vat_are_pure():
    """No web framework, no database, no clock: only the standard library and portal.lib.money."""
    for module in (pricing, vat):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {
            name.split(".")[0] if not name.startswith("portal") else name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        }
        assert imported <= {"__future__", "collections", "dataclasses", "datetime", "enum", "types", "typing", "portal.lib.money"}
        calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        assert not calls & {"datetime.now", "date.today", "time.time", "float"}

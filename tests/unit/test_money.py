"""Money is integer øre; VAT is derived once from the gross price (DESIGN invariant 2, L17, L18, L20).

Expected values are written out by hand or computed here with exact fractions;
nothing computes an expectation with portal.lib.money itself.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.lib.money import VatSplit, format_nok, split_vat

NBSP = "\u00a0"
PROPS = settings(max_examples=500, deadline=None, database=None)


# ---------------------------------------------------------------- split_vat


@pytest.mark.parametrize(
    ("gross", "rate_bp", "net", "vat"),
    [
        # 25 % general rate
        (125_00, 2500, 100_00, 25_00),
        (549_00, 2500, 439_20, 109_80),
        (260_00, 2500, 208_00, 52_00),
        (1_990_00, 2500, 1_592_00, 398_00),
        (1, 2500, 1, 0),  # 0.2 øre of VAT rounds down
        (3, 2500, 2, 1),  # 0.6 øre rounds up
        # 15 % food
        (115_00, 1500, 100_00, 15_00),
        (99_90, 1500, 86_87, 13_03),  # 1303.04… øre
        # 12 % transport / accommodation / cinema
        (112_00, 1200, 100_00, 12_00),
        (1_450_00, 1200, 1_294_64, 155_36),  # 15535.71… øre
        (14, 1200, 12, 2),  # exactly 1.5 øre: half rounds up
        (42, 1200, 37, 5),  # exactly 4.5 øre: half rounds up
        # 0 % exempt
        (1_000_00, 0, 1_000_00, 0),
        (1, 0, 1, 0),
        # nothing
        (0, 2500, 0, 0),
        (0, 0, 0, 0),
    ],
)
def test_split_vat_known_values(gross, rate_bp, net, vat):
    assert split_vat(gross, rate_bp) == VatSplit(gross_ore=gross, net_ore=net, vat_ore=vat, rate_bp=rate_bp)


@PROPS
@given(gross=st.integers(0, 10**12), rate_bp=st.integers(0, 10_000))
def test_split_vat_adds_up_and_rounds_once_half_up(gross, rate_bp):
    split = split_vat(gross, rate_bp)
    assert isinstance(split.vat_ore, int) and isinstance(split.net_ore, int)
    assert split.net_ore + split.vat_ore == gross
    assert 0 <= split.vat_ore <= gross
    assert split.gross_ore == gross and split.rate_bp == rate_bp
    exact = Fraction(gross * rate_bp, 10_000 + rate_bp)
    # The nearest whole øre; an exact half goes up.
    assert abs(split.vat_ore - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):
        assert split.vat_ore == int(exact) + 1


@PROPS
@given(gross=st.integers(0, 10**9), rate_bp=st.sampled_from([0, 1200, 1500, 2500]))
def test_split_vat_is_monotonic_in_gross(gross, rate_bp):
    assert split_vat(gross, rate_bp).vat_ore <= split_vat(gross + 1, rate_bp).vat_ore


@pytest.mark.parametrize(("gross", "rate_bp"), [(-1, 2500), (100, -1), (-100, -2500)])
def test_split_vat_refuses_negative_amounts_and_rates(gross, rate_bp):
    with pytest.raises(ValueError):
        split_vat(gross, rate_bp)


# ---------------------------------------------------------------- format_nok


def test_format_nok_bokmaal_groups_with_nbsp_and_uses_decimal_comma():
    text = format_nok(1_234_50)
    assert text.startswith("kr")
    assert text.endswith(f"1{NBSP}234,50")
    assert " " not in text[2:].strip(), "no breaking space inside the amount"


def test_format_nok_bokmaal_exact_form_has_only_nbsp_separators():
    assert format_nok(1_234_50) == f"kr{NBSP}1{NBSP}234,50"
    assert format_nok(549_00) == f"kr{NBSP}549,00"


@pytest.mark.parametrize(
    ("ore", "amount"),
    [
        (0, "0,00"),
        (5, "0,05"),
        (99, "0,99"),
        (100, "1,00"),
        (549_00, "549,00"),
        (1_000_00, f"1{NBSP}000,00"),
        (1_234_50, f"1{NBSP}234,50"),
        (1_000_000_00, f"1{NBSP}000{NBSP}000,00"),
    ],
)
def test_format_nok_bokmaal_values(ore, amount):
    text = format_nok(ore, "nb")
    assert text.startswith("kr")
    assert text[2:].lstrip(f" {NBSP}") == amount
    assert format_nok(ore) == text, "Bokmål is the default"


@pytest.mark.parametrize(
    ("ore", "text"),
    [
        (0, "NOK\xa00.00"),
        (5, "NOK\xa00.05"),
        (549_00, "NOK\xa0549.00"),
        (1_234_50, "NOK\xa01,234.50"),
        (1_000_000_00, "NOK\xa01,000,000.00"),
    ],
)
def test_format_nok_english(ore, text):
    assert format_nok(ore, "en") == text


@PROPS
@given(ore=st.integers(0, 10**14))
def test_format_nok_shows_the_exact_amount_to_the_ore(ore):
    nb = format_nok(ore, "nb")
    assert nb.startswith("kr")
    digits = nb[2:].strip(f" {NBSP}").replace(NBSP, "").replace(",", ".")
    assert Decimal(digits) == Decimal(ore) / 100
    en = format_nok(ore, "en")
    assert en.startswith("NOK\xa0")
    assert Decimal(en[4:].replace(",", "")) == Decimal(ore) / 100

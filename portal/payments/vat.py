"""VAT rates from one dated table (LEGAL.md L18).

A rate is looked up by category and by the date of supply, so a change of
rate is one new row in `VAT_TABLE` and nothing else: a booking for a date
after the change gets the new rate, one before it keeps the old one.

An unregistered supplier charges no VAT at all (rate 0); L18 also forbids it
to print VAT or «MVA», which is the receipt's business, not this module's.

Pure: no clock, the date is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType


class VatCategory(StrEnum):
    GENERAL = "general"  # 25 %: everything not listed below
    FOOD = "food"  # 15 %: food and drink (not alcohol)
    REDUCED = "reduced"  # 12 %: passenger transport, accommodation, cinema, some events
    EXEMPT = "exempt"  # 0 %: authorised health care, education and other exempt services


#: (valid from, rate per category in basis points: 2500 = 25 %), oldest first.
#: Each row holds every category and applies from its date until the next
#: row's date. Correct or add a figure here and nowhere else.
VAT_TABLE: tuple[tuple[date, Mapping[VatCategory, int]], ...] = (
    (
        date(2025, 1, 1),
        MappingProxyType(
            {
                VatCategory.GENERAL: 2500,
                VatCategory.FOOD: 1500,
                VatCategory.REDUCED: 1200,
                VatCategory.EXEMPT: 0,
            }
        ),
    ),
)


def vat_rate_bp(category: VatCategory | str, on: date, *, vat_registered: bool = True) -> int:
    """The VAT rate in basis points for `category` on the date of supply `on` (L18).

    Returns 0 for a supplier that is not VAT registered. Raises ValueError
    for an unknown category or a date before the first row of the table
    (checked for unregistered suppliers too: both are mistakes in the
    caller, whoever the supplier is), and TypeError for a datetime: pass the
    local (Oslo) date of supply, not a moment.
    """
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError(f"`on` must be a date, not {type(on).__name__}")
    try:
        known = VatCategory(category)
    except ValueError:
        raise ValueError(f"unknown VAT category {category!r}") from None
    rates: Mapping[VatCategory, int] | None = None
    for valid_from, row in VAT_TABLE:
        if valid_from > on:
            break
        rates = row
    if rates is None:
        raise ValueError(f"no VAT rates known for {on.isoformat()}: the table starts {VAT_TABLE[0][0].isoformat()}")
    if not vat_registered:
        return 0
    return rates[known]

"""The numbers of the back office's customers and reports, and their CSV.

* `year_report`: a year's issued receipts and credit notes, month by month
  (Europe/Oslo): revenue incl. VAT, base and VAT per rate, net of credit
  notes (a credit note subtracts in the month it is issued), the split by
  means of payment; plus the bookings of the month, no-shows and
  cancellations. A gift card's sale is money taken in advance (its receipt
  carries no VAT, L21): it is counted apart, not as revenue, since the VAT
  falls due when the card pays and that receipt is the revenue. What was paid
  on site is the supplier's own cash sale (L33): it is shown apart, read from
  delivered bookings, never as part of the receipts' revenue.
* `matches`, `page_of`: searching and paging the customer list.
* `csv_bytes`: the CSV that Norwegian Excel opens as it is (UTF-8 with BOM,
  `;`, CRLF, decimal comma), with formula injection neutralised.

Pure: no Litestar, no Piccolo, no clock (times are arguments).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

#: The VAT rates a report always shows (L18), highest first; any other rate found gets a column too.
RATES = (2500, 1500, 1200, 0)
#: The means of payment a report splits by; anything else on a document counts as "other".
MEANS = ("vipps", "giftcard")
#: Order states that are a booking (a held or released checkout is not).
BOOKED_STATES = frozenset({"confirmed", "completed", "no_show", "cancelled_by_customer", "cancelled_by_supplier", "withdrawn"})
CANCELLED_STATES = frozenset({"cancelled_by_customer", "cancelled_by_supplier", "withdrawn"})
NO_SHOW = "no_show"
DELIVERED = "completed"
RECEIPT, CREDIT_NOTE = "receipt", "credit_note"


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class VatPart:
    rate_bp: int
    base_ore: int
    vat_ore: int


@dataclass(frozen=True)
class Entry:
    """A receipt or credit note as the report reads it (amounts as printed, positive)."""

    kind: str  # RECEIPT | CREDIT_NOTE
    issued_at: datetime
    total_ore: int
    vat: tuple[VatPart, ...]
    payments: tuple[tuple[str, int], ...]  # (means, amount øre)
    giftcard_sale: bool = False
    """The receipt (or its credit note) of a gift card sold: money in advance, not revenue."""

    @classmethod
    def of(cls, document: Any, *, giftcard_sale: bool = False) -> Entry:
        """From a portal.documents.domain.IssuedDocument (read by attribute)."""
        return cls(
            kind=document.kind.value if hasattr(document.kind, "value") else str(document.kind),
            issued_at=document.issued_at,
            total_ore=document.total_ore,
            vat=tuple(VatPart(v.rate_bp, v.base_ore, v.vat_ore) for v in document.vat),
            payments=tuple((p.means, p.amount_ore) for p in document.payments),
            giftcard_sale=giftcard_sale,
        )


@dataclass(frozen=True)
class Booking:
    """One booking: its (local) day, the order's state, and what was to be paid on site."""

    day: date
    state: str
    on_site_ore: int = 0


# ---------------------------------------------------------------- output


@dataclass(frozen=True)
class RateTotal:
    base_ore: int = 0
    vat_ore: int = 0

    @property
    def gross_ore(self) -> int:
        return self.base_ore + self.vat_ore


@dataclass(frozen=True)
class Month:
    """One month's figures (or a year's, in `Report.total`). Amounts in øre;
    everything but `credited_ore` is net of credit notes."""

    year: int
    month: int  # 1–12; 0 for the year's total
    sales_ore: int = 0
    credited_ore: int = 0
    vat: Mapping[int, RateTotal] = field(default_factory=dict)
    means: Mapping[str, int] = field(default_factory=dict)  # MEANS and "other"
    giftcards_sold_ore: int = 0
    on_site_ore: int = 0
    bookings: int = 0
    no_shows: int = 0
    cancellations: int = 0

    @property
    def net_ore(self) -> int:
        return self.sales_ore - self.credited_ore

    @property
    def vat_ore(self) -> int:
        return sum(t.vat_ore for t in self.vat.values())

    @property
    def no_show_bp(self) -> int | None:
        return share_bp(self.no_shows, self.bookings)

    @property
    def cancellation_bp(self) -> int | None:
        return share_bp(self.cancellations, self.bookings)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month or 1, 1)


@dataclass(frozen=True)
class Report:
    year: int
    rates: tuple[int, ...]
    months: tuple[Month, ...]  # January to December
    total: Month


def share_bp(part: int, whole: int) -> int | None:
    """part / whole in basis points (10 000 = 100 %), rounded half up; None for nothing to divide."""
    if whole <= 0:
        return None
    return (2 * part * 10_000 + whole) // (2 * whole)


class _Sums:
    def __init__(self) -> None:
        self.sales = self.credited = self.cards = self.on_site = 0
        self.bookings = self.no_shows = self.cancellations = 0
        self.vat: dict[int, list[int]] = {}
        self.means: dict[str, int] = {m: 0 for m in (*MEANS, "other")}

    def add_entry(self, entry: Entry) -> None:
        sign = -1 if entry.kind == CREDIT_NOTE else 1
        if entry.giftcard_sale:
            self.cards += sign * entry.total_ore
            return
        if sign > 0:
            self.sales += entry.total_ore
        else:
            self.credited += entry.total_ore
        for part in entry.vat:
            totals = self.vat.setdefault(part.rate_bp, [0, 0])
            totals[0] += sign * part.base_ore
            totals[1] += sign * part.vat_ore
        for means, amount in entry.payments:
            key = means if means in MEANS else "other"
            self.means[key] += sign * amount

    def add_booking(self, booking: Booking) -> None:
        if booking.state not in BOOKED_STATES:
            return
        self.bookings += 1
        self.no_shows += booking.state == NO_SHOW
        self.cancellations += booking.state in CANCELLED_STATES
        if booking.state == DELIVERED:
            self.on_site += booking.on_site_ore

    def month(self, year: int, month: int, rates: Sequence[int]) -> Month:
        return Month(
            year=year,
            month=month,
            sales_ore=self.sales,
            credited_ore=self.credited,
            vat={rate: RateTotal(*self.vat.get(rate, (0, 0))) for rate in rates},
            means=dict(self.means),
            giftcards_sold_ore=self.cards,
            on_site_ore=self.on_site,
            bookings=self.bookings,
            no_shows=self.no_shows,
            cancellations=self.cancellations,
        )


def year_report(year: int, entries: Iterable[Entry], bookings: Iterable[Booking], tz: ZoneInfo = OSLO) -> Report:
    """Month by month (in `tz`) of `year`; entries and bookings of other years are left out."""
    months = {m: _Sums() for m in range(1, 13)}
    total = _Sums()
    for entry in entries:
        local = entry.issued_at.astimezone(tz)
        if local.year == year and entry.kind in (RECEIPT, CREDIT_NOTE):
            months[local.month].add_entry(entry)
            total.add_entry(entry)
    for booking in bookings:
        if booking.day.year == year:
            months[booking.day.month].add_booking(booking)
            total.add_booking(booking)
    rates = tuple(RATES) + tuple(sorted((r for r in total.vat if r not in RATES), reverse=True))
    return Report(
        year=year,
        rates=rates,
        months=tuple(months[m].month(year, m, rates) for m in range(1, 13)),
        total=total.month(year, 0, rates),
    )


# ---------------------------------------------------------------- the customer list


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


def matches(query: str, *, name: str, phone: str, email: str) -> bool:
    """Does a customer match what was typed: part of the name or email (any
    case), or of the number (spaces and the country code ignored: "412 34"
    finds +4741234567)? An empty query matches everyone."""
    words = query.casefold().split()
    if not words:
        return True
    digits = _digits(query)
    if digits and len(digits) >= 3 and len(digits) == len(query.replace(" ", "").lstrip("+")):
        return digits in _digits(phone)
    haystack = f"{name} {email}".casefold()
    return all(word in haystack for word in words)


@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]
    number: int  # 1-based, clamped to what exists
    pages: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_of(items: Sequence[Any], number: int, per_page: int) -> Page:
    pages = max(1, -(-len(items) // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    return Page(items=tuple(items[start : start + per_page]), number=number, pages=pages, total=len(items))


# ---------------------------------------------------------------- CSV

#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


class Hundredths(int):
    """A number kept in hundredths, written with a decimal comma (123450 → 1234,50)."""


class Ore(Hundredths):
    """An amount in øre, written in kroner."""


class Percent(Hundredths):
    """A share in basis points, written in percent (1250 → 12,50)."""


def kroner(ore: int) -> str:
    """123450 → '1234,50'; −100 → '-1,00' (hundredths with a decimal comma). No
    thousands separator: a spreadsheet reads it as a number."""
    sign = "-" if ore < 0 else ""
    whole, rest = divmod(abs(ore), 100)
    return f"{sign}{whole},{rest:02d}"


def cell(value: object) -> str:
    """One cell's text: amounts in kroner, numbers as they are, None empty,
    and text that a spreadsheet would run as a formula given a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, Hundredths):
        return kroner(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte order mark (so Excel reads æøå), `;` between cells, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")

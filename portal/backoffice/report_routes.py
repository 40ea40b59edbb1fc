"""The owner's reports: a year month by month from the receipts and credit
notes (revenue, VAT per rate, means of payment) and the bookings (no-shows,
cancellations), as a page with its table, a bar chart (SVG drawn on the
server, no JavaScript) and the same figures as CSV."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date
from litestar import Request, get
from litestar.response import Response

from portal.backoffice import access, common
from portal.backoffice.customer_routes import csv_response
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok, format_rate
from portal.reports import chart, domain
from portal.reports import service as reports
from portal.web.render import language_of, page

#: The years a report may be asked for.
YEARS = range(2000, 2200)
#: The chart is a picture: it stands on its own, with its own styles and nothing else.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

MEANS_TEXT = {"vipps": N_("Vipps"), "giftcard": N_("Gift card"), "other": N_("Other")}


def _year(raw: str | None) -> int | None:
    """The `aar` asked for (this year when absent); None when it is not a year we report."""
    if not raw:
        return clock.local_today().year
    value = common.int_param(raw.strip())
    return value if value in YEARS else None


def month_names(language: str) -> list[str]:
    return [format_date(date(2000, m, 1), "LLL", locale=clock.LOCALES[language]).rstrip(".") for m in range(1, 13)]


@get("/kontor/{slug:str}/rapporter", name="bo_reports")
async def reports_page(request: Request, slug: str, aar: str | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.REPORTS)
    year = _year(aar)
    status_code, error = 200, None
    if year is None:
        year, status_code, error = clock.local_today().year, 422, N_("Choose a year between 2000 and 2199.")
    report = await reports.year(wp.supplier["id"], year)
    language = language_of(request)
    return page(
        request,
        "pages/backoffice/reports/year.html",
        status_code=status_code,
        **common.base(wp),
        report=report,
        year=year,
        asked=aar if error else str(year),
        error=error,
        month_names=month_names(language),
        means_text=MEANS_TEXT,
        percent=lambda bp: "–" if bp is None else format_rate(bp, language),
        this_year=clock.local_today().year,
    )


@get("/kontor/{slug:str}/rapporter/diagram.svg", name="bo_report_svg")
async def report_svg(request: Request, slug: str, aar: str | None = None) -> Response:
    wp = await access.workplace(request, slug, Permission.REPORTS)
    year = _year(aar) or clock.local_today().year
    report = await reports.year(wp.supplier["id"], year)
    language = language_of(request)
    t = translations(language)
    svg = chart.bar_chart(
        report,
        title=t.gettext(N_("Revenue per month, %(year)s")) % {"year": year},
        months=month_names(language),
        series=[
            (t.gettext(N_("Revenue incl. VAT, after credit notes")), lambda m: m.net_ore),
            (t.gettext(N_("VAT")), lambda m: m.vat_ore),
            (t.gettext(N_("Paid on site")), lambda m: m.on_site_ore),
        ],
        money=lambda ore: format_nok(ore, language),
    )
    return Response(
        content=svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store", "Content-Security-Policy": SVG_CSP, "Vary": "Cookie"},
    )


@get("/kontor/{slug:str}/rapporter.csv", name="bo_report_csv")
async def report_csv(request: Request, slug: str, aar: str | None = None) -> Response:
    wp = await access.workplace(request, slug, Permission.REPORTS)
    year = _year(aar) or clock.local_today().year
    report = await reports.year(wp.supplier["id"], year)
    t = translations(language_of(request))
    header = [t.gettext(N_("Month")), t.gettext(N_("Sales incl. VAT (kr)")), t.gettext(N_("Credit notes (kr)")), t.gettext(N_("Net incl. VAT (kr)"))]
    for rate in report.rates:
        label = format_rate(rate, "nb").replace("\u00a0", " ")
        header += [t.gettext(N_("Base %(rate)s (kr)")) % {"rate": label}, t.gettext(N_("VAT %(rate)s (kr)")) % {"rate": label}]
    header += [t.gettext(N_("%(means)s (kr)")) % {"means": t.gettext(MEANS_TEXT[m])} for m in (*domain.MEANS, "other")]
    header += [
        t.gettext(N_("Gift cards sold (kr)")), t.gettext(N_("Paid on site (kr)")), t.gettext(N_("Bookings")), t.gettext(N_("No-shows")),
        t.gettext(N_("No-show rate (%)")), t.gettext(N_("Cancellations")), t.gettext(N_("Cancellation rate (%)")),
    ]

    def row(m: domain.Month, label: str) -> list[object]:
        cells: list[object] = [label, domain.Ore(m.sales_ore), domain.Ore(m.credited_ore), domain.Ore(m.net_ore)]
        for rate in report.rates:
            cells += [domain.Ore(m.vat[rate].base_ore), domain.Ore(m.vat[rate].vat_ore)]
        cells += [domain.Ore(m.means.get(key, 0)) for key in (*domain.MEANS, "other")]
        cells += [
            domain.Ore(m.giftcards_sold_ore), domain.Ore(m.on_site_ore), m.bookings, m.no_shows,
            "" if m.no_show_bp is None else domain.Percent(m.no_show_bp), m.cancellations, "" if m.cancellation_bp is None else domain.Percent(m.cancellation_bp),
        ]
        return cells

    rows = [row(m, f"{year}-{m.month:02d}") for m in report.months] + [row(report.total, t.gettext(N_("Total %(year)s")) % {"year": year})]
    return csv_response(domain.csv_bytes(header, rows), f"rapport-{slug}-{year}.csv")


ROUTES = [reports_page, report_svg, report_csv]

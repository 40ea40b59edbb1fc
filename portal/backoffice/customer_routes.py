"""The supplier's customers: the list (searchable, paged), one customer with
their orders here, and the CSV exports of customers and of bookings. For
those who see all calendars (owner, front desk); a customer who has not
booked with this supplier is 404 (L30)."""

from __future__ import annotations

from datetime import date, timedelta

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Response

from portal.backoffice import access, common
from portal.backoffice.access import Workplace
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.reports import domain
from portal.reports import service as reports
from portal.web.render import language_of, page, phone_text

#: The longest stretch of days one bookings export covers.
MAX_EXPORT_DAYS = 370
MAX_SEARCH = 100

#: How the customer chose to pay, in the bookings export (the same msgids as the booking page).
MEANS_TEXT = common.MEANS_LABELS

CSV_HEADERS = {"Content-Type": "text/csv; charset=utf-8", "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def csv_response(content: bytes, filename: str) -> Response:
    """A CSV download (never cached: it holds customer data)."""
    return Response(content=content, media_type="text/csv; charset=utf-8", headers={**CSV_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


def _page_number(raw: str | None) -> int:
    return common.int_param(raw) or 1


def _export_range(fra: str | None, til: str | None, today: date) -> tuple[date | None, date | None, dict[str, str]]:
    """The bookings export's dates (default: this month so far and the rest of it), or the field messages."""
    first_of_month = today.replace(day=1)
    end_of_month = (first_of_month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first = common.day_param(fra, first_of_month)
    last = common.day_param(til, end_of_month)
    errors: dict[str, str] = {}
    if first is None:
        errors["fra"] = N_("Enter a date.")
    if last is None:
        errors["til"] = N_("Enter a date.")
    if first and last and last < first:
        errors["til"] = N_("The last day comes after the first.")
    elif first and last and (last - first).days >= MAX_EXPORT_DAYS:
        errors["til"] = N_("Export at most a year at a time.")
    return first, last, errors


async def _list_page(request: Request, wp: Workplace, q: str, side: str | None, *, export: dict | None = None, status_code: int = 200) -> object:
    today = clock.local_today()
    search = q.strip()[:MAX_SEARCH]
    found = await reports.customers(wp.supplier["id"], search, _page_number(side))
    if export is None:
        first, last, _ = _export_range(None, None, today)
        export = {"fra": first.isoformat(), "til": last.isoformat(), "errors": {}}
    return page(
        request,
        "pages/backoffice/customers/list.html",
        block="results",
        status_code=status_code,
        **common.base(wp),
        q=search,
        found=found,
        export=export,
    )


@get("/kontor/{slug:str}/kunder", name="bo_customers")
async def customers_page(request: Request, slug: str, q: str = "", side: str | None = None) -> object:
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    return await _list_page(request, wp, q, side)


@get("/kontor/{slug:str}/kunder/{customer_id:int}", name="bo_customer")
async def customer_page(request: Request, slug: str, customer_id: int) -> object:
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    found = await reports.customer(wp.supplier["id"], customer_id)
    if found is None:
        raise NotFoundException()
    return page(request, "pages/backoffice/customers/customer.html", **common.base(wp), customer=found)


@get("/kontor/{slug:str}/kunder.csv", name="bo_customers_csv")
async def customers_csv(request: Request, slug: str) -> Response:
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    t = translations(language_of(request))
    header = [t.gettext(h) for h in (N_("Name"), N_("Mobile"), N_("Email"), N_("Bookings"), N_("No-shows"), N_("Cancellations"), N_("First order"), N_("Latest order"))]
    rows = [
        (
            c["name"], phone_text(c["phone"]) if c["phone"] else "", c["email"], c["bookings"], c["no_shows"], c["cancellations"],
            clock.to_local(c["first_at"]).date().isoformat(), clock.to_local(c["last_at"]).date().isoformat(),
        )
        for c in await reports.all_customers(wp.supplier["id"])
    ]
    return csv_response(domain.csv_bytes(header, rows), f"kunder-{slug}-{clock.local_today().isoformat()}.csv")


@get("/kontor/{slug:str}/bestillinger.csv", name="bo_bookings_csv")
async def bookings_csv(request: Request, slug: str, fra: str | None = None, til: str | None = None) -> object:
    """The bookings whose time is from `fra` to `til` (local days); bad dates re-render the form on the customers page."""
    wp = await access.workplace(request, slug, Permission.SEE_ALL_CALENDARS)
    first, last, errors = _export_range(fra, til, clock.local_today())
    if errors or first is None or last is None:
        return await _list_page(request, wp, "", None, export={"fra": fra or "", "til": til or "", "errors": errors}, status_code=422)
    t = translations(language_of(request))
    header = [
        t.gettext(h)
        for h in (
            N_("Reference"), N_("Date"), N_("Time"), N_("Service"), N_("Staff"), N_("Customer"), N_("Mobile"), N_("Email"),
            N_("State"), N_("Price (kr)"), N_("Paid (kr)"), N_("Payment"),
        )
    ]
    rows = []
    for b in await reports.bookings(wp.supplier["id"], first, last):
        local = clock.to_local(b["start"])
        means = t.gettext(MEANS_TEXT.get(b["means"], b["means"]))
        if b["giftcard_ore"]:
            means = f"{means} + {t.gettext(N_('Gift card'))}"
        rows.append(
            (
                b["reference"], local.date().isoformat(), local.strftime("%H:%M"), b["service"], b["staff"], b["customer_name"],
                phone_text(b["phone"]) if b["phone"] else "", b["email"], t.gettext(common.STATE_LABELS.get(b["state"], b["state"])),
                domain.Ore(b["price_ore"]), domain.Ore(b["paid_ore"]), means,
            )
        )
    return csv_response(domain.csv_bytes(header, rows), f"bestillinger-{slug}-{first.isoformat()}-{last.isoformat()}.csv")


ROUTES = [customers_page, customer_page, customers_csv, bookings_csv]

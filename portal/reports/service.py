"""What the back office's customer pages, exports and reports read. Every
read is bounded by one supplier: a customer is only what their orders with
that supplier say (L30), a customer without one reads as nothing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from portal.audit.service import query
from portal.documents.domain import IssuedDocument
from portal.documents.tables import Document, DocumentVoid
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.orders.tables import Order, OrderLine, OrderNote
from portal.reports import domain

PER_PAGE = 25
GIFTCARD_KIND = "giftcard"
_DOCUMENT_KINDS = [domain.RECEIPT, domain.CREDIT_NOTE]


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC from the start of `first` to the end of `last`, local days."""
    start = datetime.combine(first, time(0), clock.OSLO).astimezone(clock.UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), clock.OSLO).astimezone(clock.UTC)
    return start, end


def _quote_ore(order: dict, key: str) -> int:
    value = (order.get("quote") or {}).get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def _documents(where) -> list[IssuedDocument]:
    """Issued receipts and credit notes matching `where`, voids left out (a void document is no sale)."""
    rows = await Document.select().where(where & Document.kind.is_in(_DOCUMENT_KINDS)).order_by(Document.id).output(load_json=True)
    if not rows:
        return []
    voided = {v["document"] for v in await DocumentVoid.select(DocumentVoid.document).where(DocumentVoid.document.is_in([r["id"] for r in rows]))}
    return [IssuedDocument.from_row(r) for r in rows if r["id"] not in voided]


# ---------------------------------------------------------------- customers


async def _customer_rows(supplier_id: int) -> list[dict]:
    """One row per customer who has an order with the supplier, newest first:
    the details of their latest order here, and their counts here."""
    rows = await (
        Order.select(Order.id, Order.customer, Order.customer_name, Order.phone, Order.email, Order.state, Order.created_at)
        .where((Order.supplier == supplier_id) & Order.customer.is_not_null())
        .order_by(Order.id, ascending=False)
    )
    customers: dict[int, dict] = {}
    for row in rows:
        found = customers.get(row["customer"])
        if found is None:
            found = customers[row["customer"]] = {
                "id": row["customer"],
                "name": row["customer_name"],
                "phone": row["phone"],
                "email": row["email"],
                "last_at": row["created_at"],
                "first_at": row["created_at"],
                "bookings": 0,
                "no_shows": 0,
                "cancellations": 0,
                "known_as": set(),
            }
        found["first_at"] = row["created_at"]
        found["known_as"].add((row["customer_name"], row["phone"], row["email"]))
        if row["state"] in domain.BOOKED_STATES:
            found["bookings"] += 1
            found["no_shows"] += row["state"] == domain.NO_SHOW
            found["cancellations"] += row["state"] in domain.CANCELLED_STATES
    return list(customers.values())


@query
async def customers(supplier_id: int, search: str = "", page: int = 1, per_page: int = PER_PAGE) -> domain.Page:
    """The supplier's customers matching `search` (name, number or email of any of their orders here), one page of them."""
    found = [
        {k: v for k, v in c.items() if k != "known_as"}
        for c in await _customer_rows(supplier_id)
        if any(domain.matches(search, name=n, phone=p, email=e) for n, p, e in c["known_as"])
    ]
    return domain.page_of(found, page, per_page)


@query
async def all_customers(supplier_id: int) -> list[dict]:
    """Every customer of the supplier (the CSV export)."""
    return [{k: v for k, v in c.items() if k != "known_as"} for c in await _customer_rows(supplier_id)]


async def _first_reservations(supplier_id: int, order_ids: list[int]) -> dict[int, dict]:
    rows = await (
        Reservation.select(Reservation.order, Reservation.start, Reservation.offering.title, Reservation.resource.name)
        .where(Reservation.order.is_in(order_ids) & (Reservation.supplier == supplier_id))
        .order_by(Reservation.start)
    )
    first: dict[int, dict] = {}
    for row in rows:
        first.setdefault(row["order"], row)
    return first


@query
async def customer(supplier_id: int, customer_id: int) -> dict | None:
    """A customer as the supplier knows them: their orders here, their
    no-shows, cancellations and the internal notes on those orders. None if
    they have no order with this supplier (L30)."""
    orders = await (
        Order.select(Order.id, Order.reference, Order.state, Order.customer_name, Order.phone, Order.email, Order.quote, Order.created_at)
        .where((Order.supplier == supplier_id) & (Order.customer == customer_id))
        .order_by(Order.id, ascending=False)
        .output(load_json=True)
    )
    if not orders:
        return None
    ids = [o["id"] for o in orders]
    first = await _first_reservations(supplier_id, ids)
    described: dict[int, list[str]] = {}
    for line in await OrderLine.select(OrderLine.order, OrderLine.description).where(OrderLine.order.is_in(ids)).order_by(OrderLine.position):
        described.setdefault(line["order"], []).append(line["description"])
    notes = await OrderNote.select().where(OrderNote.order.is_in(ids) & (OrderNote.supplier == supplier_id)).order_by(OrderNote.id)
    references = {o["id"]: o["reference"] for o in orders}
    latest = orders[0]
    return {
        "id": customer_id,
        "name": latest["customer_name"],
        "phone": latest["phone"],
        "email": latest["email"],
        "orders": [
            {
                "id": o["id"],
                "reference": o["reference"],
                "state": o["state"],
                "start": first[o["id"]]["start"] if o["id"] in first else None,
                "created_at": o["created_at"],
                "service": (first[o["id"]]["offering.title"] if o["id"] in first else "") or ", ".join(described.get(o["id"], [])),
                "amount_ore": _quote_ore(o, "total_ore"),
            }
            for o in orders
        ],
        "no_shows": sum(o["state"] == domain.NO_SHOW for o in orders),
        "cancellations": sum(o["state"] in domain.CANCELLED_STATES for o in orders),
        "notes": [{**n, "reference": references.get(n["order"], "")} for n in notes],
    }


# ---------------------------------------------------------------- bookings


async def _paid(supplier_id: int, orders: dict[int, dict]) -> dict[int, int]:
    """Per order: what its receipts took less what its credit notes gave back."""
    paid = dict.fromkeys(orders, 0)
    if not orders:
        return paid
    for d in await _documents((Document.supplier_id == supplier_id) & Document.order_id.is_in(list(orders))):
        # An order id alone could be a deleted order's (SQLite reuses ids): the reference must agree.
        if d.order_id in orders and d.order_reference == orders[d.order_id]["reference"]:
            paid[d.order_id] += -d.total_ore if d.kind.value == domain.CREDIT_NOTE else d.total_ore
    return paid


@query
async def bookings(supplier_id: int, first: date, last: date) -> list[dict]:
    """The supplier's bookings whose time starts on a local day from `first`
    to `last`, in time order (held and released checkouts left out)."""
    start, end = _bounds(first, last)
    rows = await (
        Reservation.select(Reservation.order, Reservation.start, Reservation.offering.title, Reservation.resource.name)
        .where((Reservation.supplier == supplier_id) & (Reservation.start >= start) & (Reservation.start < end))
        .order_by(Reservation.start)
        .order_by(Reservation.id)
    )
    ids = sorted({r["order"] for r in rows})
    orders = {
        o["id"]: o
        for o in await Order.select(
            Order.id, Order.reference, Order.state, Order.customer_name, Order.phone, Order.email, Order.means, Order.quote
        )
        .where(Order.id.is_in(ids) & (Order.supplier == supplier_id))
        .output(load_json=True)
    } if ids else {}
    paid = await _paid(supplier_id, orders)
    out = []
    for r in rows:
        order = orders.get(r["order"])
        if order is None or order["state"] not in domain.BOOKED_STATES:
            continue
        out.append(
            {
                **order,
                "start": r["start"],
                "service": r["offering.title"],
                "staff": r["resource.name"],
                "price_ore": _quote_ore(order, "total_ore"),
                "paid_ore": paid.get(order["id"], 0),
                "giftcard_ore": _quote_ore(order, "giftcard_ore"),
            }
        )
    return out


# ---------------------------------------------------------------- the year


@query
async def year(supplier_id: int, year: int) -> domain.Report:
    """The year's report from the supplier's receipts and credit notes, and its bookings."""
    start, end = _bounds(date(year, 1, 1), date(year, 12, 31))
    documents = await _documents((Document.supplier_id == supplier_id) & (Document.issued_at >= start) & (Document.issued_at < end))
    order_ids = sorted({d.order_id for d in documents if d.order_id is not None})
    card_sales: set[tuple[int, str]] = set()
    if order_ids:
        lines = await OrderLine.select(OrderLine.order, OrderLine.order.reference).where(OrderLine.order.is_in(order_ids) & (OrderLine.kind == GIFTCARD_KIND))
        card_sales = {(line["order"], line["order.reference"]) for line in lines}
    entries = [domain.Entry.of(d, giftcard_sale=(d.order_id, d.order_reference) in card_sales) for d in documents]

    reservations = await (
        Reservation.select(Reservation.order, Reservation.start)
        .where((Reservation.supplier == supplier_id) & (Reservation.start >= start) & (Reservation.start < end))
        .order_by(Reservation.start)
    )
    firsts: dict[int, datetime] = {}
    for r in reservations:
        firsts.setdefault(r["order"], r["start"])
    orders = await Order.select(Order.id, Order.state, Order.quote).where(Order.id.is_in(list(firsts)) & (Order.supplier == supplier_id)).output(load_json=True) if firsts else []
    booked = [domain.Booking(day=clock.to_local(firsts[o["id"]]).date(), state=o["state"], on_site_ore=_quote_ore(o, "pay_on_site_ore")) for o in orders]
    return domain.year_report(year, entries, booked)

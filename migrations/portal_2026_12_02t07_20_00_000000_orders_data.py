"""Every booking becomes an order with one appointment line holding its
reservation — same ids, same money. Runs between the expand and contract
migrations, on both engines: reads each old row and writes the new ones
with parameters (no engine-specific JSON SQL).

    orders (the renamed booking)  →  order_line (id = order id)
                                   →  reservation (id = order id: calendar UIDs stay)
    outbox_message.booking         →  outbox_message.order_id; code SMS are urgent
    slot_claim owner "b:<id>"      →  "r:<id>"
"""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.table import Table

ID = "2026-12-02T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "orders: copy each booking's line and reservation"

#: A booking's end states, as its reservation's.
RESERVATION_STATUS = {
    "held": "held",
    "confirmed": "confirmed",
    "released": "released",
    "completed": "completed",
    "no_show": "no_show",
    "cancelled_by_customer": "cancelled",
    "cancelled_by_supplier": "cancelled",
    "withdrawn": "cancelled",
}


class _Raw(Table, tablename="orders"):
    """Only for `raw()` queries."""


def _json(value):
    if value is None or value == "":
        return {}
    return json.loads(value) if isinstance(value, str) else value


async def _copy() -> None:
    engine = engine_finder()
    rows = await _Raw.raw(
        'SELECT o.id, o.supplier, o.offering, o.resource, o.start, o."end", o.buffer_before_min, o.buffer_after_min, '
        "o.seats, o.state, o.expires_at, o.ics_sequence, o.price_ore, o.vat_rate_bp, o.quote, o.created_at, o.updated_at, "
        "f.title AS title FROM orders o LEFT JOIN offering f ON f.id = o.offering ORDER BY o.id"
    )
    for row in rows:
        quote = _json(row["quote"])
        priced = (quote.get("lines") or [{}])[0] if quote else {}
        await _Raw.raw(
            'INSERT INTO order_line (id, "order", position, kind, offering, quantity, description, unit_price_ore, vat_rate_bp, price, details) '
            "VALUES ({}, {}, 0, 'appointment', {}, 1, {}, {}, {}, {}, {})",
            row["id"],
            row["id"],
            row["offering"],
            (row["title"] or priced.get("description") or "")[:300],
            int(priced.get("unit_price_ore", row["price_ore"] or 0)),
            int(priced.get("vat_rate_bp", row["vat_rate_bp"] or 0)),
            json.dumps(priced),
            "{}",
        )
        await _Raw.raw(
            'INSERT INTO reservation (id, "order", line, supplier, offering, resource, start, "end", buffer_before_min, '
            "buffer_after_min, seats, status, hold_expires_at, ics_sequence, created_at, updated_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            row["id"],
            row["id"],
            row["id"],
            row["supplier"],
            row["offering"],
            row["resource"],
            row["start"],
            row["end"],
            row["buffer_before_min"],
            row["buffer_after_min"],
            row["seats"],
            RESERVATION_STATUS.get(row["state"], "released"),
            row["expires_at"],
            row["ics_sequence"],
            row["created_at"],
            row["updated_at"],
        )
    await _Raw.raw("UPDATE outbox_message SET order_id = booking WHERE booking IS NOT NULL")
    await _Raw.raw("UPDATE outbox_message SET urgent = {} WHERE topic = 'code'", True)
    await _Raw.raw("UPDATE slot_claim SET owner = 'r:' || substr(owner, 3) WHERE owner LIKE 'b:%'")
    if engine.engine_type == "postgres":
        for table in ("order_line", "reservation"):
            # The next id follows the copied ones (an empty table starts at 1).
            await _Raw.raw(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.add_raw(_copy)
    return manager

"""Withdrawals from orders under the right of withdrawal (issue 10, L8–L10).

The table is frozen here as it was created (the live class may grow later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID = "2026-12-04T19:12:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order withdrawals (angrerett)"


class Supplier(Table, tablename="supplier"):
    id = Serial(primary_key=True)


class Order(Table, tablename="orders"):
    id = Serial(primary_key=True)


class OrderWithdrawal(Table, tablename="order_withdrawal"):
    order = ForeignKey(references=Order, unique=True, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True)
    received_at = Timestamptz()
    recorded_at = Timestamptz()
    via = Varchar(length=10, default="online")
    name = Varchar(length=200, default="")
    contact = Varchar(length=254, default="")
    early_start = Boolean(default=False)
    started = Boolean(default=False)
    price_ore = Integer(default=0)
    keep_ore = Integer(null=True, default=None)
    settled_at = Timestamptz(null=True, default=None)
    document_id = Integer(null=True, default=None)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await OrderWithdrawal.create_table()

    manager.add_raw(create)
    return manager

"""Time blocks: a staff member's or room's time taken without a booking.

The table is frozen here as it was created (the live class may grow later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID = "2026-12-04T18:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "time blocks"


class Supplier(Table, tablename="supplier"):
    id = Serial(primary_key=True)


class Resource(Table, tablename="resource"):
    id = Serial(primary_key=True)


class TimeBlock(Table, tablename="time_block"):
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.restrict)
    resource = ForeignKey(references=Resource, index=True, on_delete=OnDelete.restrict)
    start = Timestamptz(index=True)
    end = Timestamptz()
    note = Varchar(length=200, default="")
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz()
    removed_at = Timestamptz(null=True, default=None)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await TimeBlock.create_table()

    manager.add_raw(create)
    return manager

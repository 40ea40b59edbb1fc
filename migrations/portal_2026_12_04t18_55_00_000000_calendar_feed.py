"""Calendar feeds (private iCalendar addresses, stored as token hashes) and
the staff members' choice of the morning agenda.

The tables are frozen here as they were created (the live classes may grow later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID = "2026-12-04T18:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "calendar feeds and agendas"


class Supplier(Table, tablename="supplier"):
    id = Serial(primary_key=True)


class StaffAccount(Table, tablename="staff_account"):
    id = Serial(primary_key=True)


class CalendarFeed(Table, tablename="calendar_feed"):
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(references=StaffAccount, null=True, default=None, index=True, on_delete=OnDelete.cascade)
    token_hash = Varchar(length=64, unique=True)
    include_phone = Boolean(default=False)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class StaffAgenda(Table, tablename="staff_agenda"):
    key = Varchar(length=40, unique=True)
    account = ForeignKey(references=StaffAccount, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.cascade)
    wanted = Boolean(default=False)
    updated_at = Timestamptz()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await CalendarFeed.create_table()
        await StaffAgenda.create_table()

    manager.add_raw(create)
    return manager

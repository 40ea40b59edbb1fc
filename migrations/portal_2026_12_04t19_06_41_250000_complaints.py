"""Complaints (issue 10, L23) and their photos, kept in the database.

The tables are frozen here as they were created (the live classes may grow later)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Bytea, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ID = "2026-12-04T19:06:41:250000"
VERSION = "1.38.0"
DESCRIPTION = "complaints and their photos"


class Supplier(Table, tablename="supplier"):
    id = Serial(primary_key=True)


class Order(Table, tablename="orders"):
    id = Serial(primary_key=True)


class Complaint(Table, tablename="complaint"):
    order = ForeignKey(references=Order, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True)
    status = Varchar(length=10, index=True)
    text = Text()
    photo_format = Varchar(length=10, default="")
    answer = Text(default="")
    answered_by = Varchar(length=120, default="")
    created_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)


class ComplaintPhoto(Table, tablename="complaint_photo"):
    complaint = ForeignKey(references=Complaint, unique=True, on_delete=OnDelete.cascade)
    content = Bytea()
    sha256 = Varchar(length=64)
    size = Integer()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await Complaint.create_table()
        await ComplaintPhoto.create_table()

    manager.add_raw(create)
    return manager

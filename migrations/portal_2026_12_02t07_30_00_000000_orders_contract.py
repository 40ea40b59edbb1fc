from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import JSON
from piccolo.columns.column_types import Serial
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Offering(Table, tablename="offering", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class Order(Table, tablename="orders", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class OrderLine(Table, tablename="order_line", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class Resource(Table, tablename="resource", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class Supplier(Table, tablename="supplier", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-12-02T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "orders: drop what moved to reservations and order lines"


#: Indexes SQLite must drop before it can drop their columns (PostgreSQL drops them with the column).
SQLITE_INDEXES = ["booking_offering", "booking_resource", "booking_start", "outbox_message_booking"]


async def _drop_sqlite_indexes():
    from piccolo.engine.finder import engine_finder

    engine = engine_finder()
    if engine.engine_type == "sqlite":
        for name in SQLITE_INDEXES:
            await engine.run_ddl(f'DROP INDEX IF EXISTS "{name}"')


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.add_raw(_drop_sqlite_indexes)

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="buffer_after_min",
        db_column_name="buffer_after_min",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="buffer_before_min",
        db_column_name="buffer_before_min",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="end",
        db_column_name="end",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="ics_sequence",
        db_column_name="ics_sequence",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="offering",
        db_column_name="offering",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="price_ore",
        db_column_name="price_ore",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="resource",
        db_column_name="resource",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="seats",
        db_column_name="seats",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="start",
        db_column_name="start",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="vat_ore",
        db_column_name="vat_ore",
        schema=None,
    )

    manager.drop_column(
        table_class_name="Order",
        tablename="orders",
        column_name="vat_rate_bp",
        db_column_name="vat_rate_bp",
        schema=None,
    )

    manager.drop_column(
        table_class_name="OutboxMessage",
        tablename="outbox_message",
        column_name="booking",
        db_column_name="booking",
        schema=None,
    )

    return manager

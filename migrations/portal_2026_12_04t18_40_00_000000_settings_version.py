"""The owner's settings: a version number on each supplier and offering (a
form sent with an older number changes nothing: a stale second tab), and
when the supplier gave the marketplace its trader self-certification."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T18:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "settings version"


def _params(**changes) -> dict:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **changes,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    for table_class_name, tablename in (("Supplier", "supplier"), ("Offering", "offering")):
        manager.add_column(
            table_class_name=table_class_name,
            tablename=tablename,
            column_name="version",
            db_column_name="version",
            column_class_name="Integer",
            column_class=Integer,
            params=_params(default=0),
            schema=None,
        )
    manager.add_column(
        table_class_name="Supplier",
        tablename="supplier",
        column_name="trader_certified_at",
        db_column_name="trader_certified_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=None, null=True),
        schema=None,
    )
    return manager

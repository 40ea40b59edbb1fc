"""An online booking's video meeting link (issue 10, M16): set on the
reservation when the booking is confirmed; empty for in-person bookings."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T19:20:17:431000"
VERSION = "1.38.0"
DESCRIPTION = "reservation meeting link"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Reservation",
        tablename="reservation",
        column_name="meeting_url",
        db_column_name="meeting_url",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 500,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager

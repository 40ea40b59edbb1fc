"""A version number on each resource (a staff member's or a room's calendar):
every change of its opening hours or dated exceptions bumps it, and a form
sent with an older number changes nothing (a stale second tab)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "resource version"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def add():
        await engine_finder().run_ddl("ALTER TABLE resource ADD COLUMN version INTEGER NOT NULL DEFAULT 0")

    manager.add_raw(add)
    return manager

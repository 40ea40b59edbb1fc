"""One row whose number every catalogue change (settings: profile, offerings,
hours, staff) bumps: each process compares it before using its cached
catalogue rows, so a change is seen everywhere at once."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalogue version"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        await engine.run_ddl("CREATE TABLE catalogue_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL DEFAULT 0)")
        await engine.run_ddl("INSERT INTO catalogue_version (id, version) VALUES (1, 0)")

    manager.add_raw(create)
    return manager

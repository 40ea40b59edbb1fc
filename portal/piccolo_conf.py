"""Piccolo's database engine, chosen by DATABASE_URL (see portal.settings).

SQLite: a file (never in-memory), WAL mode, a busy timeout, and IMMEDIATE
write transactions (portal.lib.db) so that writers queue instead of failing.
PostgreSQL: a connection pool per event loop (see LoopPostgresEngine).
"""

import asyncio
import weakref

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from portal.settings import load

_settings = load()


class LoopPostgresEngine(PostgresEngine):
    """Piccolo's PostgresEngine with its pool kept per event loop.

    asyncpg connections belong to the loop that opened them. A server has one
    loop, so this is Piccolo's pool as usual; the test client runs the app on
    a loop of its own beside the test body's, and each loop gets (or goes
    without) a pool of its own instead of borrowing another loop's.
    """

    def __init__(self, *args, **kwargs):
        self._pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        super().__init__(*args, **kwargs)

    @property
    def pool(self):
        try:
            return self._pools.get(asyncio.get_running_loop())
        except RuntimeError:  # no running loop: no pool
            return None

    @pool.setter
    def pool(self, value) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if value is None:
                return  # PostgresEngine.__init__ clears it before any loop runs
            raise
        if value is None:
            self._pools.pop(loop, None)
        else:
            self._pools[loop] = value


class PortalSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLiteEngine without a second round trip per statement in a
    transaction: Piccolo sends `PRAGMA foreign_keys = 1` before each one,
    though the transaction's connection got it when it was opened
    (SQLiteEngine.get_connection). Inside a write transaction every round
    trip is time all other writers wait."""

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        if query_type == "insert" and self.get_version_sync() < 3.35:  # pragma: no cover - no RETURNING before 3.35
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        connection.row_factory = dict_factory
        async with connection.execute(query, args or []) as cursor:
            return await cursor.fetchall()


if _settings.is_postgres:
    DB = LoopPostgresEngine(config={"dsn": _settings.database_url})
else:
    _settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    DB = PortalSQLiteEngine(path=str(_settings.sqlite_path), timeout=30)

APP_REGISTRY = AppRegistry(apps=["portal.piccolo_app"])

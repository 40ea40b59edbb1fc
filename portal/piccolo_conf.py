"""Piccolo's database engine, chosen by DATABASE_URL (see portal.settings).

SQLite: a file (never in-memory), WAL mode, a busy timeout, and IMMEDIATE
write transactions (portal.lib.db) so that writers queue instead of failing.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from portal.settings import load

_settings = load()

if _settings.is_postgres:
    DB = PostgresEngine(config={"dsn": _settings.database_url})
else:
    _settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    DB = SQLiteEngine(path=str(_settings.sqlite_path), timeout=30)

APP_REGISTRY = AppRegistry(apps=["portal.piccolo_app"])

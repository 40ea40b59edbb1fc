"""Test setup shared by unit, integration and end-to-end tests.

The environment is set here before anything imports portal: a fresh SQLite
file per run by default, or PostgreSQL when DATABASE_URL says so (CI runs
the suite on both). The schema is built by running the real migrations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_tmp = Path(tempfile.mkdtemp(prefix="portal-test-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_tmp / 'test.sqlite3'}")
os.environ.setdefault("PORTAL_SECRET_KEY", "test-secret-key-not-for-production")
os.environ["PORTAL_ENV"] = "dev"
# The test client runs the app on another event loop than the test body:
# no shared asyncpg pool, a connection per query instead.
os.environ.setdefault("PORTAL_DB_POOL_SIZE", "0")
# Tests drive the outbox worker themselves (portal.notify.worker.drain_once);
# the end-to-end server turns the embedded worker back on.
os.environ["PORTAL_EMBEDDED_WORKER"] = "0"
# Tests change opening hours between requests; read them fresh every time.
os.environ.setdefault("PORTAL_CATALOGUE_CACHE_SECONDS", "0")
os.environ["PICCOLO_CONF"] = "portal.piccolo_conf"
os.environ.setdefault("HYPOTHESIS_PROFILE", "default")

DATABASE_URL = os.environ["DATABASE_URL"]
IS_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))


def reset_database(url: str = DATABASE_URL) -> None:
    """Empty the database and run every migration forwards, then seed."""
    env = {**os.environ, "DATABASE_URL": url, "PICCOLO_CONF": "portal.piccolo_conf"}
    if url.startswith(("postgres://", "postgresql://")):
        import asyncio

        import asyncpg

        async def _drop() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            finally:
                await conn.close()

        asyncio.run(_drop())
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "portal.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "portal.cli", "seed"], cwd=ROOT, env=env, check=True, capture_output=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    reset_database()


@pytest.fixture()
async def clean_bookings():
    """Each booking test starts with no bookings, holds, claims, codes,
    customers or queued messages."""
    from portal.booking.tables import Booking, ClassSession, SlotClaim
    from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, PhoneCode
    from portal.notify.tables import DevMessage, OutboxMessage

    for table in (OutboxMessage, DevMessage, SlotClaim, ClassSession, Booking, PhoneCode, DeviceToken, CustomerSupplier, Customer):
        await table.delete(force=True)
    yield


@pytest.fixture()
async def client(clean_bookings):
    from litestar.testing import AsyncTestClient

    from portal.app import create_app

    async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: sync Playwright keeps an event loop running in the
    main thread for its session, which async tests cannot share."""
    items.sort(key=lambda item: "e2e" in item.keywords)

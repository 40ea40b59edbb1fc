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
# The app under the test client keeps a small pool on its own event loop, as
# production does; the test body's loop has one of its own (`_test_body_pool`).
os.environ.setdefault("PORTAL_DB_POOL_SIZE", "4")
# Tests drive the outbox worker themselves (portal.outbox.worker.drain_once);
# the end-to-end server turns the embedded worker back on.
os.environ["PORTAL_EMBEDDED_WORKER"] = "0"
# Tests change opening hours between requests; read them fresh every time.
os.environ.setdefault("PORTAL_CATALOGUE_CACHE_SECONDS", "0")
os.environ["PICCOLO_CONF"] = "portal.piccolo_conf"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The app's Vipps is a dev Vipps served over real HTTP by this test session
# (started on first use: the `vipps` fixture). Its webhooks are not sent
# anywhere; tests deliver signed webhooks to the app themselves.
VIPPS_PORT = _free_port()
os.environ["PORTAL_VIPPS_BASE_URL"] = f"http://127.0.0.1:{VIPPS_PORT}"
os.environ.setdefault("PORTAL_VIPPS_TIMEOUT", "2")  # timeouts are provoked on purpose; keep them short
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
    from portal import wiring

    wiring.configure()


#: Connections of the test body's pool, at most: more than any test runs at once
#: (test_vipps_webhooks hands 40 deliveries to the service at the same moment,
#: "each on its own connections"), so that the pool never serialises a race.
TEST_BODY_POOL_MAX = 48


@pytest.fixture(scope="session", autouse=True)
async def _test_body_pool():
    """On PostgreSQL, a pool for the test body's event loop (the session's):
    without one every query opens a connection of its own (~5 ms each, and a
    backend process for the server to start — tens of thousands of them per
    run). Idle connections beyond one are closed after a few seconds."""
    if not IS_POSTGRES:
        yield
        return
    from portal.lib import db

    engine = db.engine()
    await engine.start_connection_pool(min_size=1, max_size=TEST_BODY_POOL_MAX, max_inactive_connection_lifetime=5)
    try:
        yield
    finally:
        await engine.close_connection_pool()


@pytest.fixture()
async def clean_bookings():
    """Each booking test starts with no orders, reservations, claims, codes,
    customers or queued messages. (Audit entries and documents are
    append-only: tests read those newer than a marker, or of their own order.)"""
    from portal.account.tables import LegalHold
    from portal.capacity.tables import ClassSession, SlotClaim
    from portal.identity.staff.tables import StaffLoginFailure, StaffSession
    from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, MarketingConsent, PhoneCode
    from portal.kinds.appointment.tables import Reservation, TimeBlock
    from portal.lib.db import write_transaction
    from portal.notify.tables import DevMessage
    from portal.orders.tables import Order, OrderLine, OrderNote, OrderWithdrawal
    from portal.outbox.tables import OutboxMessage
    from portal.payments.tables import (
        Coupon,
        CouponRedemption,
        MoneyMovement,
        Payment,
        PaymentEvent,
        PaymentOperation,
        WebhookDelivery,
    )

    # One transaction: one connection and one commit instead of one of each per table.
    async with write_transaction():
        await Coupon.update({Coupon.uses: 0}, force=True)
        for table in (
            MoneyMovement,
            PaymentEvent,
            WebhookDelivery,
            OutboxMessage,
            PaymentOperation,
            Payment,
            CouponRedemption,
            DevMessage,
            SlotClaim,
            ClassSession,
            Reservation,
            TimeBlock,
            OrderWithdrawal,
            OrderNote,
            OrderLine,
            Order,
            PhoneCode,
            DeviceToken,
            CustomerSupplier,
            MarketingConsent,
            Customer,
            LegalHold,
            StaffLoginFailure,
            StaffSession,
        ):
            await table.delete(force=True)
    yield


_app_cache: dict = {}


def shared_app():
    """The app for `client`: built once per settings (building one costs far
    more than most tests: every route handler's signature model, the template
    environment), started and stopped by each test's client as before. A test
    that changes the settings (load.cache_clear()) gets an app of its own."""
    from portal.app import create_app
    from portal.settings import load

    settings = load()
    if _app_cache.get("settings") is not settings:
        _app_cache.update(settings=settings, app=create_app(settings))
    return _app_cache["app"]


@pytest.fixture()
async def client(clean_bookings):
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=shared_app(), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


_vipps_server: dict = {}


@pytest.fixture()
def vipps():
    """The session's dev Vipps (the one the app talks to), emptied for each test.

    Yields the DevVipps: `approve(reference)`, `reject(...)`, `fail_next(...)`,
    `fail_captures()`, `payments`, `request_log` …
    """
    if not _vipps_server:
        import contextlib

        from portal.app import create_app  # noqa: F401 - the dev app borrows the template engine
        from portal.payments.vipps.devserver import DevVipps, create_dev_vipps_app
        from portal.settings import load
        from tests.integration.vipps_support import serve_in_thread

        v = load().vipps
        dev = DevVipps(
            client_id=v.client_id,
            client_secret=v.client_secret,
            subscription_key=v.subscription_key,
            merchant_serial_number=v.merchant_serial_number,
            public_base=v.base_url,
        )
        stack = contextlib.ExitStack()
        stack.enter_context(serve_in_thread(create_dev_vipps_app(dev), VIPPS_PORT))
        _vipps_server.update(dev=dev, stack=stack)
    dev = _vipps_server["dev"]
    dev.reset()
    yield dev
    dev.reset()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _vipps_server:
        _vipps_server["stack"].close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: sync Playwright keeps an event loop running in the
    main thread for its session, which async tests cannot share."""
    items.sort(key=lambda item: "e2e" in item.keywords)

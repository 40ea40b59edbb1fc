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
# production does; the test body's loop goes without (a connection per query).
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


@pytest.fixture()
async def clean_bookings():
    """Each booking test starts with no orders, reservations, claims, codes,
    customers or queued messages. (Audit entries and documents are
    append-only: tests read those newer than a marker, or of their own order.)"""
    from portal.capacity.tables import ClassSession, SlotClaim
    from portal.identity.staff.tables import StaffLoginFailure, StaffSession
    from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, PhoneCode
    from portal.kinds.appointment.tables import Reservation, TimeBlock
    from portal.notify.tables import DevMessage
    from portal.orders.tables import Order, OrderLine, OrderNote
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
        OrderNote,
        OrderLine,
        Order,
        PhoneCode,
        DeviceToken,
        CustomerSupplier,
        Customer,
        StaffLoginFailure,
        StaffSession,
    ):
        await table.delete(force=True)
    yield


@pytest.fixture()
async def client(clean_bookings):
    from litestar.testing import AsyncTestClient

    from portal.app import create_app

    async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as test_client:
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

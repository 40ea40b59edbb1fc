"""End-to-end fixtures: the real app under uvicorn on its own database, and
Debian's Chromium driven by Playwright (DESIGN.md, "Known to work together").

The server gets a fresh database of its own: a SQLite file in a temp dir, or,
when the suite runs on PostgreSQL (DATABASE_URL=postgresql://…/test), a
separate PostgreSQL database created next to it and dropped at the end. It is
migrated and seeded with the demo catalogue by `reset_database`.

`live_server` uses the app's own dev Vipps (/dev/vipps, same origin);
`vipps_elsewhere` runs a second app, on a database of its own, whose Vipps is
the dev Vipps app on another port (another origin), as with the real Vipps.

Screenshots of the main steps go to one temp dir, printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import ROOT, reset_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
SERVER_START_TIMEOUT = 30.0
EXPECTED_ERROR_PAGE = re.compile(r"^Failed to load resource: the server responded with a status of (409|422) ")

_shots_dir: Path | None = None
_server_logs: list[Path] = []
SHOT_SECONDS: list = []


def shots_dir() -> Path:
    global _shots_dir
    if _shots_dir is None:
        _shots_dir = Path(tempfile.mkdtemp(prefix="portal-e2e-shots-"))
    return _shots_dir


def pytest_terminal_summary(terminalreporter) -> None:
    if _shots_dir is not None:
        terminalreporter.write_line(f"e2e screenshots: {_shots_dir} ({len(SHOT_SECONDS)} in {sum(SHOT_SECONDS):.1f}s)")
    # A traceback in the server log is a fault that a page may have hidden.
    for server_log in _server_logs:
        text = server_log.read_text(errors="replace") if server_log.exists() else ""
        if "Traceback" in text:
            terminalreporter.write_sep("-", f"e2e server log has tracebacks: {server_log}", red=True)
            terminalreporter.write_line(text[text.index("Traceback") :][:4000])


# ------------------------------------------------------------------ database


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _in_thread(fn, *args):
    """Run `fn` on a thread of its own: Playwright's sync API marks the main
    thread's event loop as running, so asyncio.run() (ours, and the one in
    reset_database for PostgreSQL) must not run there."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def _run(coroutine_function, *args):
    return _in_thread(lambda: asyncio.run(coroutine_function(*args)))


async def _pg_admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass
class E2EDatabase:
    url: str

    def rows(self, sql: str, *args: object) -> list[tuple]:
        """Run a read query; `?` placeholders on both engines."""
        if _is_postgres(self.url):
            import asyncpg

            numbered = sql
            for i in range(1, len(args) + 1):
                numbered = numbered.replace("?", f"${i}", 1)

            async def _fetch() -> list[tuple]:
                conn = await asyncpg.connect(self.url)
                try:
                    return [tuple(r) for r in await conn.fetch(numbered, *args)]
                finally:
                    await conn.close()

            return _run(_fetch)
        with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql, args).fetchall())


@contextlib.contextmanager
def _fresh_database(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[E2EDatabase]:
    """A migrated, seeded database of its own for one server (see the module docstring)."""
    outer = os.environ.get("DATABASE_URL", "")
    if _is_postgres(outer):
        database = f"portal_{name.replace('-', '_')}_{os.getpid()}"
        admin = outer  # the suite's own database (…/test) serves as the admin connection
        _run(_pg_admin, admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"')
        url = _with_database(outer, database)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(name + '-db') / (name + '.sqlite3')}"
    _in_thread(reset_database, url)
    try:
        yield E2EDatabase(url)
    finally:
        if _is_postgres(outer):
            _run(_pg_admin, admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory: pytest.TempPathFactory):
    with _fresh_database(tmp_path_factory, "e2e") as database:
        yield database


# ------------------------------------------------------------------ server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve_app(database: E2EDatabase, tmp_path_factory: pytest.TempPathFactory, port: int | None = None, **extra_env: str) -> Iterator[str]:
    """Run the real app with uvicorn in a subprocess on `database`; yields its base URL.

    Without `extra_env` its Vipps is the app's own embedded dev Vipps (/dev/vipps)."""
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORTAL_EMBEDDED_WORKER": "1",
        "DATABASE_URL": database.url,
        "PORTAL_SECRET_KEY": "e2e-secret-key-not-for-production",
        "PORTAL_ENV": "dev",
        "PORTAL_BASE_URL": base_url,
        "PICCOLO_CONF": "portal.piccolo_conf",
    }
    # The browser tests use the app's own embedded dev Vipps, not the unit tests' one.
    env.pop("PORTAL_VIPPS_BASE_URL", None)
    env.update(extra_env)
    log_path = tmp_path_factory.mktemp("e2e-server") / "uvicorn.log"
    _server_logs.append(log_path)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer /healthz:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="session")
def live_server(e2e_database: E2EDatabase, tmp_path_factory: pytest.TempPathFactory):
    """Base URL of the real app, served by uvicorn in a subprocess."""
    with _serve_app(e2e_database, tmp_path_factory) as base_url:
        yield base_url


#: The webhook secret shared by the app and its dev Vipps on another origin.
ELSEWHERE_WEBHOOK_SECRET = "e2e-dev-vipps-webhook-secret"


@dataclass
class VippsElsewhere:
    """The app and its (dev) Vipps on two origins, as in production."""

    app: str
    """The app's base URL."""
    vipps_url: str
    """The dev Vipps' origin: its API, its landing page."""
    vipps: object
    """The DevVipps (portal.payments.vipps.devserver) serving `vipps_url`, in this process."""
    database: E2EDatabase

    def flush_webhooks(self) -> None:
        """Wait until every webhook the dev Vipps has started sending was answered."""
        _in_thread(lambda: asyncio.run(self.vipps.flush_webhooks()))


@pytest.fixture(scope="session")
def vipps_elsewhere(tmp_path_factory: pytest.TempPathFactory):
    """The real app (uvicorn subprocess, its own database) whose Vipps is the dev
    Vipps app served on ANOTHER port (another origin), the way it runs against
    the real Vipps: the customer is sent to a landing page off the site and
    comes back; the dev Vipps signs its webhooks to the app's /hooks/vipps."""
    from portal.app import create_app  # noqa: F401 - the dev Vipps app borrows the template engine
    from portal.payments.vipps.devserver import DevVipps, create_dev_vipps_app
    from portal.settings import VippsSettings
    from tests.integration.vipps_support import serve_in_thread

    app_port, vipps_port = _free_port(), _free_port()
    app_url, vipps_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{vipps_port}"
    defaults = VippsSettings()
    dev = DevVipps(
        client_id=defaults.client_id,
        client_secret=defaults.client_secret,
        subscription_key=defaults.subscription_key,
        merchant_serial_number=defaults.merchant_serial_number,
        webhook_url=f"{app_url}/hooks/vipps",
        webhook_secret=ELSEWHERE_WEBHOOK_SECRET,
        public_base=vipps_url,
    )
    with (
        _fresh_database(tmp_path_factory, "e2e-elsewhere") as database,
        serve_in_thread(create_dev_vipps_app(dev), vipps_port),
        _serve_app(
            database,
            tmp_path_factory,
            app_port,
            PORTAL_VIPPS_BACKEND="dev",
            PORTAL_VIPPS_BASE_URL=vipps_url,
            PORTAL_VIPPS_WEBHOOK_SECRET=ELSEWHERE_WEBHOOK_SECRET,
        ) as base_url,
    ):
        yield VippsElsewhere(app=base_url, vipps_url=vipps_url, vipps=dev, database=database)


# ------------------------------------------------------------------ browser


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Problems:
    """Console errors and uncaught page errors seen in one browser context."""

    errors: list[str] = field(default_factory=list)

    def console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        url = (message.location or {}).get("url", "")
        if "favicon.ico" in text or url.endswith("/favicon.ico"):
            return
        # Chromium logs every page answered with 4xx; a 422 form re-render (the
        # checkout, a gift card purchase or balance form) and a 409 "time taken"
        # page are the app's deliberate answers, not faults.
        if EXPECTED_ERROR_PAGE.search(text) and re.search(r"/(checkout/[^/?#]+|hold|giftcard|gavekort)$", urlsplit(url).path):
            return
        self.errors.append(f"console: {text} ({url})")

    def page_error(self, error) -> None:
        self.errors.append(f"pageerror: {error}")

    def assert_none(self) -> None:
        assert not self.errors, "browser reported errors:\n" + "\n".join(self.errors)


@dataclass
class Shooter:
    """Saves full-page screenshots named after the test and the step."""

    prefix: str
    count: int = 0

    def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = shots_dir() / f"{self.prefix}-{self.count:02d}-{step}.png"
        started = time.monotonic()
        page.screenshot(path=str(path), full_page=True)
        SHOT_SECONDS.append(time.monotonic() - started)
        return path


@pytest.fixture()
def shot(request: pytest.FixtureRequest) -> Shooter:
    return Shooter(re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))


def _context_factory(browser, base_url: str):
    """Factory for phone-sized browser contexts on `base_url`; each collects its
    console errors. Yields the factory; closes what it made."""
    made = []

    def make(**overrides):
        options = {
            "base_url": base_url,
            "viewport": dict(PHONE),
            "screen": dict(PHONE),
            "device_scale_factor": 1,
            "is_mobile": True,
            "has_touch": True,
            "locale": "nb-NO",
            "timezone_id": "Europe/Oslo",
            "accept_downloads": True,
            **overrides,
        }
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        problems = Problems()
        context.on("console", problems.console)
        context.on("weberror", lambda web_error: problems.page_error(web_error.error))
        context.problems = problems
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture()
def new_context(browser, live_server):
    """Factory for phone-sized browser contexts; each collects its console errors."""
    yield from _context_factory(browser, live_server)


@pytest.fixture()
def elsewhere_context(browser, vipps_elsewhere):
    """Like `new_context`, on the app whose Vipps is on another origin."""
    yield from _context_factory(browser, vipps_elsewhere.app)


@pytest.fixture()
def context(new_context):
    return new_context()


@pytest.fixture()
def page(context):
    return context.new_page()

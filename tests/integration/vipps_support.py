"""Shared by the Vipps tests (no tests here): the dev Vipps served by a real
uvicorn on 127.0.0.1:<free port> in a background thread, a VippsClient
pointing at it, a settable clock, and a tiny webhook receiver.

Use the context managers anywhere, or import the fixtures into a test module:

    from tests.integration.vipps_support import dev_vipps, dev_vipps_module, vipps_client  # noqa: F401

`dev_vipps` yields (DevVipps, base_url); `vipps_client` a VippsClient for it.
One server per test module (stopped afterwards: thread joined, port closed),
emptied with `DevVipps.reset()` before and after each test; tests that need
their own settings (a clock, a webhook URL) use `dev_vipps_server(...)`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import uvicorn

import portal.app  # noqa: F401 - the standalone dev Vipps borrows its template engine: import it once, at collection
from portal.payments.vipps.client import VippsClient, VippsConfig
from portal.payments.vipps.devserver import DevVipps, create_dev_vipps_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Clock:
    """A settable `now` for the client's token cache and the dev Vipps."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


@contextlib.contextmanager
def serve_in_thread(app, port: int) -> Iterator[None]:
    """Run an ASGI app with uvicorn in a daemon thread until the block ends."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.005)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn thread did not stop"


@contextlib.contextmanager
def dev_vipps_server(**options) -> Iterator[tuple[DevVipps, str]]:
    """(DevVipps, base_url) served on a free port; options go to DevVipps."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    dev = DevVipps(public_base=base_url, **options)
    with serve_in_thread(create_dev_vipps_app(dev), port):
        yield dev, base_url


def config_for(dev: DevVipps, base_url: str, **overrides) -> VippsConfig:
    values = {
        "base_url": base_url,
        "client_id": dev.client_id,
        "client_secret": dev.client_secret,
        "subscription_key": dev.subscription_key,
        "merchant_serial_number": dev.merchant_serial_number,
        "timeout_seconds": 2.0,
    }
    return VippsConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def dev_vipps_module() -> Iterator[tuple[DevVipps, str]]:
    """One served dev Vipps per test module (starting one costs ~0.3 s)."""
    with dev_vipps_server(webhook_backoff=0.02) as served:
        yield served


@pytest.fixture()
async def dev_vipps(dev_vipps_module) -> AsyncIterator[tuple[DevVipps, str]]:
    """(DevVipps, base_url), empty at the start of each test."""
    dev, base_url = dev_vipps_module
    dev.reset()
    try:
        yield dev, base_url
    finally:
        await dev.flush_webhooks()  # nothing of this test is still sending during the next
        dev.reset()


@pytest.fixture()
async def vipps_client(dev_vipps):
    dev, base_url = dev_vipps
    client = VippsClient(config_for(dev, base_url))
    try:
        yield client
    finally:
        await client.aclose()


class WebhookReceiver:
    """A small HTTP server that records every POST and answers from `script`
    (a list of statuses; 204 when it runs out)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        self.port = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                    status = receiver.script.pop(0) if receiver.script else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

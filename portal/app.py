"""create_app(settings) -> Litestar: plugins, routes, templates, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotFoundException
from litestar.plugins.htmx import HTMXPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from portal import wiring
from portal.account import rights
from portal.audit.domain import system
from portal.calendarfeed import service as agendas
from portal.kinds.appointment.service import release_expired
from portal.lib import clock, db
from portal.lib.i18n import LANGUAGES
from portal.outbox import worker as outbox_worker
from portal.payments import service as payments
from portal.sales import settlement
from portal.settings import ROOT, Settings, load
from portal.web.render import LANGUAGE_COOKIE, LANGUAGE_SECONDS, page
from portal.web.security import SECURITY_HEADERS, cookie, local_path, security_headers_middleware
from portal.web.templates import template_engine

log = logging.getLogger("portal")


@get("/healthz", name="healthz", exclude_from_csrf=True)
async def healthz() -> dict:
    return {"status": "ok"}


@get("/readyz", name="readyz")
async def readyz() -> Response:
    try:
        await db.engine().run_ddl("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means not ready
        log.exception("database not ready")
        return Response(content={"status": "database unavailable"}, status_code=503)
    return Response(content={"status": "ok"})


@get("/_bench/baseline", name="baseline", include_in_schema=False)
async def baseline(request: Request) -> object:
    """A trivial template through the same stack: the yardstick for bench/slots.py."""
    return page(request, "pages/baseline.html", message="ok")


@get("/language/{code:str}", name="language")
async def choose_language(code: str, next: str | None = None) -> Redirect:  # noqa: A002
    """One tap to switch language; remembered in a strictly necessary cookie."""
    target = local_path(next)
    if code not in LANGUAGES:
        return Redirect(path=target, status_code=303)
    return Redirect(path=target, status_code=303, cookies=[cookie(LANGUAGE_COOKIE, code, max_age=LANGUAGE_SECONDS)])


def _error_page(request: Request, exc: Exception) -> object:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status >= 500:
        log.exception("unhandled error", exc_info=exc)
    template = "pages/errors/404.html" if status == 404 else "pages/errors/error.html"
    # Errors raised outside a route (CSRF, unknown path) bypass the security
    # middleware's send wrapper, so the headers go on here as well.
    return page(request, template, status_code=status, headers=SECURITY_HEADERS, status=status)


SWEEPER = system("hold-sweeper")
RECONCILER = system("reconciler")
RETENTION = system("retention")
#: The retention job (L26) runs at most this often from the sweeper.
RETENTION_EVERY_SECONDS = 3600


async def _sweep_holds(interval: float = 30.0) -> None:
    """Free abandoned holds, reconcile payments, complete what time has
    delivered, queue the morning agendas, and hourly end due legal holds and
    forget inactive customers (portal.account.rights.run) — in the background."""
    loop = asyncio.get_running_loop()
    retention_due = loop.time()
    while True:
        try:
            await release_expired(SWEEPER, clock.now())
        except Exception:  # noqa: BLE001 - keep sweeping; logged
            log.exception("hold sweeper failed")
        try:
            await payments.reconcile(RECONCILER, clock.now())
        except Exception:  # noqa: BLE001 - Vipps or the database away for a moment
            log.exception("payment reconciler failed")
        try:
            await settlement.auto_complete(RECONCILER, clock.now())
        except Exception:  # noqa: BLE001 - the database away for a moment
            log.exception("auto-complete failed")
        try:
            await agendas.send_agendas(clock.now())
        except Exception:  # noqa: BLE001 - the database away for a moment
            log.exception("morning agendas failed")
        if loop.time() >= retention_due:
            retention_due = loop.time() + RETENTION_EVERY_SECONDS
            try:
                await rights.run(RETENTION, clock.now())
            except Exception:  # noqa: BLE001 - the database away for a moment
                log.exception("retention job failed")
        await asyncio.sleep(interval)


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process: what import and startup made (modules, templates,
    catalogues) is kept out of the garbage collector's full passes, which
    otherwise walk all of it and stall a request now and then."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    engine = db.engine()
    await db.prepare()
    settings = load()
    pooled = settings.is_postgres and settings.db_pool_size > 0
    if pooled:
        await engine.start_connection_pool(min_size=min(2, settings.db_pool_size), max_size=settings.db_pool_size)
    sweeper = asyncio.create_task(_sweep_holds())
    _freeze_startup_objects()
    try:
        yield
    finally:
        sweeper.cancel()
        await _settle(sweeper, "the background sweep")
        if pooled:
            closing = asyncio.ensure_future(engine.close_connection_pool())
            if not await _settle(closing, "closing the connection pool"):
                pool = engine.pool
                if pool is not None:
                    pool.terminate()  # a connection never given back: close them all now
                    engine.pool = None


#: How long shutdown waits for the sweep to stop and the pool to close before it stops waiting.
SHUTDOWN_WAIT_SECONDS = 10.0


async def _settle(task: asyncio.Future, what: str) -> bool:
    """Wait for `task` to finish, but not forever (a shutdown that hangs is
    worse than one that leaves a cancelled query behind). True if it finished."""
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_WAIT_SECONDS)
    if not done:
        log.warning("shutdown: %s did not finish within %.0f s", what, SHUTDOWN_WAIT_SECONDS)
        return False
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
    return True


def dev_vipps(settings: Settings):
    """The local stand-in for Vipps, served by this app under /dev/vipps; it
    signs its webhooks to our own /hooks/vipps."""
    from portal.payments.vipps.devserver import DevVipps

    v = settings.vipps
    return DevVipps(
        client_id=v.client_id,
        client_secret=v.client_secret,
        subscription_key=v.subscription_key,
        merchant_serial_number=v.merchant_serial_number,
        webhook_url=f"{settings.base_url}/hooks/vipps",
        webhook_secret=v.webhook_secret,
        public_base=settings.base_url,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load()
    wiring.configure()
    extra: list = []
    if settings.vipps.backend == "dev" and settings.vipps.base_url == f"{settings.base_url}/dev/vipps":
        from portal.payments.vipps.devserver import dev_vipps_router

        extra.append(dev_vipps_router(dev_vipps(settings)))
    return Litestar(
        route_handlers=[
            *extra,
            *wiring.route_handlers(),
            choose_language,
            baseline,
            healthz,
            readyz,
            create_static_files_router(path="/static", directories=[Path(ROOT / "static")], name="static"),
        ],
        template_config=TemplateConfig(instance=template_engine()),
        plugins=[HTMXPlugin()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="csrftoken",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            header_name="x-csrftoken",
        ),
        exception_handlers={HTTPException: _error_page, NotFoundException: _error_page, Exception: _error_page},
        middleware=[security_headers_middleware],
        lifespan=[lifespan, outbox_worker.lifespan],
        debug=False,
    )

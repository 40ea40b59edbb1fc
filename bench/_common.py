"""Shared by the benchmarks: a fresh, migrated, seeded database on either engine.

Nothing here imports portal: `portal.piccolo_conf` reads DATABASE_URL when it
is imported, so a script sets the environment (`use_database`) first and
imports portal afterwards; spawned worker processes inherit that environment.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Where the benchmark databases are created (a maintenance connection; its database is not touched).
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BENCH_SECRET = "bench-secret-key-not-for-production"


def pg_url(name: str) -> str:
    parts = urlsplit(PG_ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def portal_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "PICCOLO_CONF": "portal.piccolo_conf",
        "PORTAL_SECRET_KEY": os.environ.get("PORTAL_SECRET_KEY", BENCH_SECRET),
        "PORTAL_ENV": "dev",
    }


def use_database(url: str) -> None:
    """Point this process (and the processes it spawns) at `url`. Call before importing portal."""
    os.environ.update({k: v for k, v in portal_env(url).items() if k in ("DATABASE_URL", "PICCOLO_CONF", "PORTAL_SECRET_KEY", "PORTAL_ENV")})


async def _recreate(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def fresh_database(engine: str, name: str = "portal_bench") -> str:
    """Create an empty database, run every migration and seed the demo catalogue. Returns its URL."""
    if engine == "postgres":
        asyncio.run(_recreate(name))
        url = pg_url(name)
    elif engine == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix=f'{name}-')) / 'bench.sqlite3'}"
    else:
        raise SystemExit(f"unknown engine {engine!r}: sqlite or postgres")
    env = portal_env(url)
    for command in ("migrate", "seed"):  # seed also switches SQLite to WAL (portal.lib.db.prepare)
        done = subprocess.run([sys.executable, "-m", "portal.cli", command], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"portal.cli {command} failed:\n{done.stdout}\n{done.stderr}")
    return url


def discard(url: str) -> None:
    """Remove a tmp SQLite database made by fresh_database (PostgreSQL's is kept for a look)."""
    if url.startswith("sqlite:///"):
        import shutil

        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def machine() -> dict:
    return {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "python": platform.python_version()}

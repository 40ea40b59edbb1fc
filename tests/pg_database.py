"""`python -m tests.pg_database URL`: create the PostgreSQL database that URL
names when it is missing (`make test-postgres` calls it, so that a run can have
a database of its own, e.g. CI's `portal_ci_pg`). The server's `postgres`
database serves as the maintenance connection."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit


async def ensure(url: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SystemExit(f"no database name in {url}")
    conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, parts.fragment)), timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(ensure(sys.argv[1]))

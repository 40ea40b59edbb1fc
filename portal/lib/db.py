"""Write transactions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

try:
    from asyncpg.exceptions import IntegrityConstraintViolationError
except ImportError:  # pragma: no cover - asyncpg is a dependency
    IntegrityConstraintViolationError = sqlite3.IntegrityError  # type: ignore[misc,assignment]

#: What a lost race raises: a unique key already taken by someone else.
CONFLICT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, IntegrityConstraintViolationError)


def engine():
    from portal.piccolo_conf import DB

    return DB


def write_transaction():
    """`async with write_transaction():` — IMMEDIATE on SQLite so writers that
    read first queue on the busy timeout instead of failing with 'locked'."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


async def prepare() -> None:
    """Per-database settings that persist in the file: WAL for SQLite."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        await db.run_ddl("PRAGMA journal_mode=WAL")


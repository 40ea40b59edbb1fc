"""The database refuses a gift card balance below 0 or above its initial
value, on either engine: a CHECK constraint on PostgreSQL, triggers on SQLite
(which cannot add a constraint to an existing table).

A migration of its own because a MigrationManager runs its raw SQL before it
creates its tables: the tables come from ..._giftcards, one step earlier.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-02T09:15:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "gift card balance never below 0 nor above its value"

POSTGRES = [
    "ALTER TABLE gift_card ADD CONSTRAINT gift_card_balance_in_range CHECK (balance_ore >= 0 AND balance_ore <= initial_ore)",
    "ALTER TABLE gift_card ADD CONSTRAINT gift_card_initial_positive CHECK (initial_ore > 0)",
]

_BAD = "NEW.balance_ore < 0 OR NEW.balance_ore > NEW.initial_ore OR NEW.initial_ore <= 0"
_RAISE = "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: gift_card_balance_in_range'); END"
SQLITE = [
    f"CREATE TRIGGER gift_card_balance_in_range_insert BEFORE INSERT ON gift_card WHEN {_BAD} {_RAISE}",
    f"CREATE TRIGGER gift_card_balance_in_range_update BEFORE UPDATE OF balance_ore, initial_ore ON gift_card WHEN {_BAD} {_RAISE}",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def add_checks():
        engine = engine_finder()
        for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
            await engine.run_ddl(statement)

    manager.add_raw(add_checks)
    return manager

"""Every setting, read from the environment here and nowhere else.

`load()` validates at start: production mode refuses to start without the
secrets it needs instead of silently falling back to a dev default.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the process must not start."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    env: str
    """`dev` (default: dev backends, demo banner) or `production`."""
    database_url: str
    """`sqlite:///path/to/file.sqlite3` (default under var/) or `postgresql://…`."""
    secret_key: str
    """Signs visitor cookies and tokens. Required in production."""
    hold_minutes: int
    """How long a chosen time is held for the customer during checkout."""
    secure_cookies: bool
    """Mark cookies `Secure` (on behind HTTPS; default on in production)."""
    base_url: str
    """Public origin used in links that leave the site (calendar files)."""
    default_language: str
    """`nb` (Bokmål) unless the visitor chooses English."""
    db_pool_size: int
    """PostgreSQL connection pool per process (0: a connection per query, for tests)."""

    @property
    def is_dev(self) -> bool:
        return self.env != "production"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("not a SQLite database")
        return Path(self.database_url.removeprefix("sqlite:///"))


@lru_cache(maxsize=1)
def load() -> Settings:
    env = os.environ.get("PORTAL_ENV", "dev").strip().lower()
    if env not in {"dev", "production"}:
        raise SettingsError(f"PORTAL_ENV must be dev or production, got {env!r}")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'portal.sqlite3'}"
    if not database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise SettingsError("DATABASE_URL must start with sqlite:/// or postgresql://")
    secret_key = os.environ.get("PORTAL_SECRET_KEY", "")
    if not secret_key:
        if env == "production":
            raise SettingsError("PORTAL_SECRET_KEY is required in production")
        # Dev only: a per-process key. Signed cookies do not survive a restart.
        secret_key = secrets.token_urlsafe(32)
    elif len(secret_key) < 16:
        raise SettingsError("PORTAL_SECRET_KEY must be at least 16 characters")
    hold_minutes = _int("PORTAL_HOLD_MINUTES", 10)
    if not 1 <= hold_minutes <= 120:
        raise SettingsError("PORTAL_HOLD_MINUTES must be between 1 and 120")
    language = os.environ.get("PORTAL_DEFAULT_LANGUAGE", "nb")
    if language not in {"nb", "en"}:
        raise SettingsError("PORTAL_DEFAULT_LANGUAGE must be nb or en")
    return Settings(
        env=env,
        database_url=database_url,
        secret_key=secret_key,
        hold_minutes=hold_minutes,
        secure_cookies=_bool("PORTAL_SECURE_COOKIES", env == "production"),
        base_url=os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        default_language=language,
        db_pool_size=_int("PORTAL_DB_POOL_SIZE", 10),
    )

"""Reading form fields the way every form here does. Pure."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime


def form_text(form: dict, key: str, limit: int) -> str:
    """A field's text, trimmed, without control or format characters (C0,
    DEL, C1, …; new lines and tabs stay), and at most one character longer
    than `limit` (so a form can still say "too long")."""
    raw = form.get(key, "")
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    cleaned = "".join(ch for ch in str(raw) if ch in "\n\t" or not unicodedata.category(ch).startswith("C")).strip()
    return cleaned[: limit + 1]


def small_int(raw: str | None) -> int | None:
    """An id from a link or form: ASCII digits only, at most 9 of them; else None."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def offset_moment(raw: str) -> datetime | None:
    """A moment a page itself wrote (a chosen free time: ISO 8601 with its
    offset) → UTC; None if it is not one, or has no offset."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None or moment.year not in range(2000, 2200):
        return None
    return moment.astimezone(UTC)

"""Reading form fields the way every form here does. Pure."""

from __future__ import annotations

import unicodedata


def form_text(form: dict, key: str, limit: int) -> str:
    """A field's text, trimmed, without control or format characters (C0,
    DEL, C1, …; new lines and tabs stay), and at most one character longer
    than `limit` (so a form can still say "too long")."""
    raw = form.get(key, "")
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    cleaned = "".join(ch for ch in str(raw) if ch in "\n\t" or not unicodedata.category(ch).startswith("C")).strip()
    return cleaned[: limit + 1]

"""Catalogue rules: categories, offering kinds, search and its stated ranking (L3)."""

from __future__ import annotations

import unicodedata

from portal.lib.i18n import N_

CATEGORIES = {
    "hair": N_("Hair salon"),
    "massage": N_("Massage"),
    "consulting": N_("Consulting"),
    "fitness": N_("Training and yoga"),
    "giftcards": N_("Gift cards"),
    "accommodation": N_("Accommodation"),
    "events": N_("Events"),
}

KINDS = {
    "appointment": N_("Appointment"),
    "stay": N_("Stay"),
    "event": N_("Event"),
    "giftcard": N_("Gift card"),
    "package": N_("Package"),
}

#: Shown above every result list: how results are ordered (L3).
RANKING_NOTE = N_("Results are sorted alphabetically by name. No supplier pays for a better place.")


def fold(text: str) -> str:
    """Lower-case, accents removed (ü→u, é→e), but æ/ø/å kept: they are
    letters of their own in Norwegian, not accented a/o."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("å", "\0")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(text.replace("\0", "å").split())


def search_matches(supplier: dict, offering_titles: list[str], *, text: str, category: str, town: str) -> bool:
    if category and supplier["category"] != category:
        return False
    if town and fold(supplier["town"]) != fold(town):
        return False
    words = fold(text).split()
    if not words:
        return True
    haystack = fold(" ".join([supplier["name"], supplier["description"], supplier["town"], *offering_titles]))
    return all(word in haystack for word in words)

"""Small helpers for HTTP-level tests: read tokens and slots from pages."""

from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
SLOT_RE = re.compile(r'name="start" value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def slots(html: str) -> list[str]:
    return SLOT_RE.findall(html)


async def first_free_slot(client, path: str) -> tuple[str, str]:
    """(start, csrf) of the first offered time on the offering page."""
    page = await client.get(path)
    assert page.status_code == 200
    starts = slots(page.text)
    assert starts, "no free slot on the offering page"
    return starts[0], csrf(page.text)


VALID_CUSTOMER = {
    "name": "Kari Nordmann",
    "phone": "412 34 567",
    "email": "kari@example.no",
    "note": "",
    "accept_terms": "on",
    "adult": "on",
    "early_start": "on",
}

"""Video meetings for online appointments (M16).

An online booking gets its own room when it is confirmed: the supplier's
fixed meeting link if it has one, otherwise `<base>/<room>` on the portal's
meeting server (PORTAL_MEETING_BASE_URL, e.g. a Jitsi Meet server) with an
unguessable room name. The link is in the confirmation and the reminder,
and on the customer's booking page from `SHOWN_BEFORE` the start.

Pure: no I/O (the room name's randomness comes from `secrets`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

#: How long before the start the customer's booking page shows the link.
SHOWN_BEFORE = timedelta(minutes=15)


def room_name() -> str:
    """An unguessable room name (about 128 bits), safe in a URL path."""
    return "portal-" + secrets.token_urlsafe(16)


def meeting_link(base_url: str, fixed_link: str = "") -> str:
    """The link for a new online booking: the supplier's fixed link, or a new room on the meeting server."""
    if fixed_link.strip():
        return fixed_link.strip()
    return f"{base_url.rstrip('/')}/{room_name()}"


def opens_at(start: datetime) -> datetime:
    """From when the booking page shows the link."""
    return start - SHOWN_BEFORE


def link_shown(start: datetime, end: datetime, now: datetime) -> bool:
    """Does the booking page show the link now? From 15 minutes before the start until the end."""
    return opens_at(start) <= now < end

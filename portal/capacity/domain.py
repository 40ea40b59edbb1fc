"""Claim keys. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

#: Claims are taken in units of this many minutes (durations, buffers and
#: slot steps are multiples of it).
CLAIM_UNIT_MIN = 5


def claim_units(resource_id: int, start: datetime, end: datetime, buffer_before_min: int, buffer_after_min: int) -> list[str]:
    """Unique claim keys covering [start - before, end + after) in whole units.

    Two reservations whose occupied intervals overlap share at least one key,
    so the database's unique index lets only one of them exist.
    """
    unit = CLAIM_UNIT_MIN * 60
    first = int((start - timedelta(minutes=buffer_before_min)).timestamp()) // unit
    last_exclusive = -(-int((end + timedelta(minutes=buffer_after_min)).timestamp()) // unit)
    return [f"{resource_id}:{u * CLAIM_UNIT_MIN}" for u in range(first, last_exclusive)]


def session_key(offering_id: int, resource_id: int, start: datetime) -> str:
    """The seat counter of one occurrence of a class."""
    return f"{offering_id}:{resource_id}:{int(start.timestamp()) // 60}"

"""Taking and giving back capacity. Call inside the order's write
transaction (portal.lib.db.write_transaction); the unique keys and the
conditional seat update make the database the judge of who got it."""

from __future__ import annotations

from portal.capacity.tables import ClassSession, SlotClaim
from portal.lib.db import CONFLICT_ERRORS


class Taken(Exception):
    """Someone else holds (part of) it."""


async def claim(keys: list[str], owner: str) -> None:
    """Take every key for `owner`, or raise Taken (the caller's transaction
    is then spoilt on PostgreSQL: let it roll back)."""
    if not keys:
        return
    try:
        await SlotClaim.insert(*[SlotClaim(key=k, owner=owner) for k in keys])
    except CONFLICT_ERRORS as exc:
        raise Taken() from exc


async def claim_if_free(keys: list[str], owner: str) -> bool:
    """Take every key for `owner` if none is taken, without raising (so the
    caller's transaction stays usable on PostgreSQL); False: nothing taken."""
    if not keys:
        return True
    got = await (
        SlotClaim.insert(*[SlotClaim(key=k, owner=owner) for k in keys])
        .on_conflict(target=SlotClaim.key, action="DO NOTHING")
        .returning(SlotClaim.key)
    )
    if len(got) < len(keys):
        await SlotClaim.delete().where(SlotClaim.owner == owner)
        return False
    return True


async def free(owner: str) -> None:
    await SlotClaim.delete().where(SlotClaim.owner == owner)


async def take_seats(key: str, capacity: int, seats: int) -> tuple[int, int] | None:
    """Take `seats` of the occurrence `key` (created with `capacity` seats on
    first use): (session id, seats taken now), or None when it is full."""
    await ClassSession.raw(
        "INSERT INTO class_session (key, capacity, taken) VALUES ({}, {}, 0) ON CONFLICT (key) DO NOTHING", key, capacity
    )
    taken = await ClassSession.raw(
        "UPDATE class_session SET taken = taken + {} WHERE key = {} AND taken + {} <= capacity RETURNING id, taken",
        seats,
        key,
        seats,
    )
    if not taken:
        return None
    return taken[0]["id"], taken[0]["taken"]


async def give_seats(key: str, seats: int) -> None:
    """Give `seats` back; the last one out frees the session's time claims."""
    await ClassSession.raw("UPDATE class_session SET taken = taken - {} WHERE key = {} AND taken >= {}", seats, key, seats)
    session = await ClassSession.select().where(ClassSession.key == key).first()
    if session and session["taken"] == 0:
        await free(session_owner(session["id"]))


def session_owner(session_id: int) -> str:
    return f"s:{session_id}"


def reservation_owner(reservation_id: int) -> str:
    return f"r:{reservation_id}"

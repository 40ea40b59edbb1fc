"""A supplier's team as its owner runs it: who works here, a member's role
and calendar, ending a membership. Use cases with an actor and one audit
entry; inviting someone is portal.identity.staff.service.invite.

A supplier always keeps an owner (portal.identity.staff.roster.keeps_an_owner):
the team's membership rows are read under a row lock on PostgreSQL (SQLite's
IMMEDIATE transaction serialises writers), so two owners demoting each other
at once cannot both succeed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum

from portal.audit.domain import Actor
from portal.audit.service import query, record, use_case
from portal.catalogue.tables import Resource
from portal.identity.staff.domain import Role
from portal.identity.staff.roster import keeps_an_owner
from portal.identity.staff.tables import StaffAccount, StaffMembership
from portal.lib.i18n import N_
from portal.settings import load as load_settings


class TeamProblem(StrEnum):
    NOT_A_MEMBER = "not_a_member"
    LAST_OWNER = "last_owner"
    CALENDAR_ELSEWHERE = "calendar_elsewhere"
    CALENDAR_TAKEN = "calendar_taken"
    HAS_BOOKINGS = "has_bookings"


PROBLEM_TEXT = {
    TeamProblem.NOT_A_MEMBER: N_("That person is not on the team."),
    TeamProblem.LAST_OWNER: N_("The business must keep an owner: make someone else owner first."),
    TeamProblem.CALENDAR_ELSEWHERE: N_("Choose one of the calendars."),
    TeamProblem.CALENDAR_TAKEN: N_("That calendar is someone else's already."),
    TeamProblem.HAS_BOOKINGS: N_("Their calendar has bookings ahead. Move or cancel these first."),
}

#: Given a calendar id, its confirmed future bookings (the appointment kind
#: knows them; this package may not import it). The caller passes it in.
BookingsOf = Callable[[int], Awaitable[list[dict]]]


@query
async def members(supplier_id: int) -> list[dict]:
    """The team: account id, name, email, role, calendar (id and name), whether
    a second factor is set up and whether the invitation was taken up."""
    rows = await (
        StaffMembership.select(
            StaffMembership.account,
            StaffMembership.role,
            StaffMembership.resource,
            StaffMembership.resource.name,
            StaffMembership.account.name,
            StaffMembership.account.email,
            StaffMembership.account.totp_confirmed_at,
            StaffMembership.account.password_hash,
            StaffMembership.account.disabled_at,
        )
        .where(StaffMembership.supplier == supplier_id)
        .order_by(StaffMembership.account.name)
    )
    return [
        {
            "account_id": r["account"],
            "name": r["account.name"],
            "email": r["account.email"],
            "role": r["role"],
            "resource_id": r["resource"],
            "resource_name": r["resource.name"] or "",
            "has_totp": r["account.totp_confirmed_at"] is not None,
            "joined": bool(r["account.password_hash"]),
            "disabled": r["account.disabled_at"] is not None,
        }
        for r in rows
    ]


@query
async def member(supplier_id: int, account_id: int) -> dict | None:
    return next((m for m in await members(supplier_id) if m["account_id"] == account_id), None)


async def _team(supplier_id: int) -> list[dict]:
    """The supplier's membership rows, locked for this transaction on PostgreSQL."""
    q = StaffMembership.select(StaffMembership.id, StaffMembership.account, StaffMembership.role, StaffMembership.resource).where(
        StaffMembership.supplier == supplier_id
    )
    if load_settings().is_postgres:
        q = q.lock_rows("UPDATE")
    return await q


@use_case("staff.change_member")
async def change_member(actor: Actor, *, supplier_id: int, account_id: int, role: Role, resource_id: int | None, now: datetime) -> TeamProblem | None:
    """Give a member another role or calendar (None: no calendar of their own).
    Refused (nothing changed) for the last owner's demotion, a calendar of
    another supplier, or one that is another member's."""
    team = await _team(supplier_id)
    mine = next((m for m in team if m["account"] == account_id), None)
    if mine is None:
        return TeamProblem.NOT_A_MEMBER
    role = Role(role)
    if not keeps_an_owner({m["account"]: m["role"] for m in team}, account_id, role):
        return TeamProblem.LAST_OWNER
    if resource_id is not None:
        if not await Resource.exists().where((Resource.id == resource_id) & (Resource.supplier == supplier_id)):
            return TeamProblem.CALENDAR_ELSEWHERE
        if any(m["resource"] == resource_id and m["account"] != account_id for m in team):
            return TeamProblem.CALENDAR_TAKEN
    if mine["role"] == role.value and mine["resource"] == resource_id:
        return None  # nothing to change
    await StaffMembership.update({StaffMembership.role: role.value, StaffMembership.resource: resource_id}).where(StaffMembership.id == mine["id"])
    await record(
        actor, "staff.change_member", now=now, supplier_id=supplier_id, subject="staff", subject_id=account_id,
        before={"role": mine["role"], "resource": mine["resource"]}, after={"role": role.value, "resource": resource_id},
    )  # fmt: skip
    return None


@use_case("staff.remove_member")
async def remove_member(actor: Actor, *, supplier_id: int, account_id: int, bookings_of: BookingsOf, now: datetime) -> tuple[TeamProblem | None, list[dict]]:
    """End a membership: the person no longer reaches this supplier (their
    account and any other workplace stay). Refused for the last owner, and
    while their calendar has confirmed future bookings (returned, to be moved
    or cancelled first). The calendar itself stays."""
    team = await _team(supplier_id)
    mine = next((m for m in team if m["account"] == account_id), None)
    if mine is None:
        return TeamProblem.NOT_A_MEMBER, []
    if not keeps_an_owner({m["account"]: m["role"] for m in team}, account_id, None):
        return TeamProblem.LAST_OWNER, []
    if mine["resource"] is not None:
        ahead = await bookings_of(mine["resource"])
        if ahead:
            return TeamProblem.HAS_BOOKINGS, ahead
    account = await StaffAccount.select(StaffAccount.email).where(StaffAccount.id == account_id).first()
    await StaffMembership.delete().where(StaffMembership.id == mine["id"])
    await record(
        actor, "staff.remove_member", now=now, supplier_id=supplier_id, subject="staff", subject_id=account_id,
        before={"role": mine["role"], "resource": mine["resource"], "email": account["email"] if account else ""},
    )  # fmt: skip
    return None, []

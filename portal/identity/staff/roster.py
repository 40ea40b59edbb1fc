"""The rules of a supplier's team: what an invitation must hold, and that a
supplier always keeps an owner. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from portal.identity.staff.domain import Role, normal_email
from portal.lib.i18n import N_

MAX_NAME = 200

BAD_EMAIL = N_("Enter an email address, like kari@example.no.")
NAME_REQUIRED = N_("Write the person's name.")
NAME_TOO_LONG = N_("The name can be at most 200 characters.")
BAD_ROLE = N_("Choose a role.")
BAD_CALENDAR = N_("Choose one of the calendars.")
CALENDAR_TAKEN = N_("That calendar is someone else's already.")


@dataclass(frozen=True)
class Invitation:
    email: str
    name: str
    role: Role
    resource_id: int | None


def parse_role(raw: str) -> Role | None:
    try:
        return Role(raw)
    except ValueError:
        return None


def parse_calendar(raw: str, calendars: Iterable[int]) -> tuple[int | None, bool]:
    """(calendar id or None for "no calendar", whether the choice is valid)."""
    if raw in ("", "none"):
        return None, True
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        return None, False
    value = int(raw)
    return (value, True) if value in set(calendars) else (None, False)


def check_invitation(form: Mapping[str, str], *, calendars: Iterable[int], taken: Iterable[int] = ()) -> tuple[Invitation | None, dict[str, str]]:
    """The invitation, or messages by field ('email', 'name', 'role', 'resource').
    `calendars` are the supplier's calendar ids; `taken` those that already
    belong to a member."""
    errors: dict[str, str] = {}
    email = ""
    try:
        email = normal_email(validate_email(form.get("email", "").strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        errors["email"] = BAD_EMAIL
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = NAME_REQUIRED
    elif len(name) > MAX_NAME:
        errors["name"] = NAME_TOO_LONG
    role = parse_role(form.get("role", ""))
    if role is None:
        errors["role"] = BAD_ROLE
    resource_id, ok = parse_calendar(form.get("resource", ""), calendars)
    if not ok:
        errors["resource"] = BAD_CALENDAR
    elif resource_id is not None and resource_id in set(taken):
        errors["resource"] = CALENDAR_TAKEN
    if errors:
        return None, errors
    return Invitation(email=email, name=name, role=role, resource_id=resource_id), {}


def keeps_an_owner(roles: Mapping[int, Role | str], account_id: int, new_role: Role | None) -> bool:
    """Would the supplier still have an owner if `account_id` got `new_role`
    (None: left the team)? `roles` are the current members' roles by account.
    Only an owner's change can take the last owner away."""
    if Role(roles.get(account_id, Role.STAFF)) is not Role.OWNER:
        return True
    after = {k: Role(v) for k, v in roles.items()}
    if new_role is None:
        after.pop(account_id, None)
    else:
        after[account_id] = new_role
    return any(role is Role.OWNER for role in after.values())

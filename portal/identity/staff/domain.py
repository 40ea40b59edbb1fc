"""Staff roles and what each may do; the rules of logins, sessions and
single-use links. Pure: every rule takes `now`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

#: The demo's logins (portal.demo) use this domain; in dev the code page shows their current TOTP code.
DEMO_EMAIL_DOMAIN = "demo.example.no"


class Role(StrEnum):
    OWNER = "owner"  # everything: settings, staff, money, reports
    FRONT_DESK = "front_desk"  # every calendar and booking of the supplier; no settings, no money reports
    STAFF = "staff"  # own calendar, own bookings


class Permission(StrEnum):
    SEE_ALL_CALENDARS = "see_all_calendars"
    ACT_ON_BOOKINGS = "act_on_bookings"  # delivered, no-show, cancel, move, note, new booking, block time
    REFUND = "refund"
    SETTINGS = "settings"
    STAFF = "staff"
    REPORTS = "reports"


_ALLOWED: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.FRONT_DESK: frozenset({Permission.SEE_ALL_CALENDARS, Permission.ACT_ON_BOOKINGS, Permission.REFUND}),
    Role.STAFF: frozenset({Permission.ACT_ON_BOOKINGS}),
}


def may(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in _ALLOWED[Role(role)]
    except ValueError:
        return False


def sees_booking(role: Role | str, own_resource_id: int | None, booking_resource_ids: list[int]) -> bool:
    """Owners and the front desk see all of their supplier's bookings; staff
    only those on their own calendar."""
    if may(role, Permission.SEE_ALL_CALENDARS):
        return True
    return own_resource_id is not None and own_resource_id in booking_resource_ids


def needs_second_factor(role: Role | str, *, production: bool, has_totp: bool) -> bool:
    """An owner must use a second factor in production; anyone who set one up uses it."""
    return has_totp or (production and Role(role) == Role.OWNER)


# ----------------------------------------------------------------- passwords

MIN_PASSWORD_LENGTH = 10


class PasswordProblem(StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    SAME_AS_EMAIL = "same_as_email"


def password_problem(password: str, email: str) -> PasswordProblem | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordProblem.TOO_SHORT
    if len(password) > 200:
        return PasswordProblem.TOO_LONG
    if password.strip().lower() == email.strip().lower():
        return PasswordProblem.SAME_AS_EMAIL
    return None


def normal_email(email: str) -> str:
    return email.strip().lower()


# ----------------------------------------------------------------- limits


@dataclass(frozen=True)
class LoginLimits:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5  # failed attempts at one account in the window
    per_ip: int = 20  # failed attempts from one address in the window


def locked_until(failures: list[datetime], limit: int, window: timedelta, now: datetime) -> datetime | None:
    """With `limit` failures inside the window the door stays shut until the
    oldest of them leaves it."""
    recent = sorted(f for f in failures if f > now - window)
    if len(recent) < limit:
        return None
    return recent[-limit] + window


# ----------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionRules:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


def session_alive(*, created_at: datetime, last_seen_at: datetime, ended_at: datetime | None, now: datetime, rules: SessionRules) -> bool:
    return ended_at is None and now - last_seen_at < rules.idle and now - created_at < rules.absolute


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


# ----------------------------------------------------------------- links


class LinkPurpose(StrEnum):
    INVITE = "invite"  # set a first password
    RESET = "reset"  # choose a new password


LINK_LIFETIME = {LinkPurpose.INVITE: timedelta(days=7), LinkPurpose.RESET: timedelta(hours=1)}


def link_usable(*, expires_at: datetime, used_at: datetime | None, now: datetime) -> bool:
    return used_at is None and now < expires_at

"""Staff use cases: invitations, passwords, logins with a second factor,
sessions, memberships. Every change is audited (portal.audit); failed
attempts are counted per account and per address and lock both for a while
(StaffLoginFailure, `LoginLimits`).

A session cookie names a StaffSession by a random token (only its hash is
stored). A session opened with the password only is `pending` until the
TOTP code is given, when the account has (or its role in production needs)
a second factor; pending sessions reach nothing but the code page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp
from pwdlib import PasswordHash

from portal.audit.domain import Actor
from portal.audit.service import after_commit, query, record, use_case
from portal.catalogue.tables import Resource, Supplier
from portal.identity.staff import domain
from portal.identity.staff.domain import LinkPurpose, LoginLimits, Role, SessionRules
from portal.identity.staff.tables import StaffAccount, StaffLink, StaffLoginFailure, StaffMembership, StaffSession
from portal.lib.i18n import N_, translations
from portal.notify.domain import Channel
from portal.notify.messages import render
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.settings import load as load_settings

_hasher = PasswordHash.recommended()
#: Checked against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")
LIMITS = LoginLimits()
RULES = SessionRules()
TOTP_ISSUER = "portal"


class Refusal(StrEnum):
    WRONG = "wrong"  # email or password (never says which)
    LOCKED = "locked"  # too many failures: try again later
    DISABLED = "disabled"
    WRONG_CODE = "wrong_code"
    LINK_UNUSABLE = "link_unusable"
    BAD_PASSWORD = "bad_password"


REFUSAL_TEXT = {
    Refusal.WRONG: N_("The email or the password is wrong."),
    Refusal.LOCKED: N_("Too many failed attempts. Try again after %(time)s."),
    Refusal.DISABLED: N_("This account is closed. Ask the owner of the business."),
    Refusal.WRONG_CODE: N_("The code is wrong or too old. Enter the 6 digits the app shows now."),
    Refusal.LINK_UNUSABLE: N_("This link has been used or has expired. Ask for a new one."),
}


@dataclass(frozen=True)
class LoginResult:
    token: str | None = None  # the new session's cookie token
    needs_code: bool = False
    refusal: Refusal | None = None
    retry_at: datetime | None = None


def _failure_keys(email: str, client_ip: str) -> list[str]:
    keys = [f"account:{domain.normal_email(email)}"]
    if client_ip:
        keys.append(f"ip:{client_ip}")
    return keys


async def _locked_until(email: str, client_ip: str, now: datetime) -> datetime | None:
    since = now - LIMITS.window
    worst = None
    for key, limit in zip(_failure_keys(email, client_ip), (LIMITS.per_account, LIMITS.per_ip), strict=False):
        rows = await StaffLoginFailure.select(StaffLoginFailure.at).where((StaffLoginFailure.key == key) & (StaffLoginFailure.at > since))
        until = domain.locked_until([r["at"] for r in rows], limit, LIMITS.window, now)
        if until and (worst is None or until > worst):
            worst = until
    return worst


async def _fail(email: str, client_ip: str, now: datetime) -> None:
    await StaffLoginFailure.insert(*[StaffLoginFailure(key=k[:300], at=now) for k in _failure_keys(email, client_ip)])


async def _account_by_email(email: str) -> dict | None:
    return await StaffAccount.select().where(StaffAccount.email == domain.normal_email(email)).first()


def _production() -> bool:
    return not load_settings().is_dev


async def _needs_second_factor(account: dict) -> bool:
    if account["totp_confirmed_at"] is not None:
        return True
    if account["operator"] and _production():
        return True
    roles = await StaffMembership.select(StaffMembership.role).where(StaffMembership.account == account["id"])
    return any(domain.needs_second_factor(r["role"], production=_production(), has_totp=False) for r in roles)


# ------------------------------------------------------------------ login


@use_case("staff.login")
async def login(actor: Actor, *, email: str, password: str, client_ip: str, now: datetime) -> LoginResult:
    """Email and password → a session (pending when a code must follow)."""
    until = await _locked_until(email, client_ip, now)
    if until:
        return LoginResult(refusal=Refusal.LOCKED, retry_at=until)
    account = await _account_by_email(email)
    ok, new_hash = _hasher.verify_and_update(password, account["password_hash"] if account and account["password_hash"] else _DUMMY_HASH)
    if not account or not account["password_hash"] or not ok:
        await _fail(email, client_ip, now)
        await record(actor, "staff.login", now=now, subject="staff", subject_id=account["id"] if account else "", after={"ok": False, "email": domain.normal_email(email)[:80]})
        return LoginResult(refusal=Refusal.WRONG)
    if account["disabled_at"] is not None:
        return LoginResult(refusal=Refusal.DISABLED)
    token = domain.new_token()
    pending = await _needs_second_factor(account)
    await StaffSession.insert(
        StaffSession(
            token_hash=domain.token_hash(token),
            account=account["id"],
            created_at=now,
            last_seen_at=now,
            second_factor_at=None if pending else now,
            client_ip=client_ip[:64],
        )
    )
    if new_hash:  # hashed with older parameters: store it as today's
        await StaffAccount.update({StaffAccount.password_hash: new_hash}).where(StaffAccount.id == account["id"])
    await record(actor, "staff.login", now=now, subject="staff", subject_id=account["id"], after={"ok": True, "second_factor": "pending" if pending else "none"})
    return LoginResult(token=token, needs_code=pending)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a 6-digit code belongs to (this one or the one before or after), or None."""
    code = "".join(ch for ch in code if ch in "0123456789")
    if len(code) != 6:
        return None
    totp = _totp(secret)
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=30 * offset)
        if totp.verify(code, for_time=moment):
            return int(moment.timestamp()) // 30
    return None


@use_case("staff.second_factor")
async def second_factor(actor: Actor, *, token: str, code: str, client_ip: str, now: datetime) -> LoginResult:
    """The TOTP code of a pending session; each code is good once."""
    session = await _session_row(token, now)
    if session is None:
        return LoginResult(refusal=Refusal.LINK_UNUSABLE)
    account = await StaffAccount.select().where(StaffAccount.id == session["account"]).first()
    until = await _locked_until(account["email"], client_ip, now)
    if until:
        return LoginResult(refusal=Refusal.LOCKED, retry_at=until)
    step = _matching_step(account["totp_secret"], code, now) if account["totp_secret"] and account["totp_confirmed_at"] else None
    if step is None or step <= account["totp_last_step"]:
        await _fail(account["email"], client_ip, now)
        await record(actor, "staff.second_factor", now=now, subject="staff", subject_id=account["id"], after={"ok": False})
        return LoginResult(refusal=Refusal.WRONG_CODE)
    await StaffAccount.update({StaffAccount.totp_last_step: step}).where(StaffAccount.id == account["id"])
    await StaffSession.update({StaffSession.second_factor_at: now, StaffSession.last_seen_at: now}).where(StaffSession.id == session["id"])
    await record(actor, "staff.second_factor", now=now, subject="staff", subject_id=account["id"], after={"ok": True})
    return LoginResult(token=token)


async def _session_row(token: str | None, now: datetime, *, with_account: bool = False) -> dict | None:
    """The live session of this token; `with_account`: its account's columns
    too, as `account.<column>` (one query for the guard of every page)."""
    if not token:
        return None
    columns = [*StaffSession.all_columns(), *StaffSession.account.all_columns()] if with_account else []
    row = await StaffSession.select(*columns).where(StaffSession.token_hash == domain.token_hash(token)).first()
    if row is None or not domain.session_alive(created_at=row["created_at"], last_seen_at=row["last_seen_at"], ended_at=row["ended_at"], now=now, rules=RULES):
        return None
    return row


@dataclass(frozen=True)
class Membership:
    supplier_id: int
    supplier_slug: str
    supplier_name: str
    role: Role
    resource_id: int | None


@dataclass(frozen=True)
class StaffUser:
    """Who is logged in, and where they work."""

    account_id: int
    email: str
    name: str
    operator: bool
    has_totp: bool
    pending: bool  # the second factor is still to come
    must_set_up_totp: bool  # production owner without a second factor
    memberships: tuple[Membership, ...]
    session_id: int
    language: str
    last_seen_at: datetime | None = None  # the session's, as read (touch writes it at most once a minute)

    def membership(self, slug: str) -> Membership | None:
        return next((m for m in self.memberships if m.supplier_slug == slug), None)


@query
async def user_of(token: str | None, now: datetime) -> StaffUser | None:
    """The live session's user, or None (unknown, ended, idle too long, or too old)."""
    session = await _session_row(token, now, with_account=True)
    if session is None:
        return None
    account = {key.removeprefix("account."): value for key, value in session.items() if key.startswith("account.")}
    if account.get("id") is None or account["disabled_at"] is not None:
        return None
    rows = await (
        StaffMembership.select(StaffMembership.supplier, StaffMembership.role, StaffMembership.resource, StaffMembership.supplier.slug, StaffMembership.supplier.name)
        .where(StaffMembership.account == account["id"])
        .order_by(StaffMembership.supplier.name)
    )
    memberships = tuple(
        Membership(supplier_id=r["supplier"], supplier_slug=r["supplier.slug"], supplier_name=r["supplier.name"], role=Role(r["role"]), resource_id=r["resource"]) for r in rows
    )
    has_totp = account["totp_confirmed_at"] is not None
    must = not has_totp and (
        (account["operator"] and _production()) or any(domain.needs_second_factor(m.role, production=_production(), has_totp=False) for m in memberships)
    )
    return StaffUser(
        account_id=account["id"],
        email=account["email"],
        name=account["name"],
        operator=account["operator"],
        has_totp=has_totp,
        pending=session["second_factor_at"] is None,
        must_set_up_totp=must,
        memberships=memberships,
        session_id=session["id"],
        language=account["language"],
        last_seen_at=session["last_seen_at"],
    )


@use_case("staff.logout")
async def logout(actor: Actor, *, token: str | None, now: datetime) -> None:
    session = await _session_row(token, now)
    if session is None:
        return
    await StaffSession.update({StaffSession.ended_at: now}).where(StaffSession.id == session["id"])
    await record(actor, "staff.logout", now=now, subject="staff", subject_id=session["account"], after={"sessions": 1})


@use_case("staff.logout_everywhere")
async def logout_everywhere(actor: Actor, *, account_id: int, now: datetime) -> int:
    live = await StaffSession.count().where((StaffSession.account == account_id) & StaffSession.ended_at.is_null())
    await StaffSession.update({StaffSession.ended_at: now}).where((StaffSession.account == account_id) & StaffSession.ended_at.is_null())
    await record(actor, "staff.logout_everywhere", now=now, subject="staff", subject_id=account_id, after={"sessions": live})
    return live


# ------------------------------------------------------------------ second factor setup


@use_case("staff.totp_start")
async def start_totp(actor: Actor, *, account_id: int, now: datetime) -> str:
    """A new TOTP seed for an account that has no confirmed one; returns its
    otpauth:// URI for the QR code ("" when a second factor is in force)."""
    account = await StaffAccount.select().where(StaffAccount.id == account_id).first()
    if account["totp_confirmed_at"] is not None:
        return ""
    secret = pyotp.random_base32()
    await StaffAccount.update({StaffAccount.totp_secret: secret}).where(StaffAccount.id == account_id)
    await record(actor, "staff.totp_start", now=now, subject="staff", subject_id=account_id)
    return _totp(secret).provisioning_uri(name=account["email"], issuer_name=TOTP_ISSUER)


@query
async def current_code(account_id: int, now: datetime) -> str:
    """The TOTP code of this moment (the demo shows it for its own logins)."""
    account = await StaffAccount.select(StaffAccount.totp_secret).where(StaffAccount.id == account_id).first()
    return _totp(account["totp_secret"]).at(now) if account and account["totp_secret"] else ""


@query
async def totp_uri(account_id: int) -> str:
    account = await StaffAccount.select().where(StaffAccount.id == account_id).first()
    if not account or not account["totp_secret"]:
        return ""
    return _totp(account["totp_secret"]).provisioning_uri(name=account["email"], issuer_name=TOTP_ISSUER)


@use_case("staff.totp_confirm")
async def confirm_totp(actor: Actor, *, account_id: int, session_id: int, code: str, now: datetime) -> bool:
    """The first code from the app proves the seed was scanned; from now on every login asks for one."""
    account = await StaffAccount.select().where(StaffAccount.id == account_id).first()
    if not account["totp_secret"] or account["totp_confirmed_at"] is not None:
        return False
    step = _matching_step(account["totp_secret"], code, now)
    if step is None:
        return False
    await StaffAccount.update({StaffAccount.totp_confirmed_at: now, StaffAccount.totp_last_step: step}).where(StaffAccount.id == account_id)
    await StaffSession.update({StaffSession.second_factor_at: now}).where(StaffSession.id == session_id)
    await record(actor, "staff.totp_confirm", now=now, subject="staff", subject_id=account_id)
    return True


# ------------------------------------------------------------------ invitations and resets


def _link_draft(account: dict, purpose: LinkPurpose, token: str, now: datetime, *, supplier_name: str = "") -> Draft:
    language = account["language"] or "nb"
    t = translations(language)
    url = f"{load_settings().base_url}/kontor/lenke/{token}"
    subject = t.gettext(N_("Your login to portal") if purpose is LinkPurpose.INVITE else N_("Choose a new password for portal"))
    hours = int(domain.LINK_LIFETIME[purpose].total_seconds() // 3600)
    context = {"subject": subject, "url": url, "purpose": purpose.value, "supplier_name": supplier_name, "hours": hours, "name": account["name"]}
    return Draft(
        channel=Channel.EMAIL.value,
        topic=f"staff_{purpose.value}",
        recipient=account["email"],
        dedupe_key=f"staff:{account['id']}:{purpose.value}:{domain.token_hash(token)[:16]}",
        language=language,
        payload={
            "subject": subject,
            "text": render("email/staff_link.txt", language, **context),
            "html": render("email/staff_link.html", language, **context),
            "expires_at": (now + domain.LINK_LIFETIME[purpose]).isoformat(),
            "scrub": ["text", "html"],  # the link is a key: not kept once sent
        },
        next_attempt_at=now,
        urgent=True,
    )


async def _new_link(account: dict, purpose: LinkPurpose, now: datetime, supplier_name: str = "") -> str:
    token = domain.new_token()
    await StaffLink.insert(StaffLink(token_hash=domain.token_hash(token), account=account["id"], purpose=purpose.value, created_at=now, expires_at=now + domain.LINK_LIFETIME[purpose]))
    await outbox.insert([_link_draft(account, purpose, token, now, supplier_name=supplier_name)], now)
    after_commit(outbox.wake)
    return token


class InviteProblem(StrEnum):
    ALREADY_MEMBER = "already_member"
    RESOURCE_ELSEWHERE = "resource_elsewhere"


@use_case("staff.invite")
async def invite(actor: Actor, *, supplier_id: int, email: str, name: str, role: Role, resource_id: int | None, now: datetime) -> tuple[str | None, InviteProblem | None]:
    """Give someone a role at a supplier: a new account gets an email with a
    link to choose a password; an existing one is told it has a new workplace.
    Returns the link token (for the CLI and the demo) or the problem."""
    email = domain.normal_email(email)
    if resource_id is not None and not await Resource.exists().where((Resource.id == resource_id) & (Resource.supplier == supplier_id)):
        return None, InviteProblem.RESOURCE_ELSEWHERE
    account = await _account_by_email(email)
    if account is None:
        await StaffAccount.insert(StaffAccount(email=email, name=name.strip()[:200], created_at=now))
        account = await _account_by_email(email)
    elif await StaffMembership.exists().where(StaffMembership.key == f"{account['id']}:{supplier_id}"):
        return None, InviteProblem.ALREADY_MEMBER
    await StaffMembership.insert(
        StaffMembership(key=f"{account['id']}:{supplier_id}", account=account["id"], supplier=supplier_id, role=Role(role).value, resource=resource_id, created_at=now)
    )
    supplier = await Supplier.select(Supplier.name).where(Supplier.id == supplier_id).first()
    token = await _new_link(account, LinkPurpose.INVITE if not account["password_hash"] else LinkPurpose.RESET, now, supplier_name=supplier["name"])
    await record(actor, "staff.invite", now=now, supplier_id=supplier_id, subject="staff", subject_id=account["id"], after={"email": email, "role": Role(role).value, "resource": resource_id})
    return token, None


@use_case("staff.request_reset")
async def request_reset(actor: Actor, *, email: str, client_ip: str, now: datetime) -> datetime | None:
    """Send a reset link if the account exists; the answer is the same either
    way. Counts as an attempt for the rate limit; returns when to try again if locked."""
    until = await _locked_until(email, client_ip, now)
    if until:
        return until
    await _fail(email, client_ip, now)  # a reset request is rate-limited like a failed login
    account = await _account_by_email(email)
    if account is None or account["disabled_at"] is not None:
        await record(actor, "staff.request_reset", now=now, subject="staff", after={"known": False})
        return None
    await _new_link(account, LinkPurpose.RESET, now)
    await record(actor, "staff.request_reset", now=now, subject="staff", subject_id=account["id"], after={"known": True})
    return None


@query
async def link_account(token: str, now: datetime) -> dict | None:
    """The account a usable link is for (with the link's purpose), else None."""
    link = await StaffLink.select().where(StaffLink.token_hash == domain.token_hash(token)).first()
    if link is None or not domain.link_usable(expires_at=link["expires_at"], used_at=link["used_at"], now=now):
        return None
    account = await StaffAccount.select(StaffAccount.id, StaffAccount.email, StaffAccount.name).where(StaffAccount.id == link["account"]).first()
    return {**account, "purpose": link["purpose"]} if account else None


@use_case("staff.set_password")
async def set_password(actor: Actor, *, token: str, password: str, now: datetime) -> Refusal | domain.PasswordProblem | None:
    """Take up an invitation or a reset: the new password, the link used up,
    every other session of the account ended."""
    link = await StaffLink.select().where(StaffLink.token_hash == domain.token_hash(token)).first()
    if link is None or not domain.link_usable(expires_at=link["expires_at"], used_at=link["used_at"], now=now):
        return Refusal.LINK_UNUSABLE
    account = await StaffAccount.select().where(StaffAccount.id == link["account"]).first()
    problem = domain.password_problem(password, account["email"])
    if problem:
        return problem
    used = await StaffLink.update({StaffLink.used_at: now}).where((StaffLink.id == link["id"]) & StaffLink.used_at.is_null()).returning(StaffLink.id)
    if not used:
        return Refusal.LINK_UNUSABLE  # the same link in a second tab, a moment earlier
    await StaffAccount.update({StaffAccount.password_hash: _hasher.hash(password)}).where(StaffAccount.id == account["id"])
    await StaffSession.update({StaffSession.ended_at: now}).where((StaffSession.account == account["id"]) & StaffSession.ended_at.is_null())
    await record(actor, "staff.set_password", now=now, subject="staff", subject_id=account["id"], after={"purpose": link["purpose"]})
    return None


# ------------------------------------------------------------------ accounts by hand (CLI, demo)


@use_case("staff.create_account")
async def create_account(actor: Actor, *, email: str, name: str, password: str, now: datetime, operator: bool = False, totp_secret: str = "") -> int:
    """An account with a password set at once (the CLI's first owner, the demo's people)."""
    email = domain.normal_email(email)
    existing = await _account_by_email(email)
    values = {
        StaffAccount.name: name,
        StaffAccount.password_hash: _hasher.hash(password),
        StaffAccount.operator: operator,
        StaffAccount.totp_secret: totp_secret,
        StaffAccount.totp_confirmed_at: now if totp_secret else None,
    }
    if existing:
        await StaffAccount.update(values).where(StaffAccount.id == existing["id"])
        account_id = existing["id"]
    else:
        await StaffAccount.insert(StaffAccount(email=email, created_at=now, **{c._meta.name: v for c, v in values.items()}))
        account_id = (await _account_by_email(email))["id"]
    await record(actor, "staff.create_account", now=now, subject="staff", subject_id=account_id, after={"email": email, "operator": operator, "totp": bool(totp_secret)})
    return account_id


@use_case("staff.add_membership")
async def add_membership(actor: Actor, *, account_id: int, supplier_id: int, role: Role, resource_id: int | None, now: datetime) -> None:
    key = f"{account_id}:{supplier_id}"
    if await StaffMembership.exists().where(StaffMembership.key == key):
        await StaffMembership.update({StaffMembership.role: Role(role).value, StaffMembership.resource: resource_id}).where(StaffMembership.key == key)
    else:
        await StaffMembership.insert(StaffMembership(key=key, account=account_id, supplier=supplier_id, role=Role(role).value, resource=resource_id, created_at=now))
    await record(actor, "staff.add_membership", now=now, supplier_id=supplier_id, subject="staff", subject_id=account_id, after={"role": Role(role).value, "resource": resource_id})

"""Sending and checking one-time codes; customers; remembered devices."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.audit.domain import Actor
from portal.audit.service import query, record, use_case
from portal.identity import domain
from portal.identity.domain import Limits, Refusal
from portal.identity.tables import Customer, DeviceToken, PhoneCode
from portal.lib import clock
from portal.lib.i18n import translations
from portal.settings import load as load_settings


def refusal_text(language: str, refusal: Refusal, retry_at: datetime | None) -> str:
    """What the customer is told, in their language, with the time to try again."""
    text = translations(language).gettext(domain.REFUSAL_TEXT[refusal])
    return text % {"time": clock.fmt_time(retry_at, language)} if retry_at and "%(time)s" in text else text


def limits() -> Limits:
    c = load_settings().codes
    return Limits(c.valid_seconds, c.max_wrong_tries, c.resend_after_seconds, c.per_number_per_hour, c.per_ip_per_hour)


@dataclass(frozen=True)
class CodeResult:
    ok: bool
    refusal: Refusal | None = None
    retry_at: datetime | None = None
    expires_at: datetime | None = None


def _masked(phone: str) -> str:
    """What the audit trail keeps of a number: enough to tell numbers apart."""
    return f"{phone[:3]}…{phone[-2:]}" if len(phone) > 5 else "…"


@use_case("code.send")
async def request_code(actor: Actor, *, phone: str, purpose: str, subject: str, client_ip: str, language: str, now: datetime) -> CodeResult:
    """Send a new code by SMS unless a limit says no. The code row and its
    SMS are written in one transaction; the SMS leaves through the outbox."""
    from portal.notify.enqueue import enqueue_code_sms

    lim = limits()
    hour_ago = now - timedelta(hours=1)
    by_number = await PhoneCode.select(PhoneCode.created_at).where((PhoneCode.phone == phone) & (PhoneCode.created_at > hour_ago))
    by_ip = []
    if client_ip:
        by_ip = await PhoneCode.select(PhoneCode.created_at).where(
            (PhoneCode.client_ip == client_ip) & (PhoneCode.created_at > hour_ago)
        )
    last = await (
        PhoneCode.select(PhoneCode.created_at)
        .where((PhoneCode.phone == phone) & (PhoneCode.purpose == purpose) & (PhoneCode.subject == subject))
        .order_by(PhoneCode.created_at, ascending=False)
        .first()
    )
    decision = domain.may_send(
        phone=phone,
        now=now,
        limits=lim,
        number_sent_last_hour=[r["created_at"] for r in by_number],
        ip_sent_last_hour=[r["created_at"] for r in by_ip],
        last_for_subject=last["created_at"] if last else None,
    )
    if not decision.allowed:
        return CodeResult(False, decision.refusal, decision.retry_at)
    code = domain.new_code()
    expires_at = now + timedelta(seconds=lim.valid_seconds)
    await PhoneCode.insert(
        PhoneCode(
            phone=phone,
            purpose=purpose,
            subject=subject,
            code_hash=domain.hash_code(load_settings().secret_key, phone, purpose, subject, code),
            client_ip=client_ip[:64],
            created_at=now,
            expires_at=expires_at,
        )
    )
    await enqueue_code_sms(phone, code, language, now)
    await record(actor, "code.send", now=now, subject="code", subject_id=purpose, after={"phone": _masked(phone), "purpose": purpose})
    return CodeResult(True, expires_at=expires_at)


@use_case("code.check")
async def check_code(actor: Actor, *, phone: str, purpose: str, subject: str, code: str, now: datetime) -> CodeResult:
    """Compare with the latest code for this number and subject; count wrong tries."""
    row = await (
        PhoneCode.select()
        .where((PhoneCode.phone == phone) & (PhoneCode.purpose == purpose) & (PhoneCode.subject == subject))
        .order_by(PhoneCode.created_at, ascending=False)
        .first()
    )
    refusal = domain.check_attempt(
        expires_at=row["expires_at"] if row else None,
        used=bool(row and row["used_at"]),
        wrong_tries=row["wrong_tries"] if row else 0,
        now=now,
        limits=limits(),
    )
    if refusal is not None:
        return CodeResult(False, refusal)
    if not domain.code_matches(load_settings().secret_key, phone, purpose, subject, code, row["code_hash"]):
        await PhoneCode.update({PhoneCode.wrong_tries: PhoneCode.wrong_tries + 1}).where(PhoneCode.id == row["id"])
        await record(actor, "code.check", now=now, subject="code", subject_id=row["id"], after={"result": "wrong", "wrong_tries": row["wrong_tries"] + 1})
        return CodeResult(False, Refusal.WRONG)
    await PhoneCode.update({PhoneCode.used_at: now}).where(PhoneCode.id == row["id"])
    await record(actor, "code.check", now=now, subject="code", subject_id=row["id"], after={"result": "ok"})
    return CodeResult(True)


@query
async def latest_code_sent(*, phone: str, purpose: str, subject: str) -> dict | None:
    return await (
        PhoneCode.select(PhoneCode.created_at, PhoneCode.expires_at, PhoneCode.used_at)
        .where((PhoneCode.phone == phone) & (PhoneCode.purpose == purpose) & (PhoneCode.subject == subject))
        .order_by(PhoneCode.created_at, ascending=False)
        .first()
    )


# ---------------------------------------------------------------- customers


@query
async def customer_by_id(customer_id: int) -> dict | None:
    return await Customer.select().where(Customer.id == customer_id).first()


@query
async def customer_by_phone(phone: str) -> dict | None:
    return await Customer.select().where(Customer.phone == phone).first()


# ---------------------------------------------------------------- devices


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@use_case("device.remember")
async def remember_device(actor: Actor, customer_id: int, now: datetime) -> str:
    """A new device token (the cookie carries it signed; we store its hash)."""
    token = secrets.token_urlsafe(32)
    days = load_settings().codes.device_days
    inserted = await DeviceToken.insert(
        DeviceToken(token_hash=_token_hash(token), customer=customer_id, created_at=now, expires_at=now + timedelta(days=days))
    ).returning(DeviceToken.id)
    await record(actor, "device.remember", now=now, subject="customer", subject_id=customer_id, after={"device": inserted[0]["id"]})
    return token


@query
async def device_customer(token: str | None, now: datetime) -> dict | None:
    """The customer a live, unrevoked device token belongs to (noting when it was last used)."""
    if not token:
        return None
    row = await DeviceToken.select().where(DeviceToken.token_hash == _token_hash(token)).first()
    if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
        return None
    await DeviceToken.update({DeviceToken.last_used_at: now}).where(DeviceToken.id == row["id"])
    return await customer_by_id(row["customer"])


@use_case("device.forget")
async def forget_device(actor: Actor, token: str | None, now: datetime) -> None:
    if not token:
        return
    changed = await (
        DeviceToken.update({DeviceToken.revoked_at: now})
        .where((DeviceToken.token_hash == _token_hash(token)) & DeviceToken.revoked_at.is_null())
        .returning(DeviceToken.id, DeviceToken.customer)
    )
    if changed:
        await record(actor, "device.forget", now=now, subject="customer", subject_id=changed[0]["customer"], after={"device": changed[0]["id"]})


@use_case("device.forget_all")
async def forget_all_devices(actor: Actor, customer_id: int, now: datetime) -> int:
    changed = await (
        DeviceToken.update({DeviceToken.revoked_at: now})
        .where((DeviceToken.customer == customer_id) & DeviceToken.revoked_at.is_null())
        .returning(DeviceToken.id)
    )
    if changed:
        await record(actor, "device.forget_all", now=now, subject="customer", subject_id=customer_id, after={"devices": len(changed)})
    return len(changed)

"""Sending and checking one-time codes; customers; remembered devices."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.identity import domain
from portal.identity.domain import Limits, Refusal
from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, PhoneCode
from portal.lib import clock
from portal.lib.db import write_transaction
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


async def request_code(*, phone: str, purpose: str, subject: str, client_ip: str, language: str, now: datetime) -> CodeResult:
    """Send a new code by SMS unless a limit says no. The code row and its
    SMS are written in one transaction; the SMS leaves through the outbox."""
    from portal.notify.service import enqueue_code_sms

    lim = limits()
    hour_ago = now - timedelta(hours=1)
    async with write_transaction():
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
    return CodeResult(True, expires_at=expires_at)


async def check_code(*, phone: str, purpose: str, subject: str, code: str, now: datetime) -> CodeResult:
    """Compare with the latest code for this number and subject; count wrong tries."""
    async with write_transaction():
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
            return CodeResult(False, Refusal.WRONG)
        await PhoneCode.update({PhoneCode.used_at: now}).where(PhoneCode.id == row["id"])
    return CodeResult(True)


async def latest_code_sent(*, phone: str, purpose: str, subject: str) -> dict | None:
    return await (
        PhoneCode.select(PhoneCode.created_at, PhoneCode.expires_at, PhoneCode.used_at)
        .where((PhoneCode.phone == phone) & (PhoneCode.purpose == purpose) & (PhoneCode.subject == subject))
        .order_by(PhoneCode.created_at, ascending=False)
        .first()
    )


# ---------------------------------------------------------------- customers


async def customer_for_booking(*, phone: str, name: str, email: str, language: str, supplier_id: int, now: datetime) -> int:
    """Create or update the customer of a verified number and link the supplier.
    Runs inside the caller's write transaction."""
    existing = await Customer.select(Customer.id).where(Customer.phone == phone).first()
    if existing is None:
        inserted = await Customer.insert(
            Customer(phone=phone, name=name, email=email, language=language, created_at=now)
        ).returning(Customer.id)
        customer_id = inserted[0]["id"]
    else:
        customer_id = existing["id"]
        await Customer.update({Customer.name: name, Customer.email: email, Customer.language: language}).where(
            Customer.id == customer_id
        )
    key = f"{customer_id}:{supplier_id}"
    if not await CustomerSupplier.exists().where(CustomerSupplier.key == key):
        await CustomerSupplier.insert(CustomerSupplier(key=key, customer=customer_id, supplier=supplier_id, first_booking_at=now))
    return customer_id


async def customer_by_id(customer_id: int) -> dict | None:
    return await Customer.select().where(Customer.id == customer_id).first()


async def customer_by_phone(phone: str) -> dict | None:
    return await Customer.select().where(Customer.phone == phone).first()


# ---------------------------------------------------------------- devices


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def remember_device(customer_id: int, now: datetime) -> str:
    """A new device token (the cookie carries it signed; we store its hash)."""
    token = secrets.token_urlsafe(32)
    days = load_settings().codes.device_days
    await DeviceToken.insert(
        DeviceToken(token_hash=_token_hash(token), customer=customer_id, created_at=now, expires_at=now + timedelta(days=days))
    )
    return token


async def device_customer(token: str | None, now: datetime) -> dict | None:
    """The customer a live, unrevoked device token belongs to."""
    if not token:
        return None
    row = await DeviceToken.select().where(DeviceToken.token_hash == _token_hash(token)).first()
    if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
        return None
    await DeviceToken.update({DeviceToken.last_used_at: now}).where(DeviceToken.id == row["id"])
    return await customer_by_id(row["customer"])


async def forget_device(token: str | None, now: datetime) -> None:
    if token:
        await DeviceToken.update({DeviceToken.revoked_at: now}).where(
            (DeviceToken.token_hash == _token_hash(token)) & DeviceToken.revoked_at.is_null()
        )


async def forget_all_devices(customer_id: int, now: datetime) -> int:
    rows = await DeviceToken.select(DeviceToken.id).where((DeviceToken.customer == customer_id) & DeviceToken.revoked_at.is_null())
    await DeviceToken.update({DeviceToken.revoked_at: now}).where(
        (DeviceToken.customer == customer_id) & DeviceToken.revoked_at.is_null()
    )
    return len(rows)

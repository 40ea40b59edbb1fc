"""One-time codes and their limits, as pure rules (`now` passed in).

A code is 6 random digits, stored only as an HMAC keyed with the app secret
and bound to the number, the purpose and the subject (a hold, or a login), so
a code sent for one checkout cannot confirm another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from portal.lib.i18n import N_
from portal.notify.domain import sms_allowed

CODE_DIGITS = 6

def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(secret: str, phone: str, purpose: str, subject: str, code: str) -> str:
    message = f"{purpose}\x1f{subject}\x1f{phone}\x1f{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def code_matches(secret: str, phone: str, purpose: str, subject: str, candidate: str, stored_hash: str) -> bool:
    """Constant-time comparison of a typed code with the stored hash."""
    cleaned = "".join(ch for ch in candidate if ch in "0123456789")
    return hmac.compare_digest(hash_code(secret, phone, purpose, subject, cleaned), stored_hash)


class Refusal(StrEnum):
    COUNTRY = "country"
    TOO_SOON = "too_soon"
    NUMBER_LIMIT = "number_limit"
    IP_LIMIT = "ip_limit"
    NO_CODE = "no_code"
    EXPIRED = "expired"
    TOO_MANY_TRIES = "too_many_tries"
    WRONG = "wrong"


#: What the customer is told for each refusal; %(time)s is when to try again.
REFUSAL_TEXT = {
    Refusal.COUNTRY: N_("We can only send SMS to numbers in the Nordic countries and a few others. Use a number from one of them."),
    Refusal.TOO_SOON: N_("A code was just sent. You can ask for a new one at %(time)s."),
    Refusal.NUMBER_LIMIT: N_("Too many codes to this number. Try again after %(time)s."),
    Refusal.IP_LIMIT: N_("Too many codes from this network. Try again after %(time)s."),
    Refusal.NO_CODE: N_("Ask for a code first: press “Send code”."),
    Refusal.EXPIRED: N_("The code has expired. Press “Send code” to get a new one."),
    Refusal.TOO_MANY_TRIES: N_("Too many wrong attempts. Press “Send code” to get a new code."),
    Refusal.WRONG: N_("Wrong code. Check the SMS and try again."),
}


@dataclass(frozen=True)
class Limits:
    valid_seconds: int
    max_wrong_tries: int
    resend_after_seconds: int
    per_number_per_hour: int
    per_ip_per_hour: int


@dataclass(frozen=True)
class SendDecision:
    allowed: bool
    refusal: Refusal | None = None
    retry_at: datetime | None = None


def may_send(
    *,
    phone: str,
    now: datetime,
    limits: Limits,
    number_sent_last_hour: list[datetime],
    ip_sent_last_hour: list[datetime],
    last_for_subject: datetime | None,
) -> SendDecision:
    """Whether a new code may be sent now, and if not, why and when."""
    if not sms_allowed(phone):
        return SendDecision(False, Refusal.COUNTRY)
    if last_for_subject is not None and now < last_for_subject + timedelta(seconds=limits.resend_after_seconds):
        return SendDecision(False, Refusal.TOO_SOON, last_for_subject + timedelta(seconds=limits.resend_after_seconds))
    hour = timedelta(hours=1)
    recent = sorted(t for t in number_sent_last_hour if t > now - hour)
    if len(recent) >= limits.per_number_per_hour:
        return SendDecision(False, Refusal.NUMBER_LIMIT, recent[len(recent) - limits.per_number_per_hour] + hour)
    recent_ip = sorted(t for t in ip_sent_last_hour if t > now - hour)
    if len(recent_ip) >= limits.per_ip_per_hour:
        return SendDecision(False, Refusal.IP_LIMIT, recent_ip[len(recent_ip) - limits.per_ip_per_hour] + hour)
    return SendDecision(True)


def check_attempt(*, expires_at: datetime | None, used: bool, wrong_tries: int, now: datetime, limits: Limits) -> Refusal | None:
    """May the latest code still be tried? (None: compare it.)"""
    if expires_at is None or used:
        return Refusal.NO_CODE
    if wrong_tries >= limits.max_wrong_tries:
        return Refusal.TOO_MANY_TRIES
    if now >= expires_at:
        return Refusal.EXPIRED
    return None

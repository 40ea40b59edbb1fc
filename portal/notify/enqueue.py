"""Queueing messages inside the caller's write transaction (they leave through the outbox)."""

from __future__ import annotations

from datetime import datetime

from portal.notify import messages
from portal.outbox import service as outbox
from portal.settings import load as load_settings


async def enqueue_code_sms(phone: str, code: str, language: str, now: datetime) -> None:
    """A one-time code by SMS, inside the caller's transaction.

    Urgent: due at once and first in line for the worker; retried quickly
    (2 s, 4 s … at most 20 s apart) but never after the code expires
    (`CodeSettings.valid_seconds` after `now`): then it is parked as failed.
    Twilio gets the same limit as `ValidityPeriod`. The code is wiped from
    the row once the message is sent or given up.
    """
    draft = messages.code_draft(phone, code, language, now, load_settings().codes.valid_seconds)
    await outbox.insert([draft], now)
    outbox.wake()

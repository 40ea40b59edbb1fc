"""Vipps MobilePay webhook authentication (HMAC-SHA256), both directions.

Vipps signs each webhook it sends with the secret it handed out when the
webhook was registered. `verify()` is what our webhook endpoint calls;
`sign()` is what the dev Vipps (and tests) use to send one. Pure functions:
no framework, no clock of their own.

The scheme:
- `x-ms-content-sha256` = base64(sha256(raw body bytes));
- string to sign = ``POST\\n<path and query>\\n<x-ms-date>;<host>;<x-ms-content-sha256>``
  with the public host and path as Vipps called them;
- ``Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<s>``
  with s = base64(HMAC-SHA256(secret as UTF-8, string to sign)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
_AUTH_PREFIX = "HMAC-SHA256 "


class WebhookRejected(Exception):
    """The webhook is not authentic (or too old); `reason` says why, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(path_and_query: str, date: str, host: str, content_hash: str) -> str:
    return f"POST\n{path_and_query}\n{date};{host};{content_hash}"


def _signature(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def http_date(moment: datetime) -> str:
    """RFC 1123 in GMT, e.g. 'Thu, 30 Mar 2023 08:38:32 GMT'."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def path_and_query_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def sign(secret: str, *, url: str, body: bytes, date: str | None = None, now: datetime | None = None) -> dict[str, str]:
    """The headers Vipps sends with a webhook POSTed to `url`.

    `date` (already formatted) wins over `now`; with neither, the current time.
    """
    if date is None:
        date = http_date(now or datetime.now(timezone.utc))
    host = urlsplit(url).netloc
    hashed = content_hash(body)
    signature = _signature(secret, string_to_sign(path_and_query_of(url), date, host, hashed))
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": hashed,
        "Authorization": f"{_AUTH_PREFIX}SignedHeaders={SIGNED_HEADERS}&Signature={signature}",
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive lookup that works on plain dicts as well as header maps."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None or value == "":
        raise WebhookRejected("missing header")
    return value


def _signature_from(authorization: str) -> str:
    if not authorization.startswith(_AUTH_PREFIX):
        raise WebhookRejected("malformed authorization")
    fields: dict[str, str] = {}
    for part in authorization[len(_AUTH_PREFIX) :].strip().split("&"):
        key, sep, value = part.partition("=")
        if not sep:
            raise WebhookRejected("malformed authorization")
        fields[key.strip()] = value.strip()  # base64 may end in '=': partition keeps it
    if fields.get("SignedHeaders", "").lower() != SIGNED_HEADERS or not fields.get("Signature"):
        raise WebhookRejected("malformed authorization")
    return fields["Signature"]


def verify(
    secret: str,
    *,
    path_and_query: str,
    host: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=5),
) -> None:
    """Raise WebhookRejected unless the webhook is authentic and recent.

    `path_and_query` and `host` are the public ones Vipps called (behind a
    proxy they differ from what the app sees); `headers` may use any casing.
    """
    date = _header(headers, "x-ms-date")
    claimed_hash = _header(headers, "x-ms-content-sha256")
    claimed_signature = _signature_from(_header(headers, "authorization"))

    try:
        sent_at = parsedate_to_datetime(date)
    except (TypeError, ValueError) as exc:
        raise WebhookRejected("malformed date") from exc
    if sent_at.tzinfo is None:
        raise WebhookRejected("malformed date")
    if abs(now - sent_at) > max_skew:
        raise WebhookRejected("stale date")

    if not hmac.compare_digest(content_hash(body).encode(), claimed_hash.encode()):
        raise WebhookRejected("content hash mismatch")
    expected = _signature(secret, string_to_sign(path_and_query, date, host, claimed_hash))
    if not hmac.compare_digest(expected.encode(), claimed_signature.encode()):
        raise WebhookRejected("bad signature")

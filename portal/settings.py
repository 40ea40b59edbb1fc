"""Every setting, read from the environment here and nowhere else.

`load()` validates at start: production mode refuses to start without the
secrets it needs instead of silently falling back to a dev default.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the process must not start."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class CodeSettings:
    """One-time codes sent by SMS (issue: verified phones)."""

    valid_seconds: int = 300
    max_wrong_tries: int = 5
    resend_after_seconds: int = 30
    per_number_per_hour: int = 5
    per_ip_per_hour: int = 20
    device_days: int = 90
    """How long "remember this phone on this device" lasts."""


@dataclass(frozen=True)
class MailSettings:
    backend: str = "dev"
    """`dev` (stored, listed on /dev/mailbox) or `smtp`."""
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    security: str = "none"
    """`none`, `starttls` or `tls`."""
    sender: str = "portal <no-reply@portal.invalid>"
    timeout_seconds: int = 20


@dataclass(frozen=True)
class SmsSettings:
    backend: str = "dev"
    """`dev` (stored, listed on /dev/mailbox) or `twilio`."""
    account_sid: str = ""
    auth_token: str = ""
    sender: str = "Reservation"
    base_url: str = ""
    """Only for tests: a local server that answers like Twilio."""
    status_callback_url: str = ""


@dataclass(frozen=True)
class OutboxSettings:
    max_attempts: int = 8
    base_delay_seconds: int = 30
    max_delay_seconds: int = 3600
    lease_seconds: int = 120
    batch_size: int = 20
    poll_seconds: float = 1.0
    embedded_worker: bool = True
    """Run the worker inside the web process (the SQLite default)."""


@dataclass(frozen=True)
class VippsSettings:
    """Vipps MobilePay ePayment. `dev` is the local stand-in served by this
    app under /dev/vipps (approve or reject on a landing page); `vipps` talks
    to `base_url` (https://apitest.vipps.no or https://api.vipps.no)."""

    backend: str = "dev"
    base_url: str = ""
    client_id: str = "dev-client"
    client_secret: str = "dev-secret"
    subscription_key: str = "dev-subscription"
    merchant_serial_number: str = "123456"
    webhook_secret: str = ""
    """The secret Vipps gave when our webhook was registered."""
    timeout_seconds: float = 10.0
    payment_hold_minutes: int = 15
    """How long a time stays held once the customer is sent to Vipps."""
    reconcile_after_minutes: int = 12
    """A payment still waiting this long is read from Vipps by the reconciler."""
    auto_complete_hours: int = 24
    """A confirmed booking nobody marked counts as delivered (and is captured) this long after its end."""
    landing_origins: tuple[str, ...] = ()
    """Where the customer is sent to approve (the origins of Vipps' landing
    pages): a form whose answer redirects there must be allowed to by the
    page's CSP `form-action`. Empty: Vipps' pages are on our own origin."""


#: The origins of Vipps' landing pages (a payment's `redirectUrl`), production
#: then the test environment (MT, behind https://apitest.vipps.no). The
#: ePayment spec's example is https://landing.vipps.no?token=…; payments made
#: today are sent to pay.vipps.no (pay-mt.vipps.no in MT). MobilePay sales
#: units (Denmark, Finland) land on pay[-mt].mobilepay.dk/.fi instead: set
#: PORTAL_VIPPS_LANDING_ORIGINS for those.
VIPPS_LANDING_ORIGINS = ("https://pay.vipps.no", "https://landing.vipps.no", "https://pay-mt.vipps.no")

_HOST_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL, lower-cased; '' if it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def _origin(name: str, raw: str, *, production: bool) -> str:
    """One origin, exactly scheme://host[:port] (a trailing '/' is dropped):
    no path, query, user or wildcard, nothing a CSP source list could be
    bent with; https only in production."""
    value = raw.removesuffix("/")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not an origin (scheme://host[:port])") from None
    host = parts.hostname or ""
    well_formed = (
        parts.scheme in {"http", "https"}
        and value.lower() == f"{parts.scheme}://{host}{'' if port is None else f':{port}'}"
        and bool(_HOST_RE.match(host))
        and port != 0
    )
    if not well_formed:
        raise SettingsError(f"{name}: {raw!r} is not an origin (scheme://host[:port], nothing after it)")
    if production and parts.scheme != "https":
        raise SettingsError(f"{name}: {raw!r} must be https in production")
    return value.lower()


def _landing_origins(backend: str, base_url: str, app_origin: str, *, production: bool) -> tuple[str, ...]:
    name = "PORTAL_VIPPS_LANDING_ORIGINS"
    raw = os.environ.get(name, "").split()
    if raw:
        origins = [_origin(name, value, production=production) for value in raw]
    elif backend == "vipps":
        origins = list(VIPPS_LANDING_ORIGINS)
    else:
        # The dev Vipps' landing page is where its API is: nothing to add when that is this app.
        own = origin_of(base_url)
        origins = [_origin("PORTAL_VIPPS_BASE_URL", own, production=production)] if own not in ("", app_origin) else []
    return tuple(dict.fromkeys(o for o in origins if o != app_origin))


@dataclass(frozen=True)
class OperatorSettings:
    """Who runs the portal (ehandelsloven § 8, L34): in every page's footer and
    the controller in the privacy notice. The defaults are a demo's; production
    must set them."""

    name: str = "Portal Demo AS"
    org_number: str = "923456783"
    address: str = "Storgata 1, 0155 Oslo"
    email: str = "kontakt@portal.invalid"
    phone: str = "+4722000000"


@dataclass(frozen=True)
class Settings:
    env: str
    """`dev` (default: dev backends, demo banner) or `production`."""
    database_url: str
    """`sqlite:///path/to/file.sqlite3` (default under var/) or `postgresql://…`."""
    secret_key: str
    """Signs visitor cookies and tokens. Required in production."""
    hold_minutes: int
    """How long a chosen time is held for the customer during checkout."""
    secure_cookies: bool
    """Mark cookies `Secure` (on behind HTTPS; default on in production)."""
    base_url: str
    """Public origin used in links that leave the site (calendar files)."""
    default_language: str
    """`nb` (Bokmål) unless the visitor chooses English."""
    db_pool_size: int
    """PostgreSQL connection pool per process (0: a connection per query, for tests)."""
    catalogue_cache_seconds: int
    """How long a process keeps offerings and opening hours before reading them again."""
    retention_inactive_days: int
    """Days after a customer's last order ended before the retention job removes their contact data (L26)."""
    codes: CodeSettings
    mail: MailSettings
    sms: SmsSettings
    outbox: OutboxSettings
    vipps: VippsSettings
    operator: OperatorSettings = OperatorSettings()
    meeting_base_url: str = "https://meet.jit.si"
    """Where an online booking's video room is (`<base>/<unguessable room name>`), e.g. a Jitsi Meet server."""

    @property
    def is_dev(self) -> bool:
        return self.env != "production"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("not a SQLite database")
        return Path(self.database_url.removeprefix("sqlite:///"))


@lru_cache(maxsize=1)
def load() -> Settings:
    env = os.environ.get("PORTAL_ENV", "dev").strip().lower()
    if env not in {"dev", "production"}:
        raise SettingsError(f"PORTAL_ENV must be dev or production, got {env!r}")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'portal.sqlite3'}"
    if not database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise SettingsError("DATABASE_URL must start with sqlite:/// or postgresql://")
    secret_key = os.environ.get("PORTAL_SECRET_KEY", "")
    if not secret_key:
        if env == "production":
            raise SettingsError("PORTAL_SECRET_KEY is required in production")
        # Dev only: a per-process key. Signed cookies do not survive a restart.
        secret_key = secrets.token_urlsafe(32)
    elif len(secret_key) < 16:
        raise SettingsError("PORTAL_SECRET_KEY must be at least 16 characters")
    hold_minutes = _int("PORTAL_HOLD_MINUTES", 10)
    if not 1 <= hold_minutes <= 120:
        raise SettingsError("PORTAL_HOLD_MINUTES must be between 1 and 120")
    language = os.environ.get("PORTAL_DEFAULT_LANGUAGE", "nb")
    if language not in {"nb", "en"}:
        raise SettingsError("PORTAL_DEFAULT_LANGUAGE must be nb or en")
    mail = MailSettings(
        backend=os.environ.get("PORTAL_MAIL_BACKEND", "dev"),
        host=os.environ.get("PORTAL_SMTP_HOST", "127.0.0.1"),
        port=_int("PORTAL_SMTP_PORT", 25),
        username=os.environ.get("PORTAL_SMTP_USERNAME", ""),
        password=os.environ.get("PORTAL_SMTP_PASSWORD", ""),
        security=os.environ.get("PORTAL_SMTP_SECURITY", "none"),
        sender=os.environ.get("PORTAL_MAIL_FROM", MailSettings.sender),
        timeout_seconds=_int("PORTAL_SMTP_TIMEOUT", 20),
    )
    if mail.backend not in {"dev", "smtp"}:
        raise SettingsError("PORTAL_MAIL_BACKEND must be dev or smtp")
    if mail.security not in {"none", "starttls", "tls"}:
        raise SettingsError("PORTAL_SMTP_SECURITY must be none, starttls or tls")
    sms = SmsSettings(
        backend=os.environ.get("PORTAL_SMS_BACKEND", "dev"),
        account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        sender=os.environ.get("PORTAL_SMS_SENDER", "Reservation"),
        base_url=os.environ.get("PORTAL_TWILIO_BASE_URL", ""),
        status_callback_url=os.environ.get("PORTAL_TWILIO_STATUS_CALLBACK", ""),
    )
    if sms.backend not in {"dev", "twilio"}:
        raise SettingsError("PORTAL_SMS_BACKEND must be dev or twilio")
    if env == "production":
        if sms.backend != "twilio" or not (sms.account_sid and sms.auth_token):
            raise SettingsError("production needs PORTAL_SMS_BACKEND=twilio with TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if mail.backend != "smtp":
            raise SettingsError("production needs PORTAL_MAIL_BACKEND=smtp")
    codes = CodeSettings(
        valid_seconds=_int("PORTAL_CODE_VALID_SECONDS", 300),
        max_wrong_tries=_int("PORTAL_CODE_MAX_WRONG_TRIES", 5),
        resend_after_seconds=_int("PORTAL_CODE_RESEND_AFTER_SECONDS", 30),
        per_number_per_hour=_int("PORTAL_CODES_PER_NUMBER_PER_HOUR", 5),
        per_ip_per_hour=_int("PORTAL_CODES_PER_IP_PER_HOUR", 20),
        device_days=_int("PORTAL_DEVICE_DAYS", 90),
    )
    outbox = OutboxSettings(
        max_attempts=_int("PORTAL_OUTBOX_MAX_ATTEMPTS", 8),
        base_delay_seconds=_int("PORTAL_OUTBOX_BASE_DELAY", 30),
        max_delay_seconds=_int("PORTAL_OUTBOX_MAX_DELAY", 3600),
        lease_seconds=_int("PORTAL_OUTBOX_LEASE", 120),
        batch_size=_int("PORTAL_OUTBOX_BATCH", 20),
        embedded_worker=_bool("PORTAL_EMBEDDED_WORKER", not database_url.startswith(("postgres://", "postgresql://"))),
    )
    base_url = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    vipps_backend = os.environ.get("PORTAL_VIPPS_BACKEND", "dev")
    if vipps_backend not in {"dev", "vipps"}:
        raise SettingsError("PORTAL_VIPPS_BACKEND must be dev or vipps")
    if vipps_backend == "dev":
        vipps = VippsSettings(
            backend="dev",
            base_url=os.environ.get("PORTAL_VIPPS_BASE_URL", f"{base_url}/dev/vipps").rstrip("/"),
            # The dev stand-in signs its webhooks with a key only this installation knows.
            webhook_secret=os.environ.get("PORTAL_VIPPS_WEBHOOK_SECRET") or hashlib.sha256(f"dev-vipps:{secret_key}".encode()).hexdigest(),
        )
    else:
        vipps = VippsSettings(
            backend="vipps",
            base_url=os.environ.get("PORTAL_VIPPS_BASE_URL", "https://apitest.vipps.no").rstrip("/"),
            client_id=os.environ.get("VIPPS_CLIENT_ID", ""),
            client_secret=os.environ.get("VIPPS_CLIENT_SECRET", ""),
            subscription_key=os.environ.get("VIPPS_SUBSCRIPTION_KEY", ""),
            merchant_serial_number=os.environ.get("VIPPS_MERCHANT_SERIAL_NUMBER", ""),
            webhook_secret=os.environ.get("PORTAL_VIPPS_WEBHOOK_SECRET", ""),
        )
    vipps = replace(
        vipps,
        timeout_seconds=float(_int("PORTAL_VIPPS_TIMEOUT", 10)),
        payment_hold_minutes=_int("PORTAL_VIPPS_HOLD_MINUTES", 15),
        reconcile_after_minutes=_int("PORTAL_VIPPS_RECONCILE_AFTER_MINUTES", 12),
        auto_complete_hours=_int("PORTAL_AUTO_COMPLETE_HOURS", 24),
        landing_origins=_landing_origins(vipps.backend, vipps.base_url, origin_of(base_url), production=env == "production"),
    )
    if env == "production":
        missing = [
            name
            for name, value in (
                ("VIPPS_CLIENT_ID", vipps.client_id),
                ("VIPPS_CLIENT_SECRET", vipps.client_secret),
                ("VIPPS_SUBSCRIPTION_KEY", vipps.subscription_key),
                ("VIPPS_MERCHANT_SERIAL_NUMBER", vipps.merchant_serial_number),
                ("PORTAL_VIPPS_WEBHOOK_SECRET", vipps.webhook_secret),
            )
            if not value
        ]
        if vipps.backend != "vipps" or missing:
            raise SettingsError(f"production needs PORTAL_VIPPS_BACKEND=vipps and {', '.join(missing) or 'its keys'}")
        if not vipps.base_url.startswith("https://"):
            raise SettingsError("PORTAL_VIPPS_BASE_URL must be https in production")
    operator = OperatorSettings(
        name=os.environ.get("PORTAL_OPERATOR_NAME", OperatorSettings.name),
        org_number=os.environ.get("PORTAL_OPERATOR_ORG_NUMBER", OperatorSettings.org_number),
        address=os.environ.get("PORTAL_OPERATOR_ADDRESS", OperatorSettings.address),
        email=os.environ.get("PORTAL_OPERATOR_EMAIL", OperatorSettings.email),
        phone=os.environ.get("PORTAL_OPERATOR_PHONE", OperatorSettings.phone),
    )
    if env == "production":
        unset = [f"PORTAL_OPERATOR_{key.upper()}" for key in ("name", "org_number", "address", "email") if not os.environ.get(f"PORTAL_OPERATOR_{key.upper()}")]
        if unset:
            raise SettingsError(f"production needs the operator's identity (L34): {', '.join(unset)}")
    meeting_base_url = os.environ.get("PORTAL_MEETING_BASE_URL", "https://meet.jit.si").strip().rstrip("/")
    if not meeting_base_url.startswith(("https://", "http://")) or any(ch in meeting_base_url for ch in "?#\"\\ "):
        raise SettingsError("PORTAL_MEETING_BASE_URL must be an http(s) URL without query or fragment")
    if env == "production" and not meeting_base_url.startswith("https://"):
        raise SettingsError("PORTAL_MEETING_BASE_URL must be https in production")
    return Settings(
        env=env,
        database_url=database_url,
        secret_key=secret_key,
        hold_minutes=hold_minutes,
        secure_cookies=_bool("PORTAL_SECURE_COOKIES", env == "production"),
        base_url=base_url,
        default_language=language,
        db_pool_size=_int("PORTAL_DB_POOL_SIZE", 10),
        catalogue_cache_seconds=_int("PORTAL_CATALOGUE_CACHE_SECONDS", 30),
        retention_inactive_days=_int("PORTAL_RETENTION_INACTIVE_DAYS", 90),
        codes=codes,
        mail=mail,
        sms=sms,
        outbox=outbox,
        vipps=vipps,
        operator=operator,
        meeting_base_url=meeting_base_url,
    )

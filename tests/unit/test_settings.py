"""Production refuses to start without the secrets it needs; dev falls back
to the local stand-ins. Settings are read from a patched environment."""

from __future__ import annotations

import pytest

from portal import settings as settings_module
from portal.settings import SettingsError

PRODUCTION = {
    "PORTAL_ENV": "production",
    "PORTAL_SECRET_KEY": "a-production-secret-key-0123456789",
    "DATABASE_URL": "postgresql://portal@db/portal",
    "PORTAL_MAIL_BACKEND": "smtp",
    "PORTAL_SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "token",
    "PORTAL_VIPPS_BACKEND": "vipps",
    "PORTAL_VIPPS_BASE_URL": "https://api.vipps.no",
    "VIPPS_CLIENT_ID": "client",
    "VIPPS_CLIENT_SECRET": "secret",
    "VIPPS_SUBSCRIPTION_KEY": "subscription",
    "VIPPS_MERCHANT_SERIAL_NUMBER": "123456",
    "PORTAL_VIPPS_WEBHOOK_SECRET": "webhook-secret",
}

VIPPS_KEYS = ["VIPPS_CLIENT_ID", "VIPPS_CLIENT_SECRET", "VIPPS_SUBSCRIPTION_KEY", "VIPPS_MERCHANT_SERIAL_NUMBER", "PORTAL_VIPPS_WEBHOOK_SECRET"]


def load_with(monkeypatch, env: dict):
    for key in list(PRODUCTION) + ["PORTAL_VIPPS_TIMEOUT"]:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings_module.load.cache_clear()
    try:
        return settings_module.load()
    finally:
        settings_module.load.cache_clear()


def test_production_with_every_key_starts(monkeypatch):
    loaded = load_with(monkeypatch, PRODUCTION)
    assert loaded.vipps.backend == "vipps" and loaded.vipps.base_url == "https://api.vipps.no"
    assert loaded.vipps.merchant_serial_number == "123456"


@pytest.mark.parametrize("missing", VIPPS_KEYS)
def test_production_without_a_vipps_key_is_a_startup_error(monkeypatch, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_with(monkeypatch, env)


def test_production_refuses_the_dev_vipps_and_plain_http(monkeypatch):
    with pytest.raises(SettingsError):
        load_with(monkeypatch, {**PRODUCTION, "PORTAL_VIPPS_BACKEND": "dev"})
    with pytest.raises(SettingsError, match="https"):
        load_with(monkeypatch, {**PRODUCTION, "PORTAL_VIPPS_BASE_URL": "http://api.vipps.no"})


def test_dev_uses_the_local_stand_in_with_its_own_webhook_secret(monkeypatch):
    loaded = load_with(monkeypatch, {"PORTAL_SECRET_KEY": "dev-secret-key-0123456789", "PORTAL_BASE_URL": "http://127.0.0.1:9000"})
    assert loaded.vipps.backend == "dev"
    assert loaded.vipps.base_url == "http://127.0.0.1:9000/dev/vipps"
    other = load_with(monkeypatch, {"PORTAL_SECRET_KEY": "another-secret-key-012345", "PORTAL_BASE_URL": "http://127.0.0.1:9000"})
    assert loaded.vipps.webhook_secret and loaded.vipps.webhook_secret != other.vipps.webhook_secret

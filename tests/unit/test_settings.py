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
    "PORTAL_OPERATOR_NAME": "Portal Norge AS",
    "PORTAL_OPERATOR_ORG_NUMBER": "923456783",
    "PORTAL_OPERATOR_ADDRESS": "Storgata 1, 0155 Oslo",
    "PORTAL_OPERATOR_EMAIL": "kontakt@portal.example",
}

VIPPS_KEYS = ["VIPPS_CLIENT_ID", "VIPPS_CLIENT_SECRET", "VIPPS_SUBSCRIPTION_KEY", "VIPPS_MERCHANT_SERIAL_NUMBER", "PORTAL_VIPPS_WEBHOOK_SECRET"]


def load_with(monkeypatch, env: dict):
    for key in list(PRODUCTION) + ["PORTAL_VIPPS_TIMEOUT", "PORTAL_VIPPS_LANDING_ORIGINS", "PORTAL_BASE_URL"]:
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


@pytest.mark.legal("L34")
def test_production_needs_the_operators_identity_and_an_https_meeting_server(monkeypatch):
    with pytest.raises(SettingsError, match="PORTAL_OPERATOR_ORG_NUMBER"):
        load_with(monkeypatch, {k: v for k, v in PRODUCTION.items() if k != "PORTAL_OPERATOR_ORG_NUMBER"})
    with pytest.raises(SettingsError, match="PORTAL_MEETING_BASE_URL"):
        load_with(monkeypatch, {**PRODUCTION, "PORTAL_MEETING_BASE_URL": "http://meet.example"})
    loaded = load_with(monkeypatch, {**PRODUCTION, "PORTAL_MEETING_BASE_URL": "https://meet.example/"})
    assert loaded.operator.name == "Portal Norge AS" and loaded.meeting_base_url == "https://meet.example"


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


# ---------------------------------------------------------------- where the customer is sent to pay

LANDING = "PORTAL_VIPPS_LANDING_ORIGINS"
DEV = {"PORTAL_SECRET_KEY": "dev-secret-key-0123456789", "PORTAL_BASE_URL": "http://127.0.0.1:9000"}


def test_the_vipps_backend_sends_customers_to_vipps_landing_pages_by_default(monkeypatch):
    expected = ("https://pay.vipps.no", "https://landing.vipps.no", "https://pay-mt.vipps.no")
    assert load_with(monkeypatch, PRODUCTION).vipps.landing_origins == expected
    test_environment = {**DEV, "PORTAL_VIPPS_BACKEND": "vipps", "PORTAL_VIPPS_BASE_URL": "https://apitest.vipps.no"}
    assert load_with(monkeypatch, test_environment).vipps.landing_origins == expected


def test_the_dev_vipps_adds_its_origin_only_when_it_is_not_the_apps(monkeypatch):
    assert load_with(monkeypatch, DEV).vipps.landing_origins == ()
    same = load_with(monkeypatch, {**DEV, "PORTAL_VIPPS_BASE_URL": "http://127.0.0.1:9000/dev/vipps"})
    assert same.vipps.landing_origins == ()
    elsewhere = load_with(monkeypatch, {**DEV, "PORTAL_VIPPS_BASE_URL": "http://127.0.0.1:9001/some/path"})
    assert elsewhere.vipps.landing_origins == ("http://127.0.0.1:9001",)


def test_landing_origins_are_read_space_separated_and_normalised(monkeypatch):
    loaded = load_with(monkeypatch, {**PRODUCTION, LANDING: " https://pay.vipps.no  HTTPS://Pay.MobilePay.dk/\thttps://pay.vipps.no https://x.example:8443 "})
    assert loaded.vipps.landing_origins == ("https://pay.vipps.no", "https://pay.mobilepay.dk", "https://x.example:8443")
    dev = load_with(monkeypatch, {**DEV, LANDING: "http://127.0.0.1:9001 http://127.0.0.1:9000"})
    assert dev.vipps.landing_origins == ("http://127.0.0.1:9001",), "the app's own origin is 'self' already"


@pytest.mark.parametrize(
    "value",
    [
        "pay.vipps.no",
        "https://",
        "https://pay.vipps.no/path",
        "https://pay.vipps.no//",
        "https://pay.vipps.no?token=x",
        "https://pay.vipps.no#x",
        "https://*.vipps.no",
        "https://user@pay.vipps.no",
        "https://pay.vipps.no:",
        "https://pay.vipps.no:99999",
        "https://pay.vipps.no:0",
        "https://pay.vipps.no;script-src",
        "https://pay.vipps.no,https://pay-mt.vipps.no",
        "https://pay_vipps.no",
        "https://[::1]",
        "'self'",
        "*",
        "https:",
        "data:",
        "ftp://pay.vipps.no",
        "javascript:alert(1)",
    ],
)
def test_a_landing_origin_that_is_not_an_origin_is_a_startup_error(monkeypatch, value):
    with pytest.raises(SettingsError, match=LANDING):
        load_with(monkeypatch, {**DEV, LANDING: f"https://pay.vipps.no {value}"})


def test_production_landing_origins_are_https(monkeypatch):
    with pytest.raises(SettingsError, match=f"{LANDING}.*https"):
        load_with(monkeypatch, {**PRODUCTION, LANDING: "https://pay.vipps.no http://pay-mt.vipps.no"})
    assert load_with(monkeypatch, {**DEV, LANDING: "http://127.0.0.1:9001"}).vipps.landing_origins == ("http://127.0.0.1:9001",)

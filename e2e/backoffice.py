"""Driving the back office in the browser: logging in as one of the demo's people."""

from __future__ import annotations

import pyotp

from portal.demo import DEMO_PASSWORD, demo_people

SALON = "saks-og-stil-grunerlokka"


def person(supplier: str, role: str) -> dict:
    return next(p for p in demo_people() if p["supplier"] == supplier and p["role"] == role)


def log_in(page, supplier: str = SALON, role: str = "owner", next_path: str = "") -> None:
    """Email and password, then (owners) the code from the authenticator app, computed from the demo's seed."""
    who = person(supplier, role)
    page.goto("/kontor/logg-inn" + (f"?neste={next_path}" if next_path else ""))
    page.get_by_label("E-post").fill(who["email"])
    page.get_by_label("Passord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    if who["totp_secret"]:
        page.wait_for_url("**/kontor/kode**")
        page.get_by_label("Sekssifret kode").fill(pyotp.TOTP(who["totp_secret"]).now())
        page.get_by_role("button", name="Fortsett").click()
    page.wait_for_url(lambda url: "/kontor/logg-inn" not in url and "/kontor/kode" not in url)


def act(page, label: str, *, fields: dict[str, str] | None = None) -> None:
    """On a booking's page: open the action, fill its fields, confirm it, and land back on the booking."""
    booking = page.url
    page.get_by_role("link", name=label).click()
    for name, value in (fields or {}).items():
        page.get_by_label(name).fill(value)
    page.locator("form.checkout button[type=submit]").click()
    page.wait_for_url(booking)

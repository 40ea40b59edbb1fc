"""Driving the back office in the browser: logging in as one of the demo's people."""

from __future__ import annotations

import time

import pyotp

from portal.demo import DEMO_PASSWORD, demo_people

SALON = "saks-og-stil-grunerlokka"


def person(supplier: str, role: str) -> dict:
    return next(p for p in demo_people() if p["supplier"] == supplier and p["role"] == role)


#: The last 30-second TOTP step this test process used per account: the app takes each step
#: once, so two logins of one owner within a step must use different (neighbouring) steps.
_last_step: dict[str, int] = {}


def totp_code(who: dict, used_step: int = 0) -> str:
    """A code the authenticator app shows now that the app has not seen used:
    the oldest step it still accepts (one before to one after the current,
    with 3 s to spare) that is after both `used_step` (as the database says)
    and the last one this process used; waits for the next step if none is left."""
    totp = pyotp.TOTP(who["totp_secret"])
    while True:
        t = time.time()
        lowest, highest = int(t + 3) // 30 - 1, int(t) // 30 + 1
        step = max(lowest, used_step + 1, _last_step.get(who["email"], 0) + 1)
        if step <= highest:
            _last_step[who["email"]] = step
            return totp.at(step * 30)
        time.sleep(0.5)


def log_in(page, supplier: str = SALON, role: str = "owner", next_path: str = "") -> None:
    """Email and password, then (owners) the code from the authenticator app, computed from the demo's seed."""
    who = person(supplier, role)
    page.goto("/kontor/logg-inn" + (f"?neste={next_path}" if next_path else ""))
    page.get_by_label("E-post").fill(who["email"])
    page.get_by_label("Passord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    if who["totp_secret"]:
        page.wait_for_url("**/kontor/kode**")
        page.get_by_label("Sekssifret kode").fill(totp_code(who))
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

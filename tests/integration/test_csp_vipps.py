"""The checkout's CSP lets its form be sent on to Vipps, and nothing else does.

Chromium applies `form-action` to the redirect that answers a form post, so
the page holding the checkout form (the page, its re-renders, its htmx
fragments) allows `'self'` plus the origins of Vipps' landing pages
(settings: PORTAL_VIPPS_LANDING_ORIGINS). Every other page, error pages on
the checkout's own paths included, says exactly `form-action 'self'`.

The policies are written out in full here, not built with the code under test.
"""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import VIPPS_PORT
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot, send_code

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"  # the seller takes Vipps or payment on site
YOGA = "/s/pust-yoga-stavanger/privattime-yoga"  # payment on site only
#: The test session's dev Vipps runs on its own port: another origin than the app's.
DEV_VIPPS = f"http://127.0.0.1:{VIPPS_PORT}"


def policy(form_action: str) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


SELF_ONLY = policy("'self'")


def csp_of(response) -> str:
    values = response.headers.get_list("content-security-policy")
    assert len(values) == 1, values
    return values[0]


async def hold(client, path: str = HAIRCUT) -> str:
    start, token = await first_free_slot(client, path)
    response = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    return response.headers["location"]


async def checkout_responses(client, vipps) -> dict[str, object]:
    """Every way the page holding the checkout form comes back."""
    url = await hold(client)
    page = await client.get(url)
    token = csrf(page.text)
    fragment = {"HX-Request": "true"}
    found = {"page": page}
    found["errors"] = await client.post(url, data={"name": "", "_csrf_token": token})
    found["code-sent-page"] = await send_code(client, url, token, VALID_CUSTOMER)
    found["code-sent-fragment"] = await client.post(
        url, data={**VALID_CUSTOMER, "phone": "412 34 568", "action": "send_code", "_csrf_token": token}, headers=fragment
    )
    found["coupon-page"] = await client.post(url, data={**VALID_CUSTOMER, "coupon": "FINNESIKKE", "action": "apply_coupon", "_csrf_token": token})
    found["coupon-fragment"] = await client.post(
        url, data={**VALID_CUSTOMER, "coupon": "VELKOMMEN10", "action": "apply_coupon", "_csrf_token": token}, headers=fragment
    )
    # Vipps not answering: the page comes back, and its form is pressed again ("pay again").
    vipps.fail_next("create", 500, count=2)
    found["vipps-unavailable"] = await confirm_with_code(client, url, {"means": "vipps", "phone": "412 34 569"})
    return found


EXPECTED_STATUS = {
    "page": 200,
    "errors": 422,
    "code-sent-page": 200,
    "code-sent-fragment": 200,
    "coupon-page": 422,
    "coupon-fragment": 200,
    "vipps-unavailable": 503,
}


async def test_the_checkout_form_may_be_sent_on_to_the_vipps_landing_page_only(client, vipps):
    found = await checkout_responses(client, vipps)
    assert {name: r.status_code for name, r in found.items()} == EXPECTED_STATUS, {n: r.text[:200] for n, r in found.items()}
    for name, response in found.items():
        assert csp_of(response) == policy(f"'self' {DEV_VIPPS}"), name
    assert "<html" not in found["code-sent-fragment"].text and "<html" not in found["coupon-fragment"].text


async def test_pressing_confirm_again_goes_to_the_origin_the_page_allows(client, vipps):
    url = await hold(client)
    answered = await confirm_with_code(client, url, {"means": "vipps"})
    assert answered.status_code == 303
    assert answered.headers["location"].startswith(f"{DEV_VIPPS}/landing/"), answered.headers["location"]


async def other_pages(client) -> dict[str, object]:
    random = secrets.token_urlsafe(24)
    token = csrf((await client.get(HAIRCUT)).text)
    checkout = await hold(client)
    done = await confirm_with_code(client, await hold(client), {"means": "onsite"})
    assert done.status_code == 303, done.text[:300]
    return {
        "front": await client.get("/"),
        "offering": await client.get(HAIRCUT),
        "booking": await client.get(done.headers["location"]),
        "404": await client.get("/s/finnes-ikke"),
        "checkout-404": await client.get(f"/checkout/{random}"),
        "checkout-post-404": await client.post(f"/checkout/{random}", data={**VALID_CUSTOMER, "_csrf_token": token}),
        "checkout-403": await client.post(checkout, data=dict(VALID_CUSTOMER)),
        "redirect-to-vipps": await confirm_with_code(client, await hold(client), {"means": "vipps"}),
        "onsite-only-checkout": await client.get(await hold(client, YOGA)),
    }


async def test_every_other_page_says_form_action_self_only(client, vipps):
    found = await other_pages(client)
    statuses = {name: r.status_code for name, r in found.items()}
    assert statuses == {
        "front": 200,
        "offering": 200,
        "booking": 200,
        "404": 404,
        "checkout-404": 404,
        "checkout-post-404": 404,
        "checkout-403": 403,
        "redirect-to-vipps": 303,
        "onsite-only-checkout": 200,
    }, statuses
    assert 'class="checkout"' in found["onsite-only-checkout"].text
    for name, response in found.items():
        assert csp_of(response) == SELF_ONLY, name


@pytest.fixture()
async def client_with(clean_bookings, monkeypatch):
    """A client for an app started with some settings changed."""
    from contextlib import asynccontextmanager

    from litestar.testing import AsyncTestClient

    from portal.app import create_app
    from portal.settings import load

    @asynccontextmanager
    async def make(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        load.cache_clear()
        async with AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000") as test_client:
            yield test_client

    try:
        yield make
    finally:
        monkeypatch.undo()
        load.cache_clear()


async def test_configured_landing_origins_are_the_ones_allowed(client_with):
    async with client_with(PORTAL_VIPPS_LANDING_ORIGINS="https://pay.vipps.no  HTTPS://Pay-MT.vipps.no/") as client:
        checkout = await client.get(await hold(client))
        front = await client.get("/")
    assert csp_of(checkout) == policy("'self' https://pay.vipps.no https://pay-mt.vipps.no")
    assert csp_of(front) == SELF_ONLY


async def test_the_vipps_backend_allows_vipps_landing_pages_by_default(client_with):
    # The page is rendered without asking Vipps anything: no keys needed here.
    async with client_with(PORTAL_VIPPS_BACKEND="vipps") as client:
        checkout = await client.get(await hold(client))
        front = await client.get("/")
    assert checkout.status_code == 200
    assert csp_of(checkout) == policy("'self' https://pay.vipps.no https://landing.vipps.no https://pay-mt.vipps.no")
    assert csp_of(front) == SELF_ONLY


async def test_the_dev_vipps_on_the_apps_own_origin_adds_nothing(client_with, monkeypatch):
    monkeypatch.delenv("PORTAL_VIPPS_BASE_URL")
    async with client_with() as client:
        checkout = await client.get(await hold(client))
    assert checkout.status_code == 200
    assert csp_of(checkout) == SELF_ONLY

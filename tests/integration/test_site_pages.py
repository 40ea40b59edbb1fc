"""The portal's own pages (terms of use, privacy notice, cookies,
accessibility statement), the operator's identity in every footer, and
no cookie the cookie page does not list (L29, L34, L35)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from portal.legal.terms import TERMS
from portal.orders import service as orders
from portal.settings import load as load_settings
from portal.site.cookies import cookies
from tests.integration.helpers import confirm_with_code, first_free_slot
from tests.integration.staff import staff_login

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
SITE_PAGES = ("/vilkar", "/personvern", "/informasjonskapsler", "/tilgjengelighet")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def footer_of(html: str) -> str:
    assert "<footer" in html, "page has no footer"
    return html.split("<footer", 1)[1]


@pytest.mark.legal("L34")
@pytest.mark.legal("L35")
async def test_every_page_names_the_operator_and_links_its_own_pages_in_both_languages(client):
    op = load_settings().operator
    for path in ("/", HAIRCUT, "/mine", "/kontor/logg-inn", "/finnes-ikke", *SITE_PAGES):
        response = await client.get(path)
        assert response.status_code in (200, 404), path
        footer = footer_of(response.text)
        words = text_of(footer)
        assert op.name in words and "923 456 783" in words and op.address in words, path
        assert f'href="mailto:{op.email}"' in footer, path
        for link in SITE_PAGES:
            assert f'href="{link}"' in footer, (path, link)

    terms = text_of((await client.get("/vilkar")).text)
    assert "Brukervilkår" in terms and f"Versjon {TERMS.number}" in terms and "7. desember 2026" in terms
    privacy = text_of((await client.get("/personvern")).text)
    for needed in (f"{op.name} (organisasjonsnummer 923 456 783", "Twilio", "SMTP", "Vipps MobilePay", "Datatilsynet", "5 år", "dataportabilitet"):
        assert needed in privacy, needed
    statement = (await client.get("/tilgjengelighet")).text
    assert f'href="mailto:{op.email}?subject=' in statement and "WCAG 2.1" in statement

    client.cookies.set("lang", "en")
    english = (await client.get("/vilkar")).text
    assert "Terms of use" in text_of(english) and "The portal is run by" in text_of(footer_of(english))
    assert "Datatilsynet (the Norwegian Data Protection Authority)" in text_of((await client.get("/personvern")).text)


@pytest.mark.legal("L29")
@pytest.mark.legal("L34")
async def test_a_whole_journey_sets_only_the_cookies_the_cookie_page_lists(client):
    listed = {c.name: c for c in cookies()}
    seen: dict[str, list[str]] = {}

    async def note_cookies(response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name = header.split("=", 1)[0].strip()
            seen.setdefault(name, []).append(header)

    client.event_hooks["response"].append(note_cookies)
    page = (await client.get("/informasjonskapsler")).text
    for name in listed:
        assert f"<code>{name}</code>" in page, f"{name} not on the cookie page"
    # Browse, in both languages.
    await client.get("/")
    await client.get("/language/en?next=/", follow_redirects=True)
    await client.get("/language/nb?next=/", follow_redirects=True)
    await client.get("/s/saks-og-stil-grunerlokka")
    # Hold a time, check out (with "remember this device"), see the booking.
    start, token = await first_free_slot(client, HAIRCUT)
    held = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303
    checkout_token = held.headers["location"].rsplit("/", 1)[1]
    shown = text_of((await client.get(f"/checkout/{checkout_token}")).text)
    assert f"Bruken av portalen følger brukervilkårene, versjon {TERMS.number} av 7. desember 2026." in shown
    done = await confirm_with_code(client, f"/checkout/{checkout_token}", {"remember_device": "on"}, follow_redirects=True)
    assert done.status_code == 200
    await client.get("/mine")
    # The back office: log in, look at the day.
    await staff_login(client, "saks-og-stil-grunerlokka")
    assert (await client.get("/kontor/saks-og-stil-grunerlokka")).status_code == 200
    await client.get("/kontor/saks-og-stil-grunerlokka/kalender")

    unlisted = set(seen) - set(listed)
    assert not unlisted, f"cookies set but not on the cookie page: {sorted(unlisted)}"
    assert {"csrftoken", "lang", "pv", "pd", "pk"} <= set(seen), sorted(seen)
    for name, headers in seen.items():
        for header in headers:
            match = re.search(r"max-age=(\d+)", header, re.I)
            if match and int(match.group(1)) > 0:
                assert int(match.group(1)) == listed[name].seconds, header
            assert "httponly" in header.lower(), header

    # The version of the terms of use the customer accepted is stored with the order's consents.
    order = await orders.by_checkout_token(checkout_token)
    accepted = order["consents"]["accept_terms"]
    assert accepted["terms_version"] == TERMS.number and accepted["terms_date"] == TERMS.published.isoformat() and accepted["text"]

"""The owner's settings over HTTP: the profile (with the trader information
the public page shows), offerings created, edited, archived and restored,
the version check against a stale second tab, and the roles (only owners).

Each test gets a supplier of its own (listed while the test runs, unlisted
after), so the demo catalogue other tests read stays as seeded."""

from __future__ import annotations

import re
import secrets
from datetime import time
from html import unescape

import pytest
from stdnum.no import orgnr

from portal.audit import service as audit
from portal.catalogue.tables import HoursRule, Offering, OfferingResource, Resource, Supplier
from portal.lib import clock
from portal.orders import service as orders
from tests.integration.helpers import csrf, slots
from tests.integration.staff import staff_login
from tests.integration.test_backoffice import book


def says(html: str, text: str) -> bool:
    return text in unescape(html)


def free_org_number() -> str:
    return next(n for n in (f"9{secrets.randbelow(10**8):08d}" for _ in range(1000)) if orgnr.is_valid(n))


def version_in(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


@pytest.fixture()
async def shop(clean_bookings):
    """A listed hair salon with two people who work every day 08–20."""
    slug = f"klippestua-{secrets.token_hex(3)}"
    rows = await Supplier.insert(
        Supplier(
            slug=slug,
            name="Klippestua",
            legal_name="Klippestua AS",
            org_number=free_org_number(),
            company_form="AS",
            vat_registered=True,
            category="hair",
            street="Bogstadveien 1",
            postcode="0355",
            town="Oslo",
            phone="+4722334455",
            email="post@klippestua.example.no",
            payment_methods=["onsite"],
            active=True,
            created_at=clock.now(),
        )  # fmt: skip
    ).returning(Supplier.id)
    supplier_id = rows[0]["id"]
    people = []
    for name in ("Kari Klipp", "Per Føn"):
        made = await Resource.insert(Resource(supplier=supplier_id, name=name, title="Frisør")).returning(Resource.id)
        people.append(made[0]["id"])
        await HoursRule.insert(*[HoursRule(resource=made[0]["id"], weekday=d, start=time(8), end=time(20)) for d in range(7)])
    yield {"id": supplier_id, "slug": slug, "people": people}
    await Supplier.update({Supplier.active: False}).where(Supplier.id == supplier_id)


PROFILE = {
    "name": "Klippestua Majorstuen", "legal_name": "Klippestua Majorstuen AS", "company_form": "AS", "vat_registered": "on",
    "street": "Bogstadveien 2", "postcode": "0355", "town": "Oslo", "phone": "22 33 44 66", "email": "hei@klippestua.example.no",
    "description": "Frisør på Majorstuen.", "terms": "Avbestill senest dagen før.", "payment_methods": ["onsite", "vipps"], "certified": "on",
}  # fmt: skip

APPOINTMENT = {
    "title": "Klipp og føn", "description": "Vask, klipp og føn.", "price": "450", "vat_category": "general", "duration": "45",
    "buffer_before": "0", "buffer_after": "15", "step": "15", "deposit_kind": "none", "cancel_free_hours": "24",
    "cancel_fee_kind": "percent", "cancel_fee_percent": "50", "withdrawal_class": "standard", "reminder_hours": "24",
    "place": "address", "min_notice": "60", "max_advance_days": "30",
}  # fmt: skip


async def open_form(client, path: str) -> tuple[str, str]:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:300]
    return page.text, csrf(page.text)


async def test_the_owner_edits_the_profile_bad_input_changes_nothing_and_the_public_page_shows_the_trader(client, shop):
    slug = shop["slug"]
    await staff_login(client, slug)
    home = await client.get(f"/kontor/{slug}/innstillinger")
    assert home.status_code == 200
    for part in ("profil", "tilbud", "timer", "ansatte"):
        assert f'href="/kontor/{slug}/innstillinger/{part}"' in home.text, part
    assert f'class="nav-link" href="/kontor/{slug}/innstillinger"' in home.text
    assert says(home.text, "ikke fullstendig")  # no self-certification yet

    path = f"/kontor/{slug}/innstillinger/profil"
    html, token = await open_form(client, path)
    number = free_org_number()
    since = await audit.last_id()
    before = await Supplier.select().where(Supplier.id == shop["id"]).first()
    bad = await client.post(
        path,
        data={
            **PROFILE,
            "org_number": number[:-1] + str((int(number[-1]) + 1) % 10),
            "phone": "12",
            "version": version_in(html),
            "_csrf_token": token,
        },
    )
    assert bad.status_code == 422
    assert 'id="org_number-error"' in bad.text and 'id="phone-error"' in bad.text and 'id="name-error"' not in bad.text
    assert says(bad.text, "Dette er ikke et gyldig organisasjonsnummer") and says(
        bad.text, "Dette er ikke et gyldig telefonnummer"
    )
    assert 'value="Klippestua Majorstuen"' in bad.text  # what was typed is kept
    uncertified = {k: v for k, v in PROFILE.items() if k != "certified"}
    refused = await client.post(
        path, data={**uncertified, "org_number": number, "version": version_in(html), "_csrf_token": token}
    )
    assert refused.status_code == 422 and 'id="certified-error"' in refused.text
    assert await Supplier.select().where(Supplier.id == shop["id"]).first() == before
    assert await audit.entries(since_id=since) == []

    saved = await client.post(
        path,
        data={
            **PROFILE,
            "org_number": f"{number[:3]} {number[3:6]} {number[6:]}",
            "version": version_in(html),
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?lagret=1"
    row = await Supplier.select().where(Supplier.id == shop["id"]).output(load_json=True).first()
    assert (row["name"], row["org_number"], row["phone"], row["payment_methods"], row["version"]) == (
        "Klippestua Majorstuen",
        number,
        "+4722334466",
        ["onsite", "vipps"],
        1,
    )
    assert row["trader_certified_at"] is not None and row["terms"] == "Avbestill senest dagen før."
    (entry,) = await audit.entries(since_id=since, action="supplier.profile")
    assert (
        entry["before"]["phone"] == "+4722334455" and entry["after"]["phone"] == "+4722334466" and entry["actor_role"] == "owner"
    )
    assert "category" not in entry["after"]  # unchanged fields are not in the trail

    public = await client.get(f"/s/{slug}")
    assert public.status_code == 200
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    for text in ("Klippestua Majorstuen AS", "Bogstadveien 2", "+47 22 33 44 66", "hei@", "Foretaksregisteret", spaced, "EU"):
        assert says(public.text, text), text


async def test_an_owner_creates_an_offering_customers_book_then_edits_and_archives_it_and_the_orders_stay(client, shop):
    slug = shop["slug"]
    await staff_login(client, slug)
    since = await audit.last_id()
    new = f"/kontor/{slug}/innstillinger/tilbud/ny"
    _, token = await open_form(client, new)
    bad = await client.post(new, data={**APPOINTMENT, "price": "gratis", "duration": "7", "_csrf_token": token})
    assert bad.status_code == 422
    assert all(f'id="{name}-error"' in bad.text for name in ("price", "duration", "resources"))
    assert await Offering.count().where(Offering.supplier == shop["id"]) == 0

    made = await client.post(
        new, data={**APPOINTMENT, "resources": [str(shop["people"][0])], "_csrf_token": token}, follow_redirects=False
    )
    assert made.status_code == 303, made.text[:500]
    offering = await Offering.select().where(Offering.supplier == shop["id"]).first()
    assert (
        offering["slug"],
        offering["price_ore"],
        offering["duration_min"],
        offering["buffer_after_min"],
        offering["cancel_fee_percent"],
    ) == ("klipp-og-fon", 45000, 45, 15, 50)
    assert made.headers["location"] == f"/kontor/{slug}/innstillinger/tilbud/{offering['id']}?lagret=1"
    links = await OfferingResource.select(OfferingResource.resource).where(OfferingResource.offering == offering["id"])
    assert [link["resource"] for link in links] == [shop["people"][0]]
    again = await client.post(
        new, data={**APPOINTMENT, "resources": [str(p) for p in shop["people"]], "_csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 303
    assert {o["slug"] for o in await Offering.select(Offering.slug).where(Offering.supplier == shop["id"])} == {
        "klipp-og-fon",
        "klipp-og-fon-2",
    }

    public = f"/s/{slug}/klipp-og-fon"
    assert says((await client.get(f"/s/{slug}")).text, "Klipp og føn")
    assert slots((await client.get(public)).text)  # bookable at once
    order = await book(client, public)
    assert order["state"] == "confirmed"

    edit = f"/kontor/{slug}/innstillinger/tilbud/{offering['id']}"
    html, token = await open_form(client, edit)
    assert 'value="450"' in html and version_in(html) == "0"
    saved = await client.post(
        edit,
        data={
            **APPOINTMENT,
            "price": "500,50",
            "duration": "60",
            "resources": [str(shop["people"][0])],
            "version": "0",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    row = await Offering.select().where(Offering.id == offering["id"]).first()
    assert (row["price_ore"], row["duration_min"], row["version"], row["slug"]) == (50050, 60, 1, "klipp-og-fon")
    assert says((await client.get(f"/s/{slug}")).text, "500,50")

    archived = await client.post(f"{edit}/arkiver", data={"_csrf_token": token}, follow_redirects=False)
    assert archived.status_code == 303
    assert not says((await client.get(f"/s/{slug}")).text, "500,50")
    assert (await client.get(public)).status_code == 404
    assert (await orders.get(order["id"]))["state"] == "confirmed"  # the booking stays, and the desk still opens it
    assert (await client.get(f"/kontor/{slug}/ordre/{order['id']}")).status_code == 200
    listing = (await client.get(f"/kontor/{slug}/innstillinger/tilbud")).text
    assert f"/tilbud/{offering['id']}/gjenopprett" in listing and f"/tilbud/{offering['id']}/arkiver" not in listing
    restored = await client.post(f"{edit}/gjenopprett", data={"_csrf_token": token}, follow_redirects=False)
    assert restored.status_code == 303 and (await client.get(public)).status_code == 200
    actions = [
        e["action"]
        for e in await audit.entries(since_id=since)
        if e["subject"] == "offering" and e["subject_id"] == str(offering["id"])
    ]
    assert actions == ["offering.create", "offering.update", "offering.archive", "offering.restore"]


async def test_a_stale_form_from_a_second_tab_changes_nothing_and_shows_the_current_values(client, shop):
    slug = shop["slug"]
    await staff_login(client, slug)
    profile = f"/kontor/{slug}/innstillinger/profil"
    first, token = await open_form(client, profile)
    second, _ = await open_form(client, profile)
    number = (await Supplier.select(Supplier.org_number).where(Supplier.id == shop["id"]).first())["org_number"]
    ok = await client.post(
        profile,
        data={**PROFILE, "org_number": number, "version": version_in(first), "_csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    stale = await client.post(
        profile,
        data={**PROFILE, "name": "Gammel fane", "org_number": number, "version": version_in(second), "_csrf_token": token},
    )
    assert stale.status_code == 409 and says(stale.text, "Noen andre har endret")
    assert 'value="Klippestua Majorstuen"' in stale.text and version_in(stale.text) == "1"
    assert (await Supplier.select(Supplier.name, Supplier.version).where(Supplier.id == shop["id"]).first()) == {
        "name": "Klippestua Majorstuen",
        "version": 1,
    }

    made = await client.post(
        f"/kontor/{slug}/innstillinger/tilbud/ny",
        data={**APPOINTMENT, "resources": [str(shop["people"][0])], "_csrf_token": token},
        follow_redirects=False,
    )
    edit = made.headers["location"].split("?")[0]
    tab_a, _ = await open_form(client, edit)
    tab_b, _ = await open_form(client, edit)
    assert (
        await client.post(
            edit,
            data={
                **APPOINTMENT,
                "price": "600",
                "resources": [str(shop["people"][0])],
                "version": version_in(tab_a),
                "_csrf_token": token,
            },
            follow_redirects=False,
        )
    ).status_code == 303
    since = await audit.last_id()
    late = await client.post(
        edit,
        data={
            **APPOINTMENT,
            "price": "300",
            "resources": [str(p) for p in shop["people"]],
            "version": version_in(tab_b),
            "_csrf_token": token,
        },
    )
    assert late.status_code == 409 and 'value="600"' in late.text
    row = await Offering.select(Offering.price_ore, Offering.version, Offering.id).where(Offering.supplier == shop["id"]).first()
    assert (row["price_ore"], row["version"]) == (60000, 1)
    assert await OfferingResource.count().where(OfferingResource.offering == row["id"]) == 1
    assert await audit.entries(since_id=since) == []


async def test_only_owners_reach_the_settings_the_front_desk_and_staff_get_404(client, shop):
    slug = shop["slug"]
    await staff_login(client, slug)
    made = await client.post(
        f"/kontor/{slug}/innstillinger/tilbud/ny",
        data={
            **APPOINTMENT,
            "resources": [str(shop["people"][0])],
            "_csrf_token": csrf((await client.get(f"/kontor/{slug}/innstillinger/tilbud/ny")).text),
        },
        follow_redirects=False,
    )
    edit = made.headers["location"].split("?")[0]
    assert (await client.get(f"/kontor/{slug}/innstillinger/tilbud/99999999999999999999")).status_code == 404  # no such id at all
    paths = [
        f"/kontor/{slug}/innstillinger",
        f"/kontor/{slug}/innstillinger/profil",
        f"/kontor/{slug}/innstillinger/tilbud",
        f"/kontor/{slug}/innstillinger/tilbud/ny",
        edit,
    ]
    for role in ("front_desk", "staff"):
        await staff_login(client, slug, role)
        day = await client.get(f"/kontor/{slug}")
        assert day.status_code == 200 and "/innstillinger" not in day.text, role
        for path in paths:
            assert (await client.get(path)).status_code == 404, (role, path)
        token = csrf(day.text)
        for path in [paths[1], paths[3], edit, f"{edit}/arkiver", f"{edit}/gjenopprett"]:
            assert (
                await client.post(path, data={**PROFILE, **APPOINTMENT, "version": "0", "_csrf_token": token})
            ).status_code == 404, (role, path)
    row = await Offering.select(Offering.active, Offering.version, Offering.title).where(Offering.supplier == shop["id"]).first()
    assert row == {"active": True, "version": 0, "title": "Klipp og føn"}
    assert (await Supplier.select(Supplier.version).where(Supplier.id == shop["id"]).first())["version"] == 0

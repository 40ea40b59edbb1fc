"""The supplier's customers over HTTP: the list and its search, one customer
with their orders here only (L30), and the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from portal.audit import domain as actors
from portal.lib import clock
from portal.orders import service as orders
from portal.sales import settlement
from portal.web.render import phone_text
from tests.integration.staff import staff_login
from tests.integration.test_backoffice import MASSAGE, SALON, book, says

KARI = {"name": "Kari Nordmann", "phone": "412 34 567", "email": "kari@example.no"}
PER = {"name": "Per Ærlig Øvrebø", "phone": "413 45 678", "email": "per@example.no"}


def _owner(order: dict) -> actors.Actor:
    return actors.staff("tests", supplier_id=order["supplier"], role="owner")


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8").removeprefix("\ufeff"), newline=""), delimiter=";"))


async def test_the_desk_finds_a_customer_by_number_or_name_and_sees_their_bookings_here_with_notes_and_cancellations(client):
    first = await book(client, f"/s/{SALON}/herreklipp", **KARI)
    second = await book(client, f"/s/{SALON}/herreklipp", **KARI)
    per = await book(client, f"/s/{SALON}/herreklipp", **PER)
    elsewhere = await book(client, f"/s/{MASSAGE}/massasje-30", **KARI, note="Vondt i skulderen")
    assert first["customer"] == second["customer"] == elsewhere["customer"] != per["customer"]
    now = clock.now()
    await orders.add_note(_owner(first), first["id"], "Liker kaffe, svart", now)
    await orders.add_note(_owner(elsewhere), elsewhere["id"], "Hemmelig for salongen", now)
    await settlement.supplier_cancel(_owner(second), second["id"], now, reason="Syk")

    await staff_login(client, SALON, "front_desk")
    listing = await client.get(f"/kontor/{SALON}/kunder")
    assert listing.status_code == 200
    assert says(listing.text, "Kari Nordmann") and says(listing.text, "Per Ærlig Øvrebø") and f'href="/kontor/{SALON}/kunder"' in listing.text

    by_phone = await client.get(f"/kontor/{SALON}/kunder", params={"q": "413 45"})
    assert says(by_phone.text, "Per Ærlig Øvrebø") and not says(by_phone.text, "Kari Nordmann")
    by_name = await client.get(f"/kontor/{SALON}/kunder", params={"q": "ærlig"})
    assert says(by_name.text, "Per Ærlig Øvrebø") and not says(by_name.text, "Kari Nordmann")
    nobody = await client.get(f"/kontor/{SALON}/kunder", params={"q": "Ingen Slik"})
    assert nobody.status_code == 200 and not says(nobody.text, "Kari Nordmann") and not says(nobody.text, "Per Ærlig")
    # Typing filters with htmx: only the results come back, with the search in the address.
    live = await client.get(f"/kontor/{SALON}/kunder", params={"q": "kari"}, headers={"HX-Request": "true"})
    assert live.text.lstrip().startswith('<div id="results">') and says(live.text, "Kari Nordmann") and "<html" not in live.text

    page = await client.get(f"/kontor/{SALON}/kunder/{first['customer']}")
    assert page.status_code == 200
    for order in (first, second):
        assert f'href="/kontor/{SALON}/ordre/{order["id"]}"' in page.text and order["reference"] in page.text
    assert elsewhere["reference"] not in page.text and "Hemmelig for salongen" not in page.text and "Vondt i skulderen" not in page.text
    assert "Liker kaffe, svart" in page.text
    assert says(page.text, "Avbestilt av dere") and says(page.text, "Herreklipp")
    assert "<dt>Avbestillinger</dt><dd>1</dd>" in page.text and "<dt>Uteblitt</dt><dd>0</dd>" in page.text

    # Staff see only their own calendar: no customer list.
    await staff_login(client, SALON, "staff")
    assert (await client.get(f"/kontor/{SALON}/kunder")).status_code == 404
    assert (await client.get(f"/kontor/{SALON}/kunder/{first['customer']}")).status_code == 404
    assert (await client.get(f"/kontor/{SALON}/kunder.csv")).status_code == 404


@pytest.mark.legal("L30")
async def test_a_customer_who_has_not_booked_with_this_supplier_is_not_found_and_in_no_list_or_export(client):
    theirs = await book(client, f"/s/{MASSAGE}/massasje-30", name="Ola Fremmed", phone="91234567", email="ola@example.no")
    await book(client, f"/s/{SALON}/herreklipp", **KARI)
    await staff_login(client, SALON)
    assert (await client.get(f"/kontor/{SALON}/kunder/{theirs['customer']}")).status_code == 404
    assert (await client.get(f"/kontor/{SALON}/kunder/{theirs['customer'] + 1000}")).status_code == 404
    assert (await client.get(f"/kontor/{MASSAGE}/kunder/{theirs['customer']}")).status_code == 404
    day = clock.to_local(theirs["reservations"][0]["start"]).date()
    search = await client.get(f"/kontor/{SALON}/kunder", params={"q": "91234567"})
    assert says(search.text, "0 kunder passer til «91234567»") and "Fremmed" not in search.text and "ola@example.no" not in search.text
    for path, params in (
        (f"/kontor/{SALON}/kunder", {}),
        (f"/kontor/{SALON}/kunder.csv", {}),
        (f"/kontor/{SALON}/bestillinger.csv", {"fra": (day - timedelta(days=7)).isoformat(), "til": (day + timedelta(days=7)).isoformat()}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 200, path
        text = response.content.decode("utf-8")
        assert "Fremmed" not in text and "912 34 567" not in text and "91234567" not in text and "ola@example.no" not in text, path
    assert "Kari Nordmann" in (await client.get(f"/kontor/{SALON}/kunder.csv")).content.decode("utf-8")


async def test_the_exports_open_in_norwegian_excel_and_a_formula_for_a_name_stays_text(client):
    evil = await book(client, f"/s/{SALON}/herreklipp", name='=HYPERLINK("http://evil.example/";"Klikk")', phone="415 55 555", email="evil@example.no")
    await book(client, f"/s/{SALON}/herreklipp", **PER)
    await staff_login(client, SALON, "front_desk")

    customers = await client.get(f"/kontor/{SALON}/kunder.csv")
    assert customers.status_code == 200
    assert customers.headers["content-type"].startswith("text/csv") and customers.headers["cache-control"] == "private, no-store"
    assert customers.headers["content-disposition"].startswith(f'attachment; filename="kunder-{SALON}-')
    assert customers.content.startswith(b"\xef\xbb\xbf") and b"\r\n" in customers.content
    rows = _rows(customers.content)
    assert rows[0][:3] == ["Navn", "Mobil", "E-post"]
    names = {r[0]: r for r in rows[1:]}
    assert names["Per Ærlig Øvrebø"][1:4] == ["'" + phone_text("+4741345678"), "per@example.no", "1"]
    assert """'=HYPERLINK("http://evil.example/";"Klikk")""" in names

    day = clock.to_local(evil["reservations"][0]["start"]).date()
    bookings = await client.get(f"/kontor/{SALON}/bestillinger.csv", params={"fra": day.isoformat(), "til": day.isoformat()})
    assert bookings.status_code == 200 and bookings.content.startswith(b"\xef\xbb\xbf")
    assert bookings.headers["content-disposition"] == f'attachment; filename="bestillinger-{SALON}-{day.isoformat()}-{day.isoformat()}.csv"'
    rows = _rows(bookings.content)
    assert rows[0] == ["Referanse", "Dato", "Tid", "Tjeneste", "Ansatt", "Kunde", "Mobil", "E-post", "Status", "Pris (kr)", "Betalt (kr)", "Betaling"]
    mine = next(r for r in rows[1:] if r[0] == evil["reference"])
    start = clock.to_local(evil["reservations"][0]["start"])
    assert mine[1:3] == [day.isoformat(), start.strftime("%H:%M")]
    assert mine[5] == """'=HYPERLINK("http://evil.example/";"Klikk")""" and mine[6] == "'" + phone_text("+4741555555")
    assert mine[8:] == ["Bestilt", "549,00", "0,00", "På stedet"]

    # Bad dates re-render the form with a message at each field.
    bad = await client.get(f"/kontor/{SALON}/bestillinger.csv", params={"fra": "i morgen", "til": day.isoformat()})
    assert bad.status_code == 422 and 'id="fra-error"' in bad.text and says(bad.text, "Skriv inn en dato.")
    backwards = await client.get(f"/kontor/{SALON}/bestillinger.csv", params={"fra": day.isoformat(), "til": (day - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 422 and 'id="til-error"' in backwards.text

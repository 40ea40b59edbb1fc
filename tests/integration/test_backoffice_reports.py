"""The owner's reports over HTTP: a delivered Vipps booking in its month
with its VAT, its refund's credit note taking it out again, the chart as a
standalone SVG, the CSV, and nobody but the owner getting in.

Documents are never deleted, so earlier tests' receipts of the same salon
may be in the same months: the figures are compared before and after."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta

import time_machine

from portal.lib import clock
from portal.sales import settlement
from tests.integration.staff import staff_login
from tests.integration.test_backoffice import SALON, says
from tests.integration.test_payment_lifecycle import ACTOR as OWNER
from tests.integration.test_payment_lifecycle import book_with_vipps, drain


async def _month_row(client, year: int, month: int) -> dict[str, str]:
    """The report CSV's row of that month, by column name."""
    response = await client.get(f"/kontor/{SALON}/rapporter.csv", params={"aar": str(year)})
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8").removeprefix("\ufeff"), newline=""), delimiter=";"))
    assert len(rows) == 1 + 12 + 1  # header, the months, the total
    return dict(zip(rows[0], next(r for r in rows if r[0] == f"{year}-{month:02d}")))


def _ore(text: str) -> int:
    whole, _, frac = text.partition(",")
    return int(whole) * 100 + (int(frac) if not whole.startswith("-") else -int(frac))


def _delta(after: dict, before: dict, column: str) -> int:
    return _ore(after[column]) - _ore(before[column])


async def test_a_delivered_vipps_booking_counts_in_its_month_with_its_vat_and_its_refund_takes_it_out(client, vipps):
    booked = await book_with_vipps(client, vipps)  # a haircut, kr 549,00 at 25 %
    delivered_at = booked.start + timedelta(minutes=30)
    local = clock.to_local(delivered_at)
    await staff_login(client, SALON)
    before = await _month_row(client, local.year, local.month)

    with time_machine.travel(delivered_at, tick=False):
        await settlement.mark_delivered(OWNER, booked.order_id, clock.now())
        await drain()  # the capture, and its receipt
    delivered = await _month_row(client, local.year, local.month)
    assert _delta(delivered, before, "Salg inkl. mva. (kr)") == 549_00
    assert _delta(delivered, before, "Netto inkl. mva. (kr)") == 549_00
    assert _delta(delivered, before, "Grunnlag 25 % (kr)") == 439_20
    assert _delta(delivered, before, "Mva. 25 % (kr)") == 109_80
    assert _delta(delivered, before, "Mva. 12 % (kr)") == 0 and _delta(delivered, before, "Grunnlag 0 % (kr)") == 0
    assert _delta(delivered, before, "Vipps (kr)") == 549_00 and _delta(delivered, before, "Gavekort (kr)") == 0
    assert delivered["Bestillinger"] == "1" and delivered["Uteblitt"] == "0" and delivered["Andel uteblitt (%)"] == "0,00"
    page = await client.get(f"/kontor/{SALON}/rapporter", params={"aar": str(local.year)})
    assert page.status_code == 200 and f'src="/kontor/{SALON}/rapporter/diagram.svg?aar={local.year}"' in page.text
    assert says(page.text, "Stolpediagram over omsetning") and says(page.text, "Måned for måned")

    # The whole amount refunded an hour later: the credit note takes it out of its month.
    with time_machine.travel(delivered_at + timedelta(hours=1), tick=False):
        await settlement.refund(OWNER, booked.order_id, 549_00, clock.now())
        await drain()
    refunded = await _month_row(client, local.year, local.month)
    assert _delta(refunded, delivered, "Kreditnotaer (kr)") == 549_00
    assert _delta(refunded, delivered, "Salg inkl. mva. (kr)") == 0
    assert _delta(refunded, delivered, "Netto inkl. mva. (kr)") == -549_00
    assert _delta(refunded, delivered, "Mva. 25 % (kr)") == -109_80 and _delta(refunded, delivered, "Grunnlag 25 % (kr)") == -439_20
    assert _delta(refunded, delivered, "Vipps (kr)") == -549_00
    assert _delta(refunded, before, "Netto inkl. mva. (kr)") == 0 and _delta(refunded, before, "Mva. 25 % (kr)") == 0


async def test_the_chart_is_a_standalone_svg_without_script_and_only_the_owner_sees_reports(client):
    await staff_login(client, SALON)
    chart = await client.get(f"/kontor/{SALON}/rapporter/diagram.svg", params={"aar": "2026"})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.headers["cache-control"] == "private, no-store" and "script-src" not in chart.headers["content-security-policy"]
    root = ET.fromstring(chart.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert b"<script" not in chart.content.lower() and b"javascript:" not in chart.content.lower()
    assert not [a for e in root.iter() for a in e.attrib if a.lower().startswith("on")]  # no event handlers either
    assert "Omsetning per måned, 2026" in chart.content.decode("utf-8") and "des" in chart.content.decode("utf-8")
    page = await client.get(f"/kontor/{SALON}/rapporter")
    assert f'href="/kontor/{SALON}/rapporter"' in page.text and f'href="/kontor/{SALON}/kunder"' in page.text
    bad = await client.get(f"/kontor/{SALON}/rapporter", params={"aar": "tjue"})
    assert bad.status_code == 422 and says(bad.text, "Velg et år mellom 2000 og 2199.") and 'aria-describedby="aar-error"' in bad.text

    for role in ("front_desk", "staff"):
        await staff_login(client, SALON, role)
        for path in ("/rapporter", "/rapporter.csv", "/rapporter/diagram.svg"):
            assert (await client.get(f"/kontor/{SALON}{path}")).status_code == 404, (role, path)
        day = await client.get(f"/kontor/{SALON}")
        assert f'href="/kontor/{SALON}/rapporter"' not in day.text
        assert (f'href="/kontor/{SALON}/kunder"' in day.text) == (role == "front_desk")

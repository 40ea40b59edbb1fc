"""The operator's page: approve and suspend suppliers behind a login that
only operators pass; a suspension hides the supplier from customers at once
(the catalogue version, not a cache's time-to-live, decides)."""

from __future__ import annotations

from portal.audit.tables import AuditEntry
from portal.catalogue.tables import Supplier
from portal.identity.staff import service as staff
from portal.identity.staff.tables import StaffAccount
from portal.lib import clock
from tests.integration.helpers import csrf
from tests.integration.staff import PASSWORD, SYSTEM, log_in, staff_login
from tests.integration.test_backoffice import SALON, says

OPERATOR = "drift.test@example.no"


async def _operator_login(client) -> None:
    if not await StaffAccount.exists().where(StaffAccount.email == OPERATOR):
        await staff.create_account(SYSTEM, email=OPERATOR, name="Drift", password=PASSWORD, now=clock.now(), operator=True)
    client.cookies.pop("pk", None)
    assert (await log_in(client, OPERATOR)).status_code == 303


async def test_the_operator_suspends_and_approves_a_supplier_and_customers_see_it_at_once(client, monkeypatch):
    import dataclasses

    from portal import settings as settings_module
    from portal.catalogue import service as catalogue

    # The cache on, as in production: the suspension must still be seen by the next request.
    cached = dataclasses.replace(settings_module.load(), catalogue_cache_seconds=300)
    monkeypatch.setattr(catalogue, "load_settings", lambda: cached)
    assert (await client.get(f"/s/{SALON}/herreklipp")).status_code == 200
    await _operator_login(client)
    listing = await client.get("/kontor/drift", params={"q": "grünerløkka"})
    assert listing.status_code == 200 and f"/kontor/drift/{SALON}/steng" in listing.text
    confirm = await client.get(f"/kontor/drift/{SALON}/steng")
    assert confirm.status_code == 200 and says(confirm.text, "Saks & Stil")
    done = await client.post(f"/kontor/drift/{SALON}/steng", data={"_csrf_token": csrf(confirm.text)}, follow_redirects=False)
    assert done.status_code == 303
    try:
        assert not (await Supplier.select(Supplier.active).where(Supplier.slug == SALON).first())["active"]
        assert (await client.get(f"/s/{SALON}/herreklipp")).status_code == 404
        entry = await AuditEntry.select().where(AuditEntry.action == "supplier.suspend").order_by(AuditEntry.id, ascending=False).first()
        assert entry["actor_kind"] == "operator"
    finally:
        again = await client.get(f"/kontor/drift/{SALON}/godkjenn")
        await client.post(f"/kontor/drift/{SALON}/godkjenn", data={"_csrf_token": csrf(again.text)})
    assert (await client.get(f"/s/{SALON}/herreklipp")).status_code == 200
    # A made-up supplier or action is 404.
    assert (await client.get("/kontor/drift/finnes-ikke/steng")).status_code == 404
    assert (await client.get(f"/kontor/drift/{SALON}/slett")).status_code == 404


async def test_a_suppliers_owner_is_no_operator(client):
    await staff_login(client, SALON)
    assert (await client.get("/kontor/drift")).status_code == 404
    page = await client.get(f"/kontor/{SALON}")
    assert (await client.post(f"/kontor/drift/{SALON}/steng", data={"_csrf_token": csrf(page.text)})).status_code == 404
    assert (await Supplier.select(Supplier.active).where(Supplier.slug == SALON).first())["active"]

"""Logging a test client in to the back office as a staff member of a supplier."""

from __future__ import annotations

from portal.audit import domain as actors
from portal.catalogue.tables import Resource, Supplier
from portal.identity.staff import service as staff
from portal.identity.staff.domain import Role
from portal.identity.staff.tables import StaffAccount, StaffMembership
from portal.lib import clock
from tests.integration.helpers import csrf

PASSWORD = "et-langt-testpassord"
SYSTEM = actors.system("tests")


async def staff_account(supplier_slug: str, role: str = "owner", *, resource_id: int | None = None, email: str | None = None) -> dict:
    """An account with PASSWORD and a membership of the supplier in `role` (made once, then reused)."""
    supplier = await Supplier.select(Supplier.id).where(Supplier.slug == supplier_slug).first()
    assert supplier, supplier_slug
    if role == "staff" and resource_id is None:
        first = await Resource.select(Resource.id).where(Resource.supplier == supplier["id"]).order_by(Resource.id).first()
        resource_id = first["id"]
    email = email or f"{role}.{resource_id or 0}@{supplier_slug}.test"
    account = await StaffAccount.select(StaffAccount.id).where(StaffAccount.email == email).first()
    now = clock.now()
    if account is None:
        account_id = await staff.create_account(SYSTEM, email=email, name=f"{role.title()} {supplier_slug}", password=PASSWORD, now=now)
    else:
        account_id = account["id"]
    if not await StaffMembership.exists().where((StaffMembership.account == account_id) & (StaffMembership.supplier == supplier["id"])):
        await staff.add_membership(SYSTEM, account_id=account_id, supplier_id=supplier["id"], role=Role(role), resource_id=resource_id, now=now)
    return {"id": account_id, "email": email, "supplier_id": supplier["id"], "resource_id": resource_id}


async def log_in(client, email: str, password: str = PASSWORD):
    page = await client.get("/kontor/logg-inn")
    return await client.post("/kontor/logg-inn", data={"email": email, "password": password, "_csrf_token": csrf(page.text)}, follow_redirects=False)


async def staff_login(client, supplier_slug: str, role: str = "owner", **kw) -> dict:
    """Log `client` in (replacing any staff session it had) and return the account."""
    account = await staff_account(supplier_slug, role, **kw)
    client.cookies.pop("pk", None)
    done = await log_in(client, account["email"])
    assert done.status_code == 303, done.text[:500]
    return account


async def slug_of(supplier_id: int) -> str:
    return (await Supplier.select(Supplier.slug).where(Supplier.id == supplier_id).first())["slug"]


async def backoffice_action(client, order_id: int, action: str, **fields: str):
    """As the order's supplier's owner: open the action's confirm page, then send it."""
    from portal.orders.tables import Order

    order = await Order.select(Order.supplier).where(Order.id == order_id).first()
    slug = await slug_of(order["supplier"])
    await staff_login(client, slug)
    page = await client.get(f"/kontor/{slug}/ordre/{order_id}/{action}")
    assert page.status_code == 200, page.text[:300]
    request_id = page.text.split('name="request_id" value="', 1)[1].split('"', 1)[0]
    return await client.post(
        f"/kontor/{slug}/ordre/{order_id}/{action}", data={"_csrf_token": csrf(page.text), "request_id": request_id, **fields}, follow_redirects=False
    )

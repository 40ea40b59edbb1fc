"""The team in the back office over HTTP: the owner sees who works here,
invites someone (the link goes through the outbox), adds a calendar,
changes a member's role and calendar, removes a member once their calendar
has no bookings ahead, and can never remove or demote the last owner; the
front desk and staff never get in, and another supplier's ids are 404."""

from __future__ import annotations

import re

from portal.audit import domain as actors
from portal.audit import service as audit
from portal.catalogue.tables import Resource, Supplier
from portal.identity.staff import roster, team
from portal.identity.staff.tables import StaffAccount, StaffMembership
from portal.lib import clock
from portal.lib.i18n import translations
from portal.outbox.tables import OutboxMessage
from portal.sales import settlement
from tests.integration.helpers import csrf
from tests.integration.staff import log_in, staff_account, staff_login
from tests.integration.test_backoffice_hours import MASSAGE, book_at, says, shop  # noqa: F401 - the fixture

NB = translations("nb")


async def open_team(client, slug: str) -> tuple[str, str]:
    page = await client.get(f"/kontor/{slug}/innstillinger/ansatte")
    assert page.status_code == 200, page.text[:300]
    return page.text, csrf(page.text)


async def membership(account_id: int, supplier_id: int) -> dict | None:
    return await StaffMembership.select(StaffMembership.role, StaffMembership.resource).where(
        (StaffMembership.account == account_id) & (StaffMembership.supplier == supplier_id)
    ).first()


async def add_calendar(client, slug: str, token: str, name: str) -> int:
    made = await client.post(f"/kontor/{slug}/innstillinger/ansatte/kalender", data={"name": name, "title": "Frisør", "_csrf_token": token}, follow_redirects=False)
    assert made.status_code == 303
    return int(re.search(r"ressurs=(\d+)$", made.headers["location"]).group(1))


async def invite(client, slug: str, token: str, **fields: str):
    return await client.post(f"/kontor/{slug}/innstillinger/ansatte/inviter", data={"_csrf_token": token, **fields}, follow_redirects=False)


async def test_the_owner_adds_a_calendar_and_invites_someone_whose_link_goes_out_by_email(client, shop):
    slug = shop["slug"]
    owner = await staff_login(client, slug)
    html, token = await open_team(client, slug)
    for text in (owner["email"], NB.gettext("Owner"), NB.gettext("Second factor"), NB.gettext("off")):
        assert says(html, text), text
    since = await audit.last_id()

    empty = await client.post(f"/kontor/{slug}/innstillinger/ansatte/kalender", data={"name": " ", "_csrf_token": token})
    assert empty.status_code == 422 and 'id="name-error"' in empty.text
    bo = await add_calendar(client, slug, token, "Bo")
    assert (await Resource.select(Resource.supplier, Resource.name).where(Resource.id == bo).first()) == {"supplier": shop["id"], "name": "Bo"}
    assert (await client.get(f"/kontor/{slug}/innstillinger/timer", params={"ressurs": bo})).status_code == 200

    bad = await invite(client, slug, token, email="nina@", name="", role="boss", resource="")
    assert bad.status_code == 422
    for field, message in (("email", roster.BAD_EMAIL), ("name", roster.NAME_REQUIRED), ("role", roster.BAD_ROLE)):
        assert f'id="{field}-error"' in bad.text and says(bad.text, NB.gettext(message)), field
    email = f"nina.{slug}@example.no"
    sent = await invite(client, slug, token, email=email.upper(), name="Nina Nilsen", role="staff", resource=str(bo))
    assert sent.status_code == 303 and sent.headers["location"].endswith("?ok=invitert")
    account = await StaffAccount.select(StaffAccount.id, StaffAccount.name, StaffAccount.password_hash).where(StaffAccount.email == email).first()
    assert account["name"] == "Nina Nilsen" and account["password_hash"] == ""
    assert await membership(account["id"], shop["id"]) == {"role": "staff", "resource": bo}
    message = await OutboxMessage.select(OutboxMessage.topic, OutboxMessage.payload).output(load_json=True).where(OutboxMessage.recipient == email).first()
    assert message["topic"] == "staff_invite"
    link = re.search(r"/kontor/lenke/([\w-]+)", message["payload"]["text"]).group(1)

    html, token = await open_team(client, slug)
    assert says(html, "Nina Nilsen") and says(html, NB.gettext("not taken up yet"))
    again = await invite(client, slug, token, email=email, name="Nina", role="staff", resource="")
    assert again.status_code == 422 and says(again.text, NB.gettext("That person is on the team already."))
    taken = await invite(client, slug, token, email=f"ola.{slug}@example.no", name="Ola", role="staff", resource=str(bo))
    assert taken.status_code == 422 and says(taken.text, NB.gettext(roster.CALENDAR_TAKEN))
    assert [e["action"] for e in await audit.entries(since_id=since)] == ["calendar.add", "staff.invite"]

    # Nina takes up the invitation and works on her own calendar.
    client.cookies.pop("pk", None)
    form = await client.get(f"/kontor/lenke/{link}")
    await client.post(f"/kontor/lenke/{link}", data={"password": "ninas-eget-passord", "repeat": "ninas-eget-passord", "_csrf_token": csrf(form.text)})
    assert (await log_in(client, email, "ninas-eget-passord")).status_code == 303
    assert (await client.get(f"/kontor/{slug}/uke")).status_code == 200
    assert (await client.get(f"/kontor/{slug}/innstillinger/ansatte")).status_code == 404


async def test_a_members_role_and_calendar_change_and_the_last_owner_is_never_demoted_or_removed(client, shop):
    slug = shop["slug"]
    owner = await staff_login(client, slug)
    member = await staff_account(slug, "staff", resource_id=shop["ada"])
    _, token = await open_team(client, slug)
    since = await audit.last_id()
    changed = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}", data={"role": "front_desk", "resource": "", "_csrf_token": token}, follow_redirects=False)
    assert changed.status_code == 303
    assert await membership(member["id"], shop["id"]) == {"role": "front_desk", "resource": None}
    (entry,) = await audit.entries(since_id=since, action="staff.change_member")
    assert entry["before"] == {"role": "staff", "resource": shop["ada"]} and entry["after"] == {"role": "front_desk", "resource": None}

    last = NB.gettext(team.PROBLEM_TEXT[team.TeamProblem.LAST_OWNER])
    demote = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{owner['id']}", data={"role": "staff", "resource": "", "_csrf_token": token})
    assert demote.status_code == 422 and says(demote.text, last) and f'id="m{owner["id"]}-error"' in demote.text
    remove = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{owner['id']}/fjern", data={"_csrf_token": token})
    assert remove.status_code == 409 and says(remove.text, last)
    assert await membership(owner["id"], shop["id"]) == {"role": "owner", "resource": None}
    # With a second owner the first may step down (and is then no longer let into the team page).
    await client.post(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}", data={"role": "owner", "resource": "", "_csrf_token": token})
    stepped = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{owner['id']}", data={"role": "front_desk", "resource": str(shop["ada"]), "_csrf_token": token}, follow_redirects=False)
    assert stepped.status_code == 303 and stepped.headers["location"] == f"/kontor/{slug}"
    assert await membership(owner["id"], shop["id"]) == {"role": "front_desk", "resource": shop["ada"]}
    assert (await client.get(f"/kontor/{slug}/innstillinger/ansatte")).status_code == 404


async def test_a_member_is_removed_only_once_their_calendar_has_no_bookings_ahead(client, shop):
    slug = shop["slug"]
    order = await book_at(client, shop, 11)
    member = await staff_account(slug, "staff", resource_id=shop["ada"], email=f"ada.{slug}@example.no")
    await staff_login(client, slug)
    confirm = await client.get(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}/fjern")
    assert confirm.status_code == 200 and says(confirm.text, order["reference"])
    _, token = await open_team(client, slug)
    since = await audit.last_id()
    refused = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}/fjern", data={"_csrf_token": token})
    assert refused.status_code == 409
    for text in (order["reference"], "Kari Nordmann", "Klipp", NB.gettext(team.PROBLEM_TEXT[team.TeamProblem.HAS_BOOKINGS])):
        assert says(refused.text, text), text
    assert f'href="/kontor/{slug}/ordre/{order["id"]}"' in refused.text
    assert await membership(member["id"], shop["id"]) is not None and await audit.entries(since_id=since) == []

    await settlement.supplier_cancel(actors.staff("t", supplier_id=shop["id"], role="owner"), order["id"], clock.now(), reason="Syk")
    confirm = await client.get(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}/fjern")
    assert not says(confirm.text, order["reference"])
    removed = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{member['id']}/fjern", data={"_csrf_token": csrf(confirm.text)}, follow_redirects=False)
    assert removed.status_code == 303
    assert await membership(member["id"], shop["id"]) is None
    assert await Resource.exists().where(Resource.id == shop["ada"])  # the calendar stays
    (entry,) = await audit.entries(since_id=since, action="staff.remove_member")
    assert entry["before"]["role"] == "staff" and entry["actor_role"] == "owner"
    client.cookies.pop("pk", None)
    assert (await log_in(client, member["email"])).status_code == 303  # the login still works …
    assert (await client.get(f"/kontor/{slug}")).status_code == 404  # … but not here


async def test_only_owners_reach_the_team_and_another_suppliers_people_and_calendars_are_404(client, shop):
    slug = shop["slug"]
    theirs = await staff_account(MASSAGE, "owner")
    massage_id = (await Supplier.select(Supplier.id).where(Supplier.slug == MASSAGE).first())["id"]
    their_calendar = (await Resource.select(Resource.id).where(Resource.supplier == massage_id).first())["id"]
    await staff_login(client, slug)
    _, token = await open_team(client, slug)
    for role in ("front_desk", "staff"):
        account = await staff_login(client, slug, role)
        assert (await client.get(f"/kontor/{slug}/innstillinger/ansatte")).status_code == 404, role
        for path in ("inviter", "kalender", str(account["id"]), f"{account['id']}/fjern"):
            sent = await client.post(f"/kontor/{slug}/innstillinger/ansatte/{path}", data={"_csrf_token": token, "name": "X", "email": "x@example.no", "role": "owner"})
            assert sent.status_code == 404, (role, path)
    assert (await membership((await staff_account(slug, "staff"))["id"], shop["id"]))["role"] == "staff"

    await staff_login(client, slug)
    probes = [
        ("get", f"/kontor/{MASSAGE}/innstillinger/ansatte", {}),
        ("get", f"/kontor/{slug}/innstillinger/ansatte/{theirs['id']}/fjern", {}),
        ("post", f"/kontor/{slug}/innstillinger/ansatte/{theirs['id']}/fjern", {}),
        ("post", f"/kontor/{slug}/innstillinger/ansatte/{theirs['id']}", {"role": "staff", "resource": ""}),
        ("post", f"/kontor/{slug}/innstillinger/ansatte/inviter", {"email": "x@example.no", "name": "X", "role": "staff", "resource": str(their_calendar)}),
    ]
    for method, path, form in probes:
        response = await (client.get(path) if method == "get" else client.post(path, data={"_csrf_token": token, **form}))
        assert response.status_code == 404, path
    assert await membership(theirs["id"], massage_id) == {"role": "owner", "resource": None}
    assert not await StaffAccount.exists().where(StaffAccount.email == "x@example.no")

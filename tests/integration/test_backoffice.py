"""The supplier's back office over HTTP: logins (password, TOTP, limits,
idle timeout, links), roles, the sealed tenants, the day and the booking's
actions. The browser journeys are in e2e/test_backoffice_journey.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import time_machine

from portal.app import create_app
from portal.identity.staff import service as staff
from portal.identity.staff.tables import StaffAccount, StaffSession
from portal.lib import clock
from portal.orders import service as orders
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot
from tests.integration.staff import PASSWORD, SYSTEM, log_in, staff_account, staff_login

SALON = "saks-og-stil-grunerlokka"
MASSAGE = "fjellro-massasje-bergen"


def says(html: str, text: str) -> bool:
    from html import unescape

    return text in unescape(html)


async def book(client, path: str, **customer) -> dict:
    """A confirmed booking paid on site, through the shop."""
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303
    checkout_token = held.headers["location"].rsplit("/", 1)[1]
    done = await confirm_with_code(client, f"/checkout/{checkout_token}", {**VALID_CUSTOMER, "means": "onsite", **customer})
    assert done.status_code == 303, done.text[:300]
    order = await orders.by_checkout_token(checkout_token)
    order["reservations"] = await _reservations(order["id"])
    return order


async def _reservations(order_id: int) -> list[dict]:
    from portal.kinds.appointment.tables import Reservation

    return await Reservation.select().where(Reservation.order == order_id)


# ---------------------------------------------------------------- logging in


async def test_a_wrong_password_says_so_without_saying_which_part(client):
    account = await staff_account(SALON)
    for email, password in ((account["email"], "feil-passord-her"), ("ingen@example.no", PASSWORD)):
        refused = await log_in(client, email, password)
        assert refused.status_code == 422
        assert says(refused.text, "E-postadressen eller passordet er feil.")
        assert "pk" not in refused.cookies
    empty = await client.post("/kontor/logg-inn", data={"email": "", "password": "", "_csrf_token": csrf((await client.get("/kontor/logg-inn")).text)})
    assert empty.status_code == 422 and says(empty.text, "Skriv inn e-postadressen din.") and says(empty.text, "Skriv inn passordet ditt.")


async def test_five_wrong_passwords_lock_the_account_for_a_while_even_with_the_right_one(client):
    account = await staff_account(SALON)
    for _ in range(5):
        assert (await log_in(client, account["email"], "feil-passord-her")).status_code == 422
    locked = await log_in(client, account["email"])  # the right password, too late
    assert locked.status_code == 429 and says(locked.text, "For mange mislykkede forsøk.")
    with time_machine.travel(clock.now() + timedelta(minutes=16), tick=False):
        assert (await log_in(client, account["email"])).status_code == 303


async def test_many_failures_from_one_address_lock_that_address_for_every_account(client):
    account = await staff_account(SALON)
    for n in range(20):
        await log_in(client, f"gjetter{n}@example.no", "feil-passord-her")
    assert (await log_in(client, account["email"])).status_code == 429


async def test_a_session_ends_after_30_idle_minutes_and_pages_ask_for_the_login_again(client):
    await staff_login(client, SALON)
    assert (await client.get(f"/kontor/{SALON}")).status_code == 200
    with time_machine.travel(clock.now() + timedelta(minutes=31), tick=False):
        gone = await client.get(f"/kontor/{SALON}", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/kontor/logg-inn?neste=")


async def test_a_second_factor_is_asked_for_and_each_code_works_once(client):
    secret = pyotp.random_base32()
    account = await staff_account(SALON, email="totp.owner@example.no")
    await staff.create_account(SYSTEM, email=account["email"], name="Totp", password=PASSWORD, now=clock.now(), totp_secret=secret)
    done = await log_in(client, account["email"])
    assert done.status_code == 303 and done.headers["location"].startswith("/kontor/kode")
    # With the password only, the back office is closed.
    blocked = await client.get(f"/kontor/{SALON}", follow_redirects=False)
    assert blocked.status_code == 303 and blocked.headers["location"].startswith("/kontor/kode")
    page = await client.get("/kontor/kode")
    wrong = await client.post("/kontor/kode", data={"code": "000000", "_csrf_token": csrf(page.text)})
    assert wrong.status_code == 422 and says(wrong.text, "Koden er feil eller for gammel.")
    code = pyotp.TOTP(secret).now()
    ok = await client.post("/kontor/kode", data={"code": code, "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert ok.status_code == 303
    assert (await client.get(f"/kontor/{SALON}")).status_code == 200
    # The same code in a second login is refused (replay).
    client.cookies.pop("pk", None)
    await log_in(client, account["email"])
    page = await client.get("/kontor/kode")
    again = await client.post("/kontor/kode", data={"code": code, "_csrf_token": csrf(page.text)})
    assert again.status_code == 422


async def test_in_production_an_owner_must_set_up_a_second_factor_first(client, monkeypatch):
    monkeypatch.setattr(staff, "_production", lambda: True)
    account = await staff_account(SALON, email="new.owner@example.no")
    done = await log_in(client, account["email"])
    assert done.status_code == 303 and done.headers["location"].startswith("/kontor/kode")
    assert (await client.get("/kontor/kode", follow_redirects=False)).status_code == 200
    page = await client.get("/kontor/totp")
    assert page.status_code == 200 and 'src="data:image/svg+xml' in page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    confirmed = await client.post("/kontor/totp", data={"code": pyotp.TOTP(secret).now(), "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert confirmed.status_code == 303
    assert (await client.get(f"/kontor/{SALON}")).status_code == 200
    row = await StaffAccount.select(StaffAccount.totp_confirmed_at).where(StaffAccount.id == account["id"]).first()
    assert row["totp_confirmed_at"] is not None


async def test_logging_out_everywhere_ends_every_session_of_the_account(client):
    account = await staff_login(client, SALON)
    async with _second_client() as other:
        await staff_login(other, SALON)
        assert (await other.get(f"/kontor/{SALON}")).status_code == 200
        page = await client.get("/kontor")
        out = await client.post("/kontor/logg-ut-overalt", data={"_csrf_token": csrf(page.text)}, follow_redirects=False)
        assert out.status_code == 303
        assert (await other.get(f"/kontor/{SALON}", follow_redirects=False)).status_code == 303
    assert await StaffSession.count().where((StaffSession.account == account["id"]) & StaffSession.ended_at.is_null()) == 0


def _second_client():
    from litestar.testing import AsyncTestClient

    return AsyncTestClient(app=create_app(), base_url="http://127.0.0.1:8000")


async def _link_in_outbox(email: str) -> str:
    row = await OutboxMessage.select(OutboxMessage.payload).output(load_json=True).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id, ascending=False).first()
    assert row, email
    return re.search(r"/kontor/lenke/([\w-]+)", row["payload"]["text"]).group(1)


async def test_a_reset_link_sets_a_new_password_once_and_ends_the_old_sessions(client):
    account = await staff_login(client, SALON, email="reset.me@example.no")
    async with _second_client() as other:
        page = await other.get("/kontor/glemt")
        sent = await other.post("/kontor/glemt", data={"email": account["email"], "_csrf_token": csrf(page.text)})
        assert sent.status_code == 200 and says(sent.text, "er en lenke for å velge nytt passord på vei")
        # The same answer for an address nobody has.
        nobody = await other.post("/kontor/glemt", data={"email": "ingen@example.no", "_csrf_token": csrf(page.text)})
        assert says(nobody.text, "er en lenke for å velge nytt passord på vei")
        token = await _link_in_outbox(account["email"])
        form = await other.get(f"/kontor/lenke/{token}")
        assert form.status_code == 200
        short = await other.post(f"/kontor/lenke/{token}", data={"password": "kort", "repeat": "kort", "_csrf_token": csrf(form.text)})
        assert short.status_code == 422 and says(short.text, "Bruk minst 10 tegn.")
        differ = await other.post(f"/kontor/lenke/{token}", data={"password": "et-nytt-langt-passord", "repeat": "et-annet-passord", "_csrf_token": csrf(form.text)})
        assert differ.status_code == 422 and says(differ.text, "De to passordene er ikke like.")
        done = await other.post(f"/kontor/lenke/{token}", data={"password": "et-nytt-langt-passord", "repeat": "et-nytt-langt-passord", "_csrf_token": csrf(form.text)}, follow_redirects=False)
        assert done.status_code == 303
        assert (await other.get(f"/kontor/lenke/{token}")).status_code == 410  # used
    assert (await client.get(f"/kontor/{SALON}", follow_redirects=False)).status_code == 303  # the old session ended
    assert (await log_in(client, account["email"], "et-nytt-langt-passord")).status_code == 303
    await staff.create_account(SYSTEM, email=account["email"], name="Reset", password=PASSWORD, now=clock.now())  # as it was, for the next tests


async def test_an_invitation_link_lets_a_new_person_choose_a_password_and_log_in(client):
    from portal.catalogue.tables import Supplier
    from portal.identity.staff.domain import Role

    supplier = await Supplier.select(Supplier.id).where(Supplier.slug == SALON).first()
    email = f"invited.{clock.now().timestamp():.0f}@example.no"
    token, problem = await staff.invite(SYSTEM, supplier_id=supplier["id"], email=email, name="Nyansatt", role=Role.FRONT_DESK, resource_id=None, now=clock.now())
    assert problem is None and token == await _link_in_outbox(email)
    form = await client.get(f"/kontor/lenke/{token}")
    assert says(form.text, email)
    await client.post(f"/kontor/lenke/{token}", data={"password": "mitt-forste-passord", "repeat": "mitt-forste-passord", "_csrf_token": csrf(form.text)})
    assert (await log_in(client, email, "mitt-forste-passord")).status_code == 303
    assert (await client.get(f"/kontor/{SALON}")).status_code == 200


# ---------------------------------------------------------------- tenants and roles


BACKOFFICE_PATHS = (
    "/kontor/{slug}",
    "/kontor/{slug}/uke",
    "/kontor/{slug}/hvorfor",
    "/kontor/{slug}/ordre/{order_id}",
    "/kontor/{slug}/ordre/{order_id}/{action}",
    "/kontor/{slug}/dokument/{name}",
    "/kontor/{slug}/ny",
    "/kontor/{slug}/blokker",
    "/kontor/{slug}/blokker/{block_id}",
    "/kontor/{slug}/innstillinger",
    "/kontor/{slug}/innstillinger/profil",
    "/kontor/{slug}/innstillinger/tilbud",
    "/kontor/{slug}/innstillinger/tilbud/ny",
    "/kontor/{slug}/innstillinger/tilbud/{offering_id}",
    "/kontor/{slug}/innstillinger/tilbud/{offering_id}/{action}",
    "/kontor/{slug}/innstillinger/timer",
    "/kontor/{slug}/innstillinger/timer/uke",
    "/kontor/{slug}/innstillinger/timer/unntak",
    "/kontor/{slug}/innstillinger/timer/unntak/{exception_id}/fjern",
    "/kontor/{slug}/innstillinger/ansatte",
    "/kontor/{slug}/innstillinger/ansatte/inviter",
    "/kontor/{slug}/innstillinger/ansatte/kalender",
    "/kontor/{slug}/innstillinger/ansatte/{account_id}",
    "/kontor/{slug}/innstillinger/ansatte/{account_id}/fjern",
    "/kontor/{slug}/kunder",
    "/kontor/{slug}/kunder/{customer_id}",
    "/kontor/{slug}/kunder.csv",
    "/kontor/{slug}/bestillinger.csv",
    "/kontor/{slug}/rapporter",
    "/kontor/{slug}/rapporter.csv",
    "/kontor/{slug}/rapporter/diagram.svg",
    "/kontor/{slug}/kalender",
    "/kontor/{slug}/klager",
    "/kontor/{slug}/klager/{complaint_id}",
    "/kontor/{slug}/klager/{complaint_id}/bilde",
    "/kontor/{slug}/angring/{order_id}",
    "/kontor/{slug}/nyheter",
)


def test_the_sweep_knows_every_back_office_route():
    app = create_app()
    paths = {route.path for route in app.routes if route.path.startswith("/kontor/{slug")}
    normal = {re.sub(r":\w+}", "}", p) for p in paths}
    assert normal == set(BACKOFFICE_PATHS), normal


@pytest.mark.legal("L30")
async def test_a_supplier_sees_nothing_of_another_suppliers_bookings_customers_calendars_or_documents(client, vipps):
    """The tenant sweep: the salon's owner asks for the massage clinic's ids in every route, and gets 404 every time."""
    theirs = await book(client, f"/s/{MASSAGE}/massasje-30", name="Ola Fremmed", phone="91234567", email="ola@example.no")
    mine = await book(client, f"/s/{SALON}/herreklipp")
    from portal.audit import domain as actors
    from portal.documents.tables import Document
    from portal.sales import settlement
    from tests.integration.test_payment_lifecycle import book_with_vipps, drain

    # Another of theirs, paid with Vipps and delivered: it has a receipt.
    paid = await book_with_vipps(client, vipps, path=f"/s/{MASSAGE}/massasje-30")
    with time_machine.travel(paid.start + timedelta(minutes=40), tick=False):
        await settlement.mark_delivered(actors.staff("t", supplier_id=theirs["supplier"], role="owner"), paid.order_id, clock.now())
        await drain()  # the capture, and its receipt
    other_doc = await Document.select(Document.id).where(Document.order_id == paid.order_id).first()
    assert other_doc
    their_resource = theirs["reservations"][0]["resource"]
    from portal.catalogue.tables import Offering

    their_offering = await Offering.select().where(Offering.supplier == theirs["supplier"]).first()
    from portal.kinds.appointment import desk

    their_start = theirs["reservations"][0]["end"] + timedelta(hours=1)
    their_block = await desk.block_time(actors.staff("t", supplier_id=theirs["supplier"], role="owner"), theirs["supplier"], their_resource, their_start, their_start + timedelta(minutes=30), "Kurs", clock.now())
    from portal.catalogue.tables import DateException, HoursRule

    their_owner = await staff_account(MASSAGE, "owner")
    their_exception = (await DateException.select(DateException.id).where(DateException.resource.supplier.slug != SALON).first())["id"]
    their_hours = await HoursRule.count().where(HoursRule.resource == their_resource)
    from portal.complaints import images as complaint_images
    from portal.complaints import service as complaints
    from tests.integration.test_complaints import png

    their_complaint = await complaints.send(actors.customer(visitor="sweep"), theirs["id"], "Ola Fremmed klager", complaint_images.clean(png()), clock.now())
    await staff_login(client, SALON)
    probes = [
        f"/kontor/{MASSAGE}",
        f"/kontor/{MASSAGE}/uke",
        f"/kontor/{MASSAGE}/hvorfor",
        f"/kontor/{SALON}/uke?ressurs={their_resource}",
        f"/kontor/{SALON}?ressurs={their_resource}",
        f"/kontor/{SALON}/hvorfor?ressurs={their_resource}&tid=2030-01-01T10:00",
        f"/kontor/{SALON}/ordre/{theirs['id']}",
        f"/kontor/{MASSAGE}/ordre/{theirs['id']}",
        f"/kontor/{MASSAGE}/ordre/{mine['id']}",
        *(f"/kontor/{SALON}/ordre/{theirs['id']}/{a}" for a in ("delivered", "no_show", "cancel", "refund")),
        f"/kontor/{SALON}/ordre/{paid.order_id}",
        f"/kontor/{SALON}/dokument/{other_doc['id']}.pdf",
        f"/kontor/{MASSAGE}/dokument/{other_doc['id']}.pdf",
        f"/kontor/{MASSAGE}/ny",
        f"/kontor/{SALON}/ny?ressurs={their_resource}",
        f"/kontor/{MASSAGE}/blokker",
        f"/kontor/{SALON}/blokker?ressurs={their_resource}",
        f"/kontor/{SALON}/blokker/{their_block}",
        f"/kontor/{MASSAGE}/blokker/{their_block}",
        f"/kontor/{SALON}/ordre/{theirs['id']}/move",
        *(f"/kontor/{MASSAGE}/innstillinger{part}" for part in ("", "/profil", "/tilbud", "/tilbud/ny", f"/tilbud/{their_offering['id']}")),
        f"/kontor/{SALON}/innstillinger/tilbud/{their_offering['id']}",
        f"/kontor/{SALON}/kunder/{theirs['customer']}",
        f"/kontor/{MASSAGE}/innstillinger/timer",
        f"/kontor/{SALON}/innstillinger/timer?ressurs={their_resource}",
        f"/kontor/{MASSAGE}/innstillinger/ansatte",
        f"/kontor/{SALON}/innstillinger/ansatte/{their_owner['id']}/fjern",
        *(f"/kontor/{MASSAGE}/{part}" for part in ("kunder", f"kunder/{theirs['customer']}", "kunder.csv", "bestillinger.csv", "rapporter", "rapporter.csv", "rapporter/diagram.svg")),
        f"/kontor/{MASSAGE}/kalender",
        f"/kontor/{MASSAGE}/klager",
        *(f"/kontor/{slug}/klager/{their_complaint}{part}" for slug in (SALON, MASSAGE) for part in ("", "/bilde")),
        f"/kontor/{SALON}/angring/{theirs['id']}",
        f"/kontor/{MASSAGE}/angring/{theirs['id']}",
    ]
    for path in probes:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "Ola Fremmed" not in response.text and "91234567" not in response.text and "912 34 567" not in response.text, path
    page = await client.get(f"/kontor/{SALON}/ordre/{mine['id']}")
    assert page.status_code == 200
    for action in ("delivered", "no_show", "cancel", "refund", "note", "move"):
        sent = await client.post(f"/kontor/{SALON}/ordre/{theirs['id']}/{action}", data={"_csrf_token": csrf(page.text), "reason": "x", "amount": "1", "text": "x", "start": "2030-01-01T10:00:00+00:00", "ressurs": str(their_resource)})
        assert sent.status_code == 404, action
    for path, data in ((f"/kontor/{SALON}/ny", {"tilbud": "massasje-30", "ressurs": str(their_resource), "start": "2030-01-01T10:00:00+00:00", "name": "x", "phone": "41234567"}),
                       (f"/kontor/{SALON}/blokker", {"ressurs": str(their_resource), "dato": "2030-01-01", "fra": "10:00", "til": "11:00"}),
                       (f"/kontor/{SALON}/blokker/{their_block}", {}),
                       *((f"/kontor/{SALON}/klager/{their_complaint}", {"action": a, "answer": "Kapret"}) for a in ("answer", "close")),
                       (f"/kontor/{SALON}/angring/{theirs['id']}", {"action": "register", "received_at": "2030-01-01T10:00", "via": "email", "name": "x"})):
        sent = await client.post(path, data={"_csrf_token": csrf(page.text), **data})
        assert sent.status_code == 404, path
    for path in (f"/kontor/{SALON}/innstillinger/tilbud/{their_offering['id']}", *(f"/kontor/{SALON}/innstillinger/tilbud/{their_offering['id']}/{a}" for a in ("arkiver", "gjenopprett"))):
        sent = await client.post(path, data={"_csrf_token": csrf(page.text), "title": "Kapret", "version": str(their_offering["version"])})
        assert sent.status_code == 404, path
    assert (await Offering.select().where(Offering.id == their_offering["id"]).first()) == their_offering
    for path, data in ((f"/kontor/{SALON}/innstillinger/timer/uke", {"ressurs": str(their_resource), "version": "0", "o-0-0-start": "10:00", "o-0-0-end": "11:00"}),
                       (f"/kontor/{SALON}/innstillinger/timer/unntak", {"ressurs": str(their_resource), "version": "0", "day": "2030-01-01", "kind": "closed"}),
                       (f"/kontor/{SALON}/innstillinger/timer/unntak/{their_exception}/fjern", {"ressurs": str(their_resource), "version": "0"}),
                       (f"/kontor/{SALON}/innstillinger/ansatte/{their_owner['id']}", {"role": "staff", "resource": ""}),
                       (f"/kontor/{SALON}/innstillinger/ansatte/{their_owner['id']}/fjern", {}),
                       (f"/kontor/{SALON}/innstillinger/ansatte/inviter", {"email": "fremmed@example.no", "name": "x", "role": "staff", "resource": str(their_resource)}),
                       *((f"/kontor/{MASSAGE}/kalender", {"action": a, "scope": "supplier", "include_phone": "on", "wanted": "on"}) for a in ("create", "revoke", "phone", "agenda"))):
        sent = await client.post(path, data={"_csrf_token": csrf(page.text), **data})
        assert sent.status_code == 404, path
    assert await HoursRule.count().where(HoursRule.resource == their_resource) == their_hours and await DateException.exists().where(DateException.id == their_exception)
    from portal.identity.staff.tables import StaffMembership

    assert (await StaffMembership.select(StaffMembership.role).where((StaffMembership.account == their_owner["id"]) & (StaffMembership.supplier == theirs["supplier"])).first())["role"] == "owner"
    assert not await StaffAccount.exists().where(StaffAccount.email == "fremmed@example.no")
    from portal.calendarfeed.tables import CalendarFeed, StaffAgenda

    assert not await CalendarFeed.exists().where(CalendarFeed.supplier == theirs["supplier"]) and not await StaffAgenda.exists().where(StaffAgenda.supplier == theirs["supplier"])
    assert (await desk.block(their_block)) is not None
    assert (await orders.get(theirs["id"]))["state"] == "confirmed"
    assert (await complaints.get(their_complaint, theirs["supplier"]))["status"] == "new"
    assert "Ola Fremmed" not in (await client.get(f"/kontor/{SALON}/klager")).text
    # The service refuses too, whatever a handler might pass it.
    with pytest.raises(settlement.NotAllowed):
        await settlement.supplier_cancel(actors.staff("x", supplier_id=mine["supplier"], role="owner"), theirs["id"], clock.now(), reason="x")
    # The day shows the salon's own booking and none of theirs.
    day = await client.get(f"/kontor/{SALON}", params={"dato": clock.to_local(mine["reservations"][0]["start"]).date().isoformat()})
    assert "Kari Nordmann" in day.text and "Ola Fremmed" not in day.text


async def test_staff_see_only_their_own_calendar_and_bookings(client):
    first = await book(client, f"/s/{SALON}/herreklipp")
    own_resource = first["reservations"][0]["resource"]
    from portal.catalogue.tables import Resource

    other_resource = (await Resource.select(Resource.id).where((Resource.supplier == first["supplier"]) & (Resource.id != own_resource)).first())["id"]
    await staff_login(client, SALON, "staff", resource_id=own_resource, email="own.staff@example.no")
    day = await client.get(f"/kontor/{SALON}", params={"dato": clock.to_local(first["reservations"][0]["start"]).date().isoformat()})
    assert day.status_code == 200 and day.text.count('class="col-head') == 1
    assert (await client.get(f"/kontor/{SALON}/ordre/{first['id']}")).status_code == 200
    assert (await client.get(f"/kontor/{SALON}/ordre/{first['id']}/refund")).status_code == 404  # no money for staff
    assert (await client.get(f"/kontor/{SALON}/uke", params={"ressurs": other_resource})).status_code == 404
    # Someone else's booking at the same salon.
    await staff_login(client, SALON, "staff", resource_id=other_resource, email="other.staff@example.no")
    assert (await client.get(f"/kontor/{SALON}/ordre/{first['id']}")).status_code == 404


async def test_the_front_desk_sees_every_calendar(client):
    await staff_login(client, SALON, "front_desk")
    day = await client.get(f"/kontor/{SALON}")
    assert day.text.count('class="col-head') == 3


# ---------------------------------------------------------------- the day and a booking


async def test_the_day_shows_each_booking_at_its_time_and_the_booking_page_everything_about_it(client):
    order = await book(client, f"/s/{SALON}/herreklipp", note="Kort i nakken, takk")
    reservation = order["reservations"][0]
    await staff_login(client, SALON)
    local_day = clock.to_local(reservation["start"]).date()
    day = await client.get(f"/kontor/{SALON}", params={"dato": local_day.isoformat()})
    block = re.search(rf'<a class="booking state-confirmed gc-\d+ gr-(\d+) gs-(\d+)" href="/kontor/{SALON}/ordre/{order["id"]}">', day.text)
    assert block, day.text[:2000]
    # Its row is its start (15 minutes a row, counted from the hour's label), its span its length.
    start, end = clock.to_local(reservation["start"]), clock.to_local(reservation["end"])
    hour_row = int(re.search(rf'<div class="hour gc-1 gr-(\d+) gs-4" aria-hidden="true">{start.hour:02d}:00</div>', day.text).group(1))
    assert int(block.group(1)) == hour_row + start.minute // 15
    assert int(block.group(2)) == -(-int((end - start).total_seconds() // 60) // 15)
    assert clock.fmt_time(reservation["start"]) in day.text and "Kari Nordmann" in day.text
    fragment = await client.get(f"/kontor/{SALON}", params={"dato": local_day.isoformat()}, headers={"HX-Request": "true", "HX-Target": "calendar"})
    assert fragment.text.lstrip().startswith('<div id="calendar">')
    page = await client.get(f"/kontor/{SALON}/ordre/{order['id']}")
    for text in ("Kari Nordmann", "kari@example.no", "Kort i nakken, takk", "Herreklipp", order["reference"], "Merk som utført"):
        assert says(page.text, text), text
    # The trail and the message log in words, not codes.
    assert "order.confirm" not in page.text and "appointment.hold" not in page.text and "customer:" not in page.text
    assert says(page.text, "Tid holdt i kassen") and says(page.text, "bekreftelse")
    bad = await client.get(f"/kontor/{SALON}", params={"dato": "31.12"})
    assert bad.status_code == 200 and says(bad.text, "Det er ikke en dato. Viser i dag.")


async def test_cancelling_needs_a_reason_and_then_tells_the_customer(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    await staff_login(client, SALON)
    path = f"/kontor/{SALON}/ordre/{order['id']}/cancel"
    page = await client.get(path)
    missing = await client.post(path, data={"_csrf_token": csrf(page.text), "reason": "  "})
    assert missing.status_code == 422 and says(missing.text, "Si hvorfor, med noen få ord: kunden får beskjed.")
    assert (await orders.get(order["id"]))["state"] == "confirmed"
    done = await client.post(path, data={"_csrf_token": csrf(page.text), "reason": "Frisøren er syk"}, follow_redirects=False)
    assert done.status_code == 303
    assert (await orders.get(order["id"]))["state"] == "cancelled_by_supplier"
    topics = {r["topic"] for r in await OutboxMessage.select(OutboxMessage.topic).where(OutboxMessage.order_id == order["id"])}
    assert "cancellation" in topics
    trail = await client.get(f"/kontor/{SALON}/ordre/{order['id']}")
    assert says(trail.text, "«Frisøren er syk»")
    # Sent again (a second tab): the booking is not confirmed any more.
    again = await client.post(path, data={"_csrf_token": csrf(page.text), "reason": "igjen"})
    assert again.status_code == 422 and says(again.text, "Det går ikke for denne bestillingen nå.")


async def test_the_supplier_is_emailed_each_new_and_cancelled_booking_with_the_customers_message(client):
    from portal.catalogue.tables import Supplier

    supplier = await Supplier.select(Supplier.email).where(Supplier.slug == SALON).first()
    order = await book(client, f"/s/{SALON}/herreklipp", note="Kort på sidene, <takk> & lang på toppen")

    async def to_supplier(topic: str) -> list[dict]:
        return await OutboxMessage.select().output(load_json=True).where(
            (OutboxMessage.order_id == order["id"]) & (OutboxMessage.recipient == supplier["email"]) & (OutboxMessage.topic == topic)
        )

    (new,) = await to_supplier("confirmation")
    payload = new["payload"]
    assert payload["subject"].startswith(f"Ny bestilling {order['reference']}: Herreklipp")
    text = payload["text"]
    for shown in ("Kari Nordmann", "+47 41 23 45 67", "kari@example.no", "Kundens melding", "Kort på sidene, <takk> & lang på toppen", f"/kontor/{SALON}/ordre/{order['id']}"):
        assert shown in text, shown
    assert "&lt;takk&gt; &amp; lang" in payload["html"]  # the customer's text is escaped in the HTML part
    assert "ics" not in payload and new["language"] == "nb"
    # The customer's own confirmation is a separate message (to the customer's address).
    assert await OutboxMessage.count().where((OutboxMessage.order_id == order["id"]) & (OutboxMessage.recipient == "kari@example.no") & (OutboxMessage.topic == "confirmation")) == 1

    await staff_login(client, SALON)
    path = f"/kontor/{SALON}/ordre/{order['id']}/cancel"
    page = await client.get(path)
    await client.post(path, data={"_csrf_token": csrf(page.text), "reason": "Frisøren er syk"}, follow_redirects=False)
    (cancelled,) = await to_supplier("cancellation")
    assert cancelled["payload"]["subject"].startswith(f"Bestilling {order['reference']} avbestilt")
    assert "Tiden er ledig igjen." in cancelled["payload"]["text"]


async def test_a_refund_with_a_wrong_amount_says_so_and_changes_nothing(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    await staff_login(client, SALON)
    path = f"/kontor/{SALON}/ordre/{order['id']}/refund"
    page = await client.get(path)
    for amount in ("", "abc", "-5", "1,234"):
        sent = await client.post(path, data={"_csrf_token": csrf(page.text), "amount": amount, "request_id": "r1"})
        assert sent.status_code == 422 and says(sent.text, "Skriv et beløp i kroner"), amount


async def test_an_internal_note_is_kept_and_never_shown_to_the_customer(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    await staff_login(client, SALON)
    page = await client.get(f"/kontor/{SALON}/ordre/{order['id']}")
    empty = await client.post(f"/kontor/{SALON}/ordre/{order['id']}/note", data={"_csrf_token": csrf(page.text), "text": "   "})
    assert empty.status_code == 422 and says(empty.text, "Skriv notatet først.")
    added = await client.post(f"/kontor/{SALON}/ordre/{order['id']}/note", data={"_csrf_token": csrf(page.text), "text": "Allergisk mot parfyme"}, follow_redirects=False)
    assert added.status_code == 303
    assert says((await client.get(f"/kontor/{SALON}/ordre/{order['id']}")).text, "Allergisk mot parfyme")
    fresh = await orders.get(order["id"])
    customer_page = await client.get(f"/b/{fresh['manage_token']}")
    assert customer_page.status_code == 200 and "Allergisk mot parfyme" not in customer_page.text


async def test_why_names_the_booking_that_takes_a_time(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    reservation = order["reservations"][0]
    await staff_login(client, SALON)
    local = clock.to_local(reservation["start"]).strftime("%Y-%m-%dT%H:%M")
    page = await client.get(f"/kontor/{SALON}/hvorfor", params={"tilbud": "herreklipp", "ressurs": reservation["resource"], "tid": local})
    assert page.status_code == 200
    assert says(page.text, "Bestilt av Kari Nordmann") and f"/kontor/{SALON}/ordre/{order['id']}" in page.text

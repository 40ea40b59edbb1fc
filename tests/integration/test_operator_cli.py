"""The operator's commands, run as a newcomer runs them (`python -m portal.cli`
in a process of its own, on the test database): `portal supplier create |
approve | suspend` and `portal staff invite` for the first owner."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from portal.audit import service as audit
from portal.catalogue.tables import Supplier
from portal.identity.staff.tables import StaffAccount, StaffMembership
from portal.outbox.tables import OutboxMessage
from tests.conftest import ROOT
from tests.integration.helpers import csrf

GOOD = {
    "--name": "Klipp & Krøll",
    "--org-number": "974 760 673",
    "--email": "Post@Klipp-Kroll.example.no",
    "--phone": "55 12 34 56",
    "--street": "Strandgaten 1",
    "--postcode": "5013",
    "--town": "Bergen",
    "--category": "hair",
}
SLUG = "klipp-kroll-bergen"


def portal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portal.cli", *args], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=60)


def create(**changes: str) -> subprocess.CompletedProcess:
    fields = {**GOOD, **changes}
    return portal("supplier", "create", *[part for pair in fields.items() for part in pair])


@pytest.fixture()
async def no_test_supplier(clean_bookings):
    async def remove() -> None:
        ids = [r["id"] for r in await Supplier.select(Supplier.id).where(Supplier.slug.like(f"{SLUG}%"))]
        if ids:
            await StaffMembership.delete().where(StaffMembership.supplier.is_in(ids))
            await Supplier.delete().where(Supplier.id.is_in(ids))
        await StaffAccount.delete().where(StaffAccount.email.like("%@klipp-kroll.example.no"))

    await remove()
    yield
    await remove()


async def test_bad_input_names_every_wrong_field_in_bokmal_and_stores_nothing(no_test_supplier):
    before = await Supplier.count()
    done = create(**{"--org-number": "974760674", "--email": "post@", "--phone": "12", "--postcode": "501", "--street": " "})
    assert done.returncode == 2, done.stderr
    said = dict(line.split(": ", 1) for line in done.stderr.strip().splitlines())
    assert said == {
        "--email": "Dette er ikke en gyldig e-postadresse.",
        "--org-number": "Dette er ikke et gyldig organisasjonsnummer: ni sifre, det siste et kontrollsiffer.",
        "--phone": "Dette er ikke et gyldig telefonnummer.",
        "--postcode": "Et norsk postnummer har fire sifre.",
        "--street": "Skriv inn gateadressen.",
    }
    assert await Supplier.count() == before


async def test_a_new_supplier_is_stored_as_typed_cleanly_and_not_listed_until_approved(client, no_test_supplier):
    before = await audit.last_id()
    done = create()
    assert done.returncode == 0, done.stderr
    assert SLUG in done.stdout
    row = await Supplier.select().where(Supplier.slug == SLUG).first()
    assert (row["org_number"], row["phone"], row["email"], row["legal_name"], row["active"]) == (
        "974760673", "+4755123456", "Post@klipp-kroll.example.no", "Klipp & Krøll", False,
    )  # fmt: skip
    assert (await client.get(f"/s/{SLUG}")).status_code == 404

    again = create(**{"--name": "Klipp og Krøll"})
    assert again.returncode == 2 and "organisasjonsnummeret er registrert allerede" in again.stderr

    assert portal("supplier", "approve", SLUG).returncode == 0
    assert (await client.get(f"/s/{SLUG}")).status_code == 200
    assert portal("supplier", "suspend", SLUG).returncode == 0
    assert (await client.get(f"/s/{SLUG}")).status_code == 404
    assert portal("supplier", "approve", "no-such-supplier").returncode == 1

    entries = await audit.entries(since_id=before)
    assert [(e["action"], e["actor_kind"]) for e in entries] == [
        ("supplier.create", "operator"), ("supplier.approve", "operator"), ("supplier.suspend", "operator"),
    ]  # fmt: skip
    assert {e["supplier_id"] for e in entries} == {row["id"]}


async def test_the_first_owner_is_invited_by_email_and_can_choose_a_password(client, no_test_supplier):
    assert create().returncode == 0
    email = "eier@klipp-kroll.example.no"
    done = portal("staff", "invite", "--supplier", SLUG, "--email", "Eier@Klipp-Kroll.example.no", "--name", "Eva Eier", "--role", "owner")
    assert done.returncode == 0, done.stderr
    token = re.search(r"/kontor/lenke/([\w-]+)", done.stdout).group(1)
    queued = await OutboxMessage.select(OutboxMessage.payload).output(load_json=True).where(OutboxMessage.recipient == email).first()
    assert queued and token in queued["payload"]["text"]

    twice = portal("staff", "invite", "--supplier", SLUG, "--email", email, "--role", "owner")
    assert twice.returncode == 1 and "already works" in twice.stderr
    assert portal("staff", "invite", "--supplier", "no-such-supplier", "--email", email, "--role", "owner").returncode == 1
    assert portal("staff", "invite", "--supplier", SLUG, "--email", email, "--role", "owner", "--calendar", "Nobody").returncode == 1

    form = await client.get(f"/kontor/lenke/{token}")
    assert form.status_code == 200
    chosen = await client.post(
        f"/kontor/lenke/{token}", data={"password": "et-langt-nytt-passord", "repeat": "et-langt-nytt-passord", "_csrf_token": csrf(form.text)}, follow_redirects=False
    )
    assert chosen.status_code == 303
    account = await StaffAccount.select(StaffAccount.id).where(StaffAccount.email == email).first()
    (membership,) = await StaffMembership.select(StaffMembership.role, StaffMembership.supplier.slug).where(StaffMembership.account == account["id"])
    assert (membership["role"], membership["supplier.slug"]) == ("owner", SLUG)

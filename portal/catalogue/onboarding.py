"""The operator's side of the catalogue: register a supplier (not listed
until approved), approve it, suspend it. Use cases with an actor and an
audit entry; the checks are portal.catalogue.domain.check_supplier."""

from __future__ import annotations

from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import record, use_case
from portal.catalogue import service as catalogue
from portal.catalogue.domain import SupplierDraft, check_supplier, slug_for
from portal.catalogue.tables import Supplier
from portal.lib.i18n import N_


class SupplierRefused(Exception):
    """The draft has problems (field → msgid); nothing was stored."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(problems)))
        self.problems = problems


def _operator_only(actor: Actor) -> None:
    if actor.kind not in (ActorKind.OPERATOR, ActorKind.SYSTEM):
        raise PermissionError("only the portal's operator registers, approves and suspends suppliers")


async def _free_slug(base: str) -> str:
    slug, n = base, 1
    while await Supplier.exists().where(Supplier.slug == slug):
        n += 1
        slug = f"{base[:66]}-{n}"
    return slug


@use_case("supplier.create")
async def create(actor: Actor, draft: SupplierDraft, now: datetime) -> dict:
    """A new supplier, not listed (`active` false) until the operator approves
    it. Raises SupplierRefused with every problem; an organisation number
    already registered is one of them."""
    _operator_only(actor)
    checked, problems = check_supplier(draft)
    if not problems and await Supplier.exists().where(Supplier.org_number == checked.org_number):
        problems["org_number"] = N_("A supplier with this organisation number is registered already.")
    if problems:
        raise SupplierRefused(problems)
    slug = await _free_slug(slug_for(checked.name, checked.town))
    rows = await Supplier.insert(
        Supplier(
            slug=slug, name=checked.name, legal_name=checked.legal_name, org_number=checked.org_number,
            company_form=checked.company_form, vat_registered=checked.vat_registered, category=checked.category,
            street=checked.street, postcode=checked.postcode, town=checked.town, phone=checked.phone,
            email=checked.email, payment_methods=["onsite"], active=False, created_at=now,
        )  # fmt: skip
    ).returning(Supplier.id)
    supplier_id = rows[0]["id"]
    await record(actor, "supplier.create", now=now, supplier_id=supplier_id, subject="supplier", subject_id=supplier_id, after={"slug": slug, "org_number": checked.org_number})
    return {"id": supplier_id, "slug": slug, "name": checked.name}


async def _set_listed(actor: Actor, action: str, slug: str, listed: bool, now: datetime) -> dict | None:
    _operator_only(actor)
    row = await Supplier.select(Supplier.id, Supplier.slug, Supplier.name, Supplier.active).where(Supplier.slug == slug).first()
    if row is None:
        return None
    await Supplier.update({Supplier.active: listed}).where(Supplier.id == row["id"])
    await record(actor, action, now=now, supplier_id=row["id"], subject="supplier", subject_id=row["id"], before={"active": row["active"]}, after={"active": listed})
    await catalogue.changed()
    return {**row, "active": listed}


@use_case("supplier.approve")
async def approve(actor: Actor, slug: str, now: datetime) -> dict | None:
    """List the supplier: its page and offerings are shown and bookable. None: no such supplier."""
    return await _set_listed(actor, "supplier.approve", slug, True, now)


@use_case("supplier.suspend")
async def suspend(actor: Actor, slug: str, now: datetime) -> dict | None:
    """Take the supplier off the portal: not listed, not bookable; its orders,
    receipts and staff stay. None: no such supplier."""
    return await _set_listed(actor, "supplier.suspend", slug, False, now)

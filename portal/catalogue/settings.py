"""The owner's settings of a supplier: its profile and its offerings. Use
cases take the actor (an owner of the supplier: the supplier is the actor's),
write one audit entry with what was before and after, and bump the
catalogue version so every process sees the change at once.

A form carries the version it was opened at; an update is
`… WHERE id = :id AND version = :v` setting `version = v + 1`, so a stale
form from a second tab changes nothing (`Stale`). Offerings are never
deleted, only archived (`active` false): their orders keep pointing at them."""

from __future__ import annotations

from datetime import datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, use_case
from portal.catalogue import service as catalogue
from portal.catalogue.domain import fold, slug_for
from portal.catalogue.forms import OfferingBasics, OfferingDraft, ProfileForm
from portal.catalogue.tables import Offering, OfferingResource, Resource, Supplier
from portal.lib.i18n import N_


class NotAllowed(PermissionError):
    """The actor is not an owner of a supplier."""


class NotFound(LookupError):
    """No such offering at the actor's supplier (another supplier's is the same: not found)."""


class Stale(Exception):
    """Someone saved the thing since this form was opened: nothing was changed."""


class Refused(Exception):
    """Field → msgid for what the database knows is wrong; nothing was changed."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(problems)))
        self.problems = problems


def _supplier_of(actor: Actor) -> int:
    if actor.kind is not ActorKind.STAFF or actor.role != "owner" or actor.supplier_id is None:
        raise NotAllowed("only an owner changes the supplier's settings")
    return actor.supplier_id


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


# ---------------------------------------------------------------- the profile


@query
async def profile_of(supplier_id: int) -> dict | None:
    return await Supplier.select().where(Supplier.id == supplier_id).output(load_json=True).first()


@use_case("supplier.profile")
async def update_profile(actor: Actor, version: int, form: ProfileForm, now: datetime) -> dict:
    """Save the profile opened at `version`. Raises Stale when it has been
    saved since, Refused when the organisation number is another supplier's.
    The self-certification keeps the moment it was first given."""
    supplier_id = _supplier_of(actor)
    row = await profile_of(supplier_id)
    if row is None:
        raise NotAllowed("no such supplier")
    d = form.draft
    if await Supplier.exists().where((Supplier.org_number == d.org_number) & (Supplier.id != supplier_id)):
        raise Refused({"org_number": N_("A supplier with this organisation number is registered already.")})
    columns = {
        "name": d.name, "legal_name": d.legal_name, "org_number": d.org_number, "company_form": d.company_form,
        "vat_registered": d.vat_registered, "street": d.street, "postcode": d.postcode, "town": d.town,
        "phone": d.phone, "email": d.email, "description": d.description, "terms": d.terms,
        "payment_methods": list(d.payment_methods),
        "trader_certified_at": row["trader_certified_at"] or (now if form.certified else None),
    }  # fmt: skip
    updated = await (
        Supplier.update({**{getattr(Supplier, k): v for k, v in columns.items()}, Supplier.version: version + 1})
        .where((Supplier.id == supplier_id) & (Supplier.version == version))
        .returning(Supplier.id)
    )
    if not updated:
        raise Stale()
    before, after = _changes(row, columns)
    await record(
        actor,
        "supplier.profile",
        now=now,
        supplier_id=supplier_id,
        subject="supplier",
        subject_id=supplier_id,
        before=before,
        after=after,
    )
    await catalogue.changed()
    return {**row, **columns, "version": version + 1}


# ---------------------------------------------------------------- offerings


@query
async def offerings_of(supplier_id: int) -> list[dict]:
    """Every offering of the supplier, listed and archived."""
    return (
        await Offering.select()
        .where(Offering.supplier == supplier_id)
        .order_by(Offering.active, ascending=False)
        .order_by(Offering.position)
        .order_by(Offering.title)
    )


@query
async def offering_of(supplier_id: int, offering_id: int) -> dict | None:
    """One offering of this supplier with the ids of who performs it; None for anyone else's (or no id at all)."""
    if not 0 < offering_id < 2**31:
        return None
    row = await Offering.select().where((Offering.id == offering_id) & (Offering.supplier == supplier_id)).first()
    if row is None:
        return None
    links = await OfferingResource.select(OfferingResource.resource).where(OfferingResource.offering == offering_id)
    return {**row, "resources": sorted(link["resource"] for link in links)}


@query
async def resources_of(supplier_id: int) -> list[dict]:
    """The supplier's staff and rooms that can perform an offering."""
    return (
        await Resource.select(Resource.id, Resource.name, Resource.title)
        .where((Resource.supplier == supplier_id) & (Resource.active == True))  # noqa: E712
        .order_by(Resource.name)
    )


async def _check_resources(supplier_id: int, ids: tuple[int, ...]) -> None:
    own = {r["id"] for r in await resources_of(supplier_id)}
    if not ids or not set(ids) <= own:
        raise Refused({"resources": N_("Choose who performs it from the list.")})


async def _link(offering_id: int, ids: tuple[int, ...]) -> None:
    await OfferingResource.delete().where(OfferingResource.offering == offering_id)
    if ids:
        await OfferingResource.insert(*[OfferingResource(offering=offering_id, resource=rid) for rid in ids])


async def _free_slug(supplier_id: int, title: str) -> str:
    base = slug_for(title)
    if base == "leverandor" and "leverandor" not in fold(title):
        base = "tilbud"
    slug, n = base, 1
    while await Offering.exists().where((Offering.supplier == supplier_id) & (Offering.slug == slug)):
        n += 1
        slug = f"{base[:66]}-{n}"
    return slug


@use_case("offering.create")
async def create_offering(actor: Actor, draft: OfferingDraft, now: datetime) -> dict:
    """A new appointment offering, listed at once; its slug comes from the
    title and is unique at the supplier. Raises Refused for staff or rooms
    that are not the supplier's."""
    supplier_id = _supplier_of(actor)
    await _check_resources(supplier_id, draft.resources)
    slug = await _free_slug(supplier_id, draft.title)
    last = (
        await Offering.select(Offering.position)
        .where(Offering.supplier == supplier_id)
        .order_by(Offering.position, ascending=False)
        .first()
    )
    columns = {
        **draft.columns(),
        "slug": slug,
        "kind": "appointment",
        "capacity": 1,
        "position": (last["position"] + 1) if last else 0,
        "active": True,
    }
    rows = await Offering.insert(Offering(supplier=supplier_id, version=0, **columns)).returning(Offering.id)
    offering_id = rows[0]["id"]
    await _link(offering_id, draft.resources)
    await record(
        actor,
        "offering.create",
        now=now,
        supplier_id=supplier_id,
        subject="offering",
        subject_id=offering_id,
        after={**columns, "resources": list(draft.resources)},
    )
    await catalogue.changed()
    return {"id": offering_id, "slug": slug}


@use_case("offering.update")
async def update_offering(
    actor: Actor, offering_id: int, version: int, draft: OfferingDraft | OfferingBasics, now: datetime
) -> dict:
    """Save an offering opened at `version`: every field for an appointment
    (an OfferingDraft), title and description for other kinds (OfferingBasics).
    Its slug stays (links and gift cards name it). Raises NotFound, Stale, Refused."""
    supplier_id = _supplier_of(actor)
    row = await offering_of(supplier_id, offering_id)
    if row is None:
        raise NotFound()
    is_full = isinstance(draft, OfferingDraft)
    if is_full != (row["kind"] == "appointment"):
        raise Refused({"form": N_("This form does not fit this kind of offering.")})
    if is_full:
        await _check_resources(supplier_id, draft.resources)
    columns = draft.columns()
    updated = await (
        Offering.update({**{getattr(Offering, k): v for k, v in columns.items()}, Offering.version: version + 1})
        .where((Offering.id == offering_id) & (Offering.supplier == supplier_id) & (Offering.version == version))
        .returning(Offering.id)
    )
    if not updated:
        raise Stale()
    if is_full:
        await _link(offering_id, draft.resources)
        columns["resources"] = list(draft.resources)
    before, after = _changes(row, columns)
    await record(
        actor,
        "offering.update",
        now=now,
        supplier_id=supplier_id,
        subject="offering",
        subject_id=offering_id,
        before=before,
        after=after,
    )
    await catalogue.changed()
    return {**row, **columns, "version": version + 1}


async def _set_active(actor: Actor, action: str, offering_id: int, active: bool, now: datetime) -> dict:
    supplier_id = _supplier_of(actor)
    row = await offering_of(supplier_id, offering_id)
    if row is None:
        raise NotFound()
    if row["active"] == active:
        return row
    await Offering.update({Offering.active: active, Offering.version: Offering.version + 1}).where(
        (Offering.id == offering_id) & (Offering.supplier == supplier_id)
    )
    await record(
        actor,
        action,
        now=now,
        supplier_id=supplier_id,
        subject="offering",
        subject_id=offering_id,
        before={"active": row["active"]},
        after={"active": active},
    )
    await catalogue.changed()
    return {**row, "active": active}


@use_case("offering.archive")
async def archive_offering(actor: Actor, offering_id: int, now: datetime) -> dict:
    """Take an offering off the supplier's page; its orders, documents and gift cards stay. Raises NotFound."""
    return await _set_active(actor, "offering.archive", offering_id, False, now)


@use_case("offering.restore")
async def restore_offering(actor: Actor, offering_id: int, now: datetime) -> dict:
    """List an archived offering again. Raises NotFound."""
    return await _set_active(actor, "offering.restore", offering_id, True, now)

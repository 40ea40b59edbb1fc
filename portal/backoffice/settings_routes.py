"""The owner's settings in the back office: the supplier's profile (with the
trader information a marketplace must hold) and its offerings. Every route
needs Permission.SETTINGS (owners); anyone else gets 404. Handlers parse
with portal.catalogue.forms, call the use cases of portal.catalogue.settings
with the owner as actor, and render; a form with errors re-renders with 422,
a stale one (a second tab saved first) with 409 and the current values."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from portal.backoffice import access, common
from portal.backoffice.access import Workplace
from portal.catalogue import forms
from portal.catalogue import settings as supplier_settings
from portal.catalogue.domain import COMPANY_FORMS, KINDS, PAYMENT_METHODS, trade_register
from portal.identity.staff.domain import Permission
from portal.lib import clock
from portal.lib.i18n import N_
from portal.payments.vat import VatCategory, vat_rate_bp
from portal.web.render import page

FORM = common.FORM

STALE = N_("Someone else changed this since you opened it; here are the current values. Make your change again and save.")
SAVED = N_("Saved. Customers see the change at once.")

VAT_LABELS = {
    VatCategory.GENERAL.value: N_("General rate"),
    VatCategory.FOOD.value: N_("Food and drink"),
    VatCategory.REDUCED.value: N_("Reduced rate: passenger transport, accommodation, cinema, some events"),
    VatCategory.EXEMPT.value: N_("Exempt: authorised health care, education and other exempt services"),
}
DEPOSIT_LABELS = {"none": N_("No deposit"), "fixed": N_("A fixed amount"), "percent": N_("A percentage of the price")}
FEE_LABELS = {"none": N_("No fee"), "percent": N_("A percentage of the price"), "fixed": N_("A fixed fee")}
PLACE_LABELS = {"address": N_("At your address"), "online": N_("Online (video meeting)")}


async def _owner(request: Request, slug: str) -> Workplace:
    return await access.workplace(request, slug, Permission.SETTINGS)


def _vat_rates() -> dict[str, int]:
    """Today's rate of each VAT category (the stored copy; receipts use the rate on the day of supply)."""
    today = clock.local_today()
    return {c.value: vat_rate_bp(c, today) for c in VatCategory}


#: The fields in the order the forms show them (the error summary lists its messages so).
PROFILE_ORDER = (*forms.PROFILE_TEXT_FIELDS, "payment_methods", "certified")
OFFERING_ORDER = ("form", *forms.NEW_OFFERING_VALUES)


def _in_order(errors: dict | None, order: tuple[str, ...]) -> dict:
    errors = errors or {}
    return {k: errors[k] for k in sorted(errors, key=lambda k: order.index(k) if k in order else len(order))}


def _version(form: dict) -> int:
    version = forms.parse_version(form)
    return -1 if version is None else version  # a garbled version never matches: the form is stale


# ---------------------------------------------------------------- the settings home


@get("/kontor/{slug:str}/innstillinger", name="bo_settings")
async def settings_home(request: Request, slug: str) -> object:
    wp = await _owner(request, slug)
    profile = await supplier_settings.profile_of(wp.supplier["id"])
    return page(request, "pages/backoffice/settings/index.html", **common.base(wp), profile=profile)


# ---------------------------------------------------------------- the profile


def _profile_page(
    request: Request,
    wp: Workplace,
    profile: dict,
    values: dict,
    *,
    errors: dict | None = None,
    status_code: int = 200,
    notice: str | None = None,
    stale: bool = False,
) -> object:
    return page(
        request,
        "pages/backoffice/settings/profile.html",
        status_code=status_code,
        **common.base(wp),
        profile=profile,
        values=values,
        errors=_in_order(errors, PROFILE_ORDER),
        notice=notice,
        stale=stale,
        company_forms=COMPANY_FORMS,
        payment_labels=PAYMENT_METHODS,
        register=trade_register(values.get("company_form") or profile["company_form"]),
    )


@get("/kontor/{slug:str}/innstillinger/profil", name="bo_profile")
async def profile_page(request: Request, slug: str, lagret: str | None = None) -> object:
    wp = await _owner(request, slug)
    profile = await supplier_settings.profile_of(wp.supplier["id"])
    return _profile_page(request, wp, profile, forms.profile_values(profile), notice=SAVED if lagret else None)


@post("/kontor/{slug:str}/innstillinger/profil", name="bo_profile_save")
async def profile_save(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await _owner(request, slug)
    profile = await supplier_settings.profile_of(wp.supplier["id"])
    parsed, errors = forms.parse_profile(data, category=profile["category"])
    if not errors:
        try:
            await supplier_settings.update_profile(wp.actor, _version(data), parsed, clock.now())
            return Redirect(path=f"/kontor/{slug}/innstillinger/profil?lagret=1", status_code=303)
        except supplier_settings.Stale:
            current = await supplier_settings.profile_of(wp.supplier["id"])
            return _profile_page(request, wp, current, forms.profile_values(current), status_code=409, stale=True)
        except supplier_settings.Refused as refused:
            errors = refused.problems
    return _profile_page(request, wp, profile, forms.typed_profile_values(data), errors=errors, status_code=422)


# ---------------------------------------------------------------- offerings


@get("/kontor/{slug:str}/innstillinger/tilbud", name="bo_offerings")
async def offerings_page(request: Request, slug: str) -> object:
    wp = await _owner(request, slug)
    offerings = await supplier_settings.offerings_of(wp.supplier["id"])
    return page(
        request,
        "pages/backoffice/settings/offerings.html",
        **common.base(wp),
        listed=[o for o in offerings if o["active"]],
        archived=[o for o in offerings if not o["active"]],
        kind_labels=KINDS,
    )


async def _offering_page(
    request: Request,
    wp: Workplace,
    offering: dict | None,
    values: dict,
    *,
    errors: dict | None = None,
    status_code: int = 200,
    notice: str | None = None,
    stale: bool = False,
) -> object:
    rates = _vat_rates()
    return page(
        request,
        "pages/backoffice/settings/offering.html",
        status_code=status_code,
        **common.base(wp),
        offering=offering,
        full=offering is None or offering["kind"] == "appointment",
        values=values,
        errors=_in_order(errors, OFFERING_ORDER),
        notice=notice,
        stale=stale,
        resources=await supplier_settings.resources_of(wp.supplier["id"]),
        vat_options=[(c, VAT_LABELS[c], rates[c]) for c in rates],
        deposit_labels=DEPOSIT_LABELS,
        fee_labels=FEE_LABELS,
        place_labels=PLACE_LABELS,
        withdrawal_labels=forms.WITHDRAWAL_LABELS,
    )


async def _parse(wp: Workplace, data: dict, kind: str = "appointment"):
    if kind != "appointment":
        return forms.parse_basics(data)
    resources = await supplier_settings.resources_of(wp.supplier["id"])
    return forms.parse_offering(data, vat_categories=_vat_rates(), resource_ids={r["id"] for r in resources})


@get("/kontor/{slug:str}/innstillinger/tilbud/ny", name="bo_offering_new")
async def offering_new(request: Request, slug: str) -> object:
    wp = await _owner(request, slug)
    return await _offering_page(request, wp, None, dict(forms.NEW_OFFERING_VALUES))


@post("/kontor/{slug:str}/innstillinger/tilbud/ny", name="bo_offering_create")
async def offering_create(request: Request, slug: str, data: dict = FORM) -> object:
    wp = await _owner(request, slug)
    draft, errors = await _parse(wp, data)
    if not errors:
        try:
            made = await supplier_settings.create_offering(wp.actor, draft, clock.now())
            return Redirect(path=f"/kontor/{slug}/innstillinger/tilbud/{made['id']}?lagret=1", status_code=303)
        except supplier_settings.Refused as refused:
            errors = refused.problems
    return await _offering_page(request, wp, None, forms.typed_offering_values(data), errors=errors, status_code=422)


async def _offering(wp: Workplace, offering_id: int) -> dict:
    offering = await supplier_settings.offering_of(wp.supplier["id"], offering_id)
    if offering is None:
        raise NotFoundException()
    return offering


def _values_of(offering: dict) -> dict:
    if offering["kind"] == "appointment":
        return forms.offering_values(offering, offering["resources"])
    return forms.basics_values(offering)


@get("/kontor/{slug:str}/innstillinger/tilbud/{offering_id:int}", name="bo_offering")
async def offering_page(request: Request, slug: str, offering_id: int, lagret: str | None = None) -> object:
    wp = await _owner(request, slug)
    offering = await _offering(wp, offering_id)
    return await _offering_page(request, wp, offering, _values_of(offering), notice=SAVED if lagret else None)


@post("/kontor/{slug:str}/innstillinger/tilbud/{offering_id:int}", name="bo_offering_save")
async def offering_save(request: Request, slug: str, offering_id: int, data: dict = FORM) -> object:
    wp = await _owner(request, slug)
    offering = await _offering(wp, offering_id)
    draft, errors = await _parse(wp, data, offering["kind"])
    if not errors:
        try:
            await supplier_settings.update_offering(wp.actor, offering_id, _version(data), draft, clock.now())
            return Redirect(path=f"/kontor/{slug}/innstillinger/tilbud/{offering_id}?lagret=1", status_code=303)
        except supplier_settings.NotFound:
            raise NotFoundException() from None
        except supplier_settings.Stale:
            current = await _offering(wp, offering_id)
            return await _offering_page(request, wp, current, _values_of(current), status_code=409, stale=True)
        except supplier_settings.Refused as refused:
            errors = refused.problems
    typed = forms.typed_offering_values(data)
    if offering["kind"] != "appointment":
        typed = {k: typed[k] for k in ("title", "description", "version")}
    return await _offering_page(request, wp, offering, typed, errors=errors, status_code=422)


#: The owner's buttons on an offering: archive (off the supplier's page, orders kept) or list again.
ACTIONS = {"arkiver": supplier_settings.archive_offering, "gjenopprett": supplier_settings.restore_offering}


@post("/kontor/{slug:str}/innstillinger/tilbud/{offering_id:int}/{action:str}", name="bo_offering_action")
async def offering_action(request: Request, slug: str, offering_id: int, action: str) -> object:
    wp = await _owner(request, slug)
    if action not in ACTIONS:
        raise NotFoundException()
    try:
        await ACTIONS[action](wp.actor, offering_id, clock.now())
    except supplier_settings.NotFound:
        raise NotFoundException() from None
    return Redirect(path=f"/kontor/{slug}/innstillinger/tilbud", status_code=303)


ROUTES = [
    settings_home,
    profile_page,
    profile_save,
    offerings_page,
    offering_new,
    offering_create,
    offering_page,
    offering_save,
    offering_action,
]

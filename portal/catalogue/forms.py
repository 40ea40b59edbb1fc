"""The owner's settings forms, parsed: a form dict (as posted) becomes a
checked draft plus a msgid per bad field; and a stored row becomes the
form's values again. Pure: no framework, no database.

The catalogue sits below payments and capacity, so what it needs from them
comes in as arguments (the VAT categories) or is mirrored here with a unit
test that keeps the two equal (the claim unit)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from portal.catalogue.domain import COMPANY_FORMS, MAX_DESCRIPTION, PAYMENT_METHODS, SupplierDraft, check_supplier
from portal.legal.withdrawal import CLASSES as WITHDRAWAL_CLASSES
from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.lib.money import parse_kroner

#: Durations, buffers and steps are whole multiples of this (portal.capacity.domain.CLAIM_UNIT_MIN).
MINUTE_UNIT = 5

#: What the owner reads for each withdrawal class (L4).
WITHDRAWAL_LABELS = {
    "standard": N_("Right of withdrawal for 14 days (most services)"),
    "exempt_dated_leisure": N_("No right of withdrawal: leisure on a specific date or period"),
    "exempt_custom": N_("No right of withdrawal: made to the customer's specification"),
    "digital_content": N_("Digital content: the right lapses when delivery starts"),
}

DEPOSIT_KINDS = ("none", "fixed", "percent")
FEE_KINDS = ("none", "percent", "fixed")
PLACES = ("address", "online")

#: The most an offering may cost, in øre (a typing error, not a price).
MAX_PRICE_ORE = 1_000_000_00


def values_of(form: Mapping, key: str) -> list[str]:
    """Every value sent for `key` (checkboxes that share a name)."""
    raw = form.get(key, [])
    items = raw if isinstance(raw, list) else [raw]
    return [str(item).strip() for item in items if str(item).strip()]


def checked(form: Mapping, key: str) -> bool:
    return form_text(form, key, 10) not in ("", "0", "off", "false")


def parse_version(form: Mapping) -> int | None:
    """The version the form was opened at (hidden field); None when missing or garbled."""
    text = form_text(form, "version", 12)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def kroner_text(ore: int) -> str:
    """54900 → '549', 54950 → '549,50': øre as an owner types kroner."""
    whole, rest = divmod(int(ore), 100)
    return f"{whole},{rest:02d}" if rest else str(whole)


# ---------------------------------------------------------------- the supplier's profile

PROFILE_TEXT_FIELDS = {
    "name": 200, "legal_name": 200, "org_number": 20, "company_form": 10, "street": 200, "postcode": 10,
    "town": 100, "phone": 30, "email": 254, "description": MAX_DESCRIPTION, "terms": 10000,
}  # fmt: skip


@dataclass(frozen=True)
class ProfileForm:
    """A checked profile: the draft as stored, and the owner's self-certification."""

    draft: SupplierDraft
    certified: bool


def parse_profile(form: Mapping, *, category: str) -> tuple[ProfileForm, dict[str, str]]:
    """The profile as typed, checked by `check_supplier` (the category is not
    edited here: the stored one is passed in), plus the self-certification
    the trader information needs (required)."""
    text = {key: form_text(form, key, limit) for key, limit in PROFILE_TEXT_FIELDS.items()}
    draft = SupplierDraft(
        name=text["name"], org_number=text["org_number"], email=text["email"], phone=text["phone"], street=text["street"],
        postcode=text["postcode"], town=text["town"], category=category, legal_name=text["legal_name"],
        company_form=text["company_form"] or "AS", vat_registered=checked(form, "vat_registered"),
        description=text["description"], terms=text["terms"], payment_methods=tuple(values_of(form, "payment_methods")),
    )  # fmt: skip
    draft, problems = check_supplier(draft)
    if not form_text(form, "legal_name", 200):
        problems["legal_name"] = N_("Enter the legal name, as registered in Brønnøysund.")
    certified = checked(form, "certified")
    if not certified:
        problems["certified"] = N_("A marketplace must have this confirmation before you sell on it.")
    return ProfileForm(draft=draft, certified=certified), problems


def profile_values(supplier: Mapping) -> dict:
    """A stored supplier as the profile form's values."""
    values = {key: str(supplier.get(key) or "") for key in PROFILE_TEXT_FIELDS}
    values["company_form"] = values["company_form"] or COMPANY_FORMS[0]
    values["vat_registered"] = bool(supplier.get("vat_registered"))
    values["payment_methods"] = [m for m in PAYMENT_METHODS if m in (supplier.get("payment_methods") or [])]
    values["certified"] = supplier.get("trader_certified_at") is not None
    values["version"] = str(supplier.get("version") or 0)
    return values


def typed_profile_values(form: Mapping) -> dict:
    """What the owner sent, to show again next to the messages."""
    values = {key: form_text(form, key, limit) for key, limit in PROFILE_TEXT_FIELDS.items()}
    values["vat_registered"] = checked(form, "vat_registered")
    values["payment_methods"] = values_of(form, "payment_methods")
    values["certified"] = checked(form, "certified")
    values["version"] = form_text(form, "version", 12)
    return values


# ---------------------------------------------------------------- offerings


@dataclass(frozen=True)
class OfferingBasics:
    """What every kind of offering lets the owner edit here."""

    title: str
    description: str

    def columns(self) -> dict:
        return {"title": self.title, "description": self.description}


@dataclass(frozen=True)
class OfferingDraft:
    """An appointment offering as stored (Offering columns), and who performs it."""

    title: str
    description: str
    price_ore: int
    vat_category: str
    duration_min: int
    buffer_before_min: int
    buffer_after_min: int
    step_min: int
    deposit_kind: str
    deposit_value: int
    cancel_free_hours: int
    cancel_fee_percent: int
    cancel_fee_ore: int
    withdrawal_class: str
    reminder_hours: int
    online: bool
    min_notice_min: int
    max_advance_days: int
    open_on_holidays: bool
    resources: tuple[int, ...]

    def columns(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "resources"}


class _Reader:
    def __init__(self, form: Mapping) -> None:
        self.form = form
        self.problems: dict[str, str] = {}

    def text(self, key: str, limit: int) -> str:
        return form_text(self.form, key, limit)

    def whole(self, key: str, low: int, high: int, message: str, *, unit: int = 1) -> int:
        text = self.text(key, 12).replace(" ", "")
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
        if value is None or not low <= value <= high or value % unit:
            self.problems[key] = message
            return 0
        return value

    def kroner(self, key: str, low: int, high: int, message: str) -> int:
        value = parse_kroner(self.text(key, 20))
        if value is None or not low <= value <= high:
            self.problems[key] = message
            return 0
        return value

    def choice(self, key: str, options: Collection[str], message: str, default: str = "") -> str:
        value = self.text(key, 40) or default
        if value not in options:
            self.problems[key] = message
            return default or next(iter(options))
        return value


def parse_basics(form: Mapping) -> tuple[OfferingBasics, dict[str, str]]:
    r = _Reader(form)
    basics = _basics(r)
    return basics, r.problems


def _basics(r: _Reader) -> OfferingBasics:
    title = " ".join(r.text("title", 200).split())
    if not title or len(title) > 200:
        r.problems["title"] = N_("Give it a title (at most 200 characters).")
    description = r.text("description", MAX_DESCRIPTION)
    if len(description) > MAX_DESCRIPTION:
        r.problems["description"] = N_("The description is too long (at most 2000 characters).")
    return OfferingBasics(title=title, description=description)


def parse_offering(
    form: Mapping, *, vat_categories: Collection[str], resource_ids: Collection[int]
) -> tuple[OfferingDraft, dict[str, str]]:
    """An appointment offering as typed: prices in kroner (→ øre), times in
    minutes, hours or days as labelled; `resource_ids` are the supplier's
    own staff and rooms, of which at least one must perform it."""
    r = _Reader(form)
    basics = _basics(r)
    price = r.kroner("price", 100, MAX_PRICE_ORE, N_("Enter the price in kroner, like 549 or 549,50."))
    vat_category = r.choice("vat_category", vat_categories, N_("Choose a VAT rate."))
    duration = r.whole("duration", MINUTE_UNIT, 720, N_("A duration from 5 to 720 minutes, in steps of 5."), unit=MINUTE_UNIT)
    before = r.whole("buffer_before", 0, 240, N_("From 0 to 240 minutes, in steps of 5."), unit=MINUTE_UNIT)
    after = r.whole("buffer_after", 0, 240, N_("From 0 to 240 minutes, in steps of 5."), unit=MINUTE_UNIT)
    step = r.whole("step", MINUTE_UNIT, 240, N_("From 5 to 240 minutes, in steps of 5."), unit=MINUTE_UNIT)

    deposit_kind = r.choice("deposit_kind", DEPOSIT_KINDS, N_("Choose a deposit rule."), "none")
    deposit_value = 0
    if deposit_kind == "fixed":
        deposit_value = r.kroner(
            "deposit_fixed", 100, max(price, 100), N_("A deposit in kroner, at least 1 and at most the price.")
        )
    elif deposit_kind == "percent":
        deposit_value = r.whole("deposit_percent", 1, 100, N_("A whole percent from 1 to 100."))

    free_hours = r.whole("cancel_free_hours", 0, 720, N_("From 0 to 720 hours."))
    fee_kind = r.choice("cancel_fee_kind", FEE_KINDS, N_("Choose a cancellation rule."), "none")
    fee_percent = fee_ore = 0
    if fee_kind == "percent":
        fee_percent = r.whole("cancel_fee_percent", 1, 100, N_("A whole percent from 1 to 100."))
    elif fee_kind == "fixed":
        fee_ore = r.kroner("cancel_fee_fixed", 100, max(price, 100), N_("A fee in kroner, at least 1 and at most the price."))

    withdrawal_class = r.choice(
        "withdrawal_class", WITHDRAWAL_CLASSES, N_("Choose whether the right of withdrawal applies."), "standard"
    )
    reminder = r.whole("reminder_hours", 0, 168, N_("From 0 (no reminder) to 168 hours."))
    place = r.choice("place", PLACES, N_("Choose where it takes place."), "address")
    notice = r.whole("min_notice", 0, 43200, N_("From 0 to 43200 minutes (30 days)."))
    ahead = r.whole("max_advance_days", 1, 730, N_("From 1 to 730 days."))

    chosen: list[int] = []
    for raw in values_of(form, "resources"):
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
        if value is None or value not in resource_ids:
            r.problems["resources"] = N_("Choose who performs it from the list.")
        elif value not in chosen:
            chosen.append(value)
    if not chosen and "resources" not in r.problems:
        r.problems["resources"] = N_("Choose at least one person or room who performs it.")

    draft = OfferingDraft(
        title=basics.title, description=basics.description, price_ore=price, vat_category=vat_category,
        duration_min=duration, buffer_before_min=before, buffer_after_min=after, step_min=step,
        deposit_kind=deposit_kind, deposit_value=deposit_value, cancel_free_hours=free_hours,
        cancel_fee_percent=fee_percent, cancel_fee_ore=fee_ore, withdrawal_class=withdrawal_class,
        reminder_hours=reminder, online=place == "online", min_notice_min=notice, max_advance_days=ahead,
        open_on_holidays=checked(form, "open_on_holidays"), resources=tuple(sorted(chosen)),
    )  # fmt: skip
    return draft, r.problems


#: A new appointment's form, before the owner types anything.
NEW_OFFERING_VALUES = {
    "title": "", "description": "", "price": "", "vat_category": "general", "duration": "30",
    "buffer_before": "0", "buffer_after": "0", "step": "15", "deposit_kind": "none", "deposit_fixed": "",
    "deposit_percent": "", "cancel_free_hours": "24", "cancel_fee_kind": "none", "cancel_fee_percent": "",
    "cancel_fee_fixed": "", "withdrawal_class": "standard", "reminder_hours": "24", "place": "address",
    "min_notice": "60", "max_advance_days": "60", "open_on_holidays": False, "resources": [],
}  # fmt: skip


def offering_values(offering: Mapping, resource_ids: Collection[int]) -> dict:
    """A stored offering as its form's values."""
    o = offering
    fee_kind = "fixed" if o["cancel_fee_ore"] else "percent" if o["cancel_fee_percent"] else "none"
    return {
        "title": o["title"], "description": o["description"] or "", "price": kroner_text(o["price_ore"]),
        "vat_category": o["vat_category"], "duration": str(o["duration_min"] or ""),
        "buffer_before": str(o["buffer_before_min"]), "buffer_after": str(o["buffer_after_min"]), "step": str(o["step_min"]),
        "deposit_kind": o["deposit_kind"], "deposit_fixed": kroner_text(o["deposit_value"]) if o["deposit_kind"] == "fixed" else "",
        "deposit_percent": str(o["deposit_value"]) if o["deposit_kind"] == "percent" else "",
        "cancel_free_hours": str(o["cancel_free_hours"]), "cancel_fee_kind": fee_kind,
        "cancel_fee_percent": str(o["cancel_fee_percent"]) if fee_kind == "percent" else "",
        "cancel_fee_fixed": kroner_text(o["cancel_fee_ore"]) if fee_kind == "fixed" else "",
        "withdrawal_class": o["withdrawal_class"], "reminder_hours": str(o["reminder_hours"]),
        "place": "online" if o["online"] else "address", "min_notice": str(o["min_notice_min"]),
        "max_advance_days": str(o["max_advance_days"]), "open_on_holidays": bool(o["open_on_holidays"]),
        "resources": sorted(resource_ids), "version": str(o["version"]),
    }  # fmt: skip


def basics_values(offering: Mapping) -> dict:
    """A stored offering of another kind as the form's values (title and description)."""
    return {"title": offering["title"], "description": offering["description"] or "", "version": str(offering["version"])}


def typed_offering_values(form: Mapping) -> dict:
    """What the owner sent, to show again next to the messages."""
    values = {key: form_text(form, key, 200 if key != "description" else MAX_DESCRIPTION) for key in NEW_OFFERING_VALUES}
    values["open_on_holidays"] = checked(form, "open_on_holidays")
    values["resources"] = [int(v) for v in values_of(form, "resources") if v.isascii() and v.isdigit() and len(v) < 10]
    values["version"] = form_text(form, "version", 12)
    return values

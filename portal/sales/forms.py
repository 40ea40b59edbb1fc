"""The checkout form: parse what a hurried person typed, or say what is wrong.

Messages are msgids (English) translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from portal.lib.forms import form_text
from portal.lib.i18n import N_

MAX_NAME = 200
MAX_NOTE = 1000


@dataclass
class CheckoutInput:
    name: str = ""
    phone: str = ""
    email: str = ""
    note: str = ""
    accept_terms: bool = False
    adult: bool = False
    early_start: bool = False
    code: str = ""
    remember_device: bool = False
    means: str = ""
    coupon: str = ""
    giftcard: str = ""
    marketing: bool = False  # the unticked "send me news" box (L28)


@dataclass
class CheckoutResult:
    values: CheckoutInput
    errors: dict[str, str] = field(default_factory=dict)
    phone_e164: str = ""
    email_normalized: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _ticked(raw: object) -> bool:
    return str(raw or "").strip().lower() in {"on", "1", "true", "yes"}




MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def parse_phone(raw: str, default_region: str = "NO") -> str | None:
    """E.164 for a valid mobile number (it gets an SMS code), +47 assumed; None otherwise."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_error(raw: str) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, msgid of what is wrong)."""
    if not raw:
        return None, N_("Enter your mobile number.")
    e164 = parse_phone(raw)
    if e164 is None:
        return None, N_("That is not a valid mobile number. Norwegian numbers have 8 digits; use +country code for others.")
    return e164, None


def parse_checkout(form: dict, *, needs_early_start: bool, means: tuple[str, ...] = ("onsite",)) -> CheckoutResult:
    """`means`: the ways to pay on offer; with one, it needs no choice."""
    values = CheckoutInput(
        name=form_text(form, "name", MAX_NAME),
        phone=form_text(form, "phone", 40),
        email=form_text(form, "email", 254),
        note=form_text(form, "note", MAX_NOTE),
        accept_terms=_ticked(form.get("accept_terms")),
        adult=_ticked(form.get("adult")),
        early_start=_ticked(form.get("early_start")),
        code=form_text(form, "code", 20),
        remember_device=_ticked(form.get("remember_device")),
        means=form_text(form, "means", 20),
        coupon=form_text(form, "coupon", 60),
        giftcard=form_text(form, "giftcard", 60),
        marketing=_ticked(form.get("marketing")),
    )
    result = CheckoutResult(values=values)
    errors = result.errors

    if not values.name:
        errors["name"] = N_("Enter your name.")
    elif len(values.name) > MAX_NAME:
        errors["name"] = N_("The name is too long (at most 200 characters).")

    e164, problem = phone_error(values.phone)
    if problem:
        errors["phone"] = problem
    else:
        result.phone_e164 = e164

    if not values.email:
        errors["email"] = N_("Enter your email address.")
    else:
        try:
            checked = validate_email(values.email, check_deliverability=False)
            result.email_normalized = checked.normalized
        except EmailNotValidError:
            errors["email"] = N_("That is not a valid email address.")

    if len(values.note) > MAX_NOTE:
        errors["note"] = N_("The note is too long (at most 1000 characters).")
    if not values.accept_terms:
        errors["accept_terms"] = N_("You must accept the terms to book.")
    if not values.adult:
        errors["adult"] = N_("You must be 18 or older to book.")
    if len(means) == 1:
        values.means = means[0]
    elif values.means not in means:
        values.means = ""
        errors["means"] = N_("Choose how you want to pay.")
    if needs_early_start and not values.early_start:
        errors["early_start"] = N_(
            "This appointment is within the 14-day withdrawal period: tick the box to ask us to start early, or choose a later time."
        )
    return result

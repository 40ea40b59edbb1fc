"""The customer's own forms on /mine/data: their name and email, a new
mobile number. Pure: a dict in, clean values and field messages (msgids) out."""

from __future__ import annotations

from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.sales.forms import MAX_NAME, phone_error


@dataclass
class ProfileForm:
    name: str = ""
    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def parse_profile(form: dict) -> ProfileForm:
    """Name (required, at most 200 characters) and email (required, valid; stored normalised)."""
    result = ProfileForm(name=form_text(form, "name", MAX_NAME), email=form_text(form, "email", 254))
    if not result.name:
        result.errors["name"] = N_("Enter your name.")
    elif len(result.name) > MAX_NAME:
        result.errors["name"] = N_("The name is too long (at most 200 characters).")
    if not result.email:
        result.errors["email"] = N_("Enter your email address.")
    else:
        try:
            result.email = validate_email(result.email, check_deliverability=False).normalized
        except EmailNotValidError:
            result.errors["email"] = N_("That is not a valid email address.")
    return result


def parse_new_phone(form: dict, current: str) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, msgid): a valid mobile number other than the current one."""
    e164, problem = phone_error(form_text(form, "phone", 40))
    if problem:
        return None, problem
    if e164 == current:
        return None, N_("That is the number you have already.")
    return e164, None

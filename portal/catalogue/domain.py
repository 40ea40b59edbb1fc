"""Catalogue rules: categories, offering kinds, search and its stated ranking (L3)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.no import orgnr

from portal.lib.i18n import N_

CATEGORIES = {
    "hair": N_("Hair salon"),
    "massage": N_("Massage"),
    "consulting": N_("Consulting"),
    "fitness": N_("Training and yoga"),
    "giftcards": N_("Gift cards"),
    "accommodation": N_("Accommodation"),
    "events": N_("Events"),
}

KINDS = {
    "appointment": N_("Appointment"),
    "stay": N_("Stay"),
    "event": N_("Event"),
    "giftcard": N_("Gift card"),
    "package": N_("Package"),
}

#: Shown above every result list: how results are ordered (L3).
RANKING_NOTE = N_("Results are sorted alphabetically by name. No supplier pays for a better place.")


def fold(text: str) -> str:
    """Lower-case, accents removed (ü→u, é→e), but æ/ø/å kept: they are
    letters of their own in Norwegian, not accented a/o."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("å", "\0")
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(text.replace("\0", "å").split())


def search_matches(supplier: dict, offering_titles: list[str], *, text: str, category: str, town: str) -> bool:
    if category and supplier["category"] != category:
        return False
    if town and fold(supplier["town"]) != fold(town):
        return False
    words = fold(text).split()
    if not words:
        return True
    haystack = fold(" ".join([supplier["name"], supplier["description"], supplier["town"], *offering_titles]))
    return all(word in haystack for word in words)


# ---------------------------------------------------------------- registering a supplier

#: Company forms a supplier may have (Brønnøysund's short names).
COMPANY_FORMS = ("AS", "ASA", "ENK", "NUF", "DA", "ANS", "SA", "STI", "FLI", "KS")

#: Company forms that must be registered in Foretaksregisteret; the others are in Enhetsregisteret.
FORETAKSREGISTERET_FORMS = frozenset({"AS", "ASA", "NUF", "DA", "ANS", "SA", "KS"})

#: How a supplier may be paid (Supplier.payment_methods; checkout offers a
#: deposit by Vipps when the supplier takes Vipps and the offering asks one).
PAYMENT_METHODS = {"onsite": N_("On site"), "vipps": N_("Vipps")}

MAX_DESCRIPTION = 2000
MAX_TERMS = 10000


def trade_register(company_form: str) -> str:
    """The public register the trader is in, under its organisation number
    (the trader information a marketplace shows)."""
    return "Foretaksregisteret" if company_form.strip().upper() in FORETAKSREGISTERET_FORMS else "Enhetsregisteret"


@dataclass(frozen=True)
class SupplierDraft:
    """A supplier as typed by the operator (CLI) or, later, a sign-up form."""

    name: str
    org_number: str
    email: str
    phone: str
    street: str
    postcode: str
    town: str
    category: str
    legal_name: str = ""
    company_form: str = "AS"
    vat_registered: bool = True
    description: str = ""
    terms: str = ""
    payment_methods: tuple[str, ...] = ("onsite",)


def check_supplier(draft: SupplierDraft) -> tuple[SupplierDraft, dict[str, str]]:
    """The draft as it is stored (organisation number compacted, phone in
    E.164, email normalised, legal name defaulting to the name) and a msgid
    per field that is wrong; nothing is stored while there is one."""
    problems: dict[str, str] = {}
    name = " ".join(draft.name.split())
    if not name or len(name) > 200:
        problems["name"] = N_("Enter the name customers know (at most 200 characters).")
    legal_name = " ".join(draft.legal_name.split()) or name
    if len(legal_name) > 200:
        problems["legal_name"] = N_("The legal name is too long (at most 200 characters).")
    org_number = orgnr.compact(draft.org_number or "")
    if not orgnr.is_valid(org_number):
        problems["org_number"] = N_("That is not a valid organisation number: nine digits, the last a check digit.")
    company_form = draft.company_form.strip().upper()
    if company_form not in COMPANY_FORMS:
        problems["company_form"] = N_("Unknown company form.")
    email = ""
    try:
        email = validate_email(draft.email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        problems["email"] = N_("That is not a valid email address.")
    phone = ""
    try:
        number = phonenumbers.parse(draft.phone, "NO")
        if phonenumbers.is_valid_number(number):
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    if not phone:
        problems["phone"] = N_("That is not a valid phone number.")
    street = " ".join(draft.street.split())
    if not street or len(street) > 200:
        problems["street"] = N_("Enter the street address.")
    postcode = draft.postcode.strip()
    if not (len(postcode) == 4 and postcode.isascii() and postcode.isdigit()):
        problems["postcode"] = N_("A Norwegian postcode has four digits.")
    town = " ".join(draft.town.split())
    if not town or len(town) > 100:
        problems["town"] = N_("Enter the town.")
    if draft.category not in CATEGORIES:
        problems["category"] = N_("Unknown category.")
    description = draft.description.strip()
    if len(description) > MAX_DESCRIPTION:
        problems["description"] = N_("The description is too long (at most 2000 characters).")
    terms = draft.terms.strip()
    if len(terms) > MAX_TERMS:
        problems["terms"] = N_("The terms are too long (at most 10000 characters).")
    payment_methods = tuple(m for m in PAYMENT_METHODS if m in draft.payment_methods)
    if not payment_methods or len(payment_methods) != len(set(draft.payment_methods)):
        problems["payment_methods"] = N_("Choose at least one way customers can pay.")
    checked = SupplierDraft(
        name=name, org_number=org_number, email=email, phone=phone, street=street, postcode=postcode, town=town,
        category=draft.category, legal_name=legal_name, company_form=company_form, vat_registered=draft.vat_registered,
        description=description, terms=terms, payment_methods=payment_methods,
    )  # fmt: skip
    return checked, problems


_SLUG_LETTERS = str.maketrans({"æ": "ae", "ø": "o", "å": "a"})


def slug_for(name: str, town: str = "") -> str:
    """The supplier's address on the portal (/s/<slug>): lower case a–z, digits and hyphens."""
    text = fold(f"{name} {town}").translate(_SLUG_LETTERS)
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in slug.split("-") if part)[:70].strip("-") or "leverandor"

"""The owner's settings forms as pure functions: a posted form becomes a
checked draft or a message per bad field; a stored row becomes the form again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.capacity.domain import CLAIM_UNIT_MIN
from portal.catalogue import forms
from portal.catalogue.domain import trade_register
from portal.legal.withdrawal import CLASSES
from portal.payments.vat import VatCategory

RATES = {"general": 2500, "food": 1500, "reduced": 1200, "exempt": 0}
STAFF = {11, 12}

PROFILE = {
    "name": "  Klippestua   Majorstuen ", "legal_name": "Klippestua AS", "org_number": "974 760 673", "company_form": "as",
    "vat_registered": "on", "street": "Bogstadveien 1", "postcode": "0355", "town": "Oslo", "phone": "22 33 44 55",
    "email": "Post@Klippestua.example.no", "description": "Frisør.", "terms": "", "payment_methods": ["vipps", "onsite"],
    "certified": "on", "version": "3",
}  # fmt: skip

APPOINTMENT = {
    "title": "Klipp og føn", "description": "Vask, klipp og føn.", "price": "549,50", "vat_category": "general",
    "duration": "45", "buffer_before": "0", "buffer_after": "10", "step": "15", "deposit_kind": "percent",
    "deposit_fixed": "", "deposit_percent": "20", "cancel_free_hours": "24", "cancel_fee_kind": "fixed",
    "cancel_fee_percent": "", "cancel_fee_fixed": "150", "withdrawal_class": "standard", "reminder_hours": "24",
    "place": "online", "min_notice": "60", "max_advance_days": "90", "open_on_holidays": "on", "resources": ["12", "11"],
}  # fmt: skip


def parse(form: dict):
    return forms.parse_offering(form, vat_categories=RATES, resource_ids=STAFF)


def test_a_good_profile_is_stored_cleanly_with_its_certification():
    parsed, problems = forms.parse_profile(PROFILE, category="hair")
    assert problems == {}
    d = parsed.draft
    assert (d.name, d.org_number, d.company_form, d.phone, d.email) == (
        "Klippestua Majorstuen",
        "974760673",
        "AS",
        "+4722334455",
        "Post@klippestua.example.no",
    )
    assert d.payment_methods == ("onsite", "vipps") and d.vat_registered and d.category == "hair"
    assert parsed.certified and forms.parse_version(PROFILE) == 3


def test_a_bad_profile_names_every_wrong_field():
    bad = {**PROFILE, "org_number": "974760674", "phone": "12", "legal_name": " ", "payment_methods": ["cash"], "postcode": "35",
           "email": "post@", "vat_registered": ""}  # fmt: skip
    del bad["certified"]
    parsed, problems = forms.parse_profile(bad, category="hair")
    assert set(problems) == {"org_number", "phone", "legal_name", "payment_methods", "postcode", "email", "certified"}
    assert not parsed.draft.vat_registered
    assert forms.parse_version({"version": "x1"}) is None and forms.parse_version({}) is None


def test_a_stored_profile_fills_the_form_that_parses_back_to_it():
    parsed, _ = forms.parse_profile(PROFILE, category="hair")
    row = {
        **parsed.draft.__dict__,
        "payment_methods": list(parsed.draft.payment_methods),
        "trader_certified_at": "2026-12-04",
        "version": 4,
    }
    values = forms.profile_values(row)
    assert values["version"] == "4" and values["certified"] is True
    again, problems = forms.parse_profile(
        {**values, "vat_registered": "on" if values["vat_registered"] else "", "certified": "on"}, category="hair"
    )
    assert problems == {} and again.draft == parsed.draft


def test_an_appointment_is_stored_in_ore_and_minutes():
    draft, problems = parse(APPOINTMENT)
    assert problems == {}
    assert (draft.price_ore, draft.deposit_kind, draft.deposit_value, draft.cancel_fee_ore, draft.cancel_fee_percent) == (
        54950,
        "percent",
        20,
        15000,
        0,
    )
    assert (draft.duration_min, draft.buffer_after_min, draft.step_min, draft.online, draft.open_on_holidays) == (
        45,
        10,
        15,
        True,
        True,
    )
    assert draft.resources == (11, 12) and "resources" not in draft.columns() and draft.columns()["title"] == "Klipp og føn"


def test_a_bad_appointment_names_every_wrong_field():
    bad = {**APPOINTMENT, "price": "abc", "duration": "7", "step": "0", "buffer_before": "-5", "vat_category": "luxury",
           "deposit_kind": "fixed", "deposit_fixed": "10000", "cancel_fee_kind": "percent", "cancel_fee_percent": "150",
           "withdrawal_class": "none", "place": "moon", "max_advance_days": "0", "resources": ["11", "99"], "title": ""}  # fmt: skip
    _, problems = parse(bad)
    assert set(problems) == {"price", "duration", "step", "buffer_before", "vat_category", "deposit_fixed", "cancel_fee_percent",
                             "withdrawal_class", "place", "max_advance_days", "resources", "title"}  # fmt: skip
    _, problems = parse({**APPOINTMENT, "resources": []})
    assert set(problems) == {"resources"}
    _, problems = parse({**APPOINTMENT, "deposit_kind": "fixed", "deposit_fixed": "600"})  # more than the price
    assert set(problems) == {"deposit_fixed"}


@settings(max_examples=40, deadline=None)
@given(
    price=st.integers(100, forms.MAX_PRICE_ORE),
    duration=st.integers(1, 144).map(lambda n: n * 5),
    deposit=st.sampled_from(["none", "fixed", "percent"]),
    fee=st.sampled_from(["none", "fixed", "percent"]),
    percent=st.integers(1, 100),
    withdrawal=st.sampled_from(CLASSES),
    online=st.booleans(),
    staff=st.sets(st.sampled_from(sorted(STAFF)), min_size=1),
)
def test_a_stored_appointment_fills_the_form_that_parses_back_to_it(
    price, duration, deposit, fee, percent, withdrawal, online, staff
):
    row = {
        "title": "T", "description": "", "price_ore": price, "vat_category": "reduced", "duration_min": duration,
        "buffer_before_min": 5, "buffer_after_min": 0, "step_min": 30, "deposit_kind": deposit,
        "deposit_value": {"none": 0, "fixed": max(100, price // 3), "percent": percent}[deposit], "cancel_free_hours": 48,
        "cancel_fee_percent": percent if fee == "percent" else 0, "cancel_fee_ore": max(100, price // 2) if fee == "fixed" else 0,
        "withdrawal_class": withdrawal, "reminder_hours": 0, "online": online, "min_notice_min": 0, "max_advance_days": 730,
        "open_on_holidays": False, "version": 7,
    }  # fmt: skip
    values = forms.offering_values(row, staff)
    form = {**values, "resources": [str(s) for s in values["resources"]], "open_on_holidays": ""}
    draft, problems = parse(form)
    assert problems == {}
    assert draft.columns() == {k: row[k] for k in draft.columns()} and set(draft.resources) == staff
    assert forms.parse_version(values) == 7


def test_the_mirrored_lists_match_their_sources():
    assert forms.MINUTE_UNIT == CLAIM_UNIT_MIN
    assert set(forms.WITHDRAWAL_LABELS) == set(CLASSES)
    assert set(RATES) == {c.value for c in VatCategory}
    assert (trade_register("as"), trade_register("NUF"), trade_register("ENK")) == (
        "Foretaksregisteret",
        "Foretaksregisteret",
        "Enhetsregisteret",
    )
    assert forms.kroner_text(54900) == "549" and forms.kroner_text(54950) == "549,50" and forms.kroner_text(5) == "0,05"

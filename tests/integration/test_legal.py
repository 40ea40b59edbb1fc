"""The rules of ../shared/LEGAL.md, proven over HTTP against the seeded catalogue.

Wording is compared through the gettext catalogue (`translations(lang).gettext`
of the msgid the code uses), so a re-translated Bokmål catalogue does not break
these tests; data (legal names, org numbers, prices via format_nok, times via
clock.fmt_datetime) is compared as rendered.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from portal.capacity.tables import SlotClaim
from portal.catalogue.domain import RANKING_NOTE
from portal.catalogue.tables import Offering, Resource, Supplier
from portal.kinds.appointment.tables import Reservation
from portal.legal.cancellation import cancellation_terms_text
from portal.legal.withdrawal import WITHDRAWAL_MESSAGES, withdrawal_info
from portal.lib import clock
from portal.lib.i18n import translations
from portal.lib.money import format_nok, format_rate, split_vat
from portal.orders.domain import OrderState
from portal.orders.tables import Order, OrderLine
from portal.sales.checkout import CONSENT_TEXTS
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot, slots

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
VIDEO = "/s/lunde-radgivning/videokonsultasjon"
YOGA = "/s/pust-yoga-stavanger/yoga-flow"
PRIVATE_YOGA = "/s/pust-yoga-stavanger/privattime-yoga"
OSLO = ZoneInfo("Europe/Oslo")
LANGS = ["nb", "en"]

PRICE_RE = {
    "nb": re.compile(r"kr[ \u00a0]\d{1,3}(?:\u00a0\d{3})*,\d{2}"),
    "en": re.compile(r"NOK[ \u00a0]\d{1,3}(?:,\d{3})*\.\d{2}"),
}


# ---------------------------------------------------------------- helpers


def esc(text: object) -> str:
    """As Jinja's autoescape renders a value."""
    return str(escape(str(text)))


def gettext(lang: str, msgid: str) -> str:
    return translations(lang).gettext(msgid)


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def identity(markup: str, lang: str) -> dict[str, str]:
    """The supplier's identity block: label -> shown text (tags stripped, unescaped)."""
    block = re.search(r'<dl class="identity">(.*?)</dl>', markup, re.S)
    assert block, "no supplier identity block"
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", block.group(1), re.S)
    return {html.unescape(dt).strip(): html.unescape(re.sub(r"<[^>]+>", "", dd)).strip() for dt, dd in pairs}


def assert_identity(markup: str, supplier: dict, lang: str) -> None:
    """Legal name (as the seller), organisation number, address, phone and email (L1)."""
    shown = identity(markup, lang)
    label = lambda msgid: gettext(lang, msgid)  # noqa: E731
    assert shown[label("Seller")] == supplier["legal_name"]
    org = shown[label("Organisation number")]
    assert digits(org) == supplier["org_number"]
    assert org.endswith(" MVA") == bool(supplier["vat_registered"])
    assert shown[label("Address")] == f"{supplier['street']}, {supplier['postcode']} {supplier['town']}"
    assert digits(shown[label("Phone")]) == digits(supplier["phone"])
    assert f'href="tel:{esc(supplier["phone"])}"' in markup
    assert shown[label("Email")] == supplier["email"]
    assert f'href="mailto:{esc(supplier["email"])}"' in markup


class Tags(HTMLParser):
    """Start tags with their attributes, and the text of each <label for=…>."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.labels: dict[str, str] = {}
        self._label: str | None = None
        self._text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "label":
            self._label, self._text = attributes.get("for"), []

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if self._label is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "label" and self._label is not None:
            self.labels[self._label] = "".join(self._text)
            self._label = None

    def checkboxes(self) -> dict[str, dict]:
        return {a.get("name"): a for t, a in self.tags if t == "input" and (a.get("type") or "").lower() == "checkbox"}


def use_language(client, lang: str) -> None:
    if lang == "en":
        client.cookies.set("lang", "en")


async def hold(client, path: str, start: str | None = None) -> tuple[str, str]:
    """Hold a time on the offering page; returns (checkout url, hold token)."""
    if start is None:
        start, token = await first_free_slot(client, path)
    else:
        token = csrf((await client.get(path)).text)
    response = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    url = response.headers["location"]
    return url, url.rsplit("/", 1)[1]


async def slot_on_or_after(client, path: str, earliest: datetime) -> str:
    """The first offered start at or after `earliest`, looking day by day."""
    day = clock.to_local(earliest).date()
    for offset in range(40):
        page = await client.get(path, params={"day": (day + timedelta(days=offset)).isoformat()})
        later = [s for s in slots(page.text) if datetime.fromisoformat(s) >= earliest]
        if later:
            return later[0]
    raise AssertionError(f"no free time on {path} after {earliest}")


async def booking_row(checkout_token: str) -> dict:
    """What a booking is now, as stored: its order, its one line and that line's reservation."""
    order = await Order.select().output(load_json=True).where(Order.checkout_token == checkout_token).first()
    (line,) = await OrderLine.select().output(load_json=True).where(OrderLine.order == order["id"])
    (reservation,) = await Reservation.select().where(Reservation.order == order["id"])
    return {"order": order, "line": line, "reservation": reservation}


async def offering_of(path: str) -> tuple[dict, dict]:
    supplier_slug, offering_slug = path.strip("/").split("/")[1:]
    supplier = await Supplier.select().where(Supplier.slug == supplier_slug).first()
    offering = await Offering.select().where((Offering.supplier == supplier["id"]) & (Offering.slug == offering_slug)).first()
    return supplier, offering


async def book(client, checkout_url: str, **changes) -> object:
    return await confirm_with_code(client, checkout_url, changes)


def payment_wording(path: str, lang: str, offering: dict) -> list[str]:
    """What the checkout says about paying, by the seller's means of payment:
    the salon and the consultant offer Vipps or on site, yoga only on site."""
    if path in (HAIRCUT, VIDEO):
        return [gettext(lang, "Vipps – reserved now, charged after the appointment"), gettext(lang, "Pay at the appointment")]
    return [gettext(lang, "Paid at the appointment. Nothing is charged or reserved now.")]


def field_block(markup: str, field_id: str) -> str:
    """The markup from a field's input to the end of its <div class="field">."""
    start = markup.index(f'id="{field_id}"')
    return markup[start : markup.index("</div>", start)]


# ---------------------------------------------------------------- L1


@pytest.mark.legal("L1")
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", [HAIRCUT, VIDEO, YOGA])
async def test_checkout_shows_everything_required_before_the_contract(client, path, lang):
    use_language(client, lang)
    supplier, offering = await offering_of(path)
    url, token = await hold(client, path)
    page = await client.get(url)
    assert page.status_code == 200
    text = page.text
    booking = await booking_row(token)

    # The seller, with everything needed to contact them, labelled as the seller.
    assert_identity(text, supplier, lang)
    # The portal is the intermediary.
    assert esc(gettext(lang, "You book through portal, an intermediary. The seller and your contract party is:")) in text

    # What is booked, and when (Europe/Oslo).
    resource = await Resource.select().where(Resource.id == booking["reservation"]["resource"]).first()
    assert f"{esc(offering['title'])} – {esc(resource['name'])}" in text
    when = f"{clock.fmt_datetime(booking['reservation']['start'], lang)}–{clock.fmt_time(booking['reservation']['end'], lang)}"
    assert esc(when) in text
    local_start = booking["reservation"]["start"].astimezone(OSLO)
    assert local_start.strftime("%H:%M") in when and str(local_start.year) in when

    # The total price including VAT; the VAT part; the payment terms (what is reserved now, what is charged when).
    vat = split_vat(offering["price_ore"], offering["vat_rate_bp"])
    total = gettext(lang, "Total")
    assert f'<tr class="total"><th scope="row">{esc(total)}</th><td>{esc(format_nok(offering["price_ore"], lang))}</td></tr>' in text
    vat_label = gettext(lang, "incl. VAT %(rate)s") % {"rate": format_rate(offering["vat_rate_bp"], lang)}
    assert f'<th scope="row">{esc(vat_label)}</th><td>{esc(format_nok(vat.vat_ore, lang))}</td>' in text
    for wording in payment_wording(path, lang, offering):
        assert esc(wording) in text, wording

    # Cancellation terms, the right of withdrawal, where to complain.
    terms = cancellation_terms_text(offering["cancel_free_hours"], offering["cancel_fee_percent"])
    cancellation = translations(lang).ngettext(terms.singular, terms.plural, terms.count) % terms.args
    assert str(offering["cancel_free_hours"]) in cancellation and str(offering["cancel_fee_percent"]) in cancellation
    assert esc(cancellation) in text
    assert esc(gettext(lang, withdrawal_info(offering["withdrawal_class"]).message)) in text
    complaints = gettext(
        lang,
        "Contact the seller first, at the email or phone below. You can also complain to Forbrukertilsynet or Forbrukerrådet.",
    )
    assert esc(complaints) in text
    if lang == "en":
        for wording in ("Seller", "intermediary", "Total", "Price and payment", "Cancellation", "Right of withdrawal", "Complaints"):
            assert wording in text, wording


@pytest.mark.legal("L1")
async def test_a_fixed_cancellation_fee_the_owner_sets_is_shown_before_the_contract_as_it_is_charged(client):
    """The settings let an owner charge a fixed fee instead of a percentage: the
    checkout names that amount (the settlement charges it, portal.payments.service)."""
    from portal.catalogue import service as catalogue

    _, offering = await offering_of(HAIRCUT)
    await Offering.update({Offering.cancel_fee_ore: 15000, Offering.cancel_fee_percent: 50}).where(Offering.id == offering["id"])
    try:
        catalogue.clear_cache()
        use_language(client, "nb")
        url, _ = await hold(client, HAIRCUT)
        text = html.unescape((await client.get(url)).text)
        terms = re.findall(r"Gratis avbestilling[^<]*", text)
        assert any(t.endswith(f": {format_nok(15000, 'nb')}.") for t in terms), terms
        assert not any("50 %" in t for t in terms), terms
    finally:
        await Offering.update({Offering.cancel_fee_ore: offering["cancel_fee_ore"], Offering.cancel_fee_percent: offering["cancel_fee_percent"]}).where(Offering.id == offering["id"])
        catalogue.clear_cache()


@pytest.mark.legal("L1")
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", [HAIRCUT, VIDEO, YOGA, PRIVATE_YOGA])
async def test_offering_page_shows_the_price_including_vat(client, path, lang):
    use_language(client, lang)
    _, offering = await offering_of(path)
    page = await client.get(path)
    assert page.status_code == 200
    assert f"<strong>{esc(format_nok(offering['price_ore'], lang))}</strong> {esc(gettext(lang, 'incl. VAT'))}" in page.text


# ---------------------------------------------------------------- L2


@pytest.mark.legal("L2")
@pytest.mark.parametrize(
    ("path", "boxes"), [(HAIRCUT, {"accept_terms", "adult", "early_start", "remember_device", "marketing"}), (YOGA, {"accept_terms", "adult", "remember_device", "marketing"})]
)
async def test_no_checkbox_is_pre_ticked_on_checkout(client, path, boxes):
    url, _ = await hold(client, path)
    page = await client.get(url)
    found = Tags(page.text).checkboxes()
    assert set(found) == boxes
    for name, attributes in found.items():
        assert "checked" not in attributes, f"{name} is pre-ticked"


@pytest.mark.legal("L2")
async def test_no_pre_ticked_box_or_add_on_before_checkout(client):
    for path in ("/", "/s/saks-og-stil-grunerlokka", HAIRCUT, YOGA):
        tags = Tags((await client.get(path)).text)
        assert not [a for t, a in tags.tags if t == "input" and "checked" in a], path
        assert not tags.checkboxes(), f"{path}: no add-on boxes outside checkout"


# ---------------------------------------------------------------- L3


def result_slugs(markup: str) -> list[str]:
    return re.findall(r'<li class="card">\s*<a href="/s/([^"/?]+)"', markup)


@pytest.mark.legal("L3")
@pytest.mark.parametrize(
    "params",
    [{}, {"q": "saks"}, {"category": "hair"}, {"town": "Tromsø"}, {"q": "ingen treff her"}, {"q": "massasje", "town": "Bergen"}],
)
@pytest.mark.parametrize("fragment", [False, True])
async def test_search_and_listing_say_how_results_are_ranked(client, params, fragment):
    headers = {"HX-Request": "true"} if fragment else {}
    page = await client.get("/", params=params, headers=headers)
    assert page.status_code == 200
    assert esc(gettext("nb", RANKING_NOTE)) in page.text
    client.cookies.set("lang", "en")
    english = await client.get("/", params=params, headers=headers)
    assert "sorted" in english.text and esc(RANKING_NOTE) in english.text


@pytest.mark.legal("L3")
async def test_results_are_ranked_as_stated_alphabetically_by_name(client):
    suppliers = await Supplier.select(Supplier.slug, Supplier.name).where(Supplier.active == True)  # noqa: E712
    expected = [s["slug"] for s in sorted(suppliers, key=lambda s: s["name"].casefold())]
    assert result_slugs((await client.get("/")).text) == expected
    assert len(expected) == 5


@pytest.mark.legal("L3")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "saks"}, ["saks-og-stil-grunerlokka"]),
        ({"q": "SAKS & STIL"}, ["saks-og-stil-grunerlokka"]),
        ({"q": "Herreklipp"}, ["saks-og-stil-grunerlokka"]),  # an offering's title
        ({"q": "idrettsmassasje"}, ["fjellro-massasje-bergen"]),
        ({"q": "RÅDGIVNING"}, ["lunde-radgivning"]),
        ({"q": "rådgivning"}, ["lunde-radgivning"]),
        ({"q": "  yoga   flow "}, ["pust-yoga-stavanger"]),
        ({"q": "Grünerløkka"}, ["saks-og-stil-grunerlokka"]),
        ({"q": "tromsø"}, ["nordlys-leiligheter-tromso"]),
        ({"q": "finnes ikke"}, []),
        ({"category": "hair"}, ["saks-og-stil-grunerlokka"]),
        ({"category": "fitness"}, ["pust-yoga-stavanger"]),
        ({"category": "accommodation"}, ["nordlys-leiligheter-tromso"]),
        ({"town": "Tromsø"}, ["nordlys-leiligheter-tromso"]),
        ({"town": "TROMSØ"}, ["nordlys-leiligheter-tromso"]),
        ({"town": "bergen"}, ["fjellro-massasje-bergen"]),
        ({"town": "Trondheim", "category": "consulting"}, ["lunde-radgivning"]),
        ({"town": "Oslo", "category": "massage"}, []),
        ({"q": "massasje", "town": "Bergen", "category": "massage"}, ["fjellro-massasje-bergen"]),
    ],
)
async def test_search_by_text_category_and_town(client, params, expected):
    page = await client.get("/", params=params)
    assert page.status_code == 200
    assert result_slugs(page.text) == expected
    fragment = await client.get("/", params=params, headers={"HX-Request": "true"})
    assert result_slugs(fragment.text) == expected


@pytest.mark.legal("L3")
async def test_search_ignores_accents_other_than_aeoa(client):
    page = await client.get("/", params={"q": "grunerløkka"})
    assert result_slugs(page.text) == ["saks-og-stil-grunerlokka"]


@pytest.mark.legal("L3")
async def test_town_filter_offers_the_towns_with_their_letters(client):
    page = await client.get("/")
    assert '<option value="Tromsø">Tromsø</option>' in page.text
    chosen = await client.get("/", params={"town": "Tromsø"})
    assert '<option value="Tromsø" selected>Tromsø</option>' in chosen.text


# ---------------------------------------------------------------- L6


@pytest.mark.legal("L6")
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", [YOGA, PRIVATE_YOGA])
async def test_exempt_leisure_says_no_right_of_withdrawal_before_and_after(client, path, lang):
    use_language(client, lang)
    _, offering = await offering_of(path)
    assert offering["withdrawal_class"] == "exempt_dated_leisure"
    no_withdrawal = esc(gettext(lang, WITHDRAWAL_MESSAGES["exempt_dated_leisure"]))

    offering_page = await client.get(path)
    assert no_withdrawal in offering_page.text
    url, _ = await hold(client, path)
    checkout = await client.get(url)
    assert no_withdrawal in checkout.text
    assert "early_start" not in Tags(checkout.text).checkboxes()
    done = await book(client, url, early_start=None)
    assert done.status_code == 303
    confirmation = await client.get(done.headers["location"])
    assert confirmation.status_code == 200
    assert no_withdrawal in confirmation.text
    assert_identity(confirmation.text, (await offering_of(path))[0], lang)
    if lang == "en":
        for page in (offering_page, checkout, confirmation):
            assert "No right of withdrawal" in page.text


# ---------------------------------------------------------------- L7


@pytest.mark.legal("L7")
@pytest.mark.parametrize("lang", LANGS)
async def test_standard_service_within_14_days_needs_the_early_start_request(client, lang):
    use_language(client, lang)
    _, offering = await offering_of(HAIRCUT)
    assert offering["withdrawal_class"] == "standard"
    url, token = await hold(client, HAIRCUT)
    held = await booking_row(token)
    assert held["reservation"]["start"] < clock.now() + timedelta(days=14)

    page = await client.get(url)
    tags = Tags(page.text)
    assert "early_start" in tags.checkboxes()
    shown = {key: tags.labels[key] for key in ("accept_terms", "adult", "early_start")}
    assert shown["early_start"] == gettext(lang, CONSENT_TEXTS["early_start"])

    refused = await client.post(url, data={**VALID_CUSTOMER, "early_start": "", "_csrf_token": csrf(page.text)})
    assert refused.status_code == 422
    error = gettext(
        lang,
        "This appointment is within the 14-day withdrawal period: tick the box to ask us to start early, or choose a later time.",
    )
    assert f'<p class="error" id="early_start-error">{esc(error)}</p>' in field_block(refused.text, "early_start")
    assert 'aria-describedby="early_start-error"' in field_block(refused.text, "early_start")
    assert await booking_row(token) == held, "a refused form writes nothing"

    before = clock.now()
    done = await book(client, url)
    after = clock.now()
    assert done.status_code == 303
    booking = (await booking_row(token))["order"]
    assert booking["state"] == OrderState.CONFIRMED
    assert set(booking["consents"]) == {"accept_terms", "adult", "early_start"}
    for key, consent in booking["consents"].items():
        assert consent["text"] == shown[key], f"{key}: stored text differs from the text shown"
        at = datetime.fromisoformat(consent["at"])
        assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
        assert before <= at <= after
        assert abs(at - booking["contract_at"]) < timedelta(milliseconds=1)


@pytest.mark.legal("L7")
async def test_standard_service_after_the_withdrawal_period_needs_no_early_start_request(client):
    start = await slot_on_or_after(client, HAIRCUT, clock.now() + timedelta(days=17))
    url, token = await hold(client, HAIRCUT, start)
    page = await client.get(url)
    assert "early_start" not in Tags(page.text).checkboxes()
    done = await book(client, url, early_start=None)
    assert done.status_code == 303
    booking = (await booking_row(token))["order"]
    assert booking["state"] == OrderState.CONFIRMED
    assert set(booking["consents"]) == {"accept_terms", "adult"}


# ---------------------------------------------------------------- L20


def prices(markup: str, lang: str) -> list[str]:
    return PRICE_RE[lang].findall(markup)


@pytest.mark.legal("L20")
@pytest.mark.parametrize("lang", LANGS)
async def test_every_price_on_supplier_pages_is_the_vat_inclusive_price(client, lang):
    use_language(client, lang)
    suppliers = await Supplier.select().where(Supplier.active == True)  # noqa: E712
    assert suppliers
    for supplier in suppliers:
        offerings = await Offering.select().where((Offering.supplier == supplier["id"]) & (Offering.active == True))  # noqa: E712
        page = await client.get(f"/s/{supplier['slug']}")
        assert page.status_code == 200
        assert sorted(prices(page.text, lang)) == sorted(format_nok(o["price_ore"], lang) for o in offerings), supplier["slug"]
        cards = page.text.split('<li class="card">')[1:]
        for offering in offerings:
            card = next(c for c in cards if f"{esc(offering['title'])}</" in c)
            assert f"<strong>{esc(format_nok(offering['price_ore'], lang))}</strong>" in card, offering["slug"]
        assert esc(gettext(lang, "All prices include VAT.")) in page.text


@pytest.mark.legal("L20")
@pytest.mark.parametrize("lang", LANGS)
async def test_every_price_on_offering_checkout_and_confirmation_is_the_vat_inclusive_price(client, lang):
    use_language(client, lang)
    for path in (HAIRCUT, YOGA, VIDEO):
        _, offering = await offering_of(path)
        price = format_nok(offering["price_ore"], lang)
        vat = format_nok(split_vat(offering["price_ore"], offering["vat_rate_bp"]).vat_ore, lang)

        assert prices((await client.get(path)).text, lang) == [price], path

        url, token = await hold(client, path)
        held = await booking_row(token)
        line = held["line"]
        assert line["quantity"] == 1
        assert (line["unit_price_ore"], line["vat_rate_bp"]) == (offering["price_ore"], offering["vat_rate_bp"])
        checkout = prices((await client.get(url)).text, lang)
        # The line, the total, the VAT part, and the button (on site) or the note on what Vipps reserves.
        assert checkout.count(price) == 3 and set(checkout) == {price, vat}, (path, checkout)

        done = await book(client, url)
        confirmation = prices((await client.get(done.headers["location"])).text, lang)
        assert set(confirmation) == {price, vat} and confirmation[0] == price, (path, confirmation)


# ---------------------------------------------------------------- L27


@pytest.mark.legal("L27")
@pytest.mark.parametrize("adult", [None, "", "off", "no"])
async def test_booking_without_the_18_plus_box_fails_and_writes_nothing(client, adult):
    url, token = await hold(client, HAIRCUT)
    held = await booking_row(token)
    claims = await SlotClaim.select().order_by(SlotClaim.id)
    bookings = (await Order.count(), await OrderLine.count(), await Reservation.count())

    page = await client.get(url)
    assert Tags(page.text).labels["adult"] == gettext("nb", CONSENT_TEXTS["adult"])
    data = {**VALID_CUSTOMER, "adult": adult, "_csrf_token": csrf(page.text)}
    response = await client.post(url, data={k: v for k, v in data.items() if v is not None}, follow_redirects=False)

    assert response.status_code == 422
    block = field_block(response.text, "adult")
    assert f'<p class="error" id="adult-error">{esc(gettext("nb", "You must be 18 or older to book."))}</p>' in block
    assert 'aria-invalid="true"' in block and 'aria-describedby="adult-error"' in block
    assert 'id="adult-error"' not in response.text.replace(block, ""), "the message sits next to the field"
    assert "checked" not in Tags(response.text).checkboxes()["adult"]
    # Nothing written.
    assert await booking_row(token) == held
    assert await SlotClaim.select().order_by(SlotClaim.id) == claims
    assert (await Order.count(), await OrderLine.count(), await Reservation.count()) == bookings
    assert await Order.count().where(Order.state == OrderState.CONFIRMED) == 0

"""Coupons in the checkout: apply, refuse, remove, confirm on site or with Vipps.

The salon's seeded demo coupons: VELKOMMEN10 (10 %) and GAVE100 (kr 100 off,
one use, orders from kr 300). Men's haircut costs kr 549,00 incl. 25 % VAT.
Other coupons are inserted by the tests (and removed afterwards).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import escape

from portal.catalogue.tables import Offering, Supplier
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.lib.i18n import translations
from portal.lib.money import format_nok
from portal.orders.tables import Order
from portal.payments.coupons import REFUSAL_TEXT, CouponRefusal
from portal.payments.tables import Coupon, CouponRedemption, Payment
from tests.integration.helpers import confirm_with_code, csrf, first_free_slot

SALON = "saks-og-stil-grunerlokka"
HAIRCUT = f"/s/{SALON}/herreklipp"
PRICE = 549_00
UTC = timezone.utc


# ---------------------------------------------------------------- set-up


@pytest.fixture()
async def coupons(clean_bookings):
    """Insert extra coupons for a test: `await coupons.add("CODE", kind=…, value=…, **fields)`."""

    class Added:
        ids: list[int] = []

        async def add(self, code: str, *, supplier: str = SALON, kind: str = "percent", value: int = 10, **fields) -> dict:
            supplier_id = (await Supplier.select(Supplier.id).where(Supplier.slug == supplier).first())["id"]
            values = {
                "valid_from": None,
                "valid_until": None,
                "max_uses": None,
                "uses": 0,
                "min_amount_ore": 0,
                "offering_ids": [],
                "active": True,
                **fields,
            }
            inserted = await Coupon.insert(
                Coupon(
                    supplier=supplier_id,
                    code=code,
                    supplier_code=f"{supplier_id}:{code}",
                    kind=kind,
                    value=value,
                    created_at=clock.now(),
                    **values,
                )
            ).returning(Coupon.id)
            self.ids.append(inserted[0]["id"])
            return await Coupon.select().where(Coupon.id == inserted[0]["id"]).first()

    added = Added()
    added.ids = []
    yield added
    if added.ids:
        await CouponRedemption.delete().where(CouponRedemption.coupon.is_in(added.ids))
        await Coupon.delete().where(Coupon.id.is_in(added.ids))


async def coupon(code: str) -> dict:
    supplier_id = (await Supplier.select(Supplier.id).where(Supplier.slug == SALON).first())["id"]
    return await Coupon.select().where(Coupon.supplier_code == f"{supplier_id}:{code}").first()


async def hold(client) -> tuple[str, str]:
    """(checkout url, csrf token) for a new hold on the first free haircut."""
    start, token = await first_free_slot(client, HAIRCUT)
    held = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303, held.text[-1500:]
    url = held.headers["location"]
    page = await client.get(url)
    return url, csrf(page.text)


async def order_at(url: str) -> dict:
    """The order held at this checkout url."""
    return await Order.select().output(load_json=True).where(Order.checkout_token == url.rsplit("/", 1)[-1]).first()


async def reservation_of(order: dict) -> dict:
    return await Reservation.select().where(Reservation.order == order["id"]).first()


async def coupon_action(client, url: str, token: str, code: str, *, action: str = "apply_coupon", htmx: bool = False, **extra):
    headers = {"HX-Request": "true", "HX-Target": "payment-block"} if htmx else {}
    return await client.post(url, data={"action": action, "coupon": code, "_csrf_token": token, **extra}, headers=headers)


def money(ore: int, language: str = "nb") -> str:
    return str(escape(format_nok(ore, language)))


def total_shown(html: str) -> str:
    match = re.search(r'<tr class="total">.*?<td>(.*?)</td>', html, re.S)
    assert match, "no total row"
    return match.group(1)


def vat_shown(html: str) -> list[str]:
    return re.findall(r'<tr class="vat">.*?<td>(.*?)</td>', html, re.S)


def coupon_error(html: str) -> str | None:
    match = re.search(r'<p class="error" id="coupon-error">(.*?)</p>', html, re.S)
    return match.group(1) if match else None


# ---------------------------------------------------------------- applying a code


@pytest.mark.legal("L20")
@pytest.mark.parametrize("typed", ["VELKOMMEN10", " velkommen10 ", "velkommen 10", "Velkommen10"])
async def test_a_valid_code_shows_the_discount_and_the_new_total_incl_vat(client, typed):
    url, token = await hold(client)
    page = await client.get(url)
    assert total_shown(page.text) == money(PRICE)
    assert vat_shown(page.text) == [money(109_80)]

    applied = await coupon_action(client, url, token, typed)
    assert applied.status_code == 200, applied.text[-2000:]
    html = applied.text
    assert total_shown(html) == money(494_10)
    assert f"−{money(54_90)}" in html  # the discount line
    assert vat_shown(html) == [money(98_82)], "VAT not recomputed from the discounted price"
    assert "VELKOMMEN10" in html
    assert coupon_error(html) is None and 'aria-invalid="true"' not in html
    assert (await order_at(url))["coupon_code"] == "VELKOMMEN10"
    # applying reserves nothing yet
    assert (await coupon("VELKOMMEN10"))["uses"] == 0
    assert await CouponRedemption.count() == 0


@pytest.mark.legal("L2")
async def test_applying_a_code_does_not_choose_how_to_pay(client):
    url, token = await hold(client)
    applied = await coupon_action(client, url, token, "VELKOMMEN10")
    assert 'name="means"' in applied.text
    assert not re.search(r'name="means"[^>]*checked', applied.text), "a means of payment was chosen for the customer"


async def test_removing_the_code_restores_the_price(client):
    url, token = await hold(client)
    await coupon_action(client, url, token, "VELKOMMEN10")
    removed = await coupon_action(client, url, token, "VELKOMMEN10", action="remove_coupon")
    assert removed.status_code == 200
    assert total_shown(removed.text) == money(PRICE)
    assert (await order_at(url))["coupon_code"] == ""


async def test_htmx_gets_only_the_payment_block(client):
    url, token = await hold(client)
    applied = await coupon_action(client, url, token, "velkommen10", htmx=True)
    assert applied.status_code == 200
    html = applied.text.strip()
    assert html.startswith('<section id="payment-block"'), html[:300]
    assert "<html" not in html and "<h1" not in html and 'name="name"' not in html
    assert total_shown(html) == money(494_10)
    assert "HX-Request" in applied.headers.get("vary", "")

    refused = await coupon_action(client, url, token, "FINNESIKKE", htmx=True)
    assert refused.status_code == 422
    assert refused.text.strip().startswith('<section id="payment-block"')
    assert coupon_error(refused.text) is not None
    assert total_shown(refused.text) == money(PRICE)


# ---------------------------------------------------------------- refusals


async def _refusal_cases(coupons) -> dict[str, tuple[str, CouponRefusal, dict]]:
    """name -> (code typed, refusal, arguments of the message)"""
    now = clock.now()
    other = await Offering.select(Offering.id).where(Offering.slug == "barneklipp").first()
    await coupons.add("UTLOPT", valid_until=now - timedelta(days=1))
    await coupons.add("STORKUNDE", kind="fixed", value=200_00, min_amount_ore=1_000_00)
    await coupons.add("BARNEKLIPP20", offering_ids=[other["id"]])
    await coupons.add("ANNEN20", supplier="lunde-radgivning")
    await coupons.add("AVSLATT", active=False)
    await coupons.add("SNART", valid_from=now + timedelta(days=2))
    await Coupon.update({Coupon.uses: 1}).where(Coupon.id == (await coupon("GAVE100"))["id"])
    return {
        "unknown": ("FINNESIKKE", CouponRefusal.UNKNOWN, {}),
        "expired": ("utlopt", CouponRefusal.EXPIRED, {}),
        "below minimum": ("STORKUNDE", CouponRefusal.BELOW_MINIMUM, {"minimum": 1_000_00}),
        "another offering": ("BARNEKLIPP20", CouponRefusal.NOT_FOR_THIS_OFFERING, {}),
        "another supplier": ("ANNEN20", CouponRefusal.UNKNOWN, {}),
        "used up": ("GAVE100", CouponRefusal.USED_UP, {}),
        "inactive": ("AVSLATT", CouponRefusal.INACTIVE, {}),
        "not yet valid": ("SNART", CouponRefusal.NOT_YET_VALID, {"start": None}),
        "malformed": ("ÆØÅ!", CouponRefusal.MALFORMED, {}),
    }


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_refused_codes_say_why_next_to_the_field_and_leave_the_price(client, coupons, language):
    client.cookies.set("lang", language)
    cases = await _refusal_cases(coupons)
    url, token = await hold(client)
    t = translations(language)
    for name, (typed, refusal, args) in cases.items():
        refused = await coupon_action(client, url, token, typed)
        assert refused.status_code == 422, name
        shown = coupon_error(refused.text)
        assert shown is not None, f"{name}: no message next to the field"
        assert "%(" not in shown, f"{name}: placeholder left in the message: {shown}"
        template = t.gettext(REFUSAL_TEXT[refusal])
        if language == "nb":
            assert template != REFUSAL_TEXT[refusal], f"{name}: not translated into Bokmål"
        if "minimum" in args:
            assert shown == str(escape(template % {"minimum": format_nok(args["minimum"], language)})), name
        elif "start" in args:
            before, _, after = template.partition("%(start)s")
            assert shown.startswith(str(escape(before))) and shown.endswith(str(escape(after))), (name, shown)
        else:
            assert shown == str(escape(template)), name
        assert re.search(r'id="coupon"[^>]*aria-invalid="true"[^>]*aria-describedby="coupon-error"', refused.text), name
        assert total_shown(refused.text) == money(PRICE, language), name
        assert "−" not in refused.text.split('<tr class="total">')[0].split('<table class="price">')[-1], f"{name}: a discount is shown"
        assert (await order_at(url))["coupon_code"] == "", name
    assert await CouponRedemption.count() == 0


async def test_a_refused_code_typed_at_confirm_is_refused_there(client):
    url, _ = await hold(client)
    refused = await confirm_with_code(client, url, {"means": "onsite", "coupon": "FINNESIKKE"})
    assert refused.status_code == 422
    assert coupon_error(refused.text) is not None
    order = await order_at(url)
    assert order["state"] == "held" and order["coupon_code"] == ""
    assert await CouponRedemption.count() == 0


# ---------------------------------------------------------------- confirming


@pytest.mark.legal("L17")
async def test_confirm_on_site_with_a_code_freezes_the_discount_to_the_ore(client):
    url, token = await hold(client)
    await coupon_action(client, url, token, "VELKOMMEN10")
    done = await confirm_with_code(client, url, {"means": "onsite", "coupon": "VELKOMMEN10"})
    assert done.status_code == 303 and done.headers["location"].startswith("/b/"), done.text[-2000:]

    order = await order_at(url)
    assert order["state"] == "confirmed" and order["means"] == "onsite"
    assert (order["quote"]["total_ore"], order["quote"]["vat_ore"]) == (494_10, 98_82)
    quote = order["quote"]
    assert (quote["subtotal_ore"], quote["discount_ore"], quote["total_ore"], quote["vat_ore"]) == (549_00, 54_90, 494_10, 98_82)
    assert (quote["coupon_code"], quote["means"], quote["pay_now_ore"], quote["pay_on_site_ore"]) == ("VELKOMMEN10", "onsite", 0, 494_10)
    (line,) = quote["lines"]
    assert (line["unit_price_ore"], line["discount_ore"], line["gross_ore"], line["vat_ore"], line["net_ore"]) == (549_00, 54_90, 494_10, 98_82, 395_28)
    assert quote["vat"] == [{"rate_bp": 2500, "base_ore": 395_28, "vat_ore": 98_82, "gross_ore": 494_10}]

    velkommen = await coupon("VELKOMMEN10")
    (redemption,) = await CouponRedemption.select()
    assert (redemption["coupon"], redemption["order"], redemption["discount_ore"]) == (velkommen["id"], order["id"], 54_90)
    assert velkommen["uses"] == 1
    page = await client.get(done.headers["location"])
    assert money(494_10) in page.text


async def test_a_code_typed_but_not_applied_is_applied_on_confirm(client):
    url, _ = await hold(client)
    done = await confirm_with_code(client, url, {"means": "onsite", "coupon": " gave100 "})
    assert done.status_code == 303, done.text[-2000:]
    order = await order_at(url)
    assert order["state"] == "confirmed"
    assert (order["quote"]["total_ore"], order["quote"]["discount_ore"], order["quote"]["coupon_code"]) == (449_00, 100_00, "GAVE100")
    assert order["quote"]["vat_ore"] == 89_80
    assert (await coupon("GAVE100"))["uses"] == 1
    assert await CouponRedemption.count() == 1


async def test_a_single_use_code_used_once_is_refused_to_the_next_customer(client):
    url, _ = await hold(client)
    assert (await confirm_with_code(client, url, {"means": "onsite", "coupon": "GAVE100"})).status_code == 303
    client.cookies.clear()
    url2, token2 = await hold(client)
    refused = await coupon_action(client, url2, token2, "GAVE100")
    assert refused.status_code == 422
    assert coupon_error(refused.text) == str(escape(translations("nb").gettext(REFUSAL_TEXT[CouponRefusal.USED_UP])))
    assert (await coupon("GAVE100"))["uses"] == 1


async def test_a_hundred_percent_code_confirms_without_vipps(client, coupons, vipps):
    await coupons.add("GRATIS", kind="percent", value=100)
    url, token = await hold(client)
    applied = await coupon_action(client, url, token, "gratis")
    assert total_shown(applied.text) == money(0)
    done = await confirm_with_code(client, url, {"means": "vipps", "coupon": "GRATIS"})
    assert done.status_code == 303 and done.headers["location"].startswith("/b/"), done.text[-2000:]
    order = await order_at(url)
    assert order["state"] == "confirmed" and order["means"] == "onsite"
    assert (order["quote"]["total_ore"], order["quote"]["vat_ore"], order["quote"]["pay_now_ore"]) == (0, 0, 0)
    assert await Payment.count() == 0
    assert vipps.requests_for("create") == []
    (redemption,) = await CouponRedemption.select()
    assert redemption["discount_ore"] == PRICE


# ---------------------------------------------------------------- with Vipps


async def _to_vipps_with(client, code: str) -> tuple[str, dict]:
    url, token = await hold(client)
    await coupon_action(client, url, token, code)
    sent = await confirm_with_code(client, url, {"means": "vipps", "coupon": code})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"], sent.text[-2000:]
    order = await order_at(url)
    payment = await Payment.select().where(Payment.order == order["id"]).first()
    return url, payment


async def test_vipps_reserves_the_discounted_total(client, vipps):
    _, payment = await _to_vipps_with(client, "GAVE100")
    assert payment["amount_ore"] == 449_00
    (create,) = vipps.requests_for("create")
    assert create["json"]["amount"] == {"currency": "NOK", "value": 449_00}
    assert (await coupon("GAVE100"))["uses"] == 1, "the single use is kept while the customer is in Vipps"


async def test_a_rejected_vipps_payment_gives_the_coupon_back(client, vipps):
    from portal.payments.service import return_token

    url, payment = await _to_vipps_with(client, "GAVE100")
    assert await CouponRedemption.count() == 1
    vipps.reject(payment["reference"])
    back = await client.get(f"/pay/{return_token(url.rsplit('/', 1)[-1])}", follow_redirects=False)
    assert back.status_code in (200, 303)
    released = await order_at(url)
    assert released["state"] == "released"
    assert (await reservation_of(released))["status"] == "released"  # its time is free again
    assert (await coupon("GAVE100"))["uses"] == 0
    assert await CouponRedemption.count() == 0
    # and the next customer can use it
    client.cookies.clear()
    url2, token2 = await hold(client)
    assert (await coupon_action(client, url2, token2, "GAVE100")).status_code == 200


async def test_coupon_comes_back_when_the_customer_picked_another_time_before_vipps_ended(client, vipps):
    """The customer goes to Vipps, comes back with Back and holds another time
    (the first hold is abandoned), then the first payment is rejected: the
    single-use code must not stay used by a booking that never happened."""
    from portal.payments.service import return_token

    url, payment = await _to_vipps_with(client, "GAVE100")
    offering = await client.get(HAIRCUT)
    starts = re.findall(r'name="start" value="([^"]+)"', offering.text)
    first = await reservation_of(await order_at(url))
    other = next(s for s in starts if datetime.fromisoformat(s).astimezone(UTC) != first["start"])
    again = await client.post(f"{HAIRCUT}/hold", data={"start": other, "_csrf_token": csrf(offering.text)}, follow_redirects=False)
    assert again.status_code == 303
    abandoned = await order_at(url)
    assert abandoned["state"] == "released"
    assert (await reservation_of(abandoned))["status"] == "released"

    vipps.reject(payment["reference"])
    await client.get(f"/pay/{return_token(url.rsplit('/', 1)[-1])}", follow_redirects=False)
    assert (await Payment.select().where(Payment.id == payment["id"]).first())["state"] == "aborted"
    assert (await coupon("GAVE100"))["uses"] == 0, "the code stays used by an abandoned booking"
    assert await CouponRedemption.count() == 0


async def test_removing_the_code_after_going_to_vipps_gives_the_use_back(client, vipps):
    """Sent to Vipps with GAVE100, the customer comes back, removes the code
    and pays on site: the booking costs the full price, so the single use
    must not stay spent on it."""
    url, payment = await _to_vipps_with(client, "GAVE100")
    assert (await coupon("GAVE100"))["uses"] == 1
    page = await client.get(url)
    token = csrf(page.text)
    removed = await coupon_action(client, url, token, "GAVE100", action="remove_coupon")
    assert removed.status_code == 200 and total_shown(removed.text) == money(PRICE)
    done = await confirm_with_code(client, url, {"means": "onsite", "coupon": "", "code": ""})  # the number is verified already
    assert done.status_code == 303, done.text[-2000:]
    order = await order_at(url)
    assert order["state"] == "confirmed" and order["quote"]["total_ore"] == PRICE and order["quote"]["coupon_code"] is None
    assert await CouponRedemption.count() == 0, "a redemption is kept for a booking that used no code"
    assert (await coupon("GAVE100"))["uses"] == 0


@pytest.mark.legal("L20")
async def test_back_from_vipps_the_checkout_still_shows_the_customers_own_code(client, vipps):
    """The single use of GAVE100 is this booking's own (redeemed when it was
    sent to Vipps): coming back to the checkout must show the price it will
    be charged, not "already used" and the full price."""
    url, payment = await _to_vipps_with(client, "GAVE100")
    page = await client.get(url)
    assert page.status_code == 200
    assert coupon_error(page.text) is None and 'id="coupon-note"' not in page.text, "its own use counted against the customer"
    assert total_shown(page.text) == money(449_00)
    assert payment["amount_ore"] == 449_00
    # pressing "Use code" again is not refused either
    reapplied = await coupon_action(client, url, csrf(page.text), "GAVE100")
    assert reapplied.status_code == 200 and total_shown(reapplied.text) == money(449_00)
    assert (await coupon("GAVE100"))["uses"] == 1


async def test_guessing_codes_is_stopped_after_ten_misses_an_hour(client):
    import time_machine

    from portal.sales.checkout import CODE_MISSES_PER_HOUR as COUPON_MISSES_PER_HOUR

    start, token = await first_free_slot(client, "/s/saks-og-stil-grunerlokka/herreklipp")
    held = await client.post("/s/saks-og-stil-grunerlokka/herreklipp/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    checkout = held.headers["location"]
    page = await client.get(checkout)
    token = csrf(page.text)
    for i in range(COUPON_MISSES_PER_HOUR):
        sent = await client.post(checkout, data={"action": "apply_coupon", "coupon": f"GUESS{i:03d}", "_csrf_token": token})
        assert sent.status_code == 422
    # The right code is refused too now: guessing cannot be told from trying.
    sent = await client.post(checkout, data={"action": "apply_coupon", "coupon": "VELKOMMEN10", "_csrf_token": token})
    assert sent.status_code == 429
    assert (await Order.select(Order.coupon_code).where(Order.checkout_token == checkout.rsplit("/", 1)[-1]).first())["coupon_code"] == ""
    with time_machine.travel(clock.now() + timedelta(hours=1, minutes=1), tick=True):
        sent = await client.post(checkout, data={"action": "apply_coupon", "coupon": "VELKOMMEN10", "_csrf_token": token})
        assert sent.status_code == 200

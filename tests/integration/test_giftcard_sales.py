"""Gift cards sold, delivered and redeemed through the shop, over HTTP against
the session's dev Vipps: the purchase page says what the card is before it is
bought (L21), bad input gets a message next to its field and writes nothing,
the card is paid with Vipps and captured at once, issued with its PDF and
emailed, redeemed in part at checkout as a means of payment of the same
supplier, given its value back when the order is cancelled, looked up on the
balance page, and withdrawn within 14 days while unused."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from portal.lib import clock
from portal.lib.i18n import translations
from portal.notify.tables import DevMessage
from portal.orders.tables import Order, OrderLine
from portal.payments import giftcard_store
from portal.payments.tables import GiftCard, GiftCardEntry, GiftCardMiss, MoneyMovement
from portal.sales import receipts, settlement
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf
from tests.integration.test_payment_lifecycle import ACTOR, by_checkout, drain, hold_time, reservation

FREE = "/s/saks-og-stil-grunerlokka/gavekort/giftcard"  # kr 200 – 5 000, 12 months
SERVICE = "/s/saks-og-stil-grunerlokka/gavekort-herreklipp/giftcard"  # one haircut
FIXED_OTHER = "/s/nordlys-leiligheter-tromso/gavekort-1000/giftcard"  # another supplier, kr 1 000, no stated validity
HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
NB = translations("nb")
EN = translations("en")
CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


@pytest.fixture(autouse=True)
async def _fresh_cards(clean_bookings):
    await GiftCardEntry.delete(force=True)
    await GiftCard.delete(force=True)
    await GiftCardMiss.delete(force=True)
    yield


async def _field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error"[^>]*>([^<]+)</p>', html))


async def buy(client, vipps, path: str = FREE, form: dict | None = None) -> tuple[dict, list[str]]:
    """Buy gift cards with Vipps, approve, and let the worker capture and issue: (order, codes)."""
    page = await client.get(path)
    assert page.status_code == 200
    last = await DevMessage.select(DevMessage.id).order_by(DevMessage.id, ascending=False).first()
    marker = last["id"] if last else 0
    response = await client.post(path, data={"amount": "500", "quantity": "1", **(form or {}), "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert response.status_code == 303, response.text[-1500:]
    checkout = response.headers["location"]
    sent = await confirm_with_code(client, checkout, {"means": "vipps", "early_start": None})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"], sent.text[-1500:]
    order = await by_checkout(checkout)
    from portal.payments import service as payments

    payment = await payments.latest_payment(order["id"])
    assert vipps.approve(payment["reference"])
    back = await client.get(f"/pay/{payments.return_token(order['checkout_token'])}", follow_redirects=False)
    assert back.status_code == 303, back.text[-1500:]
    await drain()
    order = await Order.select().output(load_json=True).where(Order.id == order["id"]).first()
    mails = await DevMessage.select(DevMessage.body).where((DevMessage.recipient == VALID_CUSTOMER["email"]) & (DevMessage.id > marker))
    codes = sorted({c for m in mails for c in CODE.findall(m["body"])})
    return order, codes


@pytest.mark.legal("L21")
async def test_the_purchase_page_says_value_issuer_validity_and_terms_before_purchase(client):
    page = await client.get(FREE)
    assert page.status_code == 200
    last_day = clock.local_today() + dt.timedelta(days=365)
    assert "Saks &amp; Stil Grünerløkka AS" in page.text  # the issuer
    assert "kr\xa0200,00" in page.text and "kr\xa05\xa0000,00" in page.text  # the limits
    assert clock.fmt_date(last_day, "nb", "long").split()[-1] in page.text  # the validity date's year
    assert str(NB.gettext("No VAT is charged on the gift card itself; VAT is paid when it is used, at the rate of what it pays for.")) in page.text
    other = await client.get(FIXED_OTHER)
    assert str(NB.gettext("3 years: the seller states no shorter validity")) in other.text


@pytest.mark.parametrize(
    "form, field",
    [
        ({"amount": "50"}, "amount"),
        ({"amount": "6000"}, "amount"),
        ({"amount": "fem hundre"}, "amount"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "11"}, "quantity"),
        ({"for_gift": "on", "recipient_name": ""}, "recipient_name"),
        ({"for_gift": "on", "recipient_name": "Ola", "recipient_email": "ola@"}, "recipient_email"),
        ({"for_gift": "on", "recipient_name": "Ola", "recipient_email": "ola@example.no", "deliver_on": "2020-01-01"}, "deliver_on"),
        ({"for_gift": "on", "recipient_name": "Ola", "deliver_on": "2099-01-01"}, "deliver_on"),
        ({"for_gift": "on", "recipient_name": "Ola", "deliver_on": (dt.date.today() + dt.timedelta(days=30)).isoformat()}, "recipient_email"),
    ],
)
async def test_bad_purchase_input_gets_a_message_next_to_the_field_and_writes_nothing(client, form, field):
    page = await client.get(FREE)
    before = await Order.count()
    response = await client.post(FREE, data={"amount": "500", "quantity": "1", **form, "_csrf_token": csrf(page.text)})
    assert response.status_code == 422
    errors = await _field_errors(response.text)
    assert field in errors, (form, errors)
    assert f'aria-describedby="{field}-error"' in response.text
    assert await Order.count() == before


@pytest.mark.legal("L21")
async def test_a_gift_card_bought_with_vipps_is_captured_at_once_issued_and_emailed_with_its_pdf(client, vipps):
    order, codes = await buy(client, vipps, form={"amount": "500", "quantity": "2", "for_gift": "on", "recipient_name": "Ola",
                                                "recipient_email": "ola@example.no", "message": "Gratulerer!"})
    assert order["state"] == "completed" and order["means"] == "vipps"
    assert len(codes) == 2
    cards = await GiftCard.select().where(GiftCard.order_id == order["id"])
    assert sorted(c["balance_ore"] for c in cards) == [50000, 50000]
    assert await giftcard_store.ledger_mismatches() == []
    # Captured at once: the whole kr 1 000, in one money movement.
    (capture,) = await MoneyMovement.select().where(MoneyMovement.order == order["id"])
    assert (capture["kind"], capture["amount_ore"]) == ("capture", 100000)
    # No VAT on the sale of a card: the order's line is at 0 %.
    (line,) = await OrderLine.select().where(OrderLine.order == order["id"])
    assert (line["kind"], line["quantity"], line["unit_price_ore"], line["vat_rate_bp"]) == ("giftcard", 2, 50000, 0)
    # The buyer got the cards and the receipt as PDFs; the recipient got theirs.
    buyer = await DevMessage.select().output(load_json=True).where(DevMessage.recipient == VALID_CUSTOMER["email"]).first()
    names = [a["filename"] for a in buyer["attachments"]]
    assert sum(n.startswith("gavekort-") for n in names) == 2 and any(n.startswith("kvittering-") for n in names)
    assert all(a["content_type"] == "application/pdf" and a["size"] > 5000 for a in buyer["attachments"])
    gifts = await DevMessage.select().output(load_json=True).where(DevMessage.recipient == "ola@example.no")
    assert len(gifts) == 2 and all(len(g["attachments"]) == 1 for g in gifts)
    assert any("Gratulerer!" in g["body"] for g in gifts)


async def test_a_gift_sent_on_a_chosen_day_waits_for_that_morning(client, vipps):
    day = clock.local_today() + dt.timedelta(days=10)
    order, _ = await buy(client, vipps, form={"for_gift": "on", "recipient_name": "Ola", "recipient_email": "ola@example.no", "deliver_on": day.isoformat()})
    assert await DevMessage.count().where(DevMessage.recipient == "ola@example.no") == 0
    with time_machine.travel(dt.datetime.combine(day, dt.time(8, 1), tzinfo=clock.OSLO), tick=False):
        await drain()
    assert await DevMessage.count().where(DevMessage.recipient == "ola@example.no") == 1


async def test_a_gift_card_cannot_be_bought_with_a_gift_card(client, vipps):
    _, (code,) = await buy(client, vipps)
    page = await client.get(FREE)
    response = await client.post(FREE, data={"amount": "500", "quantity": "1", "_csrf_token": csrf(page.text)}, follow_redirects=False)
    checkout = response.headers["location"]
    form = await client.get(checkout)
    assert 'name="giftcard"' not in form.text  # not offered
    tried = await client.post(checkout, data={**VALID_CUSTOMER, "means": "vipps", "giftcard": code, "action": "apply_giftcard", "_csrf_token": csrf(form.text)})
    from portal.payments.giftcards import REFUSAL_TEXT, Refusal

    assert tried.status_code == 422
    assert NB.gettext(REFUSAL_TEXT[Refusal.GIFT_CARD_PURCHASE]) in tried.text
    assert (await giftcard_store.card_by_code(code)).balance_ore == 50000


async def _checkout_with_card(client, code: str, means: str = "onsite") -> tuple[str, object]:
    checkout, start = await hold_time(client, HAIRCUT, days_ahead=20)
    page = await client.get(checkout)
    applied = await client.post(
        checkout, data={**VALID_CUSTOMER, "means": means, "giftcard": code.lower().replace("-", " "), "action": "apply_giftcard", "_csrf_token": csrf(page.text)}
    )
    assert applied.status_code == 200, applied.text[-1500:]
    return checkout, applied


@pytest.mark.legal("L21")
async def test_part_of_a_card_pays_a_haircut_the_rest_on_site_and_the_card_shows_what_is_left(client, vipps):
    _, (code,) = await buy(client, vipps, form={"amount": "300"})
    checkout, applied = await _checkout_with_card(client, code)
    assert NB.gettext("✓ The gift card pays %(amount)s; its balance is %(balance)s.") % {"amount": "kr\xa0300,00", "balance": "kr\xa0300,00"} in applied.text
    done = await confirm_with_code(client, checkout, {"means": "onsite", "giftcard": code})
    assert done.status_code == 303, done.text[-2000:]
    order = await by_checkout(checkout)
    assert order["state"] == "confirmed"
    assert (order["quote"]["giftcard_ore"], order["quote"]["pay_on_site_ore"], order["quote"]["total_ore"]) == (30000, 24900, 54900)
    card = await giftcard_store.card_by_code(code)
    assert card.balance_ore == 0 and await giftcard_store.ledger_mismatches() == []
    page = await client.get(done.headers["location"])
    assert "kr\xa0249,00" in page.text  # left to pay at the appointment
    # The balance page says what is left and until when.
    form = await client.get("/gavekort")
    balance = await client.post("/gavekort", data={"code": code, "_csrf_token": csrf(form.text)})
    assert balance.status_code == 200 and "kr\xa00,00" in balance.text
    assert clock.fmt_date(card.valid_until - dt.timedelta(seconds=1), "nb", "long") in balance.text


async def test_a_cancelled_order_gives_the_card_its_value_back(client, vipps):
    _, (code,) = await buy(client, vipps, form={"amount": "1000"})
    checkout, _ = await _checkout_with_card(client, code)
    done = await confirm_with_code(client, checkout, {"means": "onsite", "giftcard": code})
    order = await by_checkout(checkout)
    assert (await giftcard_store.card_by_code(code)).balance_ore == 100000 - 54900
    await settlement.customer_cancel(ACTOR, order["id"], clock.now())
    assert (await giftcard_store.card_by_code(code)).balance_ore == 100000
    assert await giftcard_store.ledger_mismatches() == []
    assert done.status_code == 303


async def test_a_card_pays_with_vipps_taking_the_rest(client, vipps):
    _, (code,) = await buy(client, vipps, form={"amount": "200"})
    checkout, _ = await _checkout_with_card(client, code, means="vipps")
    sent = await confirm_with_code(client, checkout, {"means": "vipps", "giftcard": code})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"]
    order = await by_checkout(checkout)
    assert (order["quote"]["giftcard_ore"], order["quote"]["pay_now_ore"]) == (20000, 34900)
    from portal.payments import service as payments

    assert (await payments.latest_payment(order["id"]))["amount_ore"] == 34900


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_wrong_expired_used_up_and_foreign_codes_are_refused_next_to_the_field(client, vipps, language):
    t = translations(language)
    _, (mine,) = await buy(client, vipps, form={"amount": "200"})
    _, (foreign,) = await buy(client, vipps, path=FIXED_OTHER, form={})
    client.cookies.set("lang", language)
    checkout, start = await hold_time(client, HAIRCUT, days_ahead=20)
    page = await client.get(checkout)
    token = csrf(page.text)

    async def tried(code: str):
        return await client.post(checkout, data={**VALID_CUSTOMER, "means": "onsite", "giftcard": code, "action": "apply_giftcard", "_csrf_token": token})

    from portal.payments.giftcards import new_code

    wrong = await tried(new_code())
    assert wrong.status_code == 422 and "giftcard-error" in wrong.text
    other = await tried(foreign)
    assert other.status_code == 422 and "giftcard-error" in other.text
    from portal.payments.giftcards import REFUSAL_TEXT, Refusal

    assert t.gettext(REFUSAL_TEXT[Refusal.OTHER_SUPPLIER]).split("%")[0][:20] in other.text
    with time_machine.travel(clock.now() + dt.timedelta(days=400), tick=True):
        later_checkout, _ = await hold_time(client, HAIRCUT, days_ahead=2)
        later = await client.get(later_checkout)
        expired = await client.post(
            later_checkout, data={**VALID_CUSTOMER, "means": "onsite", "giftcard": mine, "action": "apply_giftcard", "_csrf_token": csrf(later.text)}
        )
        assert expired.status_code == 422
        assert t.gettext(REFUSAL_TEXT[Refusal.EXPIRED]).split("%")[0][:20] in expired.text
    # Nothing was taken from any card by the refusals.
    assert (await giftcard_store.card_by_code(mine)).balance_ore == 20000
    assert (await giftcard_store.card_by_code(foreign)).balance_ore == 100000


async def test_the_balance_page_refuses_after_ten_wrong_codes_an_hour(client):
    page = await client.get("/gavekort")
    token = csrf(page.text)
    from portal.payments.giftcards import new_code

    malformed = await client.post("/gavekort", data={"code": "2222-3333-4444-5555", "_csrf_token": token})
    assert malformed.status_code == 422  # told at once, and not counted: the check character refuses it
    for _ in range(10):
        wrong = await client.post("/gavekort", data={"code": new_code(), "_csrf_token": token})
        assert wrong.status_code == 422
        assert NB.gettext("We don't recognise this gift card code. Check the code on the card.") in wrong.text
    locked = await client.post("/gavekort", data={"code": new_code(), "_csrf_token": token})
    assert locked.status_code == 429
    assert NB.gettext("Too many wrong gift card codes. Wait an hour and try again.") in locked.text


@pytest.mark.legal("L21")
async def test_an_unused_card_is_withdrawn_within_14_days_and_refunded_with_a_credit_note(client, vipps):
    order, (code,) = await buy(client, vipps, form={"amount": "500"})
    page = await client.get(f"/b/{order['manage_token']}/giftcards/withdraw")
    assert page.status_code == 200 and NB.gettext("Confirm withdrawal") in page.text
    done = await client.post(f"/b/{order['manage_token']}/giftcards/withdraw", data={"_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    await drain()
    card = await giftcard_store.card_by_code(code)
    assert card.state.value == "withdrawn" and card.balance_ore == 0
    refunded = await MoneyMovement.select().where((MoneyMovement.order == order["id"]) & (MoneyMovement.kind == "refund"))
    assert [r["amount_ore"] for r in refunded] == [50000]
    kinds = [(d.kind.value, d.refers_to) for d in await receipts.of_order(order)]
    receipt = next(d for d in await receipts.of_order(order) if d.kind.value == "receipt")
    assert ("credit_note", receipt.id) in kinds
    # A used card cannot be withdrawn.
    _, (used,) = await buy(client, vipps, form={"amount": "300"})
    checkout, _ = await _checkout_with_card(client, used)
    await confirm_with_code(client, checkout, {"means": "onsite", "giftcard": used})
    buyer_order = await Order.select().output(load_json=True).where(Order.id == (await GiftCard.select(GiftCard.order_id).where(GiftCard.code_last4 == used[-4:]).first())["order_id"]).first()
    again = await client.get(f"/b/{buyer_order['manage_token']}/giftcards/withdraw")
    assert NB.gettext("Confirm withdrawal") not in again.text


@pytest.mark.legal("L21")
async def test_a_service_card_pays_its_haircut_even_after_the_price_rose(client, vipps):
    from portal.catalogue.tables import Offering

    _, (code,) = await buy(client, vipps, path=SERVICE, form={})
    await Offering.update({Offering.price_ore: 59900}).where(Offering.slug == "herreklipp")
    try:
        checkout, applied = await _checkout_with_card(client, code)
        done = await confirm_with_code(client, checkout, {"means": "onsite", "giftcard": code})
        assert done.status_code == 303, done.text[-1500:]
        order = await by_checkout(checkout)
        quote = order["quote"]
        # The card is worth the haircut: nothing is left to pay for it.
        assert quote["pay_on_site_ore"] == 0 and quote["pay_now_ore"] == 0
        assert quote["giftcard_ore"] + quote["discount_ore"] == 59900
    finally:
        await Offering.update({Offering.price_ore: 54900}).where(Offering.slug == "herreklipp")


@pytest.mark.legal("L21")
async def test_the_receipt_of_a_haircut_paid_by_card_shows_the_card_as_a_means_and_its_vat(client, vipps):
    _, (code,) = await buy(client, vipps, form={"amount": "300"})
    checkout, _ = await _checkout_with_card(client, code)
    await confirm_with_code(client, checkout, {"means": "onsite", "giftcard": code})
    order = await by_checkout(checkout)
    start = (await reservation(order["id"]))["start"]
    with time_machine.travel(start + dt.timedelta(minutes=40), tick=False):
        await settlement.mark_delivered(ACTOR, order["id"], clock.now())
    (receipt,) = [d for d in await receipts.of_order(order) if d.kind.value == "receipt"]
    assert [(p.means, p.amount_ore) for p in receipt.payments] == [("giftcard", 30000)]
    assert receipt.total_ore == 30000 and receipt.vat[0].rate_bp == 2500 and receipt.vat_ore == 6000

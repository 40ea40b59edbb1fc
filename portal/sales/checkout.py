"""The checkout: one use case from a held order to a contract.

    submit(actor, order_id, form, …)
      phone code checked (or a remembered device) → coupon → gift card →
      consents stored with their texts → price frozen → means of payment:
        nothing to pay now: confirmed (pay on site, or all by gift card)
        Vipps / deposit: the hold extended while the customer is in Vipps,
        the payment started; confirmed when Vipps reports the money reserved
        (portal.sales.payment_news)

The handler parses the form and renders what comes back (`Submitted`); every
rule and every write is here or below. Coupons and gift cards are redeemed
when the order is submitted, in the same transaction, and given back when the
order never happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from portal.audit.domain import Actor
from portal.audit.service import job, query, record, use_case
from portal.availability.domain import Reason
from portal.catalogue.service import OfferingContext, offering_context_by_id
from portal.identity import service as identity
from portal.legal.terms import terms_accepted
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import OrderState, hold_expiry, is_live_hold
from portal.orders.tables import Order
from portal.payments import coupon_store, giftcard_store, giftcards
from portal.payments import service as payments
from portal.payments.coupons import REFUSAL_TEXT as COUPON_REFUSAL_TEXT
from portal.payments.coupons import normalise_code
from portal.payments.domain import available_means
from portal.payments.pricing import DepositRule, LineItem, Means, Quote, quote
from portal.sales import lifecycle
from portal.sales.forms import CheckoutResult

CODE_PURPOSE = "checkout"

#: Wrong coupon or gift card codes one browser may try in an hour: codes cannot be guessed by trying.
CODE_MISSES_PER_HOUR = 10

CONSENT_TEXTS = {
    "accept_terms": N_("I accept the terms of sale and the cancellation terms."),
    "adult": N_("I am 18 years or older."),
    "early_start": N_(
        "I ask for the service to be performed within the withdrawal period, and I know that the "
        "right of withdrawal is lost once the service has been fully performed."
    ),
    # Optional and unticked (L28); stored only when ticked, and kept per supplier (portal.identity MarketingConsent).
    "marketing": N_("Yes, %(supplier)s may send me news and offers by email and SMS. I can unsubscribe at any time."),
}


class PhoneNotVerified(Exception):
    """The order's mobile number has not been proven with a code."""


class CapacityGone(Exception):
    """What the order held is gone (taken, or its time has passed)."""

    def __init__(self, reason: Reason | None = None) -> None:
        super().__init__(reason.value if reason else "taken")
        self.reason = reason


class GiftCardRefusedAtSubmit(Exception):
    def __init__(self, message: giftcards.Message) -> None:
        super().__init__(message.msgid)
        self.message = message


class CouponRefusedAtSubmit(Exception):
    def __init__(self, refusal: object, terms: object = None) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal
        self.terms = terms


# ---------------------------------------------------------------- what the checkout shows


@dataclass(frozen=True)
class Checkout:
    """An order in checkout as the page shows it."""

    order: dict
    ctx: OfferingContext  # the offering of its (first) line
    lines: list  # portal.orders.kinds.LineView
    kind: str
    line_template: str
    needs_early_start: bool
    live: bool  # its hold has not run out


@query
async def checkout_of(order: dict, now: datetime) -> Checkout | None:
    lines = await orders.lines_of(order["id"])
    if not lines:
        return None
    ctx = await offering_context_by_id(lines[0]["offering"])
    if ctx is None:
        return None
    kind = kinds.kind(lines[0]["kind"])
    views = await kind.lines(order)
    contract_at = order["contract_at"] or now
    withdrawal_class = (order["terms"] or {}).get("withdrawal_class", ctx.offering["withdrawal_class"])
    return Checkout(
        order=order,
        ctx=ctx,
        lines=views,
        kind=kind.name,
        line_template=kind.line_template,
        needs_early_start=kind.needs_early_start(views, withdrawal_class, contract_at),
        live=is_live_hold(order["state"], order["expires_at"], now),
    )


def means_for(c: Checkout) -> list[Means]:
    """The ways to pay on offer: what the supplier takes, what the kind allows."""
    allowed = kinds.kind(c.kind).means_allowed
    options = available_means(c.ctx.supplier["payment_methods"] or [], c.ctx.offering["deposit_kind"])
    return [m for m in options if m.value in allowed] or [Means.VIPPS]


def _service_day(c: Checkout, now: datetime) -> date:
    first = next((v.starts_at for v in c.lines if v.starts_at), None)
    return clock.to_local(first or now).date()


async def _items(order_id: int) -> list[LineItem]:
    return [
        LineItem(description=line["description"], quantity=line["quantity"], unit_price_ore=line["unit_price_ore"], vat_rate_bp=line["vat_rate_bp"])
        for line in await orders.lines_of(order_id)
    ]


@query
async def price(
    c: Checkout, *, means: Means, discount_ore: int = 0, coupon_code: str | None = None, giftcard_ore: int = 0, giftcard_code: str | None = None
) -> Quote:
    """The pricing pipeline for the order: lines → coupon → total → gift card →
    deposit → what is paid when. VAT from each line's rate (the dated table, L18)."""
    o = c.ctx.offering
    deposit = DepositRule(kind=o["deposit_kind"], value=o["deposit_value"])
    return quote(
        await _items(c.order["id"]), means=means, discount=discount_ore, coupon_code=coupon_code, deposit=deposit,
        giftcard_ore=giftcard_ore, giftcard_code=giftcard_code,
    )


def coupon_refusal_text(refusal, terms, language: str) -> str:
    """The refusal in the customer's language, with its figures filled in."""
    text = translations(language).gettext(COUPON_REFUSAL_TEXT[refusal])
    if "%(" not in text:
        return text
    minimum = format_nok(terms.min_amount_ore, language) if terms else ""
    start = clock.fmt_datetime(terms.valid_from, language) if terms and terms.valid_from else ""
    return text % {"minimum": minimum, "start": start}


@dataclass(frozen=True)
class Payable:
    """The price as it would be frozen now (with the order's coupon and gift card), and any refusal to show."""

    price: Quote
    coupon_error: str | None = None
    giftcard_error: str | None = None
    giftcard_balance_ore: int | None = None


@query
async def payable(c: Checkout, means: Means, now: datetime, language: str) -> Payable:
    order = c.order
    discount, code, coupon_error = 0, None, None
    first_offering = c.ctx.offering["id"]
    if order["coupon_code"]:
        full = await price(c, means=means)
        terms, discount, refusal = await coupon_store.evaluate(
            order["supplier"], order["coupon_code"], offering_id=first_offering, amount_ore=full.total_ore, now=now, order_id=order["id"]
        )
        if refusal is None:
            code = order["coupon_code"]
        else:
            coupon_error = coupon_refusal_text(refusal, terms, language)
    card_ore, card_code, card_error, balance = 0, None, None, None
    if order["giftcard_code"] and kinds.kind(c.kind).giftcard_payable:
        before_card = await price(c, means=means, discount_ore=discount, coupon_code=code)
        evaluation = await giftcard_store.evaluate(
            order["supplier"], order["giftcard_code"], amount_ore=before_card.total_ore, now=now, visitor=order["visitor"], ip="",
            offering_id=first_offering,
        )
        if evaluation.refusal is None:
            card_ore, card_code, balance = evaluation.allowance_ore, "…" + evaluation.card.code_last4, evaluation.card.balance_ore
            discount += _waived(evaluation.card, before_card.total_ore)
        else:
            card_error = evaluation.message.text(language)
    return Payable(
        await price(c, means=means, discount_ore=discount, coupon_code=code, giftcard_ore=card_ore, giftcard_code=card_code),
        coupon_error,
        card_error,
        balance,
    )


# ---------------------------------------------------------------- small steps


def _waived(card: giftcards.Card, line_ore: int) -> int:
    """A service card pays its service in full even if the price has risen
    since it was bought: the rise is given off the line (a discount), so the
    card's value is what it pays and the VAT is on what was paid (L21)."""
    if card.kind is not giftcards.CardKind.SERVICE:
        return 0
    return giftcards.service_cover(card.balance_ore, line_ore).waived_ore


def phone_is_verified(order: dict, phone: str) -> bool:
    return bool(phone) and order["phone"] == phone and order["phone_verified_at"] is not None


@use_case("checkout.phone_verified")
async def mark_phone_verified(actor: Actor, order_id: int, phone: str, now: datetime) -> None:
    """The customer proved this number with a code during this checkout."""
    if await orders.update(order_id, {Order.phone: phone, Order.phone_verified_at: now}, now, state=OrderState.HELD):
        await record(actor, "checkout.phone_verified", now=now, order_id=order_id, after={"phone_verified": True})


@use_case("checkout.codes")
async def set_codes(actor: Actor, order_id: int, now: datetime, *, coupon: str | None = None, giftcard: str | None = None, missed: bool = False) -> None:
    """Remember (or forget) the coupon or gift card the customer typed on the
    held order — used when the order is submitted — and count a wrong code."""
    values: dict = {}
    if coupon is not None:
        values[Order.coupon_code] = coupon[:40]
    if giftcard is not None:
        values[Order.giftcard_code] = giftcard[:40]
    if missed:
        values[Order.code_misses] = Order.code_misses + 1
    if values and await orders.update(order_id, values, now, state=OrderState.HELD):
        await record(
            actor, "checkout.codes", now=now, order_id=order_id,
            after={"coupon": coupon, "giftcard": "…" + giftcard[-4:] if giftcard else giftcard, "missed": missed},
        )


@query
async def code_misses(visitor: str, now: datetime) -> int:
    """Wrong codes this browser typed in checkouts opened in the last hour."""
    rows = await Order.select(Order.code_misses).where(
        (Order.visitor == visitor) & (Order.created_at >= now - timedelta(hours=1)) & (Order.code_misses > 0)
    )
    return sum(r["code_misses"] for r in rows)


@dataclass(frozen=True)
class CodeTried:
    """What trying a coupon or gift card code gave: None (it applies), or the message and status."""

    problem: str | None
    status: int = 200


@job
async def try_coupon(actor: Actor, c: Checkout, raw: str, now: datetime, language: str) -> CodeTried:
    """Check a typed coupon against this order (rate-limited per browser);
    a wrong one is counted. Nothing else changes."""
    order = c.order
    if await code_misses(order["visitor"], now) >= CODE_MISSES_PER_HOUR:
        return CodeTried(translations(language).gettext(N_("Too many wrong codes. Wait an hour and try again, or book without a code.")), 429)
    full = await price(c, means=Means.ONSITE)
    terms, _, refusal = await coupon_store.evaluate(
        order["supplier"], raw, offering_id=c.ctx.offering["id"], amount_ore=full.total_ore, now=now, order_id=order["id"]
    )
    if refusal is None:
        return CodeTried(None)
    await set_codes(actor, order["id"], now, missed=True)
    return CodeTried(coupon_refusal_text(refusal, terms, language), 422)


@use_case("checkout.giftcard_tried")
async def try_giftcard(actor: Actor, c: Checkout, raw: str, now: datetime, language: str, ip: str = "") -> CodeTried:
    """Check a typed gift card code against this order (wrong codes are
    rate-limited per browser and per IP, portal.payments.giftcard_store);
    a refusal is recorded. Nothing else changes."""
    order = c.order
    if not kinds.kind(c.kind).giftcard_payable:
        refusal, message = giftcards.Refusal.GIFT_CARD_PURCHASE, giftcards.refusal_message(giftcards.Refusal.GIFT_CARD_PURCHASE)
    else:
        full = await price(c, means=Means.ONSITE)
        evaluation = await giftcard_store.evaluate(
            order["supplier"], raw, amount_ore=full.total_ore, now=now, visitor=order["visitor"], ip=ip, offering_id=c.ctx.offering["id"]
        )
        if evaluation.refusal is None:
            return CodeTried(None)
        refusal, message = evaluation.refusal, evaluation.message
    await record(actor, "checkout.giftcard_tried", now=now, order_id=order["id"], supplier_id=order["supplier"], after={"refused": refusal})
    return CodeTried(message.text(language), 429 if refusal is giftcards.Refusal.TOO_MANY_TRIES else 422)


# ---------------------------------------------------------------- submitting


@dataclass
class Submission:
    """What the customer sent with the final press, parsed."""

    form: CheckoutResult
    language: str
    trusted_phone: str | None  # the number of a remembered device, if any
    hold_minutes_for_payment: int
    client_ip: str = ""


@dataclass
class Submitted:
    """What came of it: a confirmed order, a payment to go to, or what to fix."""

    order: dict
    redirect: str | None = None  # the order page, or Vipps
    errors: dict[str, str] = field(default_factory=dict)  # field → msgid or message
    status: int = 200
    problem: str | None = None  # a message above the form (Vipps down …)
    capacity_gone: CapacityGone | None = None


async def _take_details(c: Checkout, order: dict, s: Submission, consent_texts: dict, means: Means, now: datetime) -> dict:
    """Inside the write transaction: check the hold can be confirmed, redeem
    the coupon and the gift card, and store what the customer entered, the
    consents and the frozen quote. Returns the order as stored."""
    form = s.form
    if not (phone_is_verified(order, form.phone_e164) or (s.trusted_phone and s.trusted_phone == form.phone_e164)):
        raise PhoneNotVerified()
    if order["state"] == OrderState.RELEASED.value:
        # The sweeper freed it; take it up again if what it held is still free.
        if not await lifecycle.hold_again(order, now):
            raise CapacityGone()
    elif order["state"] != OrderState.HELD.value:
        raise CapacityGone()
    first_start = next((v.starts_at for v in c.lines if v.starts_at), None)
    if first_start is not None and first_start <= now:
        raise CapacityGone(Reason.PAST)
    discount, code = 0, None
    first_offering = c.ctx.offering["id"]
    if order["coupon_code"]:
        full = await price(c, means=means)
        try:
            discount = await coupon_store.redeem(
                order["supplier"], order["coupon_code"], order_id=order["id"], offering_id=first_offering, amount_ore=full.total_ore, now=now
            )
        except coupon_store.CouponRefused as refused:
            raise CouponRefusedAtSubmit(refused.refusal, refused.terms) from None
        code = order["coupon_code"]
    else:
        # A code redeemed on an earlier submit (sent to Vipps, then removed): its use comes back.
        await coupon_store.release(order["id"])
    card_ore, card_code = 0, None
    before_card = await price(c, means=means, discount_ore=discount, coupon_code=code)
    if order["giftcard_code"] and kinds.kind(c.kind).giftcard_payable and before_card.total_ore > 0:
        try:
            card_ore = await giftcard_store.redeem(
                order["supplier"], order["giftcard_code"], order["id"], before_card.total_ore, now, offering_id=first_offering
            )
        except giftcard_store.GiftCardRefused as refused:
            raise GiftCardRefusedAtSubmit(refused.message) from None
        found = await giftcard_store.card_by_code(order["giftcard_code"])
        card_code = "…" + found.code_last4 if found else None
        if found is not None and found.kind is giftcards.CardKind.SERVICE:
            discount += before_card.total_ore - card_ore  # the price rise since the card was bought
    else:
        # A card used on an earlier submit (sent to Vipps, then removed): its value comes back.
        await giftcard_store.restore(order["id"], now)
    frozen = await price(c, means=means, discount_ore=discount, coupon_code=code, giftcard_ore=card_ore, giftcard_code=card_code)
    consents = {
        key: {"at": now.isoformat(), "text": text, **(terms_accepted() if key == "accept_terms" else {})}
        for key, text in consent_texts.items()
        if key != "marketing" or form.values.marketing
    }
    await orders.update(
        order["id"],
        {
            Order.phone_verified_at: order["phone_verified_at"] or now,
            Order.customer_name: form.values.name,
            Order.phone: form.phone_e164,
            Order.email: form.email_normalized,
            Order.note: form.values.note,
            Order.language: s.language,
            Order.consents: consents,
            Order.means: frozen.means.value,
            Order.quote: frozen.to_json(),
        },
        now,
    )
    await orders.freeze_lines(order["id"], frozen.to_json()["lines"])
    return await orders.get(order["id"])


def consents_shown(c: Checkout, language: str) -> dict:
    t = translations(language)
    shown = ["accept_terms", "adult"] + (["early_start"] if c.needs_early_start else [])
    texts = {key: t.gettext(CONSENT_TEXTS[key]) for key in shown}
    optional = CONSENT_TEXTS["marketing"]
    texts["marketing"] = t.gettext(optional) % {"supplier": c.ctx.supplier["name"]}
    return texts


@use_case("order.confirm")
async def confirm_on_site(actor: Actor, c: Checkout, s: Submission, now: datetime) -> dict:
    """Nothing to pay now (on site, or all by gift card): the order is confirmed."""
    order = await orders.get(c.order["id"])
    if order["state"] == OrderState.CONFIRMED.value:
        return order
    stored = await _take_details(c, order, s, consents_shown(c, s.language), Means.ONSITE, now)
    confirmed = await lifecycle.confirm(stored["id"], now)
    await record(
        actor, "order.confirm", now=now, order_id=order["id"], supplier_id=order["supplier"],
        before={"state": order["state"]}, after={"state": confirmed["state"], "means": confirmed["means"], "total_ore": (confirmed["quote"] or {}).get("total_ore")},
    )
    return confirmed


@use_case("order.submit_for_payment")
async def submit_for_payment(actor: Actor, c: Checkout, s: Submission, means: Means, now: datetime) -> dict:
    """Everything `confirm_on_site` checks and stores, but the order stays held
    (for `hold_minutes_for_payment` more) until Vipps reports the money reserved."""
    order = await orders.get(c.order["id"])
    if order["state"] == OrderState.CONFIRMED.value:
        return order
    stored = await _take_details(c, order, s, consents_shown(c, s.language), means, now)
    await lifecycle.hold_until(stored, hold_expiry(now, s.hold_minutes_for_payment), now)
    await record(
        actor, "order.submit_for_payment", now=now, order_id=order["id"], supplier_id=order["supplier"],
        after={"means": stored["means"], "pay_now_ore": (stored["quote"] or {}).get("pay_now_ore")},
    )
    return await orders.get(order["id"])


@job
async def submit(actor: Actor, c: Checkout, s: Submission, now: datetime) -> Submitted:
    """The final press: check the code, then confirm or send to Vipps."""
    order = c.order
    form = s.form
    if order["state"] == OrderState.CONFIRMED.value and order["manage_token"]:
        return Submitted(order, redirect=f"/b/{order['manage_token']}")
    trusted = s.trusted_phone
    if form.phone_e164 and not phone_is_verified(order, form.phone_e164) and trusted != form.phone_e164:
        if not form.values.code:
            latest = await identity.latest_code_sent(phone=form.phone_e164, purpose=CODE_PURPOSE, subject=order["checkout_token"])
            form.errors["code"] = N_("Enter the code we sent you by SMS.") if latest else N_("Press “Send code” to get a code by SMS.")
        else:
            checked = await identity.check_code(
                actor, phone=form.phone_e164, purpose=CODE_PURPOSE, subject=order["checkout_token"], code=form.values.code, now=now
            )
            if checked.ok:
                await mark_phone_verified(actor, order["id"], form.phone_e164, now)
            else:
                form.errors["code"] = identity.refusal_text(s.language, checked.refusal, None)
    typed = normalise_code(form.values.coupon) if form.values.coupon else None
    if form.values.coupon and typed != order["coupon_code"]:
        # A code typed but not applied: apply it now, or say why not.
        tried = await try_coupon(actor, c, form.values.coupon, now, s.language)
        if tried.problem is not None:
            form.errors["coupon"] = tried.problem
        else:
            await set_codes(actor, order["id"], now, coupon=typed)
    if form.values.giftcard and form.values.giftcard != order["giftcard_code"]:
        tried = await try_giftcard(actor, c, form.values.giftcard, now, s.language, s.client_ip)
        if tried.problem is not None:
            form.errors["giftcard"] = tried.problem
        else:
            await set_codes(actor, order["id"], now, giftcard=giftcards.normalise_code(form.values.giftcard) or form.values.giftcard)
    current = await orders.get(order["id"])
    c = replace(c, order=current)
    if not form.ok:
        return Submitted(current, errors=form.errors, status=422)
    means = Means(form.values.means)
    due = (await payable(c, means, now, s.language)).price
    try:
        if due.pay_now_ore > 0:
            await submit_for_payment(actor, c, s, means, now)
            redirect_url = await payments.start(actor, order["id"], now)
            return Submitted(await orders.get(order["id"]), redirect=redirect_url)
        confirmed = await confirm_on_site(actor, c, s, now)
    except PhoneNotVerified:
        form.errors["code"] = N_("Press “Send code” to get a code by SMS.")
        return Submitted(await orders.get(order["id"]), errors=form.errors, status=422)
    except GiftCardRefusedAtSubmit as refused:
        form.errors["giftcard"] = refused.message.text(s.language)
        await set_codes(actor, order["id"], now, giftcard="")
        return Submitted(await orders.get(order["id"]), errors=form.errors, status=422)
    except CouponRefusedAtSubmit as refused:
        form.errors["coupon"] = coupon_refusal_text(refused.refusal, refused.terms, s.language)
        await set_codes(actor, order["id"], now, coupon="")
        return Submitted(await orders.get(order["id"]), errors=form.errors, status=422)
    except payments.PaymentUnavailable:
        return Submitted(
            await orders.get(order["id"]), status=503,
            problem=N_("Vipps is not answering right now. Nothing has been charged; your time is still held. Try again in a moment."),
        )
    except payments.PaymentRefused:
        return Submitted(
            await orders.get(order["id"]), status=422,
            problem=N_("Vipps could not start the payment. Nothing has been charged. Try again, or choose to pay at the appointment if the seller offers it."),
        )
    except CapacityGone as gone:
        return Submitted(await orders.get(order["id"]), status=409, capacity_gone=gone)
    return Submitted(confirmed, redirect=f"/b/{confirmed['manage_token']}?new=1")

"""Slot picker, hold, checkout, confirmation and the calendar file.

Handlers parse input, call portal.booking.service, and render; no rules here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect

from portal.availability.domain import Reason
from portal.booking import domain, service
from portal.booking.calendar import booking_ics
from portal.booking.forms import parse_checkout
from portal.identity import service as identity
from portal.identity.domain import Refusal
from portal.payments import coupon_store
from portal.payments import service as payments
from portal.payments.coupons import REFUSAL_TEXT as COUPON_REFUSAL_TEXT
from portal.payments.coupons import normalise_code
from portal.payments.pricing import Means, Quote
from portal.catalogue.domain import CATEGORIES
from portal.catalogue.service import OfferingContext, offering_context, offering_context_by_id
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.settings import load as load_settings
from portal.web.render import language_of, page, wants_fragment
from portal.web.security import device_cookie, device_token_of, new_visitor, vipps_form_headers, visitor_of

STRIP_DAYS = 14
CODE_PURPOSE = "checkout"
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

CONSENT_TEXTS = {
    "accept_terms": N_("I accept the terms of sale and the cancellation terms."),
    "adult": N_("I am 18 years or older."),
    "early_start": N_(
        "I ask for the service to be performed within the withdrawal period, and I know that the "
        "right of withdrawal is lost once the service has been fully performed."
    ),
}


async def _context(supplier_slug: str, offering_slug: str) -> OfferingContext:
    ctx = await offering_context(supplier_slug, offering_slug)
    if ctx is None:
        raise NotFoundException()
    return ctx


async def _context_of(booking: dict) -> OfferingContext:
    ctx = await offering_context_by_id(booking["offering"])
    if ctx is None:
        raise NotFoundException()
    return ctx


def _parse_day(raw: object, today: date) -> date:
    try:
        day = date.fromisoformat(_single(raw))
    except ValueError:
        return today
    return day if day.year in SANE_YEARS else today


def _single(raw: object) -> str:
    """A form or query value sent more than once counts as not sent."""
    return raw if isinstance(raw, str) else ""


def _parse_resource(raw: object, ctx: OfferingContext) -> int | None:
    """`None` means "any available"."""
    text = _single(raw)
    value = int(text) if text.isdigit() and len(text) < 10 else None
    return value if value in ctx.resource_ids else None


#: Times outside these years are never offered; near the calendar's ends
#: they would overflow time-zone arithmetic, so they are answered early.
SANE_YEARS = range(1900, 9000)


def _parse_start(raw: object) -> datetime | None:
    """An aware ISO time in UTC, or None for anything else."""
    try:
        moment = datetime.fromisoformat(_single(raw))
        return moment.astimezone(clock.UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


async def _picker_context(ctx: OfferingContext, day: date, resource_id: int | None, now: datetime, *, with_strip: bool = True) -> dict:
    today = clock.local_today(now)
    last_day = today + timedelta(days=ctx.offering["max_advance_days"])
    day = min(max(day, today), last_day)
    # 14-day pages of the strip, starting today.
    strip_start = today + timedelta(days=((day - today).days // STRIP_DAYS) * STRIP_DAYS)
    view = await service.picker_view(
        ctx, day, now, strip_start=strip_start if with_strip else None, strip_days=STRIP_DAYS, resource_id=resource_id
    )
    return {
        "ctx": ctx,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "resources": ctx.resources,
        "resource_id": resource_id,
        "day": day,
        "today": today,
        "strip": view.strip,
        "slots": view.slots,
        "day_reason": view.day_reason,
        "prev_page": strip_start - timedelta(days=STRIP_DAYS) if strip_start > today else None,
        "next_page": strip_start + timedelta(days=STRIP_DAYS) if strip_start + timedelta(days=STRIP_DAYS) <= last_day else None,
        "withdrawal": domain.withdrawal_info(ctx.offering["withdrawal_class"]),
        "category_labels": CATEGORIES,
        "reason_text": domain.reason_text,
    }


@get("/s/{supplier_slug:str}/{offering_slug:str}", name="offering")
async def offering_page(
    request: Request, supplier_slug: str, offering_slug: str, day: str | None = None, resource: str | None = None
) -> object:
    ctx = await _context(supplier_slug, offering_slug)
    now = clock.now()
    # A day link swaps only the slot list; choosing a person swaps strip + slots.
    only_slots = wants_fragment(request) and request.headers.get("hx-target") == "slots"
    resource_id = _parse_resource(resource, ctx)
    context = await _picker_context(ctx, _parse_day(day, clock.local_today(now)), resource_id, now, with_strip=not only_slots)
    if day is None and not context["slots"]:
        # No day chosen and nothing free today: open the first day with free times.
        first_free = next((d.day for d in context["strip"] if d.free), None)
        if first_free is not None:
            context = await _picker_context(ctx, first_free, resource_id, now)
    held = None if only_slots else await service.live_hold(visitor_of(request), ctx.offering["id"], now)
    return page(request, "pages/booking/offering.html", block="slots" if only_slots else "picker", held=held, **context)


async def _taken_page(
    request: Request, ctx: OfferingContext, wanted: datetime, resource_id: int | None, now: datetime, refused: service.SlotTaken
) -> object:
    """409: the time was just taken (or is not offered), with the nearest free times."""
    nearest = await service.nearest_free(ctx, wanted, now, resource_id=resource_id)
    context = await _picker_context(ctx, clock.to_local(wanted).date(), resource_id, now)
    return page(
        request,
        "pages/booking/offering.html",
        status_code=409,
        taken=True,
        not_offered_reason=None if refused.was_taken else refused.reason,
        nearest=nearest,
        **context,
    )


@post("/s/{supplier_slug:str}/{offering_slug:str}/hold", name="hold")
async def hold_time(request: Request, supplier_slug: str, offering_slug: str, data: dict = FORM) -> object:
    ctx = await _context(supplier_slug, offering_slug)
    now = clock.now()
    start = _parse_start(data.get("start"))
    resource_id = _parse_resource(data.get("resource"), ctx)
    if start is None:
        context = await _picker_context(ctx, clock.local_today(now), resource_id, now)
        return page(request, "pages/booking/offering.html", status_code=422, bad_time=True, **context)
    if start.year not in SANE_YEARS:
        refused = service.SlotTaken(Reason.PAST if start < now else Reason.TOO_FAR_AHEAD)
        return await _taken_page(request, ctx, now, resource_id, now, refused)
    visitor = visitor_of(request)
    cookies = []
    if visitor is None:
        visitor, visitor_cookie = new_visitor()
        cookies.append(visitor_cookie)
    try:
        held = await service.hold(ctx, start, resource_id, visitor, now, load_settings().hold_minutes)
    except service.SlotTaken as refused:
        return await _taken_page(request, ctx, start, resource_id, now, refused)
    return Redirect(path=f"/checkout/{held['hold_token']}", status_code=303, cookies=cookies)


async def _hold_and_context(token: str) -> tuple[dict, OfferingContext]:
    booking = await service.get_by_hold_token(token)
    if booking is None:
        raise NotFoundException()
    return booking, await _context_of(booking)


def _checkout_context(booking: dict, ctx: OfferingContext, now: datetime) -> dict:
    resource = next((r for r in ctx.resources if r["id"] == booking["resource"]), None)
    return {
        "booking": booking,
        "ctx": ctx,
        "supplier": ctx.supplier,
        "offering": ctx.offering,
        "resource": resource,
        "withdrawal": domain.withdrawal_info(ctx.offering["withdrawal_class"]),
        "needs_early_start": domain.needs_early_start_request(ctx.offering["withdrawal_class"], booking["start"], now),
        "cancellation": domain.cancellation_terms_text(ctx.offering["cancel_free_hours"], ctx.offering["cancel_fee_percent"]),
        "expired": not domain.is_live_hold(booking["status"], booking["hold_expires_at"], now),
        "consent_texts": CONSENT_TEXTS,
        "local_day": clock.to_local(booking["start"]).date(),
    }


def coupon_refusal_text(refusal, terms, language: str) -> str:
    """The refusal in the customer's language, with its figures filled in."""
    text = translations(language).gettext(COUPON_REFUSAL_TEXT[refusal])
    if "%(" not in text:
        return text
    minimum = format_nok(terms.min_amount_ore, language) if terms else ""
    start = clock.fmt_datetime(terms.valid_from, language) if terms and terms.valid_from else ""
    return text % {"minimum": minimum, "start": start}


async def _payment_context(ctx: OfferingContext, booking: dict, chosen: str, now: datetime, language: str = "nb") -> dict:
    """The ways to pay, the price as the pipeline makes it (with the hold's
    coupon), and what is paid when — for the means chosen, or the first."""
    options = service.means_for(ctx)
    means = next((m for m in options if m.value == chosen), options[0])
    day = clock.to_local(booking["start"]).date()
    discount, code, coupon_error = 0, None, None
    if booking["coupon_code"]:
        full = service.price_quote(ctx, means=means, day=day)
        terms, discount, refusal = await coupon_store.evaluate(
            ctx.supplier["id"], booking["coupon_code"], offering_id=ctx.offering["id"], amount_ore=full.total_ore, now=now,
            booking_id=booking["id"],
        )
        if refusal is None:
            code = booking["coupon_code"]
        else:
            coupon_error = coupon_refusal_text(refusal, terms, language)
    price = service.price_quote(ctx, means=means, day=day, discount_ore=discount, coupon_code=code)
    return {
        "means_options": options,
        "means_chosen": chosen if chosen in [m.value for m in options] else (options[0].value if len(options) == 1 else ""),
        "price": price,
        "coupon_error": coupon_error,
        "payment_problem": None,
    }


async def _phone_state(booking: dict, phone: str | None, device: dict | None) -> dict:
    """What the phone part of the checkout shows: verified, remembered, or the code sent."""
    verified = bool(phone) and service.phone_is_verified(booking, phone)
    remembered = bool(phone) and device is not None and device["phone"] == phone
    sent = None
    if phone and not (verified or remembered):
        sent = await identity.latest_code_sent(phone=phone, purpose=CODE_PURPOSE, subject=booking["hold_token"])
    return {"phone_verified": verified, "phone_remembered": remembered, "code_sent": sent, "device": device}


def _checkout_headers(ctx: OfferingContext) -> dict[str, str] | None:
    """The checkout form (and every re-render or fragment of it) may be answered
    with a redirect to Vipps when the seller takes Vipps: its CSP says so."""
    return vipps_form_headers() if any(m is not Means.ONSITE for m in service.means_for(ctx)) else None


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@get("/checkout/{token:str}", name="checkout")
async def checkout_page(request: Request, token: str) -> object:
    booking, ctx = await _hold_and_context(token)
    if booking["status"] == domain.Status.CONFIRMED and booking["manage_token"]:
        return Redirect(path=f"/b/{booking['manage_token']}", status_code=303)
    now = clock.now()
    device = await identity.device_customer(device_token_of(request), now)
    # A remembered device fills in what we know; the customer can change it.
    values = {"name": device["name"], "phone": device["phone"], "email": device["email"]} if device else {}
    phone = device["phone"] if device else None
    return page(
        request,
        "pages/booking/checkout.html",
        headers=_checkout_headers(ctx),
        values=values,
        errors={},
        **_checkout_context(booking, ctx, now),
        **await _payment_context(ctx, booking, "", now, language_of(request)),
        **await _phone_state(booking, phone, device),
    )


@post("/checkout/{token:str}", name="confirm")
async def confirm_booking(request: Request, token: str, data: dict = FORM) -> object:
    """One form, two buttons: `action=send_code` sends a code by SMS (the
    page, or with htmx only its phone block, comes back with a code field);
    anything else checks the code and confirms."""
    booking, ctx = await _hold_and_context(token)
    if booking["status"] == domain.Status.CONFIRMED and booking["manage_token"]:
        return Redirect(path=f"/b/{booking['manage_token']}", status_code=303)
    now = clock.now()
    language = language_of(request)
    context = _checkout_context(booking, ctx, now)
    device = await identity.device_customer(device_token_of(request), now)
    options = tuple(m.value for m in service.means_for(ctx))
    result = parse_checkout(data, needs_early_start=context["needs_early_start"], means=options)
    action = data.get("action")

    if action in ("apply_coupon", "remove_coupon"):
        return await _coupon_action(request, ctx, booking, context, result, device, action == "apply_coupon", now)

    if action == "send_code":
        errors: dict[str, str] = {}
        status = 200
        if "phone" in result.errors:
            errors["phone"], status = result.errors["phone"], 422
        else:
            sent = await identity.request_code(
                phone=result.phone_e164, purpose=CODE_PURPOSE, subject=token, client_ip=_client_ip(request), language=language, now=now
            )
            if not sent.ok:
                errors["phone"] = identity.refusal_text(language, sent.refusal, sent.retry_at)
                status = 422 if sent.refusal is Refusal.COUNTRY else 429
        return page(
            request,
            "pages/booking/checkout.html",
            headers=_checkout_headers(ctx),
            block="phone_block",
            status_code=status,
            values=result.values,
            errors=errors,
            **context,
            **await _payment_context(ctx, booking, result.values.means, now, language_of(request)),
            **await _phone_state(booking, result.phone_e164, device),
        )

    trusted = device["phone"] if device else None
    if result.phone_e164 and not service.phone_is_verified(booking, result.phone_e164) and trusted != result.phone_e164:
        if not result.values.code:
            latest = await identity.latest_code_sent(phone=result.phone_e164, purpose=CODE_PURPOSE, subject=token)
            result.errors["code"] = N_("Enter the code we sent you by SMS.") if latest else N_("Press “Send code” to get a code by SMS.")
        else:
            checked = await identity.check_code(
                phone=result.phone_e164, purpose=CODE_PURPOSE, subject=token, code=result.values.code, now=now
            )
            if checked.ok:
                await service.mark_phone_verified(booking["id"], result.phone_e164, now)
                booking = await service.get_by_hold_token(token)
            else:
                result.errors["code"] = identity.refusal_text(language, checked.refusal, None)

    async def invalid(status_code: int = 422, problem: str | None = None) -> object:
        current = await service.get_by_hold_token(token)
        payment = await _payment_context(ctx, current, result.values.means, now, language)
        payment["payment_problem"] = problem
        return page(
            request,
            "pages/booking/checkout.html",
            headers=_checkout_headers(ctx),
            status_code=status_code,
            values=result.values,
            errors=result.errors,
            **{**context, "booking": current},
            **payment,
            **await _phone_state(current, result.phone_e164, device),
        )

    typed = normalise_code(result.values.coupon) if result.values.coupon else None
    if result.values.coupon and typed != booking["coupon_code"]:
        # A code typed but not applied: apply it now, or say why not.
        problem, _ = await _try_coupon(ctx, booking, result.values.coupon, now, language)
        if problem is not None:
            result.errors["coupon"] = problem
        else:
            await service.set_coupon(booking["id"], typed, now)
            booking = await service.get_by_hold_token(token)
    if not result.ok:
        return await invalid()
    t = translations(language)
    shown = ["accept_terms", "adult"] + (["early_start"] if context["needs_early_start"] else [])
    consent_texts = {key: t.gettext(CONSENT_TEXTS[key]) for key in shown}
    means = Means(result.values.means)
    price = (await _payment_context(ctx, booking, means.value, now, language))["price"]
    try:
        if price.pay_now_ore > 0:
            await service.submit_for_payment(
                ctx, booking, result, language, consent_texts, now,
                means=means, trusted_phone=trusted, hold_minutes=load_settings().vipps.payment_hold_minutes,
            )
            redirect_url = await payments.start(booking["id"], now)
            return Redirect(path=redirect_url, status_code=303)
        confirmed = await service.confirm(ctx, booking, result, language, consent_texts, now, trusted_phone=trusted, means=Means.ONSITE)
    except service.PhoneNotVerified:
        result.errors["code"] = N_("Press “Send code” to get a code by SMS.")
        return await invalid()
    except service.CheckoutRefused as refused:
        result.errors["coupon"] = coupon_refusal_text(refused.refusal, refused.terms, language)
        await service.set_coupon(booking["id"], "", now)
        return await invalid()
    except payments.PaymentUnavailable:
        return await invalid(503, N_("Vipps is not answering right now. Nothing has been charged; your time is still held. Try again in a moment."))
    except payments.PaymentRefused:
        return await invalid(422, N_("Vipps could not start the payment. Nothing has been charged. Try again, or choose to pay at the appointment if the seller offers it."))
    except service.SlotTaken as refused:
        return await _taken_page(request, ctx, booking["start"], None, now, refused)
    cookies = []
    if result.values.remember_device and not (device and device["id"] == confirmed["customer"]):
        cookies.append(device_cookie(await identity.remember_device(confirmed["customer"], now)))
    return Redirect(path=f"/b/{confirmed['manage_token']}?new=1", status_code=303, cookies=cookies)


#: Wrong coupon codes one browser may try in an hour: codes cannot be guessed by trying.
COUPON_MISSES_PER_HOUR = 10


async def _try_coupon(ctx: OfferingContext, booking: dict, raw: str, now: datetime, language: str) -> tuple[str | None, int]:
    """(None, 200) when the code applies; else the message for the field and
    the status (422, or 429 once this browser has missed too often)."""
    if await service.coupon_misses(booking["visitor"], now) >= COUPON_MISSES_PER_HOUR:
        text = translations(language).gettext(N_("Too many wrong codes. Wait an hour and try again, or book without a code."))
        return text, 429
    full = service.price_quote(ctx, means=Means.ONSITE, day=clock.to_local(booking["start"]).date())
    terms, _, refusal = await coupon_store.evaluate(
        ctx.supplier["id"], raw, offering_id=ctx.offering["id"], amount_ore=full.total_ore, now=now, booking_id=booking["id"]
    )
    if refusal is None:
        return None, 200
    await service.record_coupon_miss(booking["id"], now)
    return coupon_refusal_text(refusal, terms, language), 422


async def _coupon_action(
    request: Request, ctx: OfferingContext, booking: dict, context: dict, result, device: dict | None, apply: bool, now: datetime
) -> object:
    """Apply or remove a coupon on the hold; the page (or, with htmx, the
    payment block) comes back with the new price or a clear reason."""
    errors: dict[str, str] = {}
    status = 200
    code = ""
    if apply:
        code = normalise_code(result.values.coupon) or result.values.coupon
        problem, status = await _try_coupon(ctx, booking, code, now, language_of(request))
        if problem is not None:
            errors["coupon"], code = problem, ""
    if booking["status"] == domain.Status.HELD:
        await service.set_coupon(booking["id"], code, now)
    booking = await service.get_by_hold_token(booking["hold_token"])
    return page(
        request,
        "pages/booking/checkout.html",
        headers=_checkout_headers(ctx),
        block="payment_block",
        status_code=status,
        values=result.values,
        errors=errors,
        **{**context, "booking": booking},
        **await _payment_context(ctx, booking, result.values.means, now, language_of(request)),
        **await _phone_state(booking, result.phone_e164, device),
    )


async def _managed(token: str) -> tuple[dict, OfferingContext]:
    booking = await service.get_by_manage_token(token)
    if booking is None:
        raise NotFoundException()
    return booking, await _context_of(booking)


@get("/b/{token:str}", name="booking")
async def booking_page(request: Request, token: str, new: str | None = None) -> object:
    booking, ctx = await _managed(token)
    context = _checkout_context(booking, ctx, booking["contract_at"] or clock.now())
    price = Quote.from_json(booking["quote"]) if booking["quote"] else None
    payment = await payments.payment_of_record(booking["id"]) if booking["payment_method"] != Means.ONSITE.value else None
    return page(request, "pages/booking/confirmation.html", is_new=bool(new), price=price, payment=payment, **context)


@get("/b/{token:str}/booking.ics", name="booking_ics")
async def booking_calendar(request: Request, token: str) -> Response:
    booking, ctx = await _managed(token)
    t = translations(booking["language"] or language_of(request))
    s = ctx.supplier
    location = t.gettext("Video meeting (link follows)") if ctx.offering["online"] else f"{s['street']}, {s['postcode']} {s['town']}"
    base = load_settings().base_url
    body = booking_ics(
        booking,
        summary=f"{ctx.offering['title']} – {s['name']}",
        location=location,
        description=t.gettext("Booking reference %(ref)s. Manage your booking: %(url)s")
        % {"ref": booking["reference"], "url": f"{base}/b/{token}"},
        host=urlparse(base).hostname or "portal",
        now=clock.now(),
    )
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="booking-{booking["reference"]}.ics"'},
    )


@get("/dev/why/{supplier_slug:str}/{offering_slug:str}", name="why")
async def why_page(request: Request, supplier_slug: str, offering_slug: str, resource: str | None = None, at: str | None = None) -> object:
    """For the supplier: why a start time is not offered. Dev-only until the back office has logins."""
    if not load_settings().is_dev:
        raise NotFoundException()
    ctx = await _context(supplier_slug, offering_slug)
    resource_id = _parse_resource(resource, ctx) or (ctx.resource_ids[0] if ctx.resource_ids else None)
    moment = None
    reason = None
    error = False
    if at:
        try:
            local = datetime.fromisoformat(at)
            if local.year not in SANE_YEARS:
                raise ValueError(at)
            moment = local.replace(tzinfo=clock.OSLO).astimezone(clock.UTC)
        except ValueError:
            error = True
    if moment is not None and resource_id is not None:
        reason = await service.explain(ctx, resource_id, moment, clock.now())
    return page(
        request,
        "pages/booking/why.html",
        ctx=ctx,
        supplier=ctx.supplier,
        offering=ctx.offering,
        resources=ctx.resources,
        resource_id=resource_id,
        at=at or "",
        moment=moment,
        reason=reason,
        reason_text=domain.reason_text,
        error=error,
    )

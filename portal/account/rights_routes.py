"""“Mine data” (/mine/data): export and erase what we hold about the
customer, both behind a fresh SMS code (L24–L26). Thin handlers over
portal.account.rights."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response

from portal.account import rights
from portal.account.forms import parse_new_phone, parse_profile
from portal.audit import domain as actors
from portal.catalogue.tables import Supplier
from portal.identity import marketing
from portal.identity import service as identity
from portal.identity.domain import Refusal
from portal.legal import retention
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.sales.checkout import CONSENT_TEXTS
from portal.web.render import language_of, page
from portal.web.security import ACCOUNT_COOKIE, DEVICE_COOKIE, account_of, expired_cookie, visitor_of

PAGE = "pages/account/data.html"
ROUTE = "/mine/data"


async def _context(request: Request, customer: dict, now: datetime, **extra) -> dict:
    booked = await rights.bookings(customer["id"])
    verified = await rights.verified_at(customer, visitor_of(request))
    fresh_until = None
    if retention.is_fresh(verified, now):
        fresh_until = verified + timedelta(minutes=retention.FRESH_CODE_MINUTES)
    return {
        "customer": customer,
        "upcoming": [b for b in booked if rights.is_upcoming(b, now)],
        "kept": [b for b in booked if b["documents"]],
        "fresh_until": fresh_until,
        "step": "",
        "phone_step": "",
        "errors": {},
        "values": {"name": customer["name"], "email": customer["email"], "phone": "", **extra.pop("values", {})},
        "saved": request.query_params.get("saved", ""),
        "consents": await rights.consents(customer["id"]),
        "reminders_off": rights.reminders_are_off,
        "problem": None,
        **extra,
    }


async def _customer(request: Request) -> dict | None:
    customer_id = account_of(request)
    return await identity.customer_by_id(customer_id) if customer_id else None


def _actor(request: Request, customer: dict) -> actors.Actor:
    return actors.customer(customer_id=customer["id"], visitor=visitor_of(request))


@get(ROUTE, name="mine_data")
async def data_page(request: Request) -> object:
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    return page(request, PAGE, **await _context(request, customer, clock.now()))


@post(f"{ROUTE}/code", name="mine_data_code")
async def data_code(request: Request) -> object:
    """Send a code to the customer's number to unlock export and erasure."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    now = clock.now()
    language = language_of(request)
    sent = await identity.request_code(
        _actor(request, customer), phone=customer["phone"], purpose=rights.CODE_PURPOSE, subject=rights.code_subject(customer["id"], visitor_of(request)),
        client_ip=request.client.host if request.client else "", language=language, now=now,
    )  # fmt: skip
    if not sent.ok:
        problem = identity.refusal_text(language, sent.refusal, sent.retry_at)
        return page(request, PAGE, status_code=429, **await _context(request, customer, now, problem=problem))
    return page(request, PAGE, **await _context(request, customer, now, step="code", expires_at=sent.expires_at))


@post(f"{ROUTE}/verify", name="mine_data_verify")
async def data_verify(request: Request) -> object:
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    data = await request.form()
    now = clock.now()
    checked = await identity.check_code(
        _actor(request, customer), phone=customer["phone"], purpose=rights.CODE_PURPOSE,
        subject=rights.code_subject(customer["id"], visitor_of(request)), code=str(data.get("code", ""))[:20], now=now,
    )  # fmt: skip
    if not checked.ok:
        error = identity.refusal_text(language_of(request), checked.refusal, None)
        step = "" if checked.refusal in (Refusal.NO_CODE, Refusal.EXPIRED, Refusal.TOO_MANY_TRIES) else "code"
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, step=step, errors={"code": error}))
    return Redirect(path=ROUTE, status_code=303)


@post(f"{ROUTE}/profile", name="mine_data_profile")
async def data_profile(request: Request) -> object:
    """Correct name and email (L24)."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    form = parse_profile(dict(await request.form()))
    now = clock.now()
    if form.errors:
        values = {"name": form.name, "email": form.email}
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, errors=form.errors, values=values))
    await rights.update_profile(_actor(request, customer), customer["id"], name=form.name, email=form.email, now=now)
    return Redirect(path=f"{ROUTE}?saved=profile", status_code=303)


@post(f"{ROUTE}/phone", name="mine_data_phone")
async def data_phone(request: Request) -> object:
    """A new mobile number: send a code to it first."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    data = dict(await request.form())
    now = clock.now()
    phone, problem = parse_new_phone(data, customer["phone"])
    if problem:
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, errors={"phone": problem}, values={"phone": str(data.get("phone", ""))[:40]}))
    language = language_of(request)
    sent = await identity.request_code(
        _actor(request, customer), phone=phone, purpose=rights.PHONE_PURPOSE, subject=rights.code_subject(customer["id"], visitor_of(request)),
        client_ip=request.client.host if request.client else "", language=language, now=now,
    )  # fmt: skip
    if not sent.ok:
        status = 422 if sent.refusal is Refusal.COUNTRY else 429
        error = identity.refusal_text(language, sent.refusal, sent.retry_at)
        return page(request, PAGE, status_code=status, **await _context(request, customer, now, errors={"phone": error}, values={"phone": phone}))
    return page(request, PAGE, **await _context(request, customer, now, phone_step="code", new_phone=phone, phone_expires_at=sent.expires_at))


@post(f"{ROUTE}/phone/confirm", name="mine_data_phone_confirm")
async def data_phone_confirm(request: Request) -> object:
    """The code sent to the new number: when it is right, the number changes."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    data = dict(await request.form())
    now = clock.now()
    phone, problem = parse_new_phone(data, customer["phone"])
    if problem:
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, errors={"phone": problem}))
    actor = _actor(request, customer)
    subject = rights.code_subject(customer["id"], visitor_of(request))
    checked = await identity.check_code(actor, phone=phone, purpose=rights.PHONE_PURPOSE, subject=subject, code=str(data.get("phone_code", ""))[:20], now=now)
    if not checked.ok:
        error = identity.refusal_text(language_of(request), checked.refusal, None)
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, phone_step="code", new_phone=phone, errors={"phone_code": error}))
    try:
        await rights.change_phone(actor, customer["id"], phone=phone, visitor=visitor_of(request), now=now)
    except (rights.NotFresh, rights.PhoneTaken) as refused:
        problem = translations(language_of(request)).gettext(refused.message)
        return page(request, PAGE, status_code=409, **await _context(request, customer, now, errors={"phone": problem}, values={"phone": phone}))
    return Redirect(path=f"{ROUTE}?saved=phone", status_code=303)


@post(f"{ROUTE}/news/{{supplier_id:int}}", name="mine_data_news")
async def data_news(request: Request, supplier_id: int) -> object:
    """Yes or no to one supplier's news (L28), honoured at once."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    data = await request.form()
    wanted = data.get("wanted") == "yes"
    supplier = await Supplier.select(Supplier.name).where(Supplier.id == supplier_id).first()
    msgid = CONSENT_TEXTS["marketing"]
    text = translations(language_of(request)).gettext(msgid) % {"supplier": supplier["name"] if supplier else ""}
    await rights.set_marketing(_actor(request, customer), customer["id"], supplier_id, wanted=wanted, text=text, now=clock.now())
    return Redirect(path=f"{ROUTE}?saved=news", status_code=303)


@post(f"{ROUTE}/reminders/{{order_id:int}}", name="mine_data_reminders")
async def data_reminders(request: Request, order_id: int) -> object:
    """No more reminders for one booking."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    await rights.reminders_off(_actor(request, customer), customer["id"], order_id, clock.now())
    return Redirect(path=f"{ROUTE}?saved=reminders", status_code=303)


async def _unsubscribe_context(token: str) -> dict:
    read = marketing.read_token(token)
    if read is None:
        raise NotFoundException()
    supplier = await Supplier.select(Supplier.name).where(Supplier.id == read[1]).first()
    return {"token": token, "supplier_name": supplier["name"] if supplier else ""}


@get("/u/{token:str}", name="unsubscribe_page")
async def unsubscribe_page(request: Request, token: str) -> object:
    """The link in every news email and SMS: one button (a GET changes nothing: link scanners follow links)."""
    return page(request, "pages/account/unsubscribe.html", done=False, **await _unsubscribe_context(token))


@post("/u/{token:str}", name="unsubscribe", exclude_from_csrf=True)
async def unsubscribe(request: Request, token: str) -> object:
    """One click (RFC 8058: mail clients POST `List-Unsubscribe=One-Click`, with no
    cookies, hence no CSRF token; the signed token is the key): no more news, at once."""
    context = await _unsubscribe_context(token)
    customer_id = marketing.read_token(token)[0]
    await marketing.unsubscribe(actors.customer(customer_id=customer_id), token, clock.now())
    return page(request, "pages/account/unsubscribe.html", done=True, **context)


def _not_fresh(request: Request) -> str:
    return translations(language_of(request)).gettext(rights.NotFresh.message)


@get(f"{ROUTE}/export.json", name="mine_data_export")
async def data_export(request: Request) -> object:
    """Everything we hold about the customer, as one JSON file (L25)."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    now = clock.now()
    try:
        exported = await rights.export(_actor(request, customer), customer["id"], visitor=visitor_of(request), now=now)
    except rights.NotFresh:
        return page(request, PAGE, status_code=403, **await _context(request, customer, now, problem=_not_fresh(request)))
    stamp = clock.to_local(now).strftime("%Y-%m-%d")
    return Response(
        content=json.dumps(exported, ensure_ascii=False, indent=1).encode(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="mine-data-{stamp}.json"', "Cache-Control": "no-store"},
    )


@post(f"{ROUTE}/delete", name="mine_data_delete")
async def data_delete(request: Request) -> object:
    """Erase the customer (L26): a fresh code, no bookings ahead, and the box ticked."""
    customer = await _customer(request)
    if customer is None:
        return Redirect(path="/mine", status_code=303)
    data = await request.form()
    now = clock.now()
    if data.get("confirm") != "on":
        errors = {"confirm": N_("Tick the box to confirm that your data shall be deleted.")}
        return page(request, PAGE, status_code=422, **await _context(request, customer, now, errors=errors))
    try:
        done = await rights.erase(_actor(request, customer), customer["id"], visitor=visitor_of(request), now=now)
    except rights.NotFresh:
        return page(request, PAGE, status_code=403, **await _context(request, customer, now, problem=_not_fresh(request)))
    except rights.FutureBookings:
        problem = translations(language_of(request)).gettext(rights.FutureBookings.message)
        return page(request, PAGE, status_code=409, **await _context(request, customer, now, problem=problem))
    until = clock.to_local(done.until).date().isoformat() if done.until else ""
    return Redirect(path=f"/mine/deleted?kept={done.held}&until={until}", status_code=303, cookies=[expired_cookie(ACCOUNT_COOKIE), expired_cookie(DEVICE_COOKIE)])


@get("/mine/deleted", name="mine_deleted")
async def deleted(request: Request, kept: int = 0, until: str = "") -> object:
    """What is left after the erasure: the bookkeeping under a legal hold, and until when."""
    try:
        day = datetime.fromisoformat(until).date() if until else None
    except ValueError:
        day = None
    return page(request, "pages/account/deleted.html", kept=max(0, min(kept, 10_000)), until=day)


ROUTES = [data_page, data_code, data_verify, data_export, data_delete, deleted, data_profile, data_phone, data_phone_confirm, data_news, data_reminders, unsubscribe_page, unsubscribe]

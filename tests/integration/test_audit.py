"""Every change has an author (DESIGN.md invariant 8).

* Statically: every public function of a use-case module (`service.py`, and
  the sales use cases) is a `use_case` (it takes the actor and writes one
  audit entry), a `query`, a `job` (it only runs use cases) or a `step` (it
  changes data inside a use case, and refuses to run outside one).
* For real: every registered use case is called here, in a state where it
  changes something, and wrote exactly one audit entry naming its action,
  its actor and its order — in the same transaction (a use case that fails
  leaves no entry).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import secrets
from datetime import timedelta

import pytest
import time_machine

import portal
from portal.audit import domain as actors
from portal.audit import service as audit
from portal.lib import clock
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot, latest_code

SALON = "/s/saks-og-stil-grunerlokka/herreklipp"
CUSTOMER = actors.customer(visitor="audit-test")
SYSTEM = actors.system("audit-test")
STAFF = actors.staff("audit", supplier_id=1, role="owner")

#: Modules whose public functions are use cases, queries, jobs or steps (the
#: domain's service modules and the sales use cases; not the infrastructure's
#: own audit and outbox modules, which the use cases call).
USE_CASE_MODULES = re.compile(r"^portal\.(?!audit\.|outbox\.)(.+\.)?service$|^portal\.sales\.(checkout|settlement|withdrawal)$|^portal\.catalogue\.(onboarding|settings)$|^portal\.identity\.staff\.team$|^portal\.kinds\.appointment\.(schedule|desk|moves)$|^portal\.account\.rights$|^portal\.identity\.marketing$")


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(portal.__path__, "portal."):
        if USE_CASE_MODULES.match(info.name):
            names.append(info.name)
    return sorted(names)


#: The worker renders the PDFs of issued documents: derived files of immutable
#: rows, no state of the business (the document itself was issued by a step).
WORKER_ONLY = {
    "portal.documents.service.render_pending",
    "portal.documents.service.render",
    "portal.documents.service.handle",
}


def test_every_public_function_of_a_use_case_module_is_marked():
    unmarked = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, fn in vars(module).items():
            if attr.startswith("_") or not inspect.iscoroutinefunction(fn) or fn.__module__ != name:
                continue
            if not any(hasattr(fn, mark) for mark in ("use_case", "query", "job", "step")) and f"{name}.{attr}" not in WORKER_ONLY:
                unmarked.append(f"{name}.{attr}")
    assert unmarked == [], "public service functions that are neither use_case, query, job nor step"
    assert len(_modules()) >= 8  # the walk found the service modules at all


def test_a_use_case_takes_its_actor_first():
    for action, fn in audit.USE_CASES.items():
        first = next(iter(inspect.signature(inspect.unwrap(fn)).parameters))
        assert first == "actor", action


# ---------------------------------------------------------------- scenarios


async def _held(client, path: str = SALON) -> dict:
    from portal.orders import service as orders

    start, token = await first_free_slot(client, path)
    response = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    return await orders.by_checkout_token(response.headers["location"].rsplit("/", 1)[1])


async def _confirmed_on_site(client) -> dict:
    from portal.orders import service as orders

    order = await _held(client)
    done = await confirm_with_code(client, f"/checkout/{order['checkout_token']}", {"means": "onsite"})
    assert done.status_code == 303, done.text[:300]
    return await orders.get(order["id"])


async def _in_vipps(client) -> tuple[dict, dict]:
    """An order submitted for payment with Vipps: (order, its payment)."""
    from portal.orders import service as orders
    from portal.payments import service as payments

    order = await _held(client)
    sent = await confirm_with_code(client, f"/checkout/{order['checkout_token']}", {"means": "vipps"})
    assert sent.status_code == 303 and "/landing/" in sent.headers["location"], sent.text[:300]
    return await orders.get(order["id"]), await payments.latest_payment(order["id"])


async def _paid_with_vipps(client, vipps) -> tuple[dict, dict]:
    from portal.orders import service as orders
    from portal.payments import service as payments

    order, payment = await _in_vipps(client)
    assert vipps.approve(payment["reference"])
    await payments.sync(SYSTEM, payment["reference"], clock.now())
    order = await orders.get(order["id"])
    assert order["state"] == "confirmed"
    return order, await payments.latest_payment(order["id"])


async def _submission(order: dict, means: str):
    from portal.sales import checkout
    from portal.sales.forms import parse_checkout

    c = await checkout.checkout_of(order, clock.now())
    form = parse_checkout({**VALID_CUSTOMER, "means": means}, needs_early_start=c.needs_early_start, means=tuple(m.value for m in checkout.means_for(c)))
    return c, checkout.Submission(form=form, language="nb", trusted_phone=form.phone_e164, hold_minutes_for_payment=15)


def _webhook(reference: str, name: str, amount: int) -> tuple[str, dict, bytes]:
    import json

    from portal.payments.vipps import signing
    from portal.settings import load as load_settings

    settings = load_settings()
    body = json.dumps(
        {"msn": "123456", "reference": reference, "pspReference": "psp-1", "name": name, "amount": {"currency": "NOK", "value": amount},
         "timestamp": clock.now().isoformat(), "idempotencyKey": None, "success": True}
    ).encode()
    url = f"{settings.base_url}/hooks/vipps"
    return "/hooks/vipps", signing.sign(settings.vipps.webhook_secret, url=url, body=body), body


async def _capture_planned(client, vipps) -> tuple[dict, dict, list[int]]:
    """A Vipps-paid order marked delivered: (order, payment, planned operation ids)."""
    from portal.kinds.appointment.tables import Reservation
    from portal.payments.tables import PaymentOperation
    from portal.sales import settlement

    order, payment = await _paid_with_vipps(client, vipps)
    start = (await Reservation.select(Reservation.start).where(Reservation.order == order["id"]).first())["start"]
    with time_machine.travel(start + timedelta(minutes=50), tick=False):
        await settlement.mark_delivered(STAFF, order["id"], clock.now())
    ops = await PaymentOperation.select(PaymentOperation.id).where(PaymentOperation.payment == payment["id"])
    return order, payment, [r["id"] for r in ops]


async def s_hold(client, vipps):
    from portal.catalogue.service import offering_context
    from portal.kinds.appointment import service

    ctx = await offering_context("saks-og-stil-grunerlokka", "herreklipp")
    now = clock.now()
    day = clock.local_today(now) + timedelta(days=2)
    slot = (await service.slots_between(ctx, day, day + timedelta(days=7), now))[0]
    return lambda: service.hold(CUSTOMER, ctx, slot.start, None, "audit-visitor", now, 10)


async def s_expire(client, vipps):
    from portal.kinds.appointment import service

    order = await _held(client)
    return lambda: service.expire(SYSTEM, order["id"], clock.now() + timedelta(minutes=30))


async def s_phone_verified(client, vipps):
    from portal.sales import checkout

    order = await _held(client)
    return lambda: checkout.mark_phone_verified(CUSTOMER, order["id"], "+4741234567", clock.now())


async def s_codes(client, vipps):
    from portal.sales import checkout

    order = await _held(client)
    return lambda: checkout.set_codes(CUSTOMER, order["id"], clock.now(), coupon="VELKOMMEN10")


async def s_confirm(client, vipps):
    from portal.sales import checkout

    order = await _held(client)
    c, s = await _submission(order, "onsite")
    return lambda: checkout.confirm_on_site(CUSTOMER, c, s, clock.now())


async def s_submit_for_payment(client, vipps):
    from portal.payments.pricing import Means
    from portal.sales import checkout

    order = await _held(client)
    c, s = await _submission(order, "vipps")
    return lambda: checkout.submit_for_payment(CUSTOMER, c, s, Means.VIPPS, clock.now())


async def s_payment_start(client, vipps):
    from portal.payments import service as payments
    from portal.payments.pricing import Means
    from portal.sales import checkout

    order = await _held(client)
    c, s = await _submission(order, "vipps")
    await checkout.submit_for_payment(CUSTOMER, c, s, Means.VIPPS, clock.now())
    return lambda: payments.start(CUSTOMER, order["id"], clock.now())


async def s_webhook(client, vipps):
    from portal.payments import service as payments

    order, payment = await _in_vipps(client)
    path, headers, body = _webhook(payment["reference"], "AUTHORIZED", payment["amount_ore"])
    return lambda: payments.take_webhook(SYSTEM, path_and_query=path, headers=headers, body=body, now=clock.now())


async def s_sync(client, vipps):
    from portal.payments import service as payments

    order, payment = await _in_vipps(client)
    assert vipps.approve(payment["reference"])
    return lambda: payments.sync(SYSTEM, payment["reference"], clock.now())


async def s_operation_done(client, vipps):
    from portal.payments import service as payments

    order, payment, ids = await _capture_planned(client, vipps)
    start = payment["created_at"] + timedelta(days=3)
    return lambda: _traveling(start, lambda: payments.execute(SYSTEM, ids, clock.now()))


async def s_operation_failed(client, vipps):
    from portal.payments import service as payments

    order, payment, ids = await _capture_planned(client, vipps)
    vipps.fail_captures()
    start = payment["created_at"] + timedelta(days=3)
    return lambda: _traveling(start, lambda: payments.execute(SYSTEM, ids, clock.now()))


async def _traveling(moment, call):
    with time_machine.travel(moment, tick=False):
        return await call()


async def s_stored_webhook(client, vipps):
    from portal.payments import service as payments
    from portal.payments.tables import WebhookDelivery

    order, payment = await _in_vipps(client)
    _, _, body = _webhook(payment["reference"], "AUTHORIZED", payment["amount_ore"])
    inserted = await WebhookDelivery.insert(WebhookDelivery(reference=payment["reference"], body=body.decode(), received_at=clock.now())).returning(WebhookDelivery.id)
    return lambda: payments.process_stored_webhook(SYSTEM, inserted[0]["id"], clock.now())


async def s_give_up(client, vipps):
    from portal.payments import service as payments
    from portal.payments.tables import Payment

    order, payment = await _in_vipps(client)
    await Payment.update({Payment.redirect_url: ""}).where(Payment.id == payment["id"])
    return lambda: payments.give_up(SYSTEM, payment, clock.now())


async def _started_on_site(client) -> tuple[dict, object]:
    from portal.kinds.appointment.tables import Reservation

    order = await _confirmed_on_site(client)
    start = (await Reservation.select(Reservation.start).where(Reservation.order == order["id"]).first())["start"]
    return order, start


async def s_delivered(client, vipps):
    from portal.sales import settlement

    order, start = await _started_on_site(client)
    return lambda: _traveling(start + timedelta(minutes=50), lambda: settlement.mark_delivered(STAFF, order["id"], clock.now()))


async def s_no_show(client, vipps):
    from portal.sales import settlement

    order, start = await _started_on_site(client)
    return lambda: _traveling(start + timedelta(minutes=20), lambda: settlement.mark_no_show(STAFF, order["id"], clock.now()))


async def s_customer_cancel(client, vipps):
    from portal.sales import settlement

    order = await _confirmed_on_site(client)
    return lambda: settlement.customer_cancel(CUSTOMER, order["id"], clock.now())


async def s_supplier_cancel(client, vipps):
    from portal.sales import settlement

    order = await _confirmed_on_site(client)
    return lambda: settlement.supplier_cancel(STAFF, order["id"], clock.now())


async def s_refund(client, vipps):
    from portal.outbox.worker import drain_once
    from portal.sales import settlement

    order, payment, ids = await _capture_planned(client, vipps)
    later = payment["created_at"] + timedelta(days=3)
    with time_machine.travel(later, tick=False):
        while await drain_once(clock.now()):
            pass
    return lambda: settlement.refund(STAFF, order["id"], 10000, clock.now(), request_id="audit1")


async def s_withdraw(client, vipps):
    from portal.sales import withdrawal

    order = await _confirmed_on_site(client)
    return lambda: withdrawal.withdraw(CUSTOMER, order["id"], clock.now(), via="online")


async def s_withdrawal_settled(client, vipps):
    from portal.kinds.appointment.tables import Reservation
    from portal.sales import withdrawal

    order = await _confirmed_on_site(client)  # with the early-start request
    start = (await Reservation.select(Reservation.start).where(Reservation.order == order["id"]).first())["start"]
    await withdrawal.withdraw(CUSTOMER, order["id"], start + timedelta(minutes=10))  # after it started: the part delivered is to be stated
    return lambda: withdrawal.settle_delivered_part(STAFF, order["id"], 10000, clock.now())


async def s_auto_complete(client, vipps):
    from portal.sales import settlement

    order, start = await _started_on_site(client)
    return lambda: _traveling(start + timedelta(days=3), lambda: settlement.auto_complete_one(SYSTEM, order["id"], clock.now()))


async def s_code_send(client, vipps):
    from portal.identity import service as identity

    return lambda: identity.request_code(CUSTOMER, phone="+4741234567", purpose="login", subject="audit", client_ip="10.0.0.1", language="nb", now=clock.now())


async def s_code_check(client, vipps):
    from portal.identity import service as identity

    await identity.request_code(CUSTOMER, phone="+4741234568", purpose="login", subject="audit", client_ip="10.0.0.1", language="nb", now=clock.now())
    code = await latest_code("+4741234568")
    return lambda: identity.check_code(CUSTOMER, phone="+4741234568", purpose="login", subject="audit", code=code, now=clock.now())


async def s_device_remember(client, vipps):
    from portal.identity import service as identity

    order = await _confirmed_on_site(client)
    return lambda: identity.remember_device(CUSTOMER, order["customer"], clock.now())


async def s_device_forget(client, vipps):
    from portal.identity import service as identity

    order = await _confirmed_on_site(client)
    token = await identity.remember_device(CUSTOMER, order["customer"], clock.now())
    return lambda: identity.forget_device(CUSTOMER, token, clock.now())


async def s_device_forget_all(client, vipps):
    from portal.identity import service as identity

    order = await _confirmed_on_site(client)
    await identity.remember_device(CUSTOMER, order["customer"], clock.now())
    return lambda: identity.forget_all_devices(CUSTOMER, order["customer"], clock.now())


async def s_sms_status(client, vipps, monkeypatch=None):
    import dataclasses

    from twilio.request_validator import RequestValidator

    from portal.notify import service as notify
    from portal.outbox.tables import OutboxMessage
    from portal.settings import load as load_settings

    order = await _confirmed_on_site(client)
    row = await OutboxMessage.select().where((OutboxMessage.order_id == order["id"]) & (OutboxMessage.channel == "sms")).first()
    await OutboxMessage.update({OutboxMessage.provider_id: "SM-audit", OutboxMessage.status: "sent"}).where(OutboxMessage.id == row["id"])
    settings = load_settings()
    with_token = dataclasses.replace(settings, sms=dataclasses.replace(settings.sms, auth_token="audit-token"))
    notify.load_settings = lambda: with_token  # restored by the test
    url = "https://portal.example/hooks/twilio/status"
    params = {"MessageSid": "SM-audit", "MessageStatus": "delivered"}
    signature = RequestValidator("audit-token").compute_signature(url, params)
    return lambda: notify.twilio_status(SYSTEM, url, params, signature, clock.now())


async def _customer_unlocked(client, *, cancelled: bool = False) -> int:
    """A customer who typed a fresh account code in the browser "audit-visitor" (optionally with their booking cancelled)."""
    from portal.account import rights
    from portal.identity import service as identity
    from portal.sales import settlement

    order = await _confirmed_on_site(client)
    if cancelled:
        await settlement.customer_cancel(CUSTOMER, order["id"], clock.now())
    subject = rights.code_subject(order["customer"], "audit-visitor")
    await identity.request_code(CUSTOMER, phone=order["phone"], purpose=rights.CODE_PURPOSE, subject=subject, client_ip="", language="nb", now=clock.now())
    code = await latest_code(order["phone"])
    assert (await identity.check_code(CUSTOMER, phone=order["phone"], purpose=rights.CODE_PURPOSE, subject=subject, code=code, now=clock.now())).ok
    return order["customer"]


async def s_customer_export(client, vipps):
    from portal.account import rights

    customer_id = await _customer_unlocked(client)
    return lambda: rights.export(CUSTOMER, customer_id, visitor="audit-visitor", now=clock.now())


async def s_customer_erase(client, vipps):
    from portal.account import rights

    customer_id = await _customer_unlocked(client, cancelled=True)
    return lambda: rights.erase(CUSTOMER, customer_id, visitor="audit-visitor", now=clock.now())


async def s_customer_update(client, vipps):
    from portal.account import rights

    order = await _confirmed_on_site(client)
    return lambda: rights.update_profile(CUSTOMER, order["customer"], name="Kari Berg", email="kari.berg@example.no", now=clock.now())


async def s_customer_change_phone(client, vipps):
    from portal.account import rights
    from portal.identity import service as identity

    order = await _confirmed_on_site(client)
    new, subject = "+4748012345", rights.code_subject(order["customer"], "audit-visitor")
    await identity.request_code(CUSTOMER, phone=new, purpose=rights.PHONE_PURPOSE, subject=subject, client_ip="", language="nb", now=clock.now())
    assert (await identity.check_code(CUSTOMER, phone=new, purpose=rights.PHONE_PURPOSE, subject=subject, code=await latest_code(new), now=clock.now())).ok
    return lambda: rights.change_phone(CUSTOMER, order["customer"], phone=new, visitor="audit-visitor", now=clock.now())


async def s_marketing_consent(client, vipps):
    from portal.account import rights

    order = await _confirmed_on_site(client)
    return lambda: rights.set_marketing(CUSTOMER, order["customer"], order["supplier"], wanted=True, text="Ja takk", now=clock.now())


async def s_reminders_off(client, vipps):
    from portal.account import rights

    order = await _confirmed_on_site(client)
    return lambda: rights.reminders_off(CUSTOMER, order["customer"], order["id"], clock.now())


async def s_marketing_send(client, vipps):
    from portal.identity import marketing

    _, made = await _unlisted_supplier()  # its own once-a-day limit
    news = marketing.News(subject="Nytt", text="Hei", email=True, sms=False)
    return lambda: marketing.send(actors.staff("audit", supplier_id=made["id"], role="owner"), made["id"], news, clock.now())


async def s_marketing_unsubscribe(client, vipps):
    from portal.account import rights
    from portal.identity import marketing

    order = await _confirmed_on_site(client)
    await rights.set_marketing(CUSTOMER, order["customer"], order["supplier"], wanted=True, text="Ja takk", now=clock.now())
    token = marketing.unsubscribe_token(order["customer"], order["supplier"])
    return lambda: marketing.unsubscribe(CUSTOMER, token, clock.now())


async def s_customer_forget_inactive(client, vipps):
    from portal.account import rights
    from portal.sales import settlement

    order = await _confirmed_on_site(client)
    await settlement.customer_cancel(CUSTOMER, order["id"], clock.now())
    later = clock.now() + timedelta(days=400)
    return lambda: _traveling(later, lambda: rights.forget_inactive(SYSTEM, order["customer"], clock.now()))


async def s_retention_release(client, vipps):
    from portal.account import rights
    from portal.account.tables import LegalHold

    order = await _held(client)  # no documents (a confirmed one has its withdrawal form)
    rows = await LegalHold.insert(
        LegalHold(order_id=order["id"], supplier_id=order["supplier"], reason="erasure", until=clock.now() - timedelta(seconds=1), created_at=clock.now())
    ).returning(LegalHold.id)
    return lambda: rights.release_hold(SYSTEM, rows[0]["id"], clock.now())


GIFT_CARDS = "/s/saks-og-stil-grunerlokka/gavekort/giftcard"


async def _gift_card_order(client) -> dict:
    from portal.orders import service as orders

    page = await client.get(GIFT_CARDS)
    response = await client.post(GIFT_CARDS, data={"amount": "500", "quantity": "1", "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert response.status_code == 303, response.text[-500:]
    return await orders.by_checkout_token(response.headers["location"].rsplit("/", 1)[1])


async def s_giftcard_purchase(client, vipps):
    from portal.catalogue.service import offering_context
    from portal.kinds.giftcard import service
    from portal.kinds.giftcard.domain import parse_purchase

    ctx = await offering_context("saks-og-stil-grunerlokka", "gavekort")
    offer = await service.offer_of(ctx.offering)
    bought = parse_purchase({"amount": "500", "quantity": "1"}, offer, clock.local_today())
    return lambda: service.purchase(CUSTOMER, ctx, bought, "audit-visitor", clock.now(), 10)


async def s_giftcard_tried(client, vipps):
    from portal.sales import checkout

    order = await _held(client)
    c = await checkout.checkout_of(order, clock.now())
    return lambda: checkout.try_giftcard(CUSTOMER, c, "2222-3333-4444-5555", clock.now(), "nb", "10.0.0.9")


async def s_balance_checked(client, vipps):
    from portal.kinds.giftcard import service
    from portal.payments.giftcards import new_code

    unknown = new_code()  # well formed, no card has it
    return lambda: service.check_balance(CUSTOMER, unknown, visitor="audit", ip="10.0.0.8", now=clock.now())


async def s_giftcard_withdraw(client, vipps):
    from portal.kinds.giftcard import service
    from portal.orders import service as orders
    from portal.outbox.worker import drain_once
    from portal.payments import service as payments

    order = await _gift_card_order(client)
    sent = await confirm_with_code(client, f"/checkout/{order['checkout_token']}", {"means": "vipps", "early_start": None})
    assert sent.status_code == 303
    payment = await payments.latest_payment(order["id"])
    assert vipps.approve(payment["reference"])
    await payments.sync(SYSTEM, payment["reference"], clock.now())
    while await drain_once():
        pass
    assert (await orders.get(order["id"]))["state"] == "completed"
    return lambda: service.withdraw(CUSTOMER, order["id"], clock.now())


# ---------------------------------------------------------------- staff and the back office


async def _account(role: str = "owner", **kw) -> dict:
    from tests.integration.staff import staff_account

    return await staff_account("saks-og-stil-grunerlokka", role, **kw)


async def _session(account: dict) -> str:
    from portal.identity.staff import service as staff
    from tests.integration.staff import PASSWORD

    result = await staff.login(STAFF, email=account["email"], password=PASSWORD, client_ip="", now=clock.now())
    assert result.token
    return result.token


async def s_staff_login(client, vipps):
    from portal.identity.staff import service as staff
    from tests.integration.staff import PASSWORD

    account = await _account()
    return lambda: staff.login(STAFF, email=account["email"], password=PASSWORD, client_ip="", now=clock.now())


async def s_staff_second_factor(client, vipps):
    import pyotp

    from portal.identity.staff import service as staff

    secret = pyotp.random_base32()
    account_id = await staff.create_account(SYSTEM, email="audit.totp@example.no", name="Totp", password="et-langt-passord", now=clock.now(), totp_secret=secret)
    result = await staff.login(STAFF, email="audit.totp@example.no", password="et-langt-passord", client_ip="", now=clock.now())
    assert result.needs_code and account_id
    return lambda: staff.second_factor(STAFF, token=result.token, code=pyotp.TOTP(secret).now(), client_ip="", now=clock.now())


async def s_staff_logout(client, vipps):
    from portal.identity.staff import service as staff

    token = await _session(await _account())
    return lambda: staff.logout(STAFF, token=token, now=clock.now())


async def s_staff_logout_everywhere(client, vipps):
    from portal.identity.staff import service as staff

    account = await _account()
    await _session(account)
    return lambda: staff.logout_everywhere(STAFF, account_id=account["id"], now=clock.now())


async def s_staff_totp_start(client, vipps):
    from portal.identity.staff import service as staff

    account = await _account(email="audit.totp.start@example.no")
    return lambda: staff.start_totp(STAFF, account_id=account["id"], now=clock.now())


async def s_staff_totp_confirm(client, vipps):
    import pyotp

    from portal.identity.staff import service as staff
    from portal.identity.staff.tables import StaffAccount

    account = await _account(email="audit.totp.confirm@example.no")
    await staff.start_totp(STAFF, account_id=account["id"], now=clock.now())
    secret = (await StaffAccount.select(StaffAccount.totp_secret).where(StaffAccount.id == account["id"]).first())["totp_secret"]
    token = await _session(account)
    user = await staff.user_of(token, clock.now())
    return lambda: staff.confirm_totp(STAFF, account_id=account["id"], session_id=user.session_id, code=pyotp.TOTP(secret).now(), now=clock.now())


async def s_staff_invite(client, vipps):
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role

    return lambda: staff.invite(STAFF, supplier_id=1, email=f"invited.{secrets.token_hex(4)}@example.no", name="Ny", role=Role.FRONT_DESK, resource_id=None, now=clock.now())


async def s_staff_request_reset(client, vipps):
    from portal.identity.staff import service as staff

    account = await _account(email="audit.reset@example.no")
    return lambda: staff.request_reset(STAFF, email=account["email"], client_ip="", now=clock.now())


async def s_staff_set_password(client, vipps):
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role

    token, problem = await staff.invite(STAFF, supplier_id=1, email=f"invited.{secrets.token_hex(4)}@example.no", name="Ny", role=Role.STAFF, resource_id=None, now=clock.now())
    assert token and problem is None
    return lambda: staff.set_password(STAFF, token=token, password="et-nytt-langt-passord", now=clock.now())


async def s_staff_create_account(client, vipps):
    from portal.identity.staff import service as staff

    return lambda: staff.create_account(SYSTEM, email=f"made.{secrets.token_hex(4)}@example.no", name="Laget", password="et-langt-passord", now=clock.now())


async def s_staff_add_membership(client, vipps):
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role

    account_id = await staff.create_account(SYSTEM, email=f"member.{secrets.token_hex(4)}@example.no", name="Medlem", password="et-langt-passord", now=clock.now())
    return lambda: staff.add_membership(SYSTEM, account_id=account_id, supplier_id=1, role=Role.STAFF, resource_id=None, now=clock.now())


async def _unlisted_supplier() -> tuple:
    """A supplier made for one scenario, never approved (so no other test ever lists it)."""
    from stdnum.no import orgnr

    from portal.catalogue import onboarding
    from portal.catalogue.domain import SupplierDraft

    number = next(n for n in (f"8{secrets.randbelow(10**8):08d}" for _ in range(1000)) if orgnr.is_valid(n))
    draft = SupplierDraft(name=f"Revisjon {number}", org_number=number, email="revisjon@example.no", phone="22 33 44 55", street="Gate 1", postcode="0150", town="Oslo", category="hair")
    return draft, await onboarding.create(actors.operator("audit-test"), draft, clock.now())


async def s_supplier_create(client, vipps):
    from portal.catalogue import onboarding
    from portal.catalogue.tables import Supplier

    draft, made = await _unlisted_supplier()
    await Supplier.delete().where(Supplier.id == made["id"])  # its number is free again: create it once more
    return lambda: onboarding.create(actors.operator("audit-test"), draft, clock.now())


async def s_supplier_approve(client, vipps):
    from portal.catalogue import onboarding

    # A listed demo supplier approved again: the entry is written, nothing else changes for other tests.
    return lambda: onboarding.approve(actors.operator("audit-test"), "saks-og-stil-grunerlokka", clock.now())


async def s_supplier_suspend(client, vipps):
    from portal.catalogue import onboarding

    _, made = await _unlisted_supplier()
    return lambda: onboarding.suspend(actors.operator("audit-test"), made["slug"], clock.now())


async def _owned_supplier() -> tuple:
    """An unlisted supplier of one scenario with one calendar: (its owner as actor, the calendar's id)."""
    from portal.catalogue.tables import Resource

    _, made = await _unlisted_supplier()
    rows = await Resource.insert(Resource(supplier=made["id"], name="Revisor")).returning(Resource.id)
    return actors.staff("audit", supplier_id=made["id"], role="owner"), rows[0]["id"]


def _appointment(resource_id: int):
    from portal.catalogue.forms import NEW_OFFERING_VALUES, parse_offering

    form = {**NEW_OFFERING_VALUES, "title": "Revisjonstime", "price": "500", "resources": [str(resource_id)]}
    draft, problems = parse_offering(form, vat_categories={"general": 2500}, resource_ids={resource_id})
    assert problems == {}
    return draft


async def s_supplier_profile(client, vipps):
    from portal.catalogue import settings
    from portal.catalogue.forms import parse_profile, profile_values

    owner, _ = await _owned_supplier()
    row = await settings.profile_of(owner.supplier_id)
    form, problems = parse_profile({**profile_values(row), "legal_name": "Revisjon AS", "vat_registered": "on", "certified": "on"}, category=row["category"])
    assert problems == {}
    return lambda: settings.update_profile(owner, row["version"], form, clock.now())


async def s_offering_create(client, vipps):
    from portal.catalogue import settings

    owner, resource_id = await _owned_supplier()
    return lambda: settings.create_offering(owner, _appointment(resource_id), clock.now())


async def s_offering_update(client, vipps):
    import dataclasses

    from portal.catalogue import settings

    owner, resource_id = await _owned_supplier()
    made = await settings.create_offering(owner, _appointment(resource_id), clock.now())
    return lambda: settings.update_offering(owner, made["id"], 0, dataclasses.replace(_appointment(resource_id), price_ore=60000), clock.now())


async def s_offering_archive(client, vipps):
    from portal.catalogue import settings

    owner, resource_id = await _owned_supplier()
    made = await settings.create_offering(owner, _appointment(resource_id), clock.now())
    return lambda: settings.archive_offering(owner, made["id"], clock.now())


async def s_offering_restore(client, vipps):
    from portal.catalogue import settings

    owner, resource_id = await _owned_supplier()
    made = await settings.create_offering(owner, _appointment(resource_id), clock.now())
    await settings.archive_offering(owner, made["id"], clock.now())
    return lambda: settings.restore_offering(owner, made["id"], clock.now())


async def _owner_of_unlisted() -> tuple[dict, object]:
    """An unlisted supplier of its own (no other test sees its calendars) and an owner acting there."""
    _, made = await _unlisted_supplier()
    return made, actors.staff("audit", supplier_id=made["id"], role="owner")


async def _unlisted_calendar() -> tuple[dict, object, int]:
    from portal.kinds.appointment import schedule

    made, owner = await _owner_of_unlisted()
    calendar = await schedule.add_calendar(owner, supplier_id=made["id"], name="Revisor", title="", now=clock.now())
    return made, owner, calendar.id


async def s_calendar_add(client, vipps):
    from portal.kinds.appointment import schedule

    made, owner = await _owner_of_unlisted()
    return lambda: schedule.add_calendar(owner, supplier_id=made["id"], name="Rom 1", title="", now=clock.now())


async def s_hours_set_week(client, vipps):
    from datetime import time

    from portal.availability.domain import HoursRule
    from portal.kinds.appointment import schedule

    made, owner, calendar = await _unlisted_calendar()
    return lambda: schedule.set_week(owner, supplier_id=made["id"], resource_id=calendar, version=0, hours=(HoursRule(0, time(9), time(17)),), breaks=(), now=clock.now())


async def s_hours_add_exception(client, vipps):
    from portal.availability.domain import DayException
    from portal.kinds.appointment import schedule

    made, owner, calendar = await _unlisted_calendar()
    day = DayException(day=clock.local_today() + timedelta(days=10), closed=True)
    return lambda: schedule.add_exception(owner, supplier_id=made["id"], resource_id=calendar, version=0, exception=day, note="Kurs", now=clock.now())


async def s_hours_remove_exception(client, vipps):
    from portal.availability.domain import DayException
    from portal.catalogue.tables import DateException
    from portal.kinds.appointment import schedule

    made, owner, calendar = await _unlisted_calendar()
    day = DayException(day=clock.local_today() + timedelta(days=10), closed=True)
    version = await schedule.add_exception(owner, supplier_id=made["id"], resource_id=calendar, version=0, exception=day, note="", now=clock.now())
    row = await DateException.select(DateException.id).where(DateException.resource == calendar).first()
    return lambda: schedule.remove_exception(owner, supplier_id=made["id"], resource_id=calendar, version=version, exception_id=row["id"], now=clock.now())


async def _member_of_unlisted() -> tuple[dict, object, int]:
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role

    made, owner = await _owner_of_unlisted()
    account_id = await staff.create_account(SYSTEM, email=f"team.{secrets.token_hex(4)}@example.no", name="Lag", password="et-langt-passord", now=clock.now())
    await staff.add_membership(SYSTEM, account_id=account_id, supplier_id=made["id"], role=Role.STAFF, resource_id=None, now=clock.now())
    return made, owner, account_id


async def s_staff_change_member(client, vipps):
    from portal.identity.staff import team
    from portal.identity.staff.domain import Role

    made, owner, account_id = await _member_of_unlisted()
    return lambda: team.change_member(owner, supplier_id=made["id"], account_id=account_id, role=Role.FRONT_DESK, resource_id=None, now=clock.now())


async def s_staff_remove_member(client, vipps):
    from portal.identity.staff import team

    made, owner, account_id = await _member_of_unlisted()

    async def no_bookings(resource_id: int) -> list:
        return []

    return lambda: team.remove_member(owner, supplier_id=made["id"], account_id=account_id, bookings_of=no_bookings, now=clock.now())


async def s_order_note(client, vipps):
    from portal.orders import service as notes

    order = await _confirmed_on_site(client)
    return lambda: notes.add_note(actors.staff("audit", supplier_id=order["supplier"], role="owner"), order["id"], "Ringte og bekreftet.", clock.now())


async def _complaint(client) -> tuple[dict, int]:
    from portal.complaints import service as complaints

    order = await _confirmed_on_site(client)
    return order, await complaints.send(CUSTOMER, order["id"], "Klippen ble skjev.", None, clock.now())


async def s_complaint_send(client, vipps):
    from portal.complaints import service as complaints

    order = await _confirmed_on_site(client)
    return lambda: complaints.send(CUSTOMER, order["id"], "Klippen ble skjev.", None, clock.now())


async def s_complaint_answer(client, vipps):
    from portal.complaints import service as complaints

    order, complaint_id = await _complaint(client)
    return lambda: complaints.answer(actors.staff("audit", supplier_id=order["supplier"], role="owner"), complaint_id, "Vi retter det.", clock.now())


async def s_complaint_close(client, vipps):
    from portal.complaints import service as complaints

    order, complaint_id = await _complaint(client)
    return lambda: complaints.close(actors.staff("audit", supplier_id=order["supplier"], role="owner"), complaint_id, clock.now())


async def _desk_free_time(order: dict):
    """A free time on another day for the order's booking to move to (the desk's rules)."""
    from datetime import timedelta

    from portal.kinds.appointment import moves
    from portal.kinds.appointment import service as appointments

    m = await moves.movable(actors.staff("audit", supplier_id=order["supplier"], role="owner"), order["id"])
    day = clock.to_local(m.reservation["start"]).date()
    for ahead in range(1, 9):
        free = await appointments.slots_between(m.ctx, day + timedelta(days=ahead), day + timedelta(days=ahead), clock.now(), m.reservation["resource"], desk=True)
        if free:
            return m, free[0].start
    raise AssertionError("no free time within a week")


async def s_move(client, vipps):
    from portal.kinds.appointment import moves

    order = await _confirmed_on_site(client)
    m, start = await _desk_free_time(order)
    return lambda: moves.move(actors.staff("audit", supplier_id=order["supplier"], role="owner"), order["id"], start, None, clock.now())


async def s_reschedule(client, vipps):
    from portal.kinds.appointment import moves
    from portal.kinds.appointment import service as appointments
    from portal.orders.tables import Order

    order = await _confirmed_on_site(client)
    # Whatever the hour the test runs, the policy allows the move (no limit in this order's terms).
    await Order.update({Order.terms: {**order["terms"], "cancel_free_hours": 0}}).where(Order.id == order["id"])
    m = await moves.movable_by_customer(order["manage_token"])
    day = clock.to_local(m.reservation["start"]).date()
    for ahead in range(1, 9):
        free = await appointments.slots_between(m.ctx, day + timedelta(days=ahead), day + timedelta(days=ahead), clock.now())
        if free:
            break
    return lambda: moves.reschedule(actors.customer(customer_id=order["customer"]), order["manage_token"], free[0].start, free[0].resource_ids[0], clock.now())


async def s_book_at_desk(client, vipps):
    from portal.kinds.appointment import desk

    order = await _confirmed_on_site(client)
    m, start = await _desk_free_time(order)
    who = desk.DeskCustomer(name="Ola Innom", phone="+4748123456")
    return lambda: desk.book_at_desk(actors.staff("audit", supplier_id=order["supplier"], role="front_desk"), m.ctx, start, None, who, clock.now())


async def s_block(client, vipps):
    from datetime import timedelta

    from portal.kinds.appointment import desk

    order = await _confirmed_on_site(client)
    m, start = await _desk_free_time(order)
    staff = actors.staff("audit", supplier_id=order["supplier"], role="owner")
    return lambda: desk.block_time(staff, order["supplier"], m.reservation["resource"], start, start + timedelta(minutes=30), "Møte", clock.now())


async def s_unblock(client, vipps):
    from datetime import timedelta

    from portal.kinds.appointment import desk

    order = await _confirmed_on_site(client)
    m, start = await _desk_free_time(order)
    staff = actors.staff("audit", supplier_id=order["supplier"], role="owner")
    block_id = await desk.block_time(staff, order["supplier"], m.reservation["resource"], start, start + timedelta(minutes=30), "Møte", clock.now())
    return lambda: desk.remove_block(staff, block_id, clock.now())


# ---------------------------------------------------------------- calendar feeds and the morning agenda


async def _feed_member(role: str = "staff") -> tuple[dict, actors.Actor]:
    """A member of the salon (staff: with a calendar of their own) and the actor they are."""
    account = await _account(role, email=f"audit.feed.{role}@example.no")
    return account, actors.staff(account["id"], supplier_id=account["supplier_id"], role=role)


async def s_feed_create(client, vipps):
    from portal.calendarfeed import service as feeds

    account, actor = await _feed_member()
    return lambda: feeds.create_feed(actor, supplier_id=account["supplier_id"], account_id=account["id"], now=clock.now())


async def s_feed_revoke(client, vipps):
    from portal.calendarfeed import service as feeds

    account, actor = await _feed_member()
    await feeds.create_feed(actor, supplier_id=account["supplier_id"], account_id=account["id"], now=clock.now())
    return lambda: feeds.revoke_feed(actor, supplier_id=account["supplier_id"], account_id=account["id"], now=clock.now())


async def s_feed_phone(client, vipps):
    from portal.calendarfeed import service as feeds

    owner, actor = await _feed_member("owner")
    await feeds.create_feed(actor, supplier_id=owner["supplier_id"], account_id=None, now=clock.now())
    await feeds.set_phone(actor, supplier_id=owner["supplier_id"], account_id=None, include_phone=False, now=clock.now())
    return lambda: feeds.set_phone(actor, supplier_id=owner["supplier_id"], account_id=None, include_phone=True, now=clock.now())


async def s_agenda_choose(client, vipps):
    from portal.calendarfeed import service as feeds

    account, actor = await _feed_member()
    await feeds.choose_agenda(actor, supplier_id=account["supplier_id"], account_id=account["id"], wanted=True, now=clock.now())
    return lambda: feeds.choose_agenda(actor, supplier_id=account["supplier_id"], account_id=account["id"], wanted=False, now=clock.now())


async def s_agenda_queue(client, vipps):
    from portal.calendarfeed import service as feeds
    from portal.kinds.appointment.tables import Reservation

    owner, actor = await _feed_member("owner")
    order = await _confirmed_on_site(client)
    start = (await Reservation.select(Reservation.start).where(Reservation.order == order["id"]).first())["start"]
    await feeds.choose_agenda(actor, supplier_id=owner["supplier_id"], account_id=owner["id"], wanted=True, now=clock.now())

    async def queue_then_opt_out():
        assert await feeds.queue_agenda(SYSTEM, supplier_id=owner["supplier_id"], account_id=owner["id"], day=clock.to_local(start).date(), now=clock.now())
        await feeds.choose_agenda(actor, supplier_id=owner["supplier_id"], account_id=owner["id"], wanted=False, now=clock.now())  # leave no one opted in

    return queue_then_opt_out


SCENARIOS = {
    "feed.create": s_feed_create,
    "feed.revoke": s_feed_revoke,
    "feed.phone": s_feed_phone,
    "agenda.choose": s_agenda_choose,
    "agenda.queue": s_agenda_queue,
    "appointment.move": s_move,
    "appointment.reschedule": s_reschedule,
    "order.book_at_desk": s_book_at_desk,
    "calendar.block": s_block,
    "calendar.unblock": s_unblock,
    "staff.login": s_staff_login,
    "staff.second_factor": s_staff_second_factor,
    "staff.logout": s_staff_logout,
    "staff.logout_everywhere": s_staff_logout_everywhere,
    "staff.totp_start": s_staff_totp_start,
    "staff.totp_confirm": s_staff_totp_confirm,
    "staff.invite": s_staff_invite,
    "staff.request_reset": s_staff_request_reset,
    "staff.set_password": s_staff_set_password,
    "staff.create_account": s_staff_create_account,
    "staff.add_membership": s_staff_add_membership,
    "order.note": s_order_note,
    "complaint.send": s_complaint_send,
    "complaint.answer": s_complaint_answer,
    "complaint.close": s_complaint_close,
    "calendar.add": s_calendar_add,
    "hours.set_week": s_hours_set_week,
    "hours.add_exception": s_hours_add_exception,
    "hours.remove_exception": s_hours_remove_exception,
    "staff.change_member": s_staff_change_member,
    "staff.remove_member": s_staff_remove_member,
    "supplier.create": s_supplier_create,
    "supplier.approve": s_supplier_approve,
    "supplier.suspend": s_supplier_suspend,
    "supplier.profile": s_supplier_profile,
    "offering.create": s_offering_create,
    "offering.update": s_offering_update,
    "offering.archive": s_offering_archive,
    "offering.restore": s_offering_restore,
    "giftcard.purchase": s_giftcard_purchase,
    "checkout.giftcard_tried": s_giftcard_tried,
    "giftcard.balance_checked": s_balance_checked,
    "giftcard.withdraw": s_giftcard_withdraw,
    "appointment.hold": s_hold,
    "order.expire": s_expire,
    "checkout.phone_verified": s_phone_verified,
    "checkout.codes": s_codes,
    "order.confirm": s_confirm,
    "order.submit_for_payment": s_submit_for_payment,
    "payment.start": s_payment_start,
    "payment.webhook": s_webhook,
    "payment.sync": s_sync,
    "payment.operation_done": s_operation_done,
    "payment.operation_failed": s_operation_failed,
    "payment.stored_webhook": s_stored_webhook,
    "payment.give_up": s_give_up,
    "order.delivered": s_delivered,
    "order.no_show": s_no_show,
    "order.customer_cancel": s_customer_cancel,
    "order.supplier_cancel": s_supplier_cancel,
    "order.refund": s_refund,
    "order.auto_complete": s_auto_complete,
    "order.withdraw": s_withdraw,
    "order.withdrawal_settled": s_withdrawal_settled,
    "code.send": s_code_send,
    "code.check": s_code_check,
    "device.remember": s_device_remember,
    "device.forget": s_device_forget,
    "device.forget_all": s_device_forget_all,
    "sms.delivery_status": s_sms_status,
    "customer.export": s_customer_export,
    "marketing.send": s_marketing_send,
    "marketing.unsubscribe": s_marketing_unsubscribe,
    "marketing.consent": s_marketing_consent,
    "order.reminders_off": s_reminders_off,
    "customer.update": s_customer_update,
    "customer.change_phone": s_customer_change_phone,
    "customer.erase": s_customer_erase,
    "customer.forget_inactive": s_customer_forget_inactive,
    "retention.release": s_retention_release,
}


def test_every_use_case_has_a_scenario_here():
    from portal import wiring

    wiring.configure()
    for name in _modules():
        importlib.import_module(name)
    assert set(audit.USE_CASES) == set(SCENARIOS)


@pytest.mark.parametrize("action", sorted(SCENARIOS))
async def test_a_use_case_writes_exactly_one_audit_entry(action, client, vipps, monkeypatch):
    from portal.notify import service as notify

    monkeypatch.setattr(notify, "load_settings", notify.load_settings)  # s_sms_status swaps it; undone after the test
    call = await SCENARIOS[action](client, vipps)
    before = await audit.last_id()
    await call()
    written = await audit.entries(since_id=before, action=action)
    assert len(written) == 1, (action, written)
    entry = written[0]
    assert entry["actor_kind"] in {"customer", "staff", "system", "operator"} and entry["actor_id"]
    assert entry["at"] is not None


async def test_a_use_case_that_fails_leaves_no_entry(client):
    """The entry is in the use case's transaction: when the use case raises, neither change nor entry stays."""
    from portal.orders.tables import Order
    from portal.sales import settlement

    order = await _held(client)
    before = await audit.last_id()
    with pytest.raises(settlement.NotAllowed):
        await settlement.supplier_cancel(STAFF, order["id"], clock.now())  # a held order cannot be cancelled by the seller
    assert await audit.entries(since_id=before) == []
    assert (await Order.select(Order.state).where(Order.id == order["id"]).first())["state"] == "held"


async def test_a_step_refuses_to_run_outside_a_use_case(client):
    from portal.orders import service as orders
    from portal.orders.domain import OrderEvent

    order = await _held(client)
    with pytest.raises(audit.AuditError):
        await orders.move(order["id"], OrderEvent.ABANDON, clock.now())
    assert (await orders.get(order["id"]))["state"] == "held"


async def test_a_use_case_cannot_write_two_entries(clean_bookings):
    from portal.orders.tables import Order

    @audit.use_case("test.twice")
    async def twice(actor, now):
        await audit.record(actor, "test.twice", now=now)
        await Order.count()
        await audit.record(actor, "test.twice", now=now)

    try:
        before = await audit.last_id()
        with pytest.raises(audit.AuditError):
            await twice(SYSTEM, clock.now())
        assert await audit.entries(since_id=before) == []  # rolled back with the use case
    finally:
        audit.USE_CASES.pop("test.twice", None)

"""The right of withdrawal (angrerett) for services (L4–L12, L32).

* Every confirmation of an order with the right carries the withdrawal form
  (Q-0319B) pre-filled as a PDF (`form_for`, called by the kind's
  confirmation messages inside the confirming transaction); the moment it
  was issued is when the customer was informed (L12).
* `withdraw`: the customer on the order page, or the supplier registering a
  withdrawal that came by email or on paper. The order ends as `withdrawn`,
  the money is planned back through the outbox (L8, L9), and the
  acknowledgement — a PDF with what was withdrawn, when and how — is queued
  to the customer at once (L10).
* After an early-start request and once the service has started, the
  customer pays only the part delivered: the supplier states it
  (`settle_delivered_part`, bounded by the price) and the rest goes back.

The rules themselves are pure, in portal.legal.withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.audit.domain import Actor, ActorKind
from portal.audit.service import query, record, step, use_case
from portal.documents import domain as docs
from portal.documents import service as documents
from portal.documents.handler import enqueuer
from portal.legal import withdrawal as rules
from portal.legal.withdrawal import withdrawal_info
from portal.lib import clock
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok
from portal.notify.domain import Channel
from portal.notify.messages import render
from portal.orders import kinds
from portal.orders import service as orders
from portal.orders.domain import OrderEvent, OrderState
from portal.orders.tables import OrderWithdrawal
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.payments import service as payments
from portal.payments.domain import Outcome
from portal.payments.pricing import Quote
from portal.sales import lifecycle
from portal.settings import load as load_settings
from portal.web.render import org_number_text, phone_text

TOPIC = "withdrawal"
VIA = ("online", "email", "paper", "other")
#: The kinds withdrawn from here (services). A gift card purchase has its own
#: withdrawal, which also ends its cards (portal.kinds.giftcard.service.withdraw).
SERVICE_KINDS = frozenset({"appointment"})

#: Why a withdrawal is refused (msgids); nothing is changed.
REFUSALS = {
    "no_right": N_("This booking has no right of withdrawal."),
    "not_active": N_("This booking has already ended or been withdrawn from, so it cannot be withdrawn from now."),
    "too_late": N_("The withdrawal period ended on %(deadline)s. The booking has not been changed."),
    "future": N_("A withdrawal cannot be received in the future."),
    "no_such_order": N_("There is no such booking."),
    "settled": N_("What the customer pays after the withdrawal is already settled."),
    "above_price": N_("The part delivered can be at most the price, %(price)s."),
}

SUBJECT = N_("Withdrawal received: %(what)s (%(ref)s)")


class Refused(Exception):
    """A withdrawal (or its settlement) that is not possible: `message` says why; nothing changed."""

    def __init__(self, reason: str, **args: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.args_ = args

    def text(self, language: str) -> str:
        return translations(language).gettext(REFUSALS[self.reason]) % self.args_


@dataclass(frozen=True)
class Status:
    """What the order page and the back office show of the right."""

    applies: bool
    deadline: date | None  # the last day to withdraw (L5, extended by L12)
    informed_at: datetime | None  # when the form was given
    open: bool  # may be withdrawn from now
    withdrawal: dict | None  # the record, once withdrawn
    awaiting_statement: bool  # withdrawn after an early start: the supplier must state the part delivered


def _class(order: dict) -> str:
    return (order["terms"] or {}).get("withdrawal_class", "standard")


def _price(order: dict) -> int:
    return Quote.from_json(order["quote"]).total_ore if order["quote"] else 0


async def _views(order: dict) -> list:
    views = []
    for name in await orders.kinds_of(order["id"]):
        views += await kinds.kind(name).lines(order)
    return views


async def _services(order: dict) -> tuple[str, ...]:
    """What was bought, one text per line: the service, its time, who performs it."""
    language = order["language"] or "nb"
    texts = []
    for v in await _views(order):
        parts = [v.title or (order["terms"] or {}).get("offering_title", "")]
        if v.starts_at:
            parts.append(clock.fmt_datetime(v.starts_at, language))
        if v.who:
            parts.append(v.who)
        texts.append(", ".join(p for p in parts if p))
    texts = [t for t in texts if t.strip()]
    return tuple(texts) or ((order["terms"] or {}).get("offering_title") or order["reference"],)


@query
async def services_of(order: dict) -> tuple[str, ...]:
    """What the order bought, as a withdrawal names it."""
    return await _services(order)


async def _documents(order: dict, kind: docs.Kind) -> list[docs.IssuedDocument]:
    return [d for d in await documents.documents_of_order(order["id"]) if d.kind is kind and d.order_reference == order["reference"]]


@query
async def informed_at(order: dict) -> datetime | None:
    """When the customer was given the withdrawal form (its document's issue), or None."""
    found = await _documents(order, docs.Kind.WITHDRAWAL_FORM)
    return found[0].issued_at if found else None


@query
async def record_of(order_id: int) -> dict | None:
    return await OrderWithdrawal.select().where(OrderWithdrawal.order == order_id).first()


@query
async def status(order: dict, now: datetime) -> Status:
    applies = _class(order) == "standard" and set(await orders.kinds_of(order["id"])) <= SERVICE_KINDS
    withdrawn = await record_of(order["id"])
    if not applies or order["contract_at"] is None:
        return Status(applies, None, None, False, withdrawn, False)
    informed = await informed_at(order)
    deadline = rules.deadline_with_information(order["contract_at"], informed)
    active = order["state"] in (OrderState.CONFIRMED.value, OrderState.COMPLETED.value)
    is_open = active and withdrawn is None and rules.may_withdraw(_class(order), order["contract_at"], informed, now)
    awaiting = withdrawn is not None and withdrawn["keep_ore"] is None
    return Status(applies, deadline, informed, is_open, withdrawn, awaiting)


# ---------------------------------------------------------------- the form with every confirmation (L11)


def _seller(order: dict) -> docs.Seller:
    return docs.Seller.from_mapping((order["terms"] or {}).get("supplier") or {})


@step
async def form_for(order: dict, now: datetime) -> docs.IssuedDocument | None:
    """The withdrawal form for a confirmed order with the right (issued once,
    inside the confirming transaction), for its confirmation email; None when
    the order has no right of withdrawal or no email to send it to."""
    try:
        applies = withdrawal_info(_class(order)).applies
    except ValueError:
        applies = False
    if not applies or not order["email"] or order["contract_at"] is None:
        return None
    facts = docs.WithdrawalFacts(
        services=await _services(order),
        contract_at=order["contract_at"],
        deadline=rules.deadline_with_information(order["contract_at"], now),
    )
    draft = docs.Draft(
        kind=docs.Kind.WITHDRAWAL_FORM,
        supplier_id=order["supplier"],
        order_id=order["id"],
        language=order["language"] or "nb",
        seller=_seller(order),
        buyer=docs.Buyer(name=order["customer_name"], phone=order["phone"], email=order["email"]),
        order_reference=order["reference"],
        withdrawal=facts,
        source_key=f"withdrawal-form:{order['id']}:{order['reference']}",
    )
    return await documents.issue(draft, now=now, enqueue=enqueuer(order["id"], order["language"] or "nb", now))


# ---------------------------------------------------------------- withdrawing


def _staff_guard(actor: Actor, order: dict | None) -> dict:
    if order is None or (actor.kind is ActorKind.STAFF and actor.supplier_id != order["supplier"]):
        raise Refused("no_such_order")
    return order


def _email_context(order: dict, document: docs.IssuedDocument) -> dict:
    terms = order["terms"] or {}
    s = terms.get("supplier") or {}
    supplier = terms.get("supplier_name") or s.get("legal_name", "")
    base = load_settings().base_url
    language = order["language"] or "nb"
    facts = document.withdrawal
    return {
        "b": {"customer_name": order["customer_name"], "supplier_name": supplier},
        "s": {
            "legal_name": s.get("legal_name", supplier),
            "org_number": org_number_text(s.get("org_number", "")),
            "vat_registered": bool(s.get("vat_registered")),
            "address": f"{s.get('street', '')}, {s.get('postcode', '')} {s.get('town', '')}".strip(", "),
            "phone": phone_text(s.get("phone", "")) if s.get("phone") else "",
            "email": s.get("email", ""),
        },
        "reference": order["reference"],
        "services": facts.services if facts else (),
        "received": clock.fmt_datetime(facts.received_at, language) if facts and facts.received_at else "",
        "manage_url": f"{base}/b/{order['manage_token']}" if order["manage_token"] else base,
    }


@step
async def acknowledge(order: dict, row: dict, now: datetime) -> docs.IssuedDocument:
    """The acknowledgement on a durable medium (L10): a PDF of what was
    withdrawn, when and how it was received, emailed at once (to the order's
    address, and to the contact given if that is another email address)."""
    language = order["language"] or "nb"
    facts = docs.WithdrawalFacts(
        services=await _services(order),
        contract_at=order["contract_at"],
        deadline=rules.deadline_with_information(order["contract_at"], await informed_at(order)),
        received_at=row["received_at"],
        via=row["via"],
        name=row["name"],
        contact=row["contact"],
    )
    draft = docs.Draft(
        kind=docs.Kind.WITHDRAWAL_RECEIPT,
        supplier_id=order["supplier"],
        order_id=order["id"],
        language=language,
        seller=_seller(order),
        buyer=docs.Buyer(name=row["name"] or order["customer_name"], phone=order["phone"], email=order["email"]),
        order_reference=order["reference"],
        withdrawal=facts,
        source_key=f"withdrawal:{order['id']}:{order['reference']}",
    )
    document = await documents.issue(draft, now=now, enqueue=enqueuer(order["id"], language, now))
    t = translations(language)
    what = facts.services[0]
    subject = t.gettext(SUBJECT) % {"what": what, "ref": order["reference"]}
    context = {**_email_context(order, document), "subject": subject}
    recipients = [order["email"]] if order["email"] else []
    if "@" in row["contact"] and row["contact"].strip().lower() not in {r.lower() for r in recipients}:
        recipients.append(row["contact"].strip())
    seller = (order["terms"] or {}).get("supplier") or {}
    await outbox.insert(
        [
            Draft(
                channel=Channel.EMAIL.value,
                topic=TOPIC,
                recipient=recipient,
                dedupe_key=f"withdrawal:{order['id']}:{order['reference']}:email:{number}",
                language=language,
                payload={
                    "subject": subject,
                    "text": render("email/withdrawal.txt", language, **context),
                    "html": render("email/withdrawal.html", language, **context),
                    "reply_to": seller.get("email", ""),
                    "reply_to_name": context["b"]["supplier_name"],
                    "attachments": [{"document_id": document.id}],
                },
                next_attempt_at=now,
                order_id=order["id"],
            )
            for number, recipient in enumerate(recipients)
        ],
        now,
    )
    return document


@use_case("order.withdraw")
async def withdraw(
    actor: Actor, order_id: int, now: datetime, *, name: str = "", contact: str = "", via: str = "online", received_at: datetime | None = None
) -> dict:
    """Withdraw from a standard-class order inside its period (L10). The
    notice counts when it was received (`received_at`, for one the supplier
    registers; now on the order page). Before the service starts, or without
    an early-start request, everything is given back at once (L8, L9); after
    an early start the supplier states the part delivered first.
    Raises Refused (nothing changed)."""
    order = _staff_guard(actor, await orders.get(order_id))
    received = received_at or now
    if received > now:
        raise Refused("future")
    if _class(order) != "standard" or order["contract_at"] is None or not set(await orders.kinds_of(order_id)) <= SERVICE_KINDS:
        raise Refused("no_right")
    if order["state"] not in (OrderState.CONFIRMED.value, OrderState.COMPLETED.value) or await record_of(order_id) is not None:
        raise Refused("not_active")
    informed = await informed_at(order)
    if not rules.may_withdraw(_class(order), order["contract_at"], informed, received):
        deadline = rules.deadline_with_information(order["contract_at"], informed)
        raise Refused("too_late", deadline=clock.fmt_date(deadline, order["language"] or "nb", "long"))
    start = min((v.starts_at for v in await _views(order) if v.starts_at), default=None)
    started = start is not None and received >= start
    early = bool((order["consents"] or {}).get("early_start"))
    price = _price(order)
    keep = rules.payable_after_withdrawal(price_ore=price, early_start=early, started=started, delivered_ore=None)
    ended = await lifecycle.end(order_id, OrderEvent.WITHDRAW, now)
    if keep is not None:
        await payments.plan_for_order(order_id, Outcome.WITHDRAWN, now, keep_ore=keep)
    inserted = await OrderWithdrawal.insert(
        OrderWithdrawal(
            order=order_id,
            supplier=order["supplier"],
            received_at=received,
            recorded_at=now,
            via=via if via in VIA else "other",
            name=(name or order["customer_name"])[:200],
            contact=(contact or order["email"] or order["phone"])[:254],
            early_start=early,
            started=started,
            price_ore=price,
            keep_ore=keep,
            settled_at=now if keep is not None else None,
        )
    ).returning(*OrderWithdrawal.all_columns())
    row = inserted[0]
    document = await acknowledge(ended, row, now)
    await OrderWithdrawal.update({OrderWithdrawal.document_id: document.id}).where(OrderWithdrawal.id == row["id"])
    await record(
        actor, "order.withdraw", now=now, order_id=order_id, supplier_id=order["supplier"],
        before={"state": order["state"]},
        after={"state": ended["state"], "via": row["via"], "received_at": received, "early_start": early, "started": started, "keep_ore": keep},
    )
    return ended


@use_case("order.withdrawal_settled")
async def settle_delivered_part(actor: Actor, order_id: int, delivered_ore: int, now: datetime) -> dict:
    """After a withdrawal that followed an early-start request and the start
    of the service: the supplier states the part delivered (at most the
    price); the customer pays that, the rest is released or refunded (L8)."""
    order = _staff_guard(actor, await orders.get(order_id))
    row = await record_of(order_id)
    if row is None or order["state"] != OrderState.WITHDRAWN.value:
        raise Refused("no_such_order")
    if row["keep_ore"] is not None:
        raise Refused("settled")
    if delivered_ore < 0 or delivered_ore > row["price_ore"]:
        raise Refused("above_price", price=format_nok(row["price_ore"], order["language"] or "nb"))
    keep = rules.payable_after_withdrawal(price_ore=row["price_ore"], early_start=row["early_start"], started=row["started"], delivered_ore=delivered_ore)
    changed = await (
        OrderWithdrawal.update({OrderWithdrawal.keep_ore: keep, OrderWithdrawal.settled_at: now})
        .where((OrderWithdrawal.id == row["id"]) & OrderWithdrawal.keep_ore.is_null())
        .returning(OrderWithdrawal.id)
    )
    if not changed:
        raise Refused("settled")
    await payments.plan_for_order(order_id, Outcome.WITHDRAWN, now, keep_ore=keep or 0)
    await record(actor, "order.withdrawal_settled", now=now, order_id=order_id, supplier_id=order["supplier"], after={"keep_ore": keep, "price_ore": row["price_ore"]})
    return {**row, "keep_ore": keep, "settled_at": now}

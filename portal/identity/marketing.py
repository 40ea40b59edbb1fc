"""A supplier's news to the customers who said yes to it (L28).

* Only customers with an active MarketingConsent for the supplier get it.
* Rate-limited: one message per supplier every MIN_HOURS_BETWEEN hours, and
  the outbox rows are spread out (PER_MINUTE due per minute), so a big list
  neither floods the SMS provider nor the customers.
* Every email carries a one-click unsubscribe (RFC 8058: `List-Unsubscribe`
  and `List-Unsubscribe-Post`, the payload's `list_unsubscribe`) and the same
  link in its text; every SMS a stop instruction with the link. The link's
  token is signed (customer, supplier); using it withdraws the consent at
  once. Not a service message: no reminders or confirmations go this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from portal.audit.domain import Actor
from portal.audit.service import query, record, step, use_case
from portal.audit.tables import AuditEntry
from portal.catalogue.tables import Supplier
from portal.identity.tables import Customer, MarketingConsent
from portal.lib.i18n import N_, translations
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.outbox.tables import OutboxMessage
from portal.settings import load as load_settings

TOPIC = "marketing"
MIN_HOURS_BETWEEN = 24
PER_MINUTE = 60
MAX_SUBJECT = 150
MAX_TEXT = 1000
MAX_SMS_TEXT = 300

EMAIL_FOOTER = N_("You get this because you said yes to news from %(supplier)s. Unsubscribe with one click: %(url)s")
SMS_STOP = N_("Stop news from %(supplier)s: %(url)s")


class TooSoon(Exception):
    """The supplier sent news less than MIN_HOURS_BETWEEN hours ago: nothing is queued."""

    message = N_("You can send news once a day. The next one can go at %(time)s.")

    def __init__(self, next_at: datetime):
        super().__init__(next_at.isoformat())
        self.next_at = next_at


@dataclass(frozen=True)
class News:
    subject: str
    text: str
    email: bool
    sms: bool


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(load_settings().secret_key, salt="unsubscribe")


def unsubscribe_token(customer_id: int, supplier_id: int) -> str:
    return _signer().dumps([customer_id, supplier_id])


def unsubscribe_url(customer_id: int, supplier_id: int) -> str:
    return f"{load_settings().base_url}/u/{unsubscribe_token(customer_id, supplier_id)}"


def read_token(token: str) -> tuple[int, int] | None:
    """(customer id, supplier id) of a genuine link, else None."""
    try:
        value = _signer().loads(token)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        return None
    return value[0], value[1]


@query
async def audience(supplier_id: int) -> list[dict]:
    """The customers who take this supplier's news now: id, phone, email, language."""
    consenting = [m["customer"] for m in await MarketingConsent.select(MarketingConsent.customer).where((MarketingConsent.supplier == supplier_id) & MarketingConsent.withdrawn_at.is_null())]
    if not consenting:
        return []
    return await Customer.select(Customer.id, Customer.phone, Customer.email, Customer.language).where(Customer.id.is_in(consenting)).order_by(Customer.id)


@query
async def next_allowed(supplier_id: int, now: datetime) -> datetime | None:
    """When the supplier may send news again (None: now)."""
    last = await AuditEntry.select(AuditEntry.at).where((AuditEntry.action == "marketing.send") & (AuditEntry.supplier_id == supplier_id)).order_by(AuditEntry.at, ascending=False).first()
    if last is None:
        return None
    due = last["at"] + timedelta(hours=MIN_HOURS_BETWEEN)
    return due if due > now else None


@use_case("marketing.send")
async def send(actor: Actor, supplier_id: int, news: News, now: datetime) -> int:
    """Queue the news to every customer who said yes; how many messages. Raises TooSoon."""
    due = await next_allowed(supplier_id, now)
    if due is not None:
        raise TooSoon(due)
    supplier = await Supplier.select(Supplier.name, Supplier.email).where(Supplier.id == supplier_id).first()
    campaign = int(now.timestamp())
    drafts = []
    for customer in await audience(supplier_id):
        t = translations(customer["language"] or "nb")
        url = unsubscribe_url(customer["id"], supplier_id)
        when = now + timedelta(minutes=len(drafts) // PER_MINUTE)
        if news.email and customer["email"]:
            text = f"{news.text}\n\n-- \n{t.gettext(EMAIL_FOOTER) % {'supplier': supplier['name'], 'url': url}}\n"
            payload = {"subject": news.subject, "text": text, "list_unsubscribe": url, "reply_to": supplier["email"], "reply_to_name": supplier["name"]}
            drafts.append(Draft("email", TOPIC, customer["email"], f"marketing:{supplier_id}:{campaign}:{customer['id']}:email", customer["language"] or "nb", payload, when))
        if news.sms and customer["phone"]:
            text = f"{supplier['name']}: {news.text[:MAX_SMS_TEXT]}\n{t.gettext(SMS_STOP) % {'supplier': supplier['name'], 'url': url}}"
            drafts.append(Draft("sms", TOPIC, customer["phone"], f"marketing:{supplier_id}:{campaign}:{customer['id']}:sms", customer["language"] or "nb", {"text": text}, when))
    await outbox.insert(drafts, now)
    await record(actor, "marketing.send", now=now, subject="supplier", subject_id=supplier_id, supplier_id=supplier_id, after={"messages": len(drafts), "email": news.email, "sms": news.sms})
    return len(drafts)


@use_case("marketing.unsubscribe")
async def unsubscribe(actor: Actor, token: str, now: datetime) -> bool | None:
    """The one-click link: the consent is withdrawn at once. None for a link
    that is not ours; False if it was withdrawn already (nothing changes)."""
    read = read_token(token)
    if read is None:
        return None
    customer_id, supplier_id = read
    changed = await (
        MarketingConsent.update({MarketingConsent.withdrawn_at: now})
        .where((MarketingConsent.key == f"{customer_id}:{supplier_id}") & MarketingConsent.withdrawn_at.is_null())
        .returning(MarketingConsent.id)
    )
    if not changed:
        return False
    await cancel_pending(customer_id, supplier_id)
    await record(actor, "marketing.unsubscribe", now=now, subject="customer", subject_id=customer_id, supplier_id=supplier_id)
    return True


@step
async def cancel_pending(customer_id: int, supplier_id: int) -> None:
    """Honoured at once: the supplier's news still waiting in the outbox for this customer does not go either."""
    await OutboxMessage.update({OutboxMessage.status: "cancelled", OutboxMessage.last_error: "unsubscribed"}).where(
        (OutboxMessage.topic == TOPIC) & (OutboxMessage.status == "pending") & OutboxMessage.dedupe_key.like(f"marketing:{supplier_id}:%:{customer_id}:%")
    )

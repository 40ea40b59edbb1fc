"""Customers as the order code writes them: call inside the order's write transaction."""

from __future__ import annotations

from datetime import datetime

from portal.identity.tables import Customer, CustomerSupplier, MarketingConsent


async def customer_for_order(*, phone: str, name: str, email: str, language: str, supplier_id: int, now: datetime, marketing: dict | None = None) -> int:
    """Create or update the customer of a verified number and link the supplier;
    `marketing` (the ticked opt-in: its text and time) is kept as their consent
    to this supplier's news. Runs inside the caller's write transaction."""
    existing = await Customer.select(Customer.id).where(Customer.phone == phone).first()
    if existing is None:
        inserted = await Customer.insert(
            Customer(phone=phone, name=name, email=email, language=language, created_at=now)
        ).returning(Customer.id)
        customer_id = inserted[0]["id"]
    else:
        customer_id = existing["id"]
        await Customer.update({Customer.name: name, Customer.email: email, Customer.language: language}).where(
            Customer.id == customer_id
        )
    key = f"{customer_id}:{supplier_id}"
    if not await CustomerSupplier.exists().where(CustomerSupplier.key == key):
        await CustomerSupplier.insert(CustomerSupplier(key=key, customer=customer_id, supplier=supplier_id, first_booking_at=now))
    if marketing:
        await give_marketing(customer_id, supplier_id, text=str(marketing.get("text", "")), source="checkout", now=now)
    return customer_id


async def give_marketing(customer_id: int, supplier_id: int, *, text: str, source: str, now: datetime) -> None:
    """The customer says yes to the supplier's news (again): text and time kept (L28)."""
    key = f"{customer_id}:{supplier_id}"
    values = {MarketingConsent.text: text, MarketingConsent.source: source, MarketingConsent.given_at: now, MarketingConsent.withdrawn_at: None}
    if await MarketingConsent.exists().where(MarketingConsent.key == key):
        await MarketingConsent.update(values).where(MarketingConsent.key == key)
    else:
        await MarketingConsent.insert(MarketingConsent(key=key, customer=customer_id, supplier=supplier_id, text=text, source=source, given_at=now))

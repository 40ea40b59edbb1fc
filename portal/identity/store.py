"""Customers as the order code writes them: call inside the order's write transaction."""

from __future__ import annotations

from datetime import datetime

from portal.identity.tables import Customer, CustomerSupplier


async def customer_for_order(*, phone: str, name: str, email: str, language: str, supplier_id: int, now: datetime) -> int:
    """Create or update the customer of a verified number and link the supplier.
    Runs inside the caller's write transaction."""
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
    return customer_id

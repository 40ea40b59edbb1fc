"""A Vipps sync and a webhook that store the same event at the same moment.

`sync` updates the payment row (synced_at) and then stores the events it
read; a webhook stores its event and then applies it, which locks the
payment row. If the webhook took the event's unique key before the payment's
row lock, each transaction would hold what the other waits for: PostgreSQL
kills one with a deadlock (the e2e Vipps journey met it as a 500 on
/hooks/vipps). `_store_events` takes the payment's lock first, so they
queue instead. On SQLite the write transactions are IMMEDIATE and queue anyway.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from portal.audit.domain import system
from portal.audit.service import acting
from portal.catalogue.service import offering_context
from portal.kinds.appointment import service as appointment
from portal.lib import clock
from portal.payments import domain
from portal.payments.service import _store_events
from portal.payments.tables import Payment, PaymentEvent


async def _held_order(now):
    ctx = await offering_context("saks-og-stil-grunerlokka", "herreklipp")
    first = clock.to_local(now).date() + timedelta(days=1)  # tomorrow: clear of the notice edge
    for offset in range(14):
        day = first + timedelta(days=offset)
        slots = await appointment.slots_between(ctx, day, day, now)
        if slots:
            return await appointment.hold(system("test"), ctx, slots[0].start, None, "visitor-locks", now, 10)
    raise AssertionError("no free time in two weeks")


async def test_a_sync_and_a_webhook_of_the_same_event_queue_instead_of_deadlocking(clean_bookings):
    now = clock.now()
    order = await _held_order(now)
    reference = f"{order['reference']}-1"
    await Payment.insert(
        Payment(order=order["id"], supplier=order["supplier"], reference=reference, amount_ore=549_00, create_key=reference, created_at=now, updated_at=now)
    )
    created = domain.Event(name=domain.PaymentEventName.CREATED, amount_ore=549_00, success=True, at=now, psp_reference="psp-1", idempotency_key=None)

    async def like_sync():
        async with acting(system("test"), "test.sync", now=now):  # what payment.sync does
            await Payment.update({Payment.synced_at: now}).where(Payment.reference == reference)
            await asyncio.sleep(0.5)  # the webhook arrives while the sync holds the payment row
            return await _store_events(reference, [created], "events", now)

    async def like_webhook():
        await asyncio.sleep(0.15)
        async with acting(system("test"), "test.webhook", now=now):  # what payment.webhook does
            return await _store_events(reference, [created], "webhook", now)

    results = await asyncio.wait_for(asyncio.gather(like_sync(), like_webhook(), return_exceptions=True), timeout=30)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert all(r.known and r.state is domain.PaymentState.CREATED for r in results)
    assert await PaymentEvent.count().where(PaymentEvent.reference == reference) == 1, "the event is stored once"
    payment = await Payment.select().where(Payment.reference == reference).first()
    assert payment["state"] == "created" and payment["synced_at"] is not None

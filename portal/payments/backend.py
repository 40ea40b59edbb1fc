"""The outbox's `payment` channel: a row names planned PaymentOperations,
carried out in order by portal.payments.service.execute with their stored
idempotency keys. Vipps not answering leaves the row for a later try; when
the worker is about to stop trying, what is still pending is marked failed
and told like any other failure (never left "pending" with nobody told)."""

from __future__ import annotations

import json

from portal.audit.domain import system
from portal.outbox.handlers import Handler, SendError
from portal.payments import service
from portal.payments.tables import Payment, PaymentOperation
from portal.settings import Settings

ACTOR = system("outbox-worker")


class PaymentOperations:
    transactional = False

    def __init__(self, settings: Settings) -> None:
        self.max_attempts = settings.outbox.max_attempts

    async def send(self, row: dict) -> str:
        payload = row.get("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        ids = [int(i) for i in payload.get("operations", [])]
        try:
            return await service.execute(ACTOR, ids)
        except service.OperationDeferred as exc:
            if int(row.get("attempts") or 0) >= self.max_attempts:  # the worker will not try this row again
                await _give_up(ids, f"Vipps did not answer in {row.get('attempts')} tries: {exc}")
                raise SendError(f"Vipps did not answer; gave up: {exc}", permanent=True) from exc
            raise SendError(f"Vipps did not answer: {exc}") from exc

    async def close(self) -> None:
        return None


def payment_handler(settings: Settings) -> Handler:
    return PaymentOperations(settings)


async def _give_up(operation_ids: list[int], error: str) -> None:
    pending = await (
        PaymentOperation.select()
        .where(PaymentOperation.id.is_in(operation_ids or [0]) & (PaymentOperation.status == "pending"))
        .order_by(PaymentOperation.sequence)
    )
    for op in pending:
        payment = await Payment.select().where(Payment.id == op["payment"]).first()
        await service.fail_operation(ACTOR, op, payment, error, "")

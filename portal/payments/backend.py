"""The outbox's `payment` channel: a row names planned PaymentOperations,
carried out in order by portal.payments.service.execute with their stored
idempotency keys. Vipps not answering leaves the row for a later try; when
the worker is about to stop trying, what is still pending is marked failed
and told like any other failure (never left "pending" with nobody told)."""

from __future__ import annotations

import json

from portal.notify.backends import SendError


class PaymentOperations:
    transactional = False

    async def send(self, row: dict) -> str:
        from portal.payments import service

        payload = row.get("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        ids = [int(i) for i in payload.get("operations", [])]
        try:
            return await service.execute(ids)
        except service.OperationDeferred as exc:
            if _last_try(row):
                await _give_up(ids, f"Vipps did not answer in {row.get('attempts')} tries: {exc}")
                raise SendError(f"Vipps did not answer; gave up: {exc}", permanent=True) from exc
            raise SendError(f"Vipps did not answer: {exc}") from exc

    async def close(self) -> None:
        return None


def _last_try(row: dict) -> bool:
    """The worker will not try this row again after this failure."""
    from portal.settings import load

    return int(row.get("attempts") or 0) >= load().outbox.max_attempts


async def _give_up(operation_ids: list[int], error: str) -> None:
    from portal.payments import service
    from portal.payments.tables import Payment, PaymentOperation

    pending = await (
        PaymentOperation.select()
        .where(PaymentOperation.id.is_in(operation_ids or [0]) & (PaymentOperation.status == "pending"))
        .order_by(PaymentOperation.sequence)
    )
    for op in pending:
        payment = await Payment.select().where(Payment.id == op["payment"]).first()
        await service._fail(op, payment, error, "")

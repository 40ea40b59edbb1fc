"""The outbox's `payment` channel: a row names planned PaymentOperations,
carried out in order by portal.payments.service.execute with their stored
idempotency keys. Vipps not answering leaves the row for a later try."""

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
        try:
            return await service.execute([int(i) for i in payload.get("operations", [])])
        except service.OperationDeferred as exc:
            raise SendError(f"Vipps did not answer: {exc}") from exc

    async def close(self) -> None:
        return None

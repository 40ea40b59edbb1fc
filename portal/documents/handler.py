"""The outbox's `document` channel: render an issued document's PDF once
(portal.documents.service.render). A rendering that fails is tried again
later; it never shows as an error to a customer ("being prepared")."""

from __future__ import annotations

import json
from datetime import datetime

from portal.documents import service
from portal.documents.service import RenderJob
from portal.outbox import service as outbox
from portal.outbox.domain import Draft
from portal.outbox.handlers import Handler, SendError
from portal.settings import Settings


class DocumentRenderer:
    transactional = False

    async def send(self, row: dict) -> str:
        payload = row.get("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        try:
            return await service.handle(payload)
        except service.DocumentNotFound as exc:
            raise SendError(f"no document {exc}", permanent=True) from exc
        except service.RenderFailed as exc:
            raise SendError(str(exc)) from exc

    async def close(self) -> None:
        return None


def document_handler(settings: Settings) -> Handler:
    return DocumentRenderer()


def enqueuer(order_id: int | None, language: str, now: datetime):
    """The `enqueue` for portal.documents.service.issue: the render job as an
    outbox row, in the caller's transaction."""

    async def enqueue(job: RenderJob) -> None:
        await outbox.insert(
            [
                Draft(
                    channel=job.channel,
                    topic="render",
                    recipient=f"document:{job.document_id}",
                    dedupe_key=job.dedupe_key,
                    language=language,
                    payload=job.payload,
                    next_attempt_at=now,
                    order_id=order_id,
                )
            ],
            now,
        )

    return enqueue

"""Issuing, voiding, rendering and reading documents.

Issuing happens INSIDE THE CALLER'S write transaction (the one that records
the money taken or given back), so a document exists exactly when its money
movement does:

    async with write_transaction():
        ...record the capture...
        receipt = await documents.service.issue(draft, now=now, enqueue=insert_outbox_row)

The number comes from the database: the supplier's series row is created if
missing (INSERT … ON CONFLICT DO NOTHING) and moved one step up with
`UPDATE … SET last = last + 1 … RETURNING last`, which also locks it until
the caller commits (PostgreSQL: a row lock; SQLite: the IMMEDIATE write
transaction). The document is inserted with that number; UNIQUE (supplier,
number) and triggers (see the migration) refuse any other number, any change
and any deletion. A rolled-back transaction rolls the series back with it:
no gap. All of `issue` runs inside a SAVEPOINT, so even a caller that catches
an error from `issue` and commits anyway leaves no number used.

Rendering happens later, in the outbox worker: `render(document_id)` (the
handler for a `document` channel) renders the PDF and stores it once with
its SHA-256; every download is those bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.audit.service import query, step
from portal.documents import render as rendering
from portal.documents.domain import (
    KIND_RULES,
    Draft,
    InvalidDocument,
    IssuedDocument,
    Kind,
    check,
    credit_problems,
    snapshot_of,
)
from portal.documents.tables import Document, DocumentPdf, DocumentRelease, DocumentSeries, DocumentVoid
from portal.lib import clock, db
from portal.lib.db import write_transaction

log = logging.getLogger("portal.documents")

CHANNEL = "document"
ISSUED = "issued"
VOID = "void"


class NotInTransaction(RuntimeError):
    """`issue` was called outside a write transaction: the document must commit
    with the money movement it records, or not at all."""


class DocumentNotFound(LookupError):
    """No document with that id (a job for it can never succeed)."""

    permanent = True


class AlreadyVoid(Exception):
    """The document was made void before."""


class RenderFailed(Exception):
    """Rendering failed this time (a missing font, a bug, a database hiccup).

    Temporary: the outbox worker tries the job again later; nothing was stored.
    """

    permanent = False


@dataclass(frozen=True)
class RenderJob:
    """An outbox row to write in the same transaction as the document (or its void).

    The outbox is being moved to `portal/outbox`; whoever inserts this row
    there maps the fields: channel `document`, the dedupe key, the payload.
    The handler for the channel is `handle(payload)` (or `render(document_id)`).
    """

    document_id: int
    variant: str
    channel: str = CHANNEL

    @property
    def dedupe_key(self) -> str:
        return f"document:{self.document_id}:pdf:{self.variant}"

    @property
    def payload(self) -> dict[str, Any]:
        return {"document_id": self.document_id, "variant": self.variant}


Enqueue = Callable[[RenderJob], Awaitable[object]]


@dataclass(frozen=True)
class StoredPdf:
    document_id: int
    variant: str
    sha256: str
    size: int
    rendered_at: datetime
    created: bool
    """True when this call rendered and stored it; False when it was there already."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


# ---------------------------------------------------------------- issuing


def _current_transaction():
    return db.engine().current_transaction.get()


async def _next_number(supplier_id: int) -> int:
    """The supplier's next number, from its series row (locked until commit)."""
    await DocumentSeries.raw(
        "INSERT INTO document_series (supplier_id, last) VALUES ({}, 0) ON CONFLICT (supplier_id) DO NOTHING",
        supplier_id,
    )
    rows = await DocumentSeries.raw(
        "UPDATE document_series SET last = last + 1 WHERE supplier_id = {} RETURNING last",
        supplier_id,
    )
    return rows[0]["last"]


@step
async def issue(draft: Draft, *, now: datetime, enqueue: Enqueue | None = None) -> IssuedDocument:
    """Issue `draft` now: give it the next number of its supplier's series (for
    receipts and credit notes), freeze its snapshot and insert it, inside the
    caller's write transaction. `enqueue`, if given, is awaited with the
    RenderJob in that same transaction.

    A draft with a `source_key` that was issued before returns that document
    (nothing new is issued). Raises InvalidDocument (nothing is issued, no
    number is used), NotInTransaction.
    """
    check(draft)
    if now.tzinfo is None:
        raise ValueError("now must be UTC-aware")
    transaction = _current_transaction()
    if transaction is None:
        raise NotInTransaction("call issue() inside the write transaction that records the money")
    if draft.source_key is not None:
        existing = await Document.select(Document.id).where(Document.source_key == draft.source_key).first()
        if existing is not None:
            found = await get(existing["id"])
            assert found is not None
            return found

    savepoint = await transaction.savepoint()
    try:
        rule = KIND_RULES[draft.kind]
        number = await _next_number(draft.supplier_id) if rule.numbered else None
        refers_to_number = None
        if draft.refers_to is not None:
            # After the number: the series lock serialises this supplier's
            # issuers, so the credits summed here cannot change under us.
            original = await get(draft.refers_to)
            if original is None:
                raise InvalidDocument([f"document {draft.refers_to} does not exist"])
            credited = await _credited_ore(draft.refers_to)
            problems = credit_problems(original, draft, credited)
            if problems:
                raise InvalidDocument(problems)
            refers_to_number = original.number
        snapshot = snapshot_of(draft, refers_to_number=refers_to_number)
        inserted = await Document.insert(
            Document(
                supplier_id=draft.supplier_id,
                order_id=draft.order_id,
                kind=Kind(draft.kind).value,
                number=number,
                issued_at=now.astimezone(clock.UTC),
                language=draft.language,
                refers_to=draft.refers_to,
                source_key=draft.source_key,
                snapshot=snapshot,
            )
        ).returning(Document.id)
        document_id = inserted[0]["id"]
        if enqueue is not None:
            await enqueue(RenderJob(document_id=document_id, variant=ISSUED))
    except BaseException:
        await savepoint.rollback_to()
        raise
    await savepoint.release()
    document = await get(document_id)
    assert document is not None
    return document


async def _credited_ore(receipt_id: int) -> int:
    rows = (
        await Document.select(Document.snapshot)
        .where((Document.refers_to == receipt_id) & (Document.kind == Kind.CREDIT_NOTE.value))
        .output(load_json=True)
    )
    return sum(row["snapshot"]["total_ore"] for row in rows)


@step
async def void(document_id: int, *, reason: str, actor: str, now: datetime, enqueue: Enqueue | None = None) -> IssuedDocument:
    """Make a document void (makulert): an appended row, the document itself
    unchanged; its PDF from then on is the copy marked void (rendered by the
    worker: `enqueue` gets that RenderJob in the same transaction).
    Raises DocumentNotFound, AlreadyVoid, ValueError (no reason or actor)."""
    if not reason.strip() or not actor.strip():
        raise ValueError("a void needs a reason and who made it")
    async with write_transaction():
        if not await Document.exists().where(Document.id == document_id):
            raise DocumentNotFound(document_id)
        added = await (
            DocumentVoid.insert(
                DocumentVoid(document=document_id, at=now.astimezone(clock.UTC), reason=reason.strip(), actor=actor.strip())
            )
            .on_conflict(target=DocumentVoid.document, action="DO NOTHING")
            .returning(DocumentVoid.id)
        )
        if not added:
            raise AlreadyVoid(document_id)
        if enqueue is not None:
            await enqueue(RenderJob(document_id=document_id, variant=VOID))
    document = await get(document_id)
    assert document is not None
    return document


# ---------------------------------------------------------------- reading


@query
async def get(document_id: int) -> IssuedDocument | None:
    row = await Document.select().where(Document.id == document_id).output(load_json=True).first()
    if row is None:
        return None
    voided = await DocumentVoid.select().where(DocumentVoid.document == document_id).first()
    return IssuedDocument.from_row(row, voided)


@query
async def documents_of_order(order_id: int) -> list[IssuedDocument]:
    """Every document of an order, oldest first (voids included, marked)."""
    rows = await Document.select().where(Document.order_id == order_id).order_by(Document.id).output(load_json=True)
    if not rows:
        return []
    voids = {v["document"]: v for v in await DocumentVoid.select().where(DocumentVoid.document.is_in([r["id"] for r in rows]))}
    return [IssuedDocument.from_row(row, voids.get(row["id"])) for row in rows]


@query
async def numbers_of_supplier(supplier_id: int) -> list[int]:
    """The supplier's bookkeeping numbers ever issued, ascending (for checks
    and reports): those of its documents, and of documents the retention job
    removed when their legal hold ended (kept in document_release)."""
    rows = await Document.select(Document.number).where((Document.supplier_id == supplier_id) & Document.number.is_not_null())
    released = await DocumentRelease.select(DocumentRelease.number).where((DocumentRelease.supplier_id == supplier_id) & DocumentRelease.number.is_not_null())
    return sorted(row["number"] for row in [*rows, *released])


def _variant(document: IssuedDocument) -> str:
    return VOID if document.void else ISSUED


@query
async def stored_pdf(document_id: int) -> StoredPdf | None:
    """What is stored for the document's current variant (without the bytes)."""
    document = await get(document_id)
    if document is None:
        return None
    row = await (
        DocumentPdf.select(DocumentPdf.sha256, DocumentPdf.size, DocumentPdf.rendered_at)
        .where((DocumentPdf.document == document_id) & (DocumentPdf.variant == _variant(document)))
        .first()
    )
    if row is None:
        return None
    return StoredPdf(document_id, _variant(document), row["sha256"], row["size"], row["rendered_at"], created=False)


@query
async def pdf_of(document_id: int) -> bytes | None:
    """The stored PDF (the void copy once void); None while it is being prepared
    (or when there is no such document)."""
    document = await get(document_id)
    if document is None:
        return None
    row = await (
        DocumentPdf.select(DocumentPdf.content)
        .where((DocumentPdf.document == document_id) & (DocumentPdf.variant == _variant(document)))
        .first()
    )
    return None if row is None else bytes(row["content"])


# ---------------------------------------------------------------- rendering (the worker)


async def render_pending(document_id: int, *, now: datetime | None = None) -> StoredPdf:
    """Render the document's PDF and store it, once: if it is stored already,
    nothing is rendered or written. Two workers racing store one of their
    (identical) renderings; both return what is stored.

    Raises DocumentNotFound (permanent), RenderFailed (temporary: retry later).
    """
    try:
        document = await get(document_id)
    except Exception as exc:
        raise RenderFailed(f"document {document_id}: could not be read: {exc!r}") from exc
    if document is None:
        raise DocumentNotFound(document_id)
    variant = _variant(document)
    already = await stored_pdf(document_id)
    if already is not None:
        return already
    try:
        pdf = await asyncio.to_thread(rendering.pdf_bytes, document)
    except Exception as exc:
        log.exception("document %s: rendering failed", document_id)
        raise RenderFailed(f"document {document_id}: rendering failed: {exc}") from exc
    digest = hashlib.sha256(pdf).hexdigest()
    moment = (now or clock.now()).astimezone(clock.UTC)
    try:
        async with write_transaction():
            added = await (
                DocumentPdf.insert(
                    DocumentPdf(
                        document=document_id, variant=variant, content=pdf, sha256=digest, size=len(pdf), rendered_at=moment
                    )
                )
                .on_conflict(target=(DocumentPdf.document, DocumentPdf.variant), action="DO NOTHING")
                .returning(DocumentPdf.id)
            )
    except Exception as exc:
        raise RenderFailed(f"document {document_id}: the PDF could not be stored: {exc!r}") from exc
    if not added:
        stored = await stored_pdf(document_id)
        assert stored is not None
        return stored
    return StoredPdf(document_id, variant, digest, len(pdf), moment, created=True)


async def render(document_id: int) -> str:
    """The outbox handler for the `document` channel: render and store the
    PDF once. Returns `sha256:<hex>` (what the outbox keeps as the provider id).
    Raises RenderFailed (temporary) or DocumentNotFound (permanent)."""
    stored = await render_pending(document_id)
    return f"sha256:{stored.sha256}"


async def handle(payload: Mapping[str, Any]) -> str:
    """The same, from a RenderJob's payload."""
    return await render(int(payload["document_id"]))


@query
async def attachment(document_id: int) -> Attachment:
    """(filename, content type, bytes) for an email attachment. Runs in the
    worker: renders the PDF first if it is not stored yet.
    Raises DocumentNotFound, RenderFailed (temporary: send the email later)."""
    await render_pending(document_id)
    document = await get(document_id)
    content = await pdf_of(document_id)
    if document is None or content is None:
        raise RenderFailed(f"document {document_id}: the PDF is not there yet")
    return Attachment(filename=rendering.filename_of(document), content_type=rendering.CONTENT_TYPE, content=content)

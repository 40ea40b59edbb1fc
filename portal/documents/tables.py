"""Documents, their number series, their PDFs and their voids.

Nothing here is ever updated or deleted: the migration
(migrations/portal_2026_12_02t080000_documents.py) puts triggers on both
engines that refuse UPDATE and DELETE of `document`, `document_pdf` and
`document_void`, refuse a series that moves other than one step up, and
refuse a numbered document whose number is not the series' current value.
There are no foreign keys to suppliers, orders or customers: a document
outlives every row it came from (L19).
"""

from piccolo.columns import JSON, Bytea, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.table import Table


class DocumentSeries(Table, tablename="document_series"):
    """One bookkeeping number series per supplier (receipts and credit notes
    share it, L14/L16). `last` is the last number given out; it only ever
    moves up by one, inside the transaction that inserts the document."""

    supplier_id = Integer(unique=True)
    last = Integer(default=0)


class Document(Table, tablename="document"):
    supplier_id = Integer(index=True)
    order_id = Integer(null=True, default=None, index=True)
    kind = Varchar(length=20)  # portal.documents.domain.Kind
    number = Integer(null=True, default=None)  # None for kinds outside the series (a gift card)
    issued_at = Timestamptz()
    language = Varchar(length=2)
    refers_to = ForeignKey("self", null=True, default=None, on_delete=OnDelete.restrict, on_update=OnUpdate.restrict)
    source_key = Varchar(length=100, null=True, default=None, unique=True)
    snapshot = JSON()
    # UNIQUE (supplier_id, number) and UNIQUE (document, variant) are indexes made by the migration.


class DocumentPdf(Table, tablename="document_pdf"):
    """A document's PDF, stored once: every download is the same bytes.
    `variant` is `issued`, or `void` for the copy marked «makulert»."""

    document = ForeignKey(Document, null=False, on_delete=OnDelete.restrict, on_update=OnUpdate.restrict)
    variant = Varchar(length=10)
    content = Bytea()
    sha256 = Varchar(length=64)
    size = Integer()
    rendered_at = Timestamptz()


class DocumentVoid(Table, tablename="document_void"):
    """A document made void (makulert): appended, never changed; at most one per document."""

    document = ForeignKey(Document, null=False, unique=True, on_delete=OnDelete.restrict, on_update=OnUpdate.restrict)
    at = Timestamptz()
    reason = Text()
    actor = Varchar(length=200)


class DocumentRelease(Table, tablename="document_release"):
    """The retention job's note that a document's legal hold has ended (L19,
    L26). The database refuses to delete a document, its PDF or its void
    unless a release names it with `released_at` in the sixth calendar year
    (Oslo time) after the document's, or later (migration
    ..._customer_rights). Appended, never changed; it outlives the document."""

    document_id = Integer(unique=True)
    released_at = Timestamptz()
    reason = Varchar(length=40, default="")
    #: The released document's place in its supplier's number series (None: unnumbered), so the series still reads 1..N.
    supplier_id = Integer(null=True, default=None, index=True)
    number = Integer(null=True, default=None)

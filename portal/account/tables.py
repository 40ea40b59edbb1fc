"""Legal holds: what an erased customer's orders must keep for bookkeeping, and until when (L19, L26)."""

from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.table import Table


class LegalHold(Table, tablename="legal_hold"):
    """An anonymised order whose receipts, credit notes and payment records
    stay until `until` (portal.legal.retention.bookkeeping_until); the
    retention job removes them then and marks the hold `released_at`."""

    order_id = Integer(unique=True)
    supplier_id = Integer(index=True)
    reason = Varchar(length=20)  # erasure | inactive
    until = Timestamptz(index=True)
    created_at = Timestamptz()
    released_at = Timestamptz(null=True, default=None, index=True)

"""The audit trail: append-only (database triggers refuse UPDATE and DELETE)."""

from piccolo.columns import JSON, Integer, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table):
    at = Timestamptz(index=True)
    actor_kind = Varchar(length=10)  # portal.audit.domain.ActorKind
    actor_id = Varchar(length=80, default="")
    actor_role = Varchar(length=20, default="")
    actor_label = Varchar(length=120, default="")
    supplier_id = Integer(null=True, default=None, index=True)  # whose data it is (tenant)
    action = Varchar(length=60, index=True)  # e.g. "order.confirm", "payment.webhook"
    subject = Varchar(length=30, default="")  # order | payment | customer | giftcard | code …
    subject_id = Varchar(length=60, default="")
    order_id = Integer(null=True, default=None, index=True)
    before = JSON(default={})
    after = JSON(default={})

"""Complaints and their photos (kept in the database, so a backup holds them)."""

from piccolo.columns import Bytea, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Supplier
from portal.orders.tables import Order


class Complaint(Table, tablename="complaint"):
    """A customer's complaint about an order, and the supplier's answer.
    `status` is portal.complaints.domain.Status; `answered_by` names the
    staff member as the audit trail does."""

    order = ForeignKey(references=Order, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True)
    status = Varchar(length=10, index=True)
    text = Text()
    photo_format = Varchar(length=10, default="")  # "" without a photo, else domain.JPEG | PNG | WEBP
    answer = Text(default="")
    answered_by = Varchar(length=120, default="")
    created_at = Timestamptz()
    answered_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)


class ComplaintPhoto(Table, tablename="complaint_photo"):
    """The one photo of a complaint, re-encoded without metadata (portal.complaints.images)."""

    complaint = ForeignKey(references=Complaint, unique=True, on_delete=OnDelete.cascade)
    content = Bytea()
    sha256 = Varchar(length=64)
    size = Integer()

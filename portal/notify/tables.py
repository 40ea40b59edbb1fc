"""The outbox: every message is a row written with the change that causes it."""

from piccolo.columns import JSON, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from portal.booking.tables import Booking


class OutboxMessage(Table):
    dedupe_key = Varchar(length=200, unique=True)  # e.g. "booking:12:confirmation:email"
    channel = Varchar(length=10)  # "email" | "sms"
    topic = Varchar(length=40)  # confirmation | reminder | change | cancellation | code
    booking = ForeignKey(references=Booking, null=True, index=True)
    recipient = Varchar(length=254)
    language = Varchar(length=2, default="nb")
    payload = JSON(default={})  # rendered: subject, text, html, ics, ics_method / sms text
    status = Varchar(length=20, default="pending", index=True)  # pending|sending|sent|failed|cancelled
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    locked_until = Timestamptz(null=True, default=None)
    locked_by = Varchar(length=64, default="")
    last_error = Text(default="")
    provider_id = Varchar(length=200, default="", index=True)
    delivery_status = Varchar(length=40, default="")  # from provider callbacks
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class DevMessage(Table):
    """What the dev email/SMS backends 'sent'; listed on /dev/mailbox."""

    channel = Varchar(length=10)
    recipient = Varchar(length=254)
    sender = Varchar(length=254, default="")
    subject = Varchar(length=300, default="")
    body = Text(default="")
    html = Text(default="")
    attachments = JSON(default=[])  # [{"filename", "content_type", "size"}]
    created_at = Timestamptz()

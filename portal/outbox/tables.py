"""The outbox's one table."""

from piccolo.columns import JSON, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class OutboxMessage(Table):
    dedupe_key = Varchar(length=200, unique=True)  # e.g. "order:12:confirmation:email"
    channel = Varchar(length=10)  # a registered channel: email | sms | payment | document
    topic = Varchar(length=40)  # what the row is about (the channel's handler reads it)
    order_id = Integer(null=True, default=None, index=True)  # the order it belongs to (portal.orders), if any
    urgent = Boolean(default=False)  # claimed first, retried quickly (one-time codes)
    recipient = Varchar(length=254)
    language = Varchar(length=2, default="nb")
    payload = JSON(default={})  # what the handler needs; `expires_at` (ISO) ends it, `scrub` names fields wiped when done
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

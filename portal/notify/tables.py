"""What the dev email and SMS backends "sent" (the outbox itself is portal.outbox)."""

from piccolo.columns import JSON, Text, Timestamptz, Varchar
from piccolo.table import Table


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

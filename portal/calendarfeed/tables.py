"""Calendar feeds and the members' choice of the morning agenda."""

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Supplier
from portal.identity.staff.tables import StaffAccount


class CalendarFeed(Table):
    """A private iCalendar address. `account` null: the supplier's feed (every
    calendar); else that staff member's own calendar at the supplier. Only the
    token's SHA-256 is kept. A feed is live while `revoked_at` is null; at most
    one live feed per (supplier, account) (portal.calendarfeed.service)."""

    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.cascade)
    account = ForeignKey(references=StaffAccount, null=True, default=None, index=True, on_delete=OnDelete.cascade)
    token_hash = Varchar(length=64, unique=True)
    include_phone = Boolean(default=False)  # customers' phone numbers in the events (the owner's choice)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class StaffAgenda(Table):
    """A staff member wants (or no longer wants) the morning agenda of a supplier they work for."""

    key = Varchar(length=40, unique=True)  # "<account>:<supplier>"
    account = ForeignKey(references=StaffAccount, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.cascade)
    wanted = Boolean(default=False)
    updated_at = Timestamptz()

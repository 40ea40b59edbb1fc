"""Bookings (a hold is a booking in state `held`) and the claims that make
double booking impossible at the database level (DESIGN.md, invariant 1)."""

from piccolo.columns import (
    JSON,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from portal.catalogue.tables import Offering, Resource, Supplier


class Booking(Table):
    reference = Varchar(length=12, unique=True, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    offering = ForeignKey(references=Offering, index=True)
    resource = ForeignKey(references=Resource, index=True)
    start = Timestamptz(index=True)
    end = Timestamptz()
    buffer_before_min = Integer(default=0)
    buffer_after_min = Integer(default=0)
    seats = Integer(default=1)
    status = Varchar(length=30, index=True)
    hold_token = Varchar(length=64, unique=True, index=True)
    visitor = Varchar(length=64, index=True)
    hold_expires_at = Timestamptz(null=True, default=None, index=True)
    customer_name = Varchar(length=200, default="")
    phone = Varchar(length=20, default="")
    phone_verified_at = Timestamptz(null=True, default=None)
    customer = Integer(null=True, default=None, index=True)  # portal.identity Customer id
    email = Varchar(length=254, default="")
    note = Text(default="")
    language = Varchar(length=2, default="nb")
    price_ore = Integer()
    vat_rate_bp = Integer()
    vat_ore = Integer()
    payment_method = Varchar(length=20, default="onsite")  # onsite | vipps | deposit (portal.payments.pricing.Means)
    quote = JSON(default={})  # frozen portal.payments.pricing.Quote: lines, VAT per rate, what is paid when
    coupon_code = Varchar(length=40, default="")
    coupon_misses = Integer(default=0)  # wrong codes typed on this hold (rate limit)
    terms = JSON(default={})  # frozen copy of the rules that applied
    consents = JSON(default={})  # what the customer ticked, with time and text
    contract_at = Timestamptz(null=True, default=None)
    manage_token = Varchar(length=64, null=True, default=None, unique=True, index=True)
    ics_sequence = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SlotClaim(Table):
    """One row per (resource, 5-minute unit) a booking or class session occupies.

    `key` is unique: the second claimant of any unit fails in the database,
    whatever the application believed when it read the slot list.
    """

    key = Varchar(length=64, unique=True)  # "<resource_id>:<unit epoch minutes>"
    owner = Varchar(length=40, index=True)  # "b:<booking id>" or "s:<session id>"


class ClassSession(Table):
    """Seats of one capacity>1 occurrence; taken only by a conditional update."""

    key = Varchar(length=80, unique=True)  # "<offering>:<resource>:<start epoch minutes>"
    capacity = Integer()
    taken = Integer(default=0)

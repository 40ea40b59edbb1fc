"""Suppliers (tenants), their resources, opening rules and offerings."""

from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    SmallInt,
    Text,
    Time,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Supplier(Table):
    slug = Varchar(length=80, unique=True, index=True)
    name = Varchar(length=200)
    legal_name = Varchar(length=200)
    org_number = Varchar(length=9)
    company_form = Varchar(length=10, default="AS")  # AS, ASA, NUF, ENK …
    vat_registered = Boolean(default=True)
    category = Varchar(length=40, index=True)  # code; label comes from the catalogue
    street = Varchar(length=200)
    postcode = Varchar(length=4)
    town = Varchar(length=100, index=True)
    phone = Varchar(length=20)  # E.164
    email = Varchar(length=200)
    description = Text(default="")
    terms = Text(default="")
    payment_methods = JSON(default=["onsite"])
    active = Boolean(default=True)
    created_at = Timestamptz()
    trader_certified_at = Timestamptz(null=True, default=None)  # the owner's self-certification (trader information)
    version = Integer(default=0)  # bumped by every settings change (a stale form is refused)


class Resource(Table):
    """Who or what performs a booking: a stylist, a therapist, a room."""

    supplier = ForeignKey(references=Supplier, index=True)
    name = Varchar(length=120)
    title = Varchar(length=120, default="")
    active = Boolean(default=True)
    version = Integer(default=0)  # bumped by every change of its hours or exceptions (a stale form is refused)


class HoursRule(Table):
    """A weekly interval of local wall time: opening hours, or a break."""

    resource = ForeignKey(references=Resource, index=True)
    weekday = SmallInt()  # 0 = Monday
    start = Time()
    end = Time()
    is_break = Boolean(default=False)


class DateException(Table):
    """A closed day (closed=True) or changed/extra hours on one local date."""

    resource = ForeignKey(references=Resource, index=True)
    day = Date(index=True)
    closed = Boolean(default=True)
    start = Time(null=True, default=None)
    end = Time(null=True, default=None)
    note = Varchar(length=200, default="")


class Offering(Table):
    supplier = ForeignKey(references=Supplier, index=True)
    slug = Varchar(length=80)
    kind = Varchar(length=20, default="appointment")  # appointment|stay|event|giftcard|package
    title = Varchar(length=200)
    description = Text(default="")
    price_ore = Integer()  # incl. VAT
    vat_rate_bp = Integer(default=2500)  # legacy copy; the rate comes from vat_category and the date (L18)
    vat_category = Varchar(length=20, default="general")  # portal.payments.vat.VatCategory
    deposit_kind = Varchar(length=10, default="none")  # none | fixed | percent
    deposit_value = Integer(default=0)  # øre, or whole percent
    duration_min = Integer(null=True, default=None)  # appointment kinds only
    buffer_before_min = Integer(default=0)
    buffer_after_min = Integer(default=0)
    step_min = Integer(default=15)
    capacity = Integer(default=1)
    online = Boolean(default=False)
    withdrawal_class = Varchar(length=30, default="standard")
    cancel_free_hours = Integer(default=24)
    cancel_fee_percent = Integer(default=0)
    cancel_fee_ore = Integer(default=0)  # a fixed fee; wins over the percentage when set
    reminder_hours = Integer(default=24)  # 0: no reminder
    min_notice_min = Integer(default=60)
    max_advance_days = Integer(default=60)
    open_on_holidays = Boolean(default=False)
    position = Integer(default=0)
    active = Boolean(default=True)
    version = Integer(default=0)  # bumped by every settings change (a stale form is refused)


class OfferingResource(Table):
    """Which resources can perform an offering."""

    offering = ForeignKey(references=Offering, index=True)
    resource = ForeignKey(references=Resource, index=True)

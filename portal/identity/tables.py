"""Customers (keyed by a verified mobile number), one-time codes, remembered devices."""

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from portal.catalogue.tables import Supplier


class Customer(Table):
    phone = Varchar(length=20, unique=True, index=True)  # E.164, verified
    name = Varchar(length=200, default="")
    email = Varchar(length=254, default="")
    language = Varchar(length=2, default="nb")
    created_at = Timestamptz()


class CustomerSupplier(Table):
    """A customer has booked with this supplier (what the supplier may see, L30)."""

    key = Varchar(length=40, unique=True)  # "<customer>:<supplier>"
    customer = ForeignKey(references=Customer, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    first_booking_at = Timestamptz()


class PhoneCode(Table):
    """A one-time code sent by SMS; only its keyed hash is stored."""

    phone = Varchar(length=20, index=True)
    purpose = Varchar(length=20)  # "checkout" | "login"
    subject = Varchar(length=64, default="", index=True)  # the hold token or login attempt it belongs to
    code_hash = Varchar(length=64)
    client_ip = Varchar(length=64, default="", index=True)
    wrong_tries = Integer(default=0)
    created_at = Timestamptz(index=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class DeviceToken(Table):
    """"Remember this phone on this device": a signed cookie names one of these."""

    token_hash = Varchar(length=64, unique=True)
    customer = ForeignKey(references=Customer, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class MarketingConsent(Table):
    """A customer's unticked-by-default "yes, send me news" for one supplier (L28):
    the text they saw and when; withdrawn by the account page or a one-click
    unsubscribe. Removed with the customer (L26)."""

    key = Varchar(length=40, unique=True)  # "<customer>:<supplier>"
    customer = ForeignKey(references=Customer, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    text = Text(default="")  # the exact wording of the box they ticked
    source = Varchar(length=20, default="checkout")  # checkout | account
    given_at = Timestamptz()
    withdrawn_at = Timestamptz(null=True, default=None)

"""Orders and their lines."""

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Offering, Supplier


class Order(Table, tablename="orders"):
    """What the customer agreed to and pays for, with one supplier.

    `checkout_token` names the order while it is held (`/checkout/<token>`);
    `manage_token` is the customer's private link once confirmed
    (`/b/<token>`). `quote` is the frozen price of all its lines
    (portal.payments.pricing.Quote); `terms` a frozen copy of the rules that
    applied (seller, cancellation, withdrawal, terms text); `consents` what
    the customer ticked, each with its time and the exact text shown.
    """

    reference = Varchar(length=12, unique=True, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    customer = Integer(null=True, default=None, index=True)  # portal.identity Customer id, once verified
    state = Varchar(length=30, index=True)  # portal.orders.domain.OrderState
    checkout_token = Varchar(length=64, unique=True, index=True)
    visitor = Varchar(length=64, index=True)  # the browser that opened the checkout
    expires_at = Timestamptz(null=True, default=None, index=True)  # while held
    customer_name = Varchar(length=200, default="")
    phone = Varchar(length=20, default="")
    phone_verified_at = Timestamptz(null=True, default=None)
    email = Varchar(length=254, default="")
    note = Text(default="")
    language = Varchar(length=2, default="nb")
    means = Varchar(length=20, default="onsite")  # portal.payments.pricing.Means
    quote = JSON(default={})
    coupon_code = Varchar(length=40, default="")
    giftcard_code = Varchar(length=40, default="")  # a gift card typed at checkout, used when submitted
    code_misses = Integer(default=0)  # wrong coupon / gift card codes typed in this checkout (rate limit)
    terms = JSON(default={})
    consents = JSON(default={})
    contract_at = Timestamptz(null=True, default=None)
    manage_token = Varchar(length=64, null=True, default=None, unique=True, index=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OrderLine(Table):
    """One thing sold: `kind` (portal.orders.kinds) decides what it takes and
    when it counts as delivered. `price` is its frozen priced line
    (description, quantity, unit price, gross, VAT rate, VAT) as the order's
    quote holds it; `details` what the kind needs to show it (a gift card's
    recipient, say)."""

    order = ForeignKey(references=Order, index=True, on_delete=OnDelete.cascade)
    position = Integer(default=0)
    kind = Varchar(length=20)
    offering = ForeignKey(references=Offering, index=True, on_delete=OnDelete.restrict)
    quantity = Integer(default=1)
    description = Varchar(length=300, default="")
    unit_price_ore = Integer(default=0)
    vat_rate_bp = Integer(default=0)
    price = JSON(default={})
    details = JSON(default={})


class OrderNote(Table):
    """An internal note by the supplier's staff on an order; never shown to the customer."""

    order = ForeignKey(references=Order, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True)
    author = Varchar(length=120)  # who wrote it, as the audit trail names them
    text = Text()
    created_at = Timestamptz()


class OrderWithdrawal(Table, tablename="order_withdrawal"):
    """A withdrawal from an order under the right of withdrawal (angrerett,
    L10): received on the order page or registered by the supplier (an email,
    the paper form). `keep_ore` is what the customer still pays (L8: the
    part delivered after an early-start request; None while the supplier has
    not stated it); `settled_at` when the money was planned back."""

    order = ForeignKey(references=Order, unique=True, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True)
    received_at = Timestamptz()
    recorded_at = Timestamptz()
    via = Varchar(length=10, default="online")  # portal.documents.domain.VIA_NAMES
    name = Varchar(length=200, default="")
    contact = Varchar(length=254, default="")
    early_start = Boolean(default=False)
    started = Boolean(default=False)
    price_ore = Integer(default=0)
    keep_ore = Integer(null=True, default=None)
    settled_at = Timestamptz(null=True, default=None)
    document_id = Integer(null=True, default=None)  # the acknowledgement (portal.documents)

"""Payments, the operations we ask of Vipps, the events Vipps reports, the
money movements receipts are made from, and coupons. Everything here belongs
to an order (portal.orders); money rows are never deleted with it."""

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from portal.catalogue.tables import Supplier
from portal.orders.tables import Order


class Payment(Table):
    """One attempt to reserve money for an order (reference `<order reference>-<attempt>`).

    `state` and the amounts are folded from the payment's events
    (portal.payments.domain.fold); they are a cache of that fold, rewritten
    whole each time, never incremented.
    """

    order = ForeignKey(references=Order, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    reference = Varchar(length=50, unique=True, index=True)
    attempt = Integer(default=1)
    provider = Varchar(length=20, default="vipps")
    purpose = Varchar(length=20, default="vipps")  # vipps (the total) | deposit
    amount_ore = Integer()
    state = Varchar(length=20, default="created", index=True)
    authorized_ore = Integer(default=0)
    captured_ore = Integer(default=0)
    refunded_ore = Integer(default=0)
    cancelled_ore = Integer(default=0)
    create_key = Varchar(length=50, unique=True)  # Idempotency-Key of the create, stored before sending
    redirect_url = Text(default="")
    psp_reference = Varchar(length=100, default="")
    problem = Text(default="")  # the last thing that went wrong, for supplier and customer
    outcome_applied = Varchar(length=20, default="")  # the order effect already carried out
    created_at = Timestamptz()
    updated_at = Timestamptz()
    authorized_at = Timestamptz(null=True, default=None)
    synced_at = Timestamptz(null=True, default=None)


class PaymentOperation(Table):
    """A capture, refund or cancel we intend. Its idempotency key is stored
    before the request is sent and reused on every retry."""

    payment = ForeignKey(references=Payment, index=True)
    kind = Varchar(length=10)  # capture | refund | cancel
    amount_ore = Integer(default=0)  # 0 for cancel (everything not captured)
    reason = Varchar(length=30, default="")  # domain.Outcome value, or "refund"
    idempotency_key = Varchar(length=50, unique=True)
    sequence = Integer(default=0)  # order within one settlement
    status = Varchar(length=10, default="pending", index=True)  # pending | done | failed
    error = Text(default="")
    trace_id = Varchar(length=100, default="")
    created_at = Timestamptz()
    done_at = Timestamptz(null=True, default=None)


class PaymentEvent(Table):
    """What Vipps reported, from a webhook or the events API; one row per distinct event."""

    payment = ForeignKey(references=Payment, null=True, index=True)
    reference = Varchar(length=50, index=True)
    key = Varchar(length=300, unique=True)  # "<reference>|<domain.Event.key>"
    name = Varchar(length=20)
    amount_ore = Integer(default=0)
    success = Boolean(default=True)
    psp_reference = Varchar(length=100, default="")
    idempotency_key = Varchar(length=100, default="")
    occurred_at = Timestamptz()
    source = Varchar(length=10)  # webhook | events
    received_at = Timestamptz()


class WebhookDelivery(Table):
    """Every authenticated webhook body as it came, stored before it is answered."""

    reference = Varchar(length=100, default="", index=True)
    body = Text()
    received_at = Timestamptz()
    processed_at = Timestamptz(null=True, default=None, index=True)
    error = Text(default="")


class MoneyMovement(Table):
    """Money taken or given back: what the receipt or credit note will say.

    Written in the same transaction that records Vipps' answer, with frozen
    copies of the seller, the lines it pays for and VAT per rate.
    """

    order = ForeignKey(references=Order, index=True)
    supplier = ForeignKey(references=Supplier, index=True)
    payment = ForeignKey(references=Payment, null=True, index=True)
    operation = ForeignKey(references=PaymentOperation, null=True, unique=True)
    kind = Varchar(length=10)  # capture | refund
    means = Varchar(length=20)  # vipps
    amount_ore = Integer()
    reason = Varchar(length=30, default="")
    seller = JSON(default={})
    lines = JSON(default=[])
    vat = JSON(default=[])
    at = Timestamptz(index=True)


class Coupon(Table):
    supplier = ForeignKey(references=Supplier, index=True)
    code = Varchar(length=40)  # normalised (portal.payments.coupons.normalise_code); unique per supplier
    supplier_code = Varchar(length=60, unique=True)  # "<supplier id>:<code>"
    kind = Varchar(length=10)  # fixed | percent
    value = Integer()  # øre, or whole percent
    valid_from = Timestamptz(null=True, default=None)
    valid_until = Timestamptz(null=True, default=None)
    max_uses = Integer(null=True, default=None)
    uses = Integer(default=0)
    min_amount_ore = Integer(default=0)
    offering_ids = JSON(default=[])  # empty: every offering of the supplier
    active = Boolean(default=True)
    created_at = Timestamptz()


class CouponRedemption(Table):
    """A coupon used by an order; removed again if the order never happens."""

    coupon = ForeignKey(references=Coupon, index=True)
    order = ForeignKey(references=Order, unique=True)
    discount_ore = Integer()
    at = Timestamptz()

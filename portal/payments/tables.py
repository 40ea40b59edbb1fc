"""Payments, the operations we ask of Vipps, the events Vipps reports, the
money movements receipts are made from, and coupons. Everything here belongs
to an order (portal.orders); money rows are never deleted with it."""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.table import Table

from portal.catalogue.tables import Offering, Supplier
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


class GiftCard(Table):
    """A gift card sold by a supplier (rules: portal.payments.giftcards).

    The code is not stored, only its SHA-256 (`code_hash`, unique over all
    suppliers, so a card typed at the wrong supplier is told apart from an
    unknown code) and its last 4 characters for display: whoever reads the
    database cannot spend the cards. `balance_ore` is a cache of the sum of
    the card's GiftCardEntry rows, changed only by the conditional UPDATEs in
    portal.payments.giftcard_store, in the same transaction as the entry; the
    database refuses a balance below 0 or above the initial value (CHECK on
    PostgreSQL, triggers on SQLite: migration ..._giftcard_checks).
    """

    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.restrict)
    offering = ForeignKey(references=Offering, index=True, on_delete=OnDelete.restrict)  # the gift card offering it was sold as
    order_id = Integer(null=True, default=None, index=True)  # the order that bought it (none: issued by the supplier)
    line_position = Integer(default=0)  # the order line it was sold on
    issue_key = Varchar(length=80, unique=True)  # "<order>:<line>:<unit>": one card per unit of a line, never two
    code_hash = Varchar(length=64, unique=True)  # portal.payments.giftcards.code_hash
    code_last4 = Varchar(length=4)
    kind = Varchar(length=10)  # value | service
    service_offering = ForeignKey(references=Offering, null=True, default=None, index=True, on_delete=OnDelete.restrict)
    initial_ore = Integer()
    balance_ore = Integer()
    last_taken_ore = Integer(default=0)  # what the last redemption took: set by its UPDATE so it can RETURN it
    issued_at = Timestamptz()
    valid_until = Timestamptz(index=True)  # exclusive: local midnight after the last valid day
    recipient_name = Varchar(length=200, default="")
    recipient_email = Varchar(length=254, default="")
    message = Text(default="")
    deliver_on = Date(null=True, default=None)  # none: at once
    buyer_name = Varchar(length=200, default="")
    state = Varchar(length=10, default="active", index=True)  # active | withdrawn
    withdrawn_at = Timestamptz(null=True, default=None)


class GiftCardEntry(Table):
    """One line of a card's ledger; the card's balance is their sum."""

    card = ForeignKey(references=GiftCard, index=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=10)  # issue | redeem | forfeit | restore | refund
    amount_ore = Integer()  # signed: + issue, restore; − redeem, forfeit, refund
    order_id = Integer(null=True, default=None, index=True)
    key = Varchar(length=100, unique=True)  # the same issue, redemption, restore or refund is never written twice
    at = Timestamptz()


class GiftCardMiss(Table):
    """A well-formed gift card code that no card has, typed by this browser
    from this address (rate limit: portal.payments.giftcards.MISSES_PER_HOUR)."""

    visitor = Varchar(length=64, default="", index=True)
    ip = Varchar(length=45, default="", index=True)
    at = Timestamptz(index=True)

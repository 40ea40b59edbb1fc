"""Coupons in the database: look one up, redeem it atomically, give it back.

Redemption is one conditional UPDATE (`uses + 1` only while `uses <
max_uses`), so two customers racing for a single-use code get one winner,
decided by the database. Call these inside the order's write transaction.
"""

from __future__ import annotations

from datetime import datetime

from portal.payments.coupons import CouponKind, CouponRefusal, CouponTerms, check, discount_for, normalise_code
from portal.payments.tables import Coupon, CouponRedemption


class CouponRefused(Exception):
    def __init__(self, refusal: CouponRefusal, terms: CouponTerms | None = None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.terms = terms


def _terms(row: dict) -> CouponTerms:
    return CouponTerms(
        code=row["code"],
        kind=CouponKind(row["kind"]),
        value=row["value"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        min_amount_ore=row["min_amount_ore"],
        offering_ids=frozenset(int(i) for i in (row["offering_ids"] or [])),
        active=row["active"],
    )


async def find(supplier_id: int, raw_code: str) -> tuple[dict | None, CouponTerms | None, CouponRefusal | None]:
    """The supplier's coupon for what the customer typed (row, terms), or why not."""
    code = normalise_code(raw_code or "")
    if code is None:
        return None, None, CouponRefusal.MALFORMED
    row = await Coupon.select().output(load_json=True).where(Coupon.supplier_code == f"{supplier_id}:{code}").first()
    if row is None:
        return None, None, CouponRefusal.UNKNOWN
    return row, _terms(row), None


async def evaluate(
    supplier_id: int, raw_code: str, *, offering_id: int, amount_ore: int, now: datetime, order_id: int | None = None
) -> tuple[CouponTerms | None, int, CouponRefusal | None]:
    """(terms, discount in øre, refusal): what the code would do to this price now.

    With `order_id`: a use this order already holds (redeemed when it was
    sent to Vipps) stands, as in `redeem` — its own use is not "used up"."""
    row, terms, refusal = await find(supplier_id, raw_code)
    if refusal is not None:
        return None, 0, refusal
    if order_id is not None:
        existing = await CouponRedemption.select().where(CouponRedemption.order == order_id).first()
        if existing is not None and existing["coupon"] == row["id"]:
            return terms, existing["discount_ore"], None
    refusal = check(terms, offering_id=offering_id, amount_ore=amount_ore, now=now)
    if refusal is not None:
        return terms, 0, refusal
    return terms, discount_for(terms, amount_ore), None


async def redeem(supplier_id: int, raw_code: str, *, order_id: int, offering_id: int, amount_ore: int, now: datetime) -> int:
    """Use the coupon for this order; returns the discount. Raises CouponRefused.

    Idempotent per order: an order that already redeemed this code gets
    the same discount back without using the code again.
    """
    row, terms, refusal = await find(supplier_id, raw_code)
    if refusal is not None:
        raise CouponRefused(refusal)
    existing = await CouponRedemption.select().where(CouponRedemption.order == order_id).first()
    if existing is not None and existing["coupon"] == row["id"]:
        return existing["discount_ore"]
    refusal = check(terms, offering_id=offering_id, amount_ore=amount_ore, now=now)
    if refusal is not None:
        raise CouponRefused(refusal, terms)
    if existing is not None:
        await release(order_id)
    taken = await Coupon.raw(
        "UPDATE coupon SET uses = uses + 1 WHERE id = {} AND active = {} AND (max_uses IS NULL OR uses < max_uses) RETURNING id",
        row["id"],
        True,
    )
    if not taken:
        raise CouponRefused(CouponRefusal.USED_UP, terms)
    discount = discount_for(terms, amount_ore)
    await CouponRedemption.insert(CouponRedemption(coupon=row["id"], order=order_id, discount_ore=discount, at=now))
    return discount


async def release(order_id: int) -> None:
    """The order will not happen: its coupon use is given back."""
    removed = await CouponRedemption.delete().where(CouponRedemption.order == order_id).returning(CouponRedemption.coupon)
    for row in removed:
        await Coupon.raw("UPDATE coupon SET uses = uses - 1 WHERE id = {} AND uses > 0", row["coupon"])

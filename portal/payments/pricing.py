"""What a booking costs and when it is paid: one pipeline for every kind of offering.

    line items → coupon discount → total → deposit → means of payment

Every amount is integer øre (L17) and every price includes VAT (L20). A
mandatory fee (a booking fee, a cleaning fee) is a `LineItem` like any other,
so it is inside the total the customer is shown.

How the figures are made, so that they add up to the øre:

* The coupon's discount (decided by `portal.payments.coupons`) is spread over
  the lines in proportion to their gross, by the largest remainder method
  (a tie goes to the earlier line). The lines' discounted gross then add up
  to the total exactly.
* Each line's VAT is derived once, from its discounted gross, with
  `portal.lib.money.split_vat` (half up). VAT per rate is the sum of its
  lines' VAT, never a second rounding of a summed gross. So net + VAT ==
  gross holds for every line and every rate.
* Any later part of a quote (a deposit, a cancellation fee, a partial capture,
  a refund) is spread over the lines the same way by `allocate`, with VAT
  derived per line from its share, for receipts and credit notes.

Pure: no Litestar, no Piccolo, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from portal.lib.money import split_vat

JSON_VERSION = 1


class Means(StrEnum):
    """How the customer pays. A Vipps amount is reserved at booking, not charged."""

    ONSITE = "onsite"  # everything on site; nothing reserved
    VIPPS = "vipps"  # the whole total reserved with Vipps at booking
    DEPOSIT = "deposit"  # the deposit reserved with Vipps at booking, the rest paid on site


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_int(name: str, value: object, minimum: int = 0) -> None:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int (øre, never float), not {type(value).__name__}")
    if value < minimum:  # type: ignore[operator]
        raise ValueError(f"{name} must be >= {minimum}, not {value}")


def _div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, an exact half up (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _percent_half_up(amount_ore: int, percent: int) -> int:
    return _div_half_up(amount_ore * percent, 100)


def _spread(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` in proportion to `weights`, exactly, by the largest remainder.

    Each share is the exact share rounded down; the øre left over go one each
    to the shares with the largest remainders, the earlier share first on a
    tie. The shares add up to `amount`, and each is less than 1 øre from the
    exact share. A zero weight gets nothing.
    """
    whole = sum(weights)
    if whole == 0:
        if amount:
            raise ValueError("cannot spread a positive amount over nothing")
        return [0] * len(weights)
    shares = []
    remainders = []
    for weight in weights:
        share, remainder = divmod(amount * weight, whole)
        shares.append(share)
        remainders.append(remainder)
    left = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class LineItem:
    """What is sold: `quantity` × `unit_price_ore` (incl. VAT) at `vat_rate_bp`
    (from `portal.payments.vat.vat_rate_bp`; 0 for an unregistered supplier)."""

    description: str
    quantity: int
    unit_price_ore: int
    vat_rate_bp: int

    def __post_init__(self) -> None:
        if not isinstance(self.description, str):
            raise TypeError("description must be a str")
        _require_int("quantity", self.quantity, 1)
        _require_int("unit_price_ore", self.unit_price_ore)
        _require_int("vat_rate_bp", self.vat_rate_bp)


@dataclass(frozen=True)
class PricedLine:
    """A line of a quote, or the part of one that an amount pays for (`allocate`).

    In a quote, `gross_ore == quantity * unit_price_ore - discount_ore`. In
    an allocation, `gross_ore` is the line's share of the amount, quantity
    and unit price are the original line's (to name it), and `discount_ore`
    is 0. Always `net_ore + vat_ore == gross_ore`, and `vat_ore` is
    `split_vat(gross_ore, vat_rate_bp).vat_ore`.
    """

    description: str
    quantity: int
    unit_price_ore: int
    gross_ore: int
    discount_ore: int
    vat_rate_bp: int
    vat_ore: int
    net_ore: int


@dataclass(frozen=True)
class VatSummary:
    """One VAT rate's totals: the sums of its lines (net + VAT == gross)."""

    rate_bp: int
    base_ore: int  # net
    vat_ore: int
    gross_ore: int


DEPOSIT_KINDS = frozenset({"none", "fixed", "percent"})


@dataclass(frozen=True)
class DepositRule:
    """The supplier's deposit: none (any value is ignored and kept as 0), a
    fixed amount in øre (>= 1), or a whole percent of the total (1..100)."""

    kind: str
    value: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DEPOSIT_KINDS:
            raise ValueError(f"unknown deposit kind {self.kind!r}")
        _require_int("deposit value", self.value)
        if self.kind == "none":
            # A value left over from an earlier rule means nothing once the kind is none.
            object.__setattr__(self, "value", 0)
        if self.kind == "fixed" and self.value < 1:
            raise ValueError("a fixed deposit is at least 1 øre")
        if self.kind == "percent" and not 1 <= self.value <= 100:
            raise ValueError("a deposit percent is a whole number from 1 to 100")

    @classmethod
    def none(cls) -> DepositRule:
        return cls("none", 0)

    @classmethod
    def fixed(cls, ore: int) -> DepositRule:
        return cls("fixed", ore)

    @classmethod
    def percent(cls, percent: int) -> DepositRule:
        return cls("percent", percent)


@dataclass(frozen=True)
class Quote:
    """A priced booking, frozen on it as JSON (`to_json`) when it is made."""

    lines: tuple[PricedLine, ...]
    subtotal_ore: int  # before the discount
    discount_ore: int
    total_ore: int  # what the customer pays in all, incl. VAT and every fee (L20)
    vat: tuple[VatSummary, ...]  # per rate, highest rate first
    vat_ore: int
    coupon_code: str | None
    means: Means  # what will happen: ONSITE whenever nothing is to be reserved
    deposit_ore: int  # 0 unless means is DEPOSIT
    pay_now_ore: int  # reserved (not charged) with Vipps at booking
    pay_on_site_ore: int  # total - gift card - pay_now
    giftcard_ore: int = 0  # paid with a gift card of the supplier (a means of payment: the VAT stays on the lines)
    giftcard_code: str | None = None  # the card's last characters, for what is shown and printed

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only (dict, list, str, int, None)."""
        return {
            "version": JSON_VERSION,
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price_ore": line.unit_price_ore,
                    "gross_ore": line.gross_ore,
                    "discount_ore": line.discount_ore,
                    "vat_rate_bp": line.vat_rate_bp,
                    "vat_ore": line.vat_ore,
                    "net_ore": line.net_ore,
                }
                for line in self.lines
            ],
            "subtotal_ore": self.subtotal_ore,
            "discount_ore": self.discount_ore,
            "total_ore": self.total_ore,
            "vat": [
                {"rate_bp": s.rate_bp, "base_ore": s.base_ore, "vat_ore": s.vat_ore, "gross_ore": s.gross_ore}
                for s in self.vat
            ],
            "vat_ore": self.vat_ore,
            "coupon_code": self.coupon_code,
            "means": self.means.value,
            "deposit_ore": self.deposit_ore,
            "pay_now_ore": self.pay_now_ore,
            "pay_on_site_ore": self.pay_on_site_ore,
            "giftcard_ore": self.giftcard_ore,
            "giftcard_code": self.giftcard_code,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quote:
        """Read a frozen quote back exactly as it was made.

        The figures are kept, not recomputed (a later change of rounding must
        not alter an old booking), but they must add up: a quote whose sums
        disagree raises ValueError.
        """
        if data.get("version") != JSON_VERSION:
            raise ValueError(f"unknown quote version {data.get('version')!r}")

        def whole(mapping: Mapping[str, Any], key: str) -> int:
            value = mapping[key]
            _require_int(key, value)
            return value

        lines = tuple(
            PricedLine(
                description=str(raw["description"]),
                quantity=whole(raw, "quantity"),
                unit_price_ore=whole(raw, "unit_price_ore"),
                gross_ore=whole(raw, "gross_ore"),
                discount_ore=whole(raw, "discount_ore"),
                vat_rate_bp=whole(raw, "vat_rate_bp"),
                vat_ore=whole(raw, "vat_ore"),
                net_ore=whole(raw, "net_ore"),
            )
            for raw in data["lines"]
        )
        vat = tuple(
            VatSummary(
                rate_bp=whole(raw, "rate_bp"),
                base_ore=whole(raw, "base_ore"),
                vat_ore=whole(raw, "vat_ore"),
                gross_ore=whole(raw, "gross_ore"),
            )
            for raw in data["vat"]
        )
        code = data["coupon_code"]
        if code is not None and not isinstance(code, str):
            raise TypeError("coupon_code must be a str or None")
        card = data.get("giftcard_code")
        if card is not None and not isinstance(card, str):
            raise TypeError("giftcard_code must be a str or None")
        quote_ = cls(
            lines=lines,
            subtotal_ore=whole(data, "subtotal_ore"),
            discount_ore=whole(data, "discount_ore"),
            total_ore=whole(data, "total_ore"),
            vat=vat,
            vat_ore=whole(data, "vat_ore"),
            coupon_code=code,
            means=Means(data["means"]),
            deposit_ore=whole(data, "deposit_ore"),
            pay_now_ore=whole(data, "pay_now_ore"),
            pay_on_site_ore=whole(data, "pay_on_site_ore"),
            # Quotes frozen before gift cards existed have neither key.
            giftcard_ore=whole(data, "giftcard_ore") if "giftcard_ore" in data else 0,
            giftcard_code=card,
        )
        _check_sums(quote_)
        return quote_


def _check_sums(q: Quote) -> None:
    problems = []
    for index, line in enumerate(q.lines):
        if line.net_ore + line.vat_ore != line.gross_ore:
            problems.append(f"line {index}: net + VAT != gross")
        if line.quantity * line.unit_price_ore - line.discount_ore != line.gross_ore:
            problems.append(f"line {index}: quantity × unit price - discount != gross")
    if sum(line.gross_ore for line in q.lines) != q.total_ore:
        problems.append("lines do not add up to the total")
    if sum(line.discount_ore for line in q.lines) != q.discount_ore:
        problems.append("line discounts do not add up to the discount")
    if q.subtotal_ore - q.discount_ore != q.total_ore:
        problems.append("subtotal - discount != total")
    if vat_summary(q.lines) != q.vat or sum(s.vat_ore for s in q.vat) != q.vat_ore:
        problems.append("VAT per rate does not match the lines")
    if q.pay_now_ore + q.pay_on_site_ore + q.giftcard_ore != q.total_ore or min(q.pay_now_ore, q.pay_on_site_ore, q.giftcard_ore) < 0:
        problems.append("pay now + pay on site + gift card != total")
    if q.deposit_ore != (q.pay_now_ore if q.means is Means.DEPOSIT else 0):
        problems.append("deposit does not match the means")
    if (q.means is Means.ONSITE and q.pay_now_ore != 0) or (q.means is not Means.ONSITE and q.pay_now_ore == 0):
        problems.append("means does not match what is paid now")
    if q.means is Means.VIPPS and q.pay_now_ore != q.total_ore - q.giftcard_ore:
        problems.append("Vipps reserves the total (less the gift card)")
    if problems:
        raise ValueError("inconsistent quote: " + "; ".join(problems))


# ---------------------------------------------------------------- the pipeline


def _priced(item_or_line: LineItem | PricedLine, gross_ore: int, discount_ore: int) -> PricedLine:
    split = split_vat(gross_ore, item_or_line.vat_rate_bp)
    return PricedLine(
        description=item_or_line.description,
        quantity=item_or_line.quantity,
        unit_price_ore=item_or_line.unit_price_ore,
        gross_ore=gross_ore,
        discount_ore=discount_ore,
        vat_rate_bp=item_or_line.vat_rate_bp,
        vat_ore=split.vat_ore,
        net_ore=split.net_ore,
    )


def vat_summary(lines: Sequence[PricedLine]) -> tuple[VatSummary, ...]:
    """VAT per rate, highest rate first: the sums of each rate's lines.

    A rate whose lines come to 0 øre in all (free lines, a 100 % coupon, a
    line with no share of an allocation) is left out: there is nothing to
    state for it.
    """
    sums: dict[int, list[int]] = {}
    for line in lines:
        net, vat, gross = sums.setdefault(line.vat_rate_bp, [0, 0, 0])
        sums[line.vat_rate_bp] = [net + line.net_ore, vat + line.vat_ore, gross + line.gross_ore]
    return tuple(
        VatSummary(rate_bp=rate, base_ore=net, vat_ore=vat, gross_ore=gross)
        for rate, (net, vat, gross) in sorted(sums.items(), reverse=True)
        if gross
    )


def deposit_amount(rule: DepositRule, total_ore: int) -> int:
    """The deposit `rule` asks for on `total_ore`.

    Fixed: the amount, but never more than the total. Percent: that percent of
    the total rounded half up to the øre (never more than the total, since the
    percent is at most 100). The result may be 0 (no rule, a total of 0, or a
    small percent of a tiny total rounding down): a deposit of 0 means nothing
    is reserved, and `quote` then lets the customer pay everything on site.
    """
    _require_int("total_ore", total_ore)
    if rule.kind == "none":
        return 0
    if rule.kind == "fixed":
        return min(rule.value, total_ore)
    return min(_percent_half_up(total_ore, rule.value), total_ore)


def quote(
    items: Sequence[LineItem],
    *,
    means: Means,
    discount: int = 0,
    coupon_code: str | None = None,
    deposit: DepositRule = DepositRule.none(),  # noqa: B008 - a frozen value
    giftcard_ore: int = 0,
    giftcard_code: str | None = None,
) -> Quote:
    """Price `items` with `discount` øre off, to be paid by `means`.

    `discount` was decided by the coupon rules; more than the subtotal is
    capped at the subtotal. `giftcard_ore` is what a gift card may pay (its
    balance; capped at the total): it pays first, the rest is paid by
    `means`. `deposit` only matters for `Means.DEPOSIT` (at most the rest).

    `Quote.means` says what will actually happen: when nothing is to be
    reserved — a total of 0 (a 100 % coupon, free items) or a deposit that
    comes to 0 — the quote's means is ONSITE with pay_now 0, whatever was
    asked for, so no Vipps payment of 0 kr is ever started.
    """
    if not items:
        raise ValueError("a quote needs at least one line")
    for item in items:
        if not isinstance(item, LineItem):
            raise TypeError("items must be LineItem")
    means = Means(means)
    _require_int("discount", discount)

    gross_before = [item.quantity * item.unit_price_ore for item in items]
    subtotal = sum(gross_before)
    discount = min(discount, subtotal)
    line_discounts = _spread(discount, gross_before)
    lines = tuple(
        _priced(item, before - off, off) for item, before, off in zip(items, gross_before, line_discounts, strict=True)
    )
    total = subtotal - discount
    vat = vat_summary(lines)
    _require_int("giftcard_ore", giftcard_ore)
    by_card = min(giftcard_ore, total)
    rest = total - by_card

    if means is Means.VIPPS:
        pay_now = rest
    elif means is Means.DEPOSIT:
        pay_now = min(deposit_amount(deposit, total), rest)
    else:
        pay_now = 0
    if pay_now == 0:
        means = Means.ONSITE

    return Quote(
        lines=lines,
        subtotal_ore=subtotal,
        discount_ore=discount,
        total_ore=total,
        vat=vat,
        vat_ore=sum(s.vat_ore for s in vat),
        coupon_code=coupon_code,
        means=means,
        deposit_ore=pay_now if means is Means.DEPOSIT else 0,
        pay_now_ore=pay_now,
        pay_on_site_ore=rest - pay_now,
        giftcard_ore=by_card,
        giftcard_code=giftcard_code if by_card else None,
    )


def allocate(quote: Quote, amount_ore: int) -> tuple[PricedLine, ...]:
    """The part of `quote`'s lines that `amount_ore` pays for.

    For a deposit, a cancellation fee, a partial capture or a refund: the
    amount is spread over the lines in proportion to their gross (largest
    remainder, exact to the øre, ties to the earlier line) and each share's
    VAT is derived from it with split_vat. One result per quote line, in the
    same order (a share may be 0; leave those out when printing). Their gross
    adds up to `amount_ore`; `allocate(q, q.total_ore)` gives the quote's own
    figures. Raises ValueError unless 0 <= amount_ore <= total.
    """
    _require_int("amount_ore", amount_ore)
    if amount_ore > quote.total_ore:
        raise ValueError(f"cannot allocate {amount_ore} øre of a total of {quote.total_ore}")
    shares = _spread(amount_ore, [line.gross_ore for line in quote.lines])
    return tuple(_priced(line, share, 0) for line, share in zip(quote.lines, shares, strict=True))


def cancellation_fee(*, total_ore: int, fee_percent: int, fee_fixed_ore: int) -> int:
    """The fee for a late cancellation or a no-show.

    A fixed fee when `fee_fixed_ore` > 0, otherwise `fee_percent` (0..100) of
    the total rounded half up; never more than the total.
    """
    _require_int("total_ore", total_ore)
    _require_int("fee_fixed_ore", fee_fixed_ore)
    _require_int("fee_percent", fee_percent)
    if fee_percent > 100:
        raise ValueError("a fee percent is at most 100")
    if fee_fixed_ore > 0:
        return min(fee_fixed_ore, total_ore)
    return min(_percent_half_up(total_ore, fee_percent), total_ore)

"""The rules of a coupon: what a code looks like, when it may be used, and
what it takes off. Storage and the atomic redemption are in
`portal.payments.coupon_store`; the discount goes into
`portal.payments.pricing.quote`.

Pure: no Litestar, no Piccolo, no clock — `now` is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from portal.lib.i18n import N_

CODE_MIN = 3
CODE_MAX = 40
_CODE = re.compile(rf"[A-Za-z0-9-]{{{CODE_MIN},{CODE_MAX}}}")


class CouponKind(StrEnum):
    FIXED = "fixed"  # `value` øre off
    PERCENT = "percent"  # `value` whole percent off


class CouponRefusal(StrEnum):
    UNKNOWN = "unknown"  # no such code for this supplier
    INACTIVE = "inactive"  # the supplier switched it off
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    USED_UP = "used_up"
    BELOW_MINIMUM = "below_minimum"
    NOT_FOR_THIS_OFFERING = "not_for_this_offering"
    MALFORMED = "malformed"  # what was typed cannot be a code (normalise_code gave None)


#: What the customer is told. Formatting arguments, filled in where shown:
#: NOT_YET_VALID: %(start)s — when the code starts to work (Oslo time, formatted for the language);
#: BELOW_MINIMUM: %(minimum)s — the minimum amount, formatted with portal.lib.money.format_nok.
REFUSAL_TEXT: dict[CouponRefusal, str] = {
    CouponRefusal.UNKNOWN: N_("We don't recognise this code. Check the spelling, or book without a code."),
    CouponRefusal.INACTIVE: N_("This code is no longer active. You can book without it."),
    CouponRefusal.NOT_YET_VALID: N_("This code can only be used from %(start)s. You can book without it now."),
    CouponRefusal.EXPIRED: N_("This code has expired. You can book without it."),
    CouponRefusal.USED_UP: N_("This code has already been used as many times as it may be. You can book without it."),
    CouponRefusal.BELOW_MINIMUM: N_(
        "This code needs an order of at least %(minimum)s. Add to your order, or book without the code."
    ),
    CouponRefusal.NOT_FOR_THIS_OFFERING: N_(
        "This code does not apply to what you are booking. Remove it, or choose something it applies to."
    ),
    CouponRefusal.MALFORMED: N_(
        "A code has 3 to 40 characters: the letters A to Z, digits and hyphens. Check what you typed."
    ),
}

#: The named arguments each refusal text needs (none for the others).
REFUSAL_ARGS: dict[CouponRefusal, frozenset[str]] = {
    CouponRefusal.NOT_YET_VALID: frozenset({"start"}),
    CouponRefusal.BELOW_MINIMUM: frozenset({"minimum"}),
}


def normalise_code(raw: str) -> str | None:
    """The code as stored: surrounding and inner whitespace removed, upper case.

    Only the ASCII letters A–Z, the digits 0–9 and '-' are allowed, 3 to 40 of
    them after the whitespace is gone, with at least one letter or digit.
    Anything else (æ, ø, å and other non-ASCII letters included) gives None,
    which the caller reports as MALFORMED. `"  summer-25 "` → `"SUMMER-25"`.
    """
    if not isinstance(raw, str):
        return None
    compact = "".join(raw.split())
    # Checked before upper-casing: str.upper() turns some non-ASCII letters
    # into ASCII ones ('ß' → 'SS', 'ſ' → 'S', 'ﬀ' → 'FF').
    if not _CODE.fullmatch(compact) or compact.strip("-") == "":
        return None
    return compact.upper()


@dataclass(frozen=True)
class CouponTerms:
    code: str  # normalised
    kind: CouponKind
    value: int  # øre for FIXED (>= 1), whole percent 1..100 for PERCENT
    valid_from: datetime | None  # aware; usable from this moment
    valid_until: datetime | None  # aware; exclusive: not usable from this moment on
    max_uses: int | None  # None: unlimited
    uses: int
    min_amount_ore: int
    offering_ids: frozenset[int]  # empty: every offering of the supplier
    active: bool

    def __post_init__(self) -> None:
        if normalise_code(self.code) != self.code:
            raise ValueError(f"coupon code {self.code!r} is not normalised")
        kind = CouponKind(self.kind)
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise TypeError("a coupon value is an int")
        if kind is CouponKind.FIXED and self.value < 1:
            raise ValueError("a fixed coupon takes off at least 1 øre")
        if kind is CouponKind.PERCENT and not 1 <= self.value <= 100:
            raise ValueError("a coupon percent is a whole number from 1 to 100")
        for name in ("valid_from", "valid_until"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if self.valid_from is not None and self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.max_uses is not None and self.max_uses < 1:
            raise ValueError("max_uses is at least 1 (or None for unlimited)")
        if self.uses < 0 or self.min_amount_ore < 0:
            raise ValueError("uses and min_amount_ore are never negative")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "offering_ids", frozenset(self.offering_ids))


def check(terms: CouponTerms | None, *, offering_id: int, amount_ore: int, now: datetime) -> CouponRefusal | None:
    """Why the coupon cannot be used for this offering and amount at `now`, or None.

    `amount_ore` is the price before the discount. The first reason that
    applies is given, in this order: UNKNOWN (no terms), INACTIVE,
    NOT_YET_VALID (`now` < valid_from), EXPIRED (`now` >= valid_until),
    USED_UP (uses >= max_uses), then the ones the customer can change:
    NOT_FOR_THIS_OFFERING, BELOW_MINIMUM (amount < minimum; the minimum
    itself is enough). MALFORMED comes from `normalise_code`, not from here.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if terms is None:
        return CouponRefusal.UNKNOWN
    if not terms.active:
        return CouponRefusal.INACTIVE
    if terms.valid_from is not None and now < terms.valid_from:
        return CouponRefusal.NOT_YET_VALID
    if terms.valid_until is not None and now >= terms.valid_until:
        return CouponRefusal.EXPIRED
    if terms.max_uses is not None and terms.uses >= terms.max_uses:
        return CouponRefusal.USED_UP
    if terms.offering_ids and offering_id not in terms.offering_ids:
        return CouponRefusal.NOT_FOR_THIS_OFFERING
    if amount_ore < terms.min_amount_ore:
        return CouponRefusal.BELOW_MINIMUM
    return None


def discount_for(terms: CouponTerms, amount_ore: int) -> int:
    """Øre off `amount_ore`: a fixed value (never more than the amount), or a
    percent of the amount rounded half up to the øre."""
    if isinstance(amount_ore, bool) or not isinstance(amount_ore, int) or amount_ore < 0:
        raise ValueError("amount_ore is a non-negative int")
    if terms.kind is CouponKind.FIXED:
        return min(terms.value, amount_ore)
    return min((2 * amount_ore * terms.value + 100) // 200, amount_ore)

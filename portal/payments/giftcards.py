"""The rules of a gift card: its code, how long it is valid, what it is
worth, its ledger, when it may pay and how much, and when it may be withdrawn.
Storage and the atomic redemption are in `portal.payments.giftcard_store`.

Pure: no Litestar, no Piccolo, no clock — `now` is an argument.

Decisions (so the sales flow, the pages and the PDF built on top agree):

- **Codes** are 16 characters of Crockford's base 32 (`0-9 A-Z` without
  I, L, O and U), printed in four groups: `K7QX-9M3P-2C4R-H8TK`. Of each
  look-alike group exactly one character is in the alphabet (0, not O; 1,
  not I or L; V, not U), so what a reader types for it is mapped back
  (`O→0`, `I→1`, `L→1`, `U→V`) and nothing is ever ambiguous. 15 characters
  come from `secrets` (75 bits); the 16th is a check character over GF(32)
  that catches every single wrong character and every swap of two
  characters, so a mistyped code is "not a code" without a database lookup.
- **Validity**: an offering states a number of months (default 12); a card
  with no stated validity lasts 3 years (L21). The card is valid through
  the same calendar date that many months after the local (Europe/Oslo)
  issue date (31 January + 1 month → 28/29 February), to the end of that
  local day; `valid_until` is the exclusive UTC instant (local midnight
  after it). Expiry is no ledger entry: after `valid_until` the balance
  still shows but cannot pay.
- **Worth**: a fixed value, a free amount within the offering's limits, or
  "one <service>" (a *service card*, worth that service's price at purchase).
- **A service card pays one line of its service, once, in full.** It takes
  `min(balance, line)`; if the service has become cheaper the rest of the
  card is written off in the same redemption (entry `forfeit`: the card
  was for one service and that service was delivered); if it has become
  dearer, the card still pays the line in full and checkout gives the
  difference off the line (`service_cover(...).waived`): the holder was
  given the service, not an amount.
- **Ledger**: `issue` (+value), `redeem` (−amount, for an order), `forfeit`
  (−rest of a service card, for the order that used it), `restore`
  (+what one redeem/forfeit took, when that order is cancelled, refunded or
  never happens) and `refund` (−the whole value, when the unused card is
  withdrawn within 14 days). The balance is the sum of the ledger.
- **Withdrawal** (L4 class `standard`): an unused card (nothing taken from
  it that still stands) may be withdrawn until the deadline of
  `portal.legal.withdrawal.withdrawal_deadline(issued_at)` (L5: 14 days, the
  day of purchase not counted, moved past weekends and holidays) for a
  refund of its whole value.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from portal.legal.withdrawal import withdrawal_deadline
from portal.lib.clock import fmt_date
from portal.lib.i18n import N_, translations
from portal.lib.money import format_nok

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc

# ---------------------------------------------------------------- codes

#: Crockford's base 32: no I, L, O (look like 1 and 0) and no U (looks like V).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: What a reader may type for a character that is not in the alphabet.
LOOKALIKES = {"O": "0", "I": "1", "L": "1", "U": "V"}
GROUP = 4
CODE_LENGTH = 16  # characters without the dashes: 15 random + 1 check
RANDOM_LENGTH = CODE_LENGTH - 1
CODE_BITS = RANDOM_LENGTH * 5  # 75
#: Separators a hurried person (or a phone's autocorrect) types between groups.
_SEPARATORS = frozenset("-_.\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
_VALUE = {c: i for i, c in enumerate(ALPHABET)}

# GF(2^5) with the primitive polynomial x^5 + x^2 + 1; α = 2 has order 31.
_POLY = 0b100101
_EXP = [0] * 62
_LOG = [0] * 32
_x = 1
for _i in range(31):
    _EXP[_i] = _EXP[_i + 31] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0b100000:
        _x ^= _POLY
del _x, _i


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _syndrome(values: Iterable[int]) -> int:
    """Σ vᵢ·αⁱ over GF(32). Zero for a valid code. A single wrong character
    changes it by e·αⁱ ≠ 0; swapping positions i ≠ j by (a+b)(αⁱ+αʲ) ≠ 0
    (αⁱ ≠ αʲ while i, j < 31)."""
    total = 0
    for i, v in enumerate(values):
        total ^= _mul(v, _EXP[i])
    return total


def check_character(body: str) -> str:
    """The 16th character for 15 alphabet characters: the one that makes the
    syndrome of all 16 zero (c·α¹⁵ = Σ, so c = Σ·α¹⁶)."""
    if len(body) != RANDOM_LENGTH or any(c not in _VALUE for c in body):
        raise ValueError("a code body is 15 characters of the alphabet")
    return ALPHABET[_mul(_syndrome(_VALUE[c] for c in body), _EXP[31 - RANDOM_LENGTH])]


def _grouped(compact: str) -> str:
    return "-".join(compact[i : i + GROUP] for i in range(0, len(compact), GROUP))


def new_code() -> str:
    """A fresh code from `secrets`, grouped: `K7QX-9M3P-2C4R-H8TK`."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return _grouped(body + check_character(body))


def normalise_code(raw: object) -> str | None:
    """The canonical (grouped, upper-case) code for what was typed, or None
    when it cannot be a gift card code.

    Whitespace and dashes anywhere are dropped, lower case is raised,
    O→0, I/L→1, U→V; then there must be exactly 16 alphabet characters
    whose check character holds. `" k7qx 9m3p-2c4r h8tk "` → `"K7QX-9M3P-2C4R-H8TK"`.
    """
    if not isinstance(raw, str) or len(raw) > 100:
        return None
    compact = "".join(ch for ch in raw if not ch.isspace() and ch not in _SEPARATORS)
    # Checked before upper-casing: str.upper() turns some non-ASCII letters
    # into ASCII ones ('ß' → 'SS', 'ı' → 'I').
    if not compact.isascii() or not compact.isalnum():
        return None
    compact = "".join(LOOKALIKES.get(ch, ch) for ch in compact.upper())
    if len(compact) != CODE_LENGTH or any(ch not in _VALUE for ch in compact):
        return None
    if _syndrome(_VALUE[ch] for ch in compact) != 0:
        return None
    return _grouped(compact)


def code_hash(code: str) -> str:
    """What the database stores to find a card: SHA-256 of the canonical code.

    Not the code itself: a copy of the database (a backup, a read-only
    staff query) must not hand out spendable cards. No secret key in it (a
    rotated or per-process dev key would orphan every card); none is needed,
    since 75 random bits cannot be found by hashing guesses."""
    canonical = normalise_code(code)
    if canonical is None:
        raise ValueError("not a gift card code")
    return hashlib.sha256(f"portal-giftcard:{canonical}".encode("ascii")).hexdigest()


def code_last4(code: str) -> str:
    """The last four characters, kept in clear to tell cards apart on screen."""
    canonical = normalise_code(code)
    if canonical is None:
        raise ValueError("not a gift card code")
    return canonical[-GROUP:]


def masked(last4: str) -> str:
    """`••••-••••-••••-H8TK`: how a stored card is shown without its code."""
    return "-".join(["\u2022" * GROUP] * 3 + [last4])


# ---------------------------------------------------------------- validity

DEFAULT_VALIDITY_MONTHS = 12
#: L21: a gift card with no stated validity is valid 3 years.
UNSTATED_VALIDITY_MONTHS = 36
MAX_VALIDITY_MONTHS = 120


def _add_months(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _months(months: int | None) -> int:
    if months is None:
        return UNSTATED_VALIDITY_MONTHS
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_VALIDITY_MONTHS:
        raise ValueError(f"validity is 1 to {MAX_VALIDITY_MONTHS} whole months, or None (not stated: 3 years)")
    return months


def last_valid_day(issued_at: datetime, months: int | None) -> date:
    """The last local date the card can pay on — the date printed on the card
    and shown before purchase (with `issued_at` = now). `months` None: the
    offering states no validity, so 3 years (L21)."""
    _aware(issued_at, "issued_at")
    return _add_months(issued_at.astimezone(OSLO).date(), _months(months))


def valid_until(issued_at: datetime, months: int | None) -> datetime:
    """The exclusive UTC instant the card stops working: local midnight at the
    end of `last_valid_day` (Oslo midnight always exists: DST changes at 02/03)."""
    after = last_valid_day(issued_at, months) + timedelta(days=1)
    return datetime.combine(after, time(0), tzinfo=OSLO).astimezone(UTC)


def expiry_day(until: datetime) -> date:
    """The last valid local date of a stored `valid_until` (what the card says)."""
    _aware(until, "valid_until")
    return (until.astimezone(OSLO) - timedelta(microseconds=1)).date()


# ---------------------------------------------------------------- what a card is worth


class ValueKind(StrEnum):
    """How a gift card offering sets the card's value."""

    FIXED = "fixed"  # the offering's value
    FREE = "free"  # the buyer's amount, within min..max
    SERVICE = "service"  # one named service, at its price at purchase


class CardKind(StrEnum):
    VALUE = "value"  # an amount: pays anything of the supplier (but gift cards), in parts
    SERVICE = "service"  # one named service, once


@dataclass(frozen=True)
class GiftCardOffer:
    """What a gift card offering sells."""

    value_kind: ValueKind
    value_ore: int = 0  # FIXED
    min_ore: int = 0  # FREE
    max_ore: int = 0  # FREE
    service_offering_id: int | None = None  # SERVICE
    service_price_ore: int = 0  # SERVICE: the service's price now, which the card is worth
    validity_months: int | None = DEFAULT_VALIDITY_MONTHS  # None: not stated, 3 years (L21)

    def __post_init__(self) -> None:
        kind = ValueKind(self.value_kind)
        object.__setattr__(self, "value_kind", kind)
        for name in ("value_ore", "min_ore", "max_ore", "service_price_ore"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} is a non-negative int (øre)")
        _months(self.validity_months)
        if kind is ValueKind.FIXED and self.value_ore < 1:
            raise ValueError("a fixed gift card is worth at least 1 øre")
        if kind is ValueKind.FREE and not 1 <= self.min_ore <= self.max_ore:
            raise ValueError("a free amount needs 1 <= min_ore <= max_ore")
        if kind is ValueKind.SERVICE and (self.service_offering_id is None or self.service_price_ore < 1):
            raise ValueError("a service gift card names its service and its price")

    @property
    def card_kind(self) -> CardKind:
        return CardKind.SERVICE if self.value_kind is ValueKind.SERVICE else CardKind.VALUE


@dataclass(frozen=True)
class Message:
    """A msgid and its arguments, translated and formatted where shown:
    an int argument is øre (shown as kroner), a date is a local date."""

    msgid: str
    args: Mapping[str, object] = field(default_factory=dict)

    def text(self, language: str = "nb") -> str:
        text = translations(language).gettext(self.msgid)
        if not self.args:
            return text
        shown = {}
        for name, value in self.args.items():
            if isinstance(value, bool):
                shown[name] = str(value)
            elif isinstance(value, int):
                shown[name] = format_nok(value, language)
            elif isinstance(value, date):
                shown[name] = fmt_date(value, language)
            else:
                shown[name] = str(value)
        return text % shown


AMOUNT_NEEDED = N_("Enter the amount in kroner, for example 500.")
AMOUNT_OUT_OF_RANGE = N_("Choose an amount from %(min)s to %(max)s.")


def parse_kroner(raw: object) -> int | None:
    """'500', '500,50', '1 234.5', 'kr 500', '500 kr', '500,-' → øre; None otherwise."""
    text = str(raw or "").strip().lower().replace("\u00a0", "").replace(" ", "")
    text = text.removeprefix("kr").removesuffix("kr").removesuffix(",-").removesuffix(".-").replace(",", ".")
    if not text or text.count(".") > 1:
        return None
    whole, _, frac = text.partition(".")
    if not whole.isascii() or not whole.isdigit() or len(whole) > 9:
        return None
    if frac and (not frac.isascii() or not frac.isdigit() or len(frac) > 2):
        return None
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))


def card_value(offer: GiftCardOffer, typed: object = None) -> tuple[int | None, Message | None]:
    """(value in øre, None), or (None, the field message) for a free amount
    that is missing or outside the offering's limits. `typed` is what the
    buyer typed for a FREE offering (kroner); ignored otherwise."""
    if offer.value_kind is ValueKind.FIXED:
        return offer.value_ore, None
    if offer.value_kind is ValueKind.SERVICE:
        return offer.service_price_ore, None
    amount = typed if isinstance(typed, int) and not isinstance(typed, bool) else parse_kroner(typed)
    if amount is None or amount <= 0:
        return None, Message(AMOUNT_NEEDED)
    if not offer.min_ore <= amount <= offer.max_ore:
        return None, Message(AMOUNT_OUT_OF_RANGE, {"min": offer.min_ore, "max": offer.max_ore})
    return amount, None


#: The terms printed on the card and shown before purchase (L21), with
#: %(supplier)s, %(date)s (the last valid day) and, for a service card, %(service)s.
TERMS_TEXT: dict[CardKind, str] = {
    CardKind.VALUE: N_(
        "Valid until and including %(date)s at %(supplier)s. It pays for all or part of a purchase; "
        "what is left stays on the card until then. It cannot pay for another gift card."
    ),
    CardKind.SERVICE: N_(
        "Valid until and including %(date)s at %(supplier)s for one %(service)s, once, even if the price has gone up by then."
    ),
}


# ---------------------------------------------------------------- the ledger


class EntryKind(StrEnum):
    ISSUE = "issue"  # +value
    REDEEM = "redeem"  # −amount taken for an order
    FORFEIT = "forfeit"  # −rest of a service card, for the order its service was for
    RESTORE = "restore"  # +what one redeem or forfeit took (its order did not happen)
    REFUND = "refund"  # −the whole value: the unused card withdrawn (L4)


#: The sign each kind's amount has (0 allowed for none of them).
SIGN: dict[EntryKind, int] = {
    EntryKind.ISSUE: +1,
    EntryKind.REDEEM: -1,
    EntryKind.FORFEIT: -1,
    EntryKind.RESTORE: +1,
    EntryKind.REFUND: -1,
}


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    amount_ore: int  # signed
    order_id: int | None = None
    key: str = ""

    def __post_init__(self) -> None:
        kind = EntryKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if isinstance(self.amount_ore, bool) or not isinstance(self.amount_ore, int):
            raise TypeError("an entry amount is an int (øre)")
        if self.amount_ore == 0 or (self.amount_ore > 0) != (SIGN[kind] > 0):
            raise ValueError(f"a {kind} entry is {'positive' if SIGN[kind] > 0 else 'negative'}, never 0")


@dataclass(frozen=True)
class Ledger:
    balance_ore: int  # the sum of every entry
    issued_ore: int
    refunded_ore: int
    taken_ore: dict[int, int]  # per order: what its redeem and forfeit entries took, net of restores

    @property
    def unused(self) -> bool:
        """Nothing taken from the card still stands (every use was restored)."""
        return all(v == 0 for v in self.taken_ore.values())


def fold(entries: Iterable[Entry]) -> Ledger:
    """The card's ledger folded, in the order written. Raises ValueError for a
    ledger no card can have: not starting with one issue, a balance below 0 at
    any point, an order given back more than it took, a refund after use."""
    balance = issued = refunded = 0
    taken: dict[int, int] = {}
    for index, entry in enumerate(entries):
        if (entry.kind is EntryKind.ISSUE) != (index == 0):
            raise ValueError("a ledger starts with its one issue entry")
        if entry.kind in (EntryKind.REDEEM, EntryKind.FORFEIT, EntryKind.RESTORE):
            if entry.order_id is None:
                raise ValueError(f"a {entry.kind} entry belongs to an order")
            now_taken = taken.get(entry.order_id, 0) - entry.amount_ore
            if now_taken < 0:
                raise ValueError("an order is given back more than it took")
            taken[entry.order_id] = now_taken
        if entry.kind is EntryKind.ISSUE:
            issued += entry.amount_ore
        elif entry.kind is EntryKind.REFUND:
            if refunded or any(taken.values()) or balance != issued:
                raise ValueError("only a whole, unused card is refunded, once")
            refunded -= entry.amount_ore
        balance += entry.amount_ore
        if balance < 0:
            raise ValueError("a gift card is never overdrawn")
    return Ledger(balance_ore=balance, issued_ore=issued, refunded_ore=refunded, taken_ore=taken)


# ---------------------------------------------------------------- a card and when it may pay


class CardState(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"  # refunded within the withdrawal period; never pays again


@dataclass(frozen=True)
class Card:
    id: int
    supplier_id: int
    kind: CardKind
    initial_ore: int
    balance_ore: int
    issued_at: datetime
    valid_until: datetime
    state: CardState = CardState.ACTIVE
    service_offering_id: int | None = None
    code_last4: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CardKind(self.kind))
        object.__setattr__(self, "state", CardState(self.state))
        _aware(self.issued_at, "issued_at")
        _aware(self.valid_until, "valid_until")
        if not 0 <= self.balance_ore <= self.initial_ore:
            raise ValueError("0 <= balance <= initial value")
        if (self.kind is CardKind.SERVICE) != (self.service_offering_id is not None):
            raise ValueError("a service card, and only a service card, names its service")


class Refusal(StrEnum):
    MALFORMED = "malformed"  # not a code at all (normalise_code gave None): no lookup made
    UNKNOWN = "unknown"  # a well-formed code no card has (counts towards the rate limit)
    TOO_MANY_TRIES = "too_many_tries"  # too many unknown codes from this browser or address
    GIFT_CARD_PURCHASE = "gift_card_purchase"  # paying for a gift card
    OTHER_SUPPLIER = "other_supplier"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    USED_UP = "used_up"
    WRONG_SERVICE = "wrong_service"  # a service card, for another service


#: What the customer is told. Arguments, filled in where shown (see REFUSAL_ARGS):
#: OTHER_SUPPLIER %(supplier)s — the card's supplier; EXPIRED %(date)s — its last
#: valid day; WRONG_SERVICE %(service)s — the service the card is for.
REFUSAL_TEXT: dict[Refusal, str] = {
    Refusal.MALFORMED: N_(
        "This is not a gift card code. A code has 16 letters and digits, like K7QX-9M3P-2C4R-H8TK: check what you typed."
    ),
    Refusal.UNKNOWN: N_("We don't recognise this gift card code. Check the code on the card."),
    Refusal.TOO_MANY_TRIES: N_("Too many wrong gift card codes. Wait an hour and try again."),
    Refusal.GIFT_CARD_PURCHASE: N_("A gift card cannot be paid for with a gift card."),
    Refusal.OTHER_SUPPLIER: N_("This gift card is from %(supplier)s and can only be used there."),
    Refusal.WITHDRAWN: N_("This gift card has been withdrawn and refunded, so it can no longer be used."),
    Refusal.EXPIRED: N_("This gift card was valid until %(date)s and can no longer be used."),
    Refusal.USED_UP: N_("This gift card has been used up: there is nothing left on it."),
    Refusal.WRONG_SERVICE: N_("This gift card is for %(service)s and can only pay for that."),
}

REFUSAL_ARGS: dict[Refusal, frozenset[str]] = {
    Refusal.OTHER_SUPPLIER: frozenset({"supplier"}),
    Refusal.EXPIRED: frozenset({"date"}),
    Refusal.WRONG_SERVICE: frozenset({"service"}),
}


def refusal_message(refusal: Refusal, **args: object) -> Message:
    needed = REFUSAL_ARGS.get(refusal, frozenset())
    if set(args) != needed:
        raise ValueError(f"{refusal} needs the arguments {sorted(needed)}, got {sorted(args)}")
    return Message(REFUSAL_TEXT[refusal], args)


def check(
    card: Card | None, *, supplier_id: int, now: datetime, offering_id: int | None = None, buys_gift_card: bool = False
) -> Refusal | None:
    """Why the card cannot pay at this supplier now, or None.

    `offering_id`: the offering of the line a service card would pay.
    `buys_gift_card`: what is paid for is a gift card. The first reason that
    applies, in this order: GIFT_CARD_PURCHASE (before anything about the
    card, so it tells nothing about the code), UNKNOWN, OTHER_SUPPLIER,
    WITHDRAWN, EXPIRED (`now` >= valid_until), USED_UP (balance 0),
    WRONG_SERVICE. MALFORMED comes from `normalise_code`, TOO_MANY_TRIES
    from the miss count, not from here."""
    _aware(now, "now")
    if buys_gift_card:
        return Refusal.GIFT_CARD_PURCHASE
    if card is None:
        return Refusal.UNKNOWN
    if card.supplier_id != supplier_id:
        return Refusal.OTHER_SUPPLIER
    if card.state is CardState.WITHDRAWN:
        return Refusal.WITHDRAWN
    if now >= card.valid_until:
        return Refusal.EXPIRED
    if card.balance_ore <= 0:
        return Refusal.USED_UP
    if card.kind is CardKind.SERVICE and offering_id != card.service_offering_id:
        return Refusal.WRONG_SERVICE
    return None


def allowance(balance_ore: int, amount_ore: int) -> int:
    """What a card with this balance pays of `amount_ore`: never more than
    either (partial use: the rest is paid some other way)."""
    for value in (balance_ore, amount_ore):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("balances and amounts are non-negative ints (øre)")
    return min(balance_ore, amount_ore)


@dataclass(frozen=True)
class ServiceCover:
    taken_ore: int  # redeemed from the card: min(balance, line)
    forfeited_ore: int  # the rest of the card, written off (the service got cheaper)
    waived_ore: int  # the line above the card's value, given off by checkout (the service got dearer)


def service_cover(balance_ore: int, line_ore: int) -> ServiceCover:
    """How a service card with this balance pays one line of its service in full."""
    taken = allowance(balance_ore, line_ore)
    return ServiceCover(taken_ore=taken, forfeited_ore=balance_ore - taken, waived_ore=line_ore - taken)


# ---------------------------------------------------------------- withdrawal (L4, L5)


class WithdrawalRefusal(StrEnum):
    ALREADY_WITHDRAWN = "already_withdrawn"
    USED = "used"
    PERIOD_OVER = "period_over"


#: PERIOD_OVER: %(date)s — the last day of the withdrawal period.
WITHDRAWAL_TEXT: dict[WithdrawalRefusal, str] = {
    WithdrawalRefusal.ALREADY_WITHDRAWN: N_("This gift card has already been withdrawn and refunded."),
    WithdrawalRefusal.USED: N_("This gift card has been used, so it can no longer be withdrawn for a refund."),
    WithdrawalRefusal.PERIOD_OVER: N_("The right to withdraw from this gift card purchase ended on %(date)s."),
}


def card_withdrawal_deadline(card: Card) -> date:
    """The last local day the card may be withdrawn (L5, from its purchase)."""
    return withdrawal_deadline(card.issued_at)


def withdrawal_refusal(card: Card, now: datetime) -> WithdrawalRefusal | None:
    """Why the card cannot be withdrawn for a full refund now, or None.
    Unused means its balance is still its whole value (any use was restored)."""
    _aware(now, "now")
    if card.state is CardState.WITHDRAWN:
        return WithdrawalRefusal.ALREADY_WITHDRAWN
    if card.balance_ore != card.initial_ore:
        return WithdrawalRefusal.USED
    if now.astimezone(OSLO).date() > card_withdrawal_deadline(card):
        return WithdrawalRefusal.PERIOD_OVER
    return None


def withdrawal_message(refusal: WithdrawalRefusal, card: Card) -> Message:
    if refusal is WithdrawalRefusal.PERIOD_OVER:
        return Message(WITHDRAWAL_TEXT[refusal], {"date": card_withdrawal_deadline(card)})
    return Message(WITHDRAWAL_TEXT[refusal])


# ---------------------------------------------------------------- wrong codes (rate limit)

#: Unknown codes one browser (visitor id) — and, separately, one client IP —
#: may type in an hour, as for coupons: codes cannot be found by trying.
MISSES_PER_HOUR = 10
MISS_WINDOW = timedelta(hours=1)


def locked_out(misses: int) -> bool:
    """`misses`: the larger of the browser's and the IP's count in the last hour."""
    return misses >= MISSES_PER_HOUR

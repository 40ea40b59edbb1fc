"""Gift cards in the database: issue, look up, redeem, restore, withdraw, and
the count of wrong codes. The rules are in `portal.payments.giftcards`.

A gift card is never overdrawn, also under racing redemptions (DESIGN.md,
invariant 2): a redemption is ONE conditional UPDATE that takes
`min(balance, amount)` only from an active, unexpired card of this supplier
with something left, so the database decides between racers whatever each
of them read before; a CHECK (PostgreSQL) or trigger (SQLite) refuses any
balance below 0 or above the card's value. `balance_ore` is a cache of the
sum of the card's ledger: every change to it is made together with its
ledger entry, in one transaction, and every entry has a unique `key` so the
same issue, redemption, restore or refund is never written twice.

Every function that writes runs in the caller's transaction when there is
one (call them inside the order's `write_transaction()`), else in its own.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone

from portal.catalogue.tables import Offering, Supplier
from portal.lib.db import engine, write_transaction
from portal.payments.giftcards import (
    MISS_WINDOW,
    Card,
    CardKind,
    CardState,
    Entry,
    EntryKind,
    Message,
    Refusal,
    WithdrawalRefusal,
    allowance,
    check,
    code_hash,
    code_last4,
    expiry_day,
    locked_out,
    new_code,
    normalise_code,
    refusal_message,
    valid_until,
    withdrawal_message,
    withdrawal_refusal,
)
from portal.payments.tables import GiftCard, GiftCardEntry, GiftCardMiss

UTC = timezone.utc
MAX_NAME = 200
MAX_EMAIL = 254
MAX_MESSAGE = 1000


class GiftCardRefused(Exception):
    """The card cannot pay: `refusal`, and `message` for the customer."""

    def __init__(self, refusal: Refusal, message: Message, card: Card | None = None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.message = message
        self.card = card


class WithdrawalRefused(Exception):
    def __init__(self, refusal: WithdrawalRefusal, message: Message) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.message = message


@dataclass(frozen=True)
class Issued:
    card_id: int
    #: The code, in clear, this once: put it where it is delivered (the card's
    #: PDF, the outbox message) in the same transaction. None: this unit of
    #: this order line was issued by an earlier call, whose code went out then.
    code: str | None


@dataclass(frozen=True)
class Restored:
    card_id: int
    amount_ore: int  # given back to the card
    expired: bool  # the card's validity is over: the amount cannot pay any more


@dataclass(frozen=True)
class Evaluation:
    """What a typed code would do for this payment, before anything is taken."""

    card: Card | None
    allowance_ore: int  # what it would pay of the amount (0 when refused)
    refusal: Refusal | None
    message: Message | None  # for the customer, when refused


# ---------------------------------------------------------------- helpers


@asynccontextmanager
async def _in_transaction() -> AsyncIterator[None]:
    if engine().transaction_exists():
        yield
    else:
        async with write_transaction():
            yield


def _utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError("pass timezone-aware datetimes")
    return moment.astimezone(UTC)


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} is a positive int")
    return value


def _card(row: dict) -> Card:
    return Card(
        id=row["id"],
        supplier_id=row["supplier"],
        kind=CardKind(row["kind"]),
        initial_ore=row["initial_ore"],
        balance_ore=row["balance_ore"],
        issued_at=row["issued_at"],
        valid_until=row["valid_until"],
        state=CardState(row["state"]),
        service_offering_id=row["service_offering"],
        code_last4=row["code_last4"],
    )


async def _refused(refusal: Refusal, card: Card | None) -> GiftCardRefused:
    args: dict[str, object] = {}
    if refusal is Refusal.OTHER_SUPPLIER and card is not None:
        supplier = await Supplier.select(Supplier.name).where(Supplier.id == card.supplier_id).first()
        args["supplier"] = supplier["name"] if supplier else ""
    elif refusal is Refusal.EXPIRED and card is not None:
        args["date"] = expiry_day(card.valid_until)
    elif refusal is Refusal.WRONG_SERVICE and card is not None:
        service = await Offering.select(Offering.title).where(Offering.id == card.service_offering_id).first()
        args["service"] = service["title"] if service else ""
    return GiftCardRefused(refusal, refusal_message(refusal, **args), card)


async def _insert_entry(
    card_id: int, kind: EntryKind, amount_ore: int, order_id: int | None, key: str, at: datetime
) -> int | None:
    """The entry's id, or None when an entry with this key already exists."""
    rows = (
        await GiftCardEntry.insert(
            GiftCardEntry(card=card_id, kind=kind.value, amount_ore=amount_ore, order_id=order_id, key=key, at=at)
        )
        .on_conflict(target=GiftCardEntry.key, action="DO NOTHING")
        .returning(GiftCardEntry.id)
    )
    return rows[0]["id"] if rows else None


# ---------------------------------------------------------------- issue and look up


async def issue(
    *,
    supplier_id: int,
    offering_id: int,
    value_ore: int,
    now: datetime,
    validity_months: int | None,
    kind: CardKind = CardKind.VALUE,
    service_offering_id: int | None = None,
    order_id: int | None = None,
    line_position: int = 0,
    unit: int = 1,
    recipient_name: str = "",
    recipient_email: str = "",
    message: str = "",
    deliver_on: date | None = None,
    buyer_name: str = "",
) -> Issued:
    """A new card worth `value_ore`, sold as the gift card offering `offering_id`.

    Valid until `giftcards.valid_until(now, validity_months)`: the months the
    offering states, or None when it states none (3 years, L21). With `order_id`: one card per
    (order, line_position, unit) — a second call for the same unit returns
    that card with `code=None`. The service of a service card is an offering
    of the same supplier; its value is that service's price now
    (`giftcards.card_value`)."""
    now = _utc(now)
    until = valid_until(now, validity_months)
    _positive("value_ore", value_ore)
    kind = CardKind(kind)
    if (kind is CardKind.SERVICE) != (service_offering_id is not None):
        raise ValueError("a service card, and only a service card, names its service")
    for name, value, limit in (
        ("recipient_name", recipient_name, MAX_NAME),
        ("recipient_email", recipient_email, MAX_EMAIL),
        ("message", message, MAX_MESSAGE),
        ("buyer_name", buyer_name, MAX_NAME),
    ):
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{name} is text of at most {limit} characters")
    offering = await Offering.select(Offering.supplier, Offering.kind).where(Offering.id == offering_id).first()
    if offering is None or offering["supplier"] != supplier_id or offering["kind"] != "giftcard":
        raise ValueError("offering_id is a gift card offering of this supplier")
    if service_offering_id is not None:
        service = await Offering.select(Offering.supplier, Offering.kind).where(Offering.id == service_offering_id).first()
        if service is None or service["supplier"] != supplier_id or service["kind"] == "giftcard":
            raise ValueError("a service card is for a service of the same supplier")
    if order_id is None:
        issue_key = f"manual:{secrets.token_hex(12)}"
    else:
        issue_key = f"{_positive('order_id', order_id)}:{line_position}:{_positive('unit', unit)}"
    code = new_code()  # 75 random bits: a clash of hashes is not worth a retry
    async with _in_transaction():
        rows = (
            await GiftCard.insert(
                GiftCard(
                    supplier=supplier_id,
                    offering=offering_id,
                    order_id=order_id,
                    line_position=line_position,
                    issue_key=issue_key,
                    code_hash=code_hash(code),
                    code_last4=code_last4(code),
                    kind=kind.value,
                    service_offering=service_offering_id,
                    initial_ore=value_ore,
                    balance_ore=value_ore,
                    last_taken_ore=0,
                    issued_at=now,
                    valid_until=until,
                    recipient_name=recipient_name,
                    recipient_email=recipient_email,
                    message=message,
                    deliver_on=deliver_on,
                    buyer_name=buyer_name,
                    state=CardState.ACTIVE.value,
                    withdrawn_at=None,
                )
            )
            .on_conflict(target=GiftCard.issue_key, action="DO NOTHING")
            .returning(GiftCard.id)
        )
        if not rows:
            existing = await GiftCard.select(GiftCard.id).where(GiftCard.issue_key == issue_key).first()
            return Issued(card_id=existing["id"], code=None)
        card_id = rows[0]["id"]
        await _insert_entry(card_id, EntryKind.ISSUE, value_ore, order_id, f"issue:{card_id}", now)
    return Issued(card_id=card_id, code=code)


async def card(card_id: int) -> Card | None:
    row = await GiftCard.select().where(GiftCard.id == card_id).first()
    return _card(row) if row else None


async def card_by_code(raw_code: str) -> Card | None:
    """The card (of any supplier) for what was typed, or None (not a code, or no card has it)."""
    canonical = normalise_code(raw_code)
    if canonical is None:
        return None
    row = await GiftCard.select().where(GiftCard.code_hash == code_hash(canonical)).first()
    return _card(row) if row else None


async def balance(raw_code: str) -> int | None:
    """What is left on the card, in øre (shown with its expiry, L21), or None.
    A page that shows it to the public counts unknown codes (`record_miss`)."""
    found = await card_by_code(raw_code)
    return found.balance_ore if found else None


async def entries(card_id: int) -> list[Entry]:
    """The card's ledger in the order written."""
    rows = await GiftCardEntry.select().where(GiftCardEntry.card == card_id).order_by(GiftCardEntry.id)
    return [Entry(kind=EntryKind(r["kind"]), amount_ore=r["amount_ore"], order_id=r["order_id"], key=r["key"]) for r in rows]


async def ledger_mismatches() -> list[int]:
    """Cards whose cached balance is not the sum of their ledger (always none)."""
    rows = await GiftCard.raw(
        "SELECT c.id FROM gift_card c LEFT JOIN "
        "(SELECT card, SUM(amount_ore) AS total FROM gift_card_entry GROUP BY card) e ON e.card = c.id "
        "WHERE c.balance_ore <> COALESCE(e.total, 0) ORDER BY c.id"
    )
    return [r["id"] for r in rows]


async def replace_code(card_id: int) -> str:
    """A lost card: a new code for the same card and balance; the old one stops
    working at once. Returns the new code (deliver it as at `issue`)."""
    code = new_code()
    rows = await GiftCard.raw(
        "UPDATE gift_card SET code_hash = {}, code_last4 = {} WHERE id = {} AND state = {} RETURNING id",
        code_hash(code),
        code_last4(code),
        card_id,
        CardState.ACTIVE.value,
    )
    if not rows:
        raise ValueError("no active gift card with this id")
    return code


# ---------------------------------------------------------------- paying with a card


async def evaluate(
    supplier_id: int,
    raw_code: str,
    *,
    amount_ore: int,
    now: datetime,
    visitor: str,
    ip: str,
    offering_id: int | None = None,
    buys_gift_card: bool = False,
) -> Evaluation:
    """What the typed code would pay of `amount_ore`, or why not, for the
    checkout page. Refuses (TOO_MANY_TRIES) once this browser or this IP has
    typed `MISSES_PER_HOUR` unknown codes in the last hour, and counts an
    unknown code as a miss. A malformed code is no miss: the check
    character refuses it without a lookup, so it tells nothing."""
    now = _utc(now)

    def refused(refusal: Refusal, found: Card | None, message: Message) -> Evaluation:
        return Evaluation(card=found, allowance_ore=0, refusal=refusal, message=message)

    if buys_gift_card:
        return refused(Refusal.GIFT_CARD_PURCHASE, None, refusal_message(Refusal.GIFT_CARD_PURCHASE))
    if locked_out(await misses(visitor, ip, now)):
        return refused(Refusal.TOO_MANY_TRIES, None, refusal_message(Refusal.TOO_MANY_TRIES))
    if normalise_code(raw_code) is None:
        return refused(Refusal.MALFORMED, None, refusal_message(Refusal.MALFORMED))
    found = await card_by_code(raw_code)
    refusal = check(found, supplier_id=supplier_id, now=now, offering_id=offering_id)
    if refusal is Refusal.UNKNOWN:
        await record_miss(visitor, ip, now)
    if refusal is not None:
        error = await _refused(refusal, found)
        return refused(refusal, found, error.message)
    return Evaluation(card=found, allowance_ore=allowance(found.balance_ore, amount_ore), refusal=None, message=None)


_TAKE = "CASE WHEN balance_ore < {} THEN balance_ore ELSE {} END"

#: A value card pays min(balance, amount), as often as it has something left.
_REDEEM_VALUE = (
    f"UPDATE gift_card SET balance_ore = balance_ore - {_TAKE}, last_taken_ore = {_TAKE} "
    "WHERE id = {} AND supplier = {} AND kind = 'value' AND state = 'active' AND valid_until > {} AND balance_ore > 0 "
    "RETURNING last_taken_ore, initial_ore"
)
#: A service card pays one line of its service, once: min(value, line) is
#: taken and the rest written off, so nothing is left on it.
_REDEEM_SERVICE = (
    f"UPDATE gift_card SET balance_ore = 0, last_taken_ore = {_TAKE} "
    "WHERE id = {} AND supplier = {} AND kind = 'service' AND service_offering = {} AND state = 'active' "
    "AND valid_until > {} AND balance_ore > 0 AND balance_ore = initial_ore "
    "RETURNING last_taken_ore, initial_ore"
)


async def _standing(card_id: int, order_id: int) -> int | None:
    """What this order's redemption of this card took, while it stands (not restored)."""
    taken = (
        await GiftCardEntry.select(GiftCardEntry.id, GiftCardEntry.amount_ore)
        .where(
            (GiftCardEntry.card == card_id)
            & (GiftCardEntry.order_id == order_id)
            & (GiftCardEntry.kind == EntryKind.REDEEM.value)
            & (GiftCardEntry.amount_ore < 0)
        )
        .order_by(GiftCardEntry.id, ascending=False)
        .first()
    )
    if taken is None:
        return None
    if await GiftCardEntry.exists().where(GiftCardEntry.key == f"restore:{taken['id']}"):
        return None
    return -taken["amount_ore"]


async def redeem(
    supplier_id: int,
    code: str,
    order_id: int,
    amount_ore: int,
    now: datetime,
    *,
    offering_id: int | None = None,
    buys_gift_card: bool = False,
) -> int:
    """Take what the card can pay of `amount_ore` for the order; returns the
    øre taken: `min(balance, amount)`, less than asked when the card has less
    (partial use: the rest is paid another way). Raises GiftCardRefused.

    For a value card `amount_ore` is what is left to pay of the order (its
    gift card lines excluded: `buys_gift_card` refuses). For a service card it
    is the price of the one line of its service, `offering_id` that line's
    offering; the card pays it in full (`giftcards.service_cover`: the part
    above what it returns is given off the line by checkout).

    Idempotent per (card, order): while the order's redemption of this card
    stands, calling again returns what it took and takes nothing more.
    """
    _positive("order_id", order_id)
    _positive("amount_ore", amount_ore)
    now = _utc(now)
    if buys_gift_card:
        raise await _refused(Refusal.GIFT_CARD_PURCHASE, None)
    canonical = normalise_code(code)
    if canonical is None:
        raise await _refused(Refusal.MALFORMED, None)
    async with _in_transaction():
        row = await GiftCard.select().where(GiftCard.code_hash == code_hash(canonical)).first()
        found = _card(row) if row else None
        if found is not None and found.supplier_id == supplier_id:
            already = await _standing(found.id, order_id)
            if already is not None:
                return already
        refusal = check(found, supplier_id=supplier_id, now=now, offering_id=offering_id)
        if refusal is not None:
            raise await _refused(refusal, found)
        generation = await GiftCardEntry.count().where(
            (GiftCardEntry.card == found.id)
            & (GiftCardEntry.order_id == order_id)
            & (GiftCardEntry.kind == EntryKind.REDEEM.value)
        )
        key = f"redeem:{found.id}:{order_id}:{generation}"
        # Claim the key first (0 øre until the UPDATE says what was taken): a
        # concurrent call for the same order waits for it here, then finds it.
        entry_id = await _insert_entry(found.id, EntryKind.REDEEM, 0, order_id, key, now)
        if entry_id is None:
            same = await GiftCardEntry.select(GiftCardEntry.amount_ore).where(GiftCardEntry.key == key).first()
            return -same["amount_ore"]
        if found.kind is CardKind.SERVICE:
            taken = await GiftCard.raw(_REDEEM_SERVICE, amount_ore, amount_ore, found.id, supplier_id, offering_id, now)
        else:
            taken = await GiftCard.raw(_REDEEM_VALUE, amount_ore, amount_ore, amount_ore, amount_ore, found.id, supplier_id, now)
        if not taken:
            # Someone else's redemption, a withdrawal or the clock got there first.
            await GiftCardEntry.delete().where(GiftCardEntry.id == entry_id)
            fresh = await card(found.id)
            refusal = check(fresh, supplier_id=supplier_id, now=now, offering_id=offering_id) or Refusal.USED_UP
            raise await _refused(refusal, fresh)
        amount = taken[0]["last_taken_ore"]
        await GiftCardEntry.update({GiftCardEntry.amount_ore: -amount}).where(GiftCardEntry.id == entry_id)
        if found.kind is CardKind.SERVICE and taken[0]["initial_ore"] > amount:
            rest = taken[0]["initial_ore"] - amount
            await _insert_entry(found.id, EntryKind.FORFEIT, -rest, order_id, f"forfeit:{entry_id}", now)
    return amount


async def restore(order_id: int, now: datetime) -> list[Restored]:
    """The order did not happen (cancelled, refunded, never confirmed): give
    back what each of its redemptions (and service-card write-offs) took, each
    once. Idempotent: a second call, or a concurrent one, gives back nothing
    more. A card whose validity is over gets its amount back but cannot pay
    with it (`Restored.expired`): refunding it otherwise is the caller's choice."""
    _positive("order_id", order_id)
    now = _utc(now)
    given: dict[int, int] = {}
    async with _in_transaction():
        taken = (
            await GiftCardEntry.select(GiftCardEntry.id, GiftCardEntry.card, GiftCardEntry.amount_ore)
            .where(
                (GiftCardEntry.order_id == order_id)
                & GiftCardEntry.kind.is_in([EntryKind.REDEEM.value, EntryKind.FORFEIT.value])
                & (GiftCardEntry.amount_ore < 0)
            )
            .order_by(GiftCardEntry.id)
        )
        if not taken:
            return []
        done = {
            r["key"]
            for r in await GiftCardEntry.select(GiftCardEntry.key).where(
                GiftCardEntry.key.is_in([f"restore:{t['id']}" for t in taken])
            )
        }
        for t in taken:
            key = f"restore:{t['id']}"
            if key in done:
                continue
            if await _insert_entry(t["card"], EntryKind.RESTORE, -t["amount_ore"], order_id, key, now) is None:
                continue  # a concurrent restore wrote it
            await GiftCard.raw("UPDATE gift_card SET balance_ore = balance_ore + {} WHERE id = {}", -t["amount_ore"], t["card"])
            given[t["card"]] = given.get(t["card"], 0) - t["amount_ore"]
        if not given:
            return []
        ends = {
            r["id"]: r["valid_until"]
            for r in await GiftCard.select(GiftCard.id, GiftCard.valid_until).where(GiftCard.id.is_in(list(given)))
        }
    return [Restored(card_id=c, amount_ore=a, expired=now >= ends[c]) for c, a in sorted(given.items())]


async def withdraw(card_id: int, now: datetime) -> int:
    """Withdraw an unused card within its withdrawal period (L4): it never pays
    again and its balance goes to 0. Returns the øre to refund to the buyer
    (its whole value); the caller refunds the payment in the same
    transaction. Raises WithdrawalRefused, LookupError for no such card."""
    now = _utc(now)
    async with _in_transaction():
        found = await card(card_id)
        if found is None:
            raise LookupError(f"no gift card {card_id}")
        refusal = withdrawal_refusal(found, now)
        if refusal is not None:
            raise WithdrawalRefused(refusal, withdrawal_message(refusal, found))
        rows = await GiftCard.raw(
            "UPDATE gift_card SET state = 'withdrawn', balance_ore = 0, withdrawn_at = {} "
            "WHERE id = {} AND state = 'active' AND balance_ore = initial_ore RETURNING initial_ore",
            now,
            card_id,
        )
        if not rows:
            fresh = await card(card_id)
            refusal = withdrawal_refusal(fresh, now) or WithdrawalRefusal.USED
            raise WithdrawalRefused(refusal, withdrawal_message(refusal, fresh))
        value = rows[0]["initial_ore"]
        await _insert_entry(card_id, EntryKind.REFUND, -value, None, f"refund:{card_id}", now)
    return value


# ---------------------------------------------------------------- wrong codes


async def record_miss(visitor: str, ip: str, now: datetime) -> None:
    """An unknown code was typed by this browser (visitor id) from this IP."""
    await GiftCardMiss.insert(GiftCardMiss(visitor=(visitor or "")[:64], ip=(ip or "")[:45], at=_utc(now)))


async def misses(visitor: str, ip: str, now: datetime) -> int:
    """Unknown codes in the last hour: the larger of this browser's count and
    this IP's count (an empty visitor or IP is not counted)."""
    since = _utc(now) - MISS_WINDOW
    counts = [0]
    if visitor:
        counts.append(await GiftCardMiss.count().where((GiftCardMiss.visitor == visitor[:64]) & (GiftCardMiss.at > since)))
    if ip:
        counts.append(await GiftCardMiss.count().where((GiftCardMiss.ip == ip[:45]) & (GiftCardMiss.at > since)))
    return max(counts)


async def forget_misses(now: datetime) -> None:
    """Remove misses older than the window (they count for nothing; an IP is personal data)."""
    await GiftCardMiss.delete().where(GiftCardMiss.at <= _utc(now) - MISS_WINDOW)

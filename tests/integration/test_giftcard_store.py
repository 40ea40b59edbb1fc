"""Gift cards in the database (portal.payments.giftcard_store), on the engine
this run uses: issue, look up, redeem in full and in part, restore, withdraw,
every refusal, the database's own guard on the balance, and the wrong-code
limit. After every test the cached balance of every card equals the sum of
its ledger (the fixture checks it)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.catalogue.tables import Offering, Supplier
from portal.lib.db import CONFLICT_ERRORS, write_transaction
from portal.payments import giftcard_store as store
from portal.payments import giftcards as g
from portal.payments.giftcard_store import GiftCardRefused, WithdrawalRefused
from portal.payments.giftcards import CardKind, CardState, EntryKind, Refusal, WithdrawalRefusal
from portal.payments.tables import GiftCard, GiftCardEntry, GiftCardMiss

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 12, 7, 11, 0, tzinfo=OSLO)  # a Monday: withdrawal until Monday 21 December
SALON = "saks-og-stil-grunerlokka"
APARTMENTS = "nordlys-leiligheter-tromso"


@dataclass
class Shop:
    salon: int
    salon_cards: int  # a gift card offering of the salon (made for the tests)
    haircut: int  # the salon's men's haircut, kr 549
    haircut_price: int
    colour: int  # another service of the salon
    apartments: int
    apartment_cards: int  # the apartments' seeded "Gavekort 1 000 kr"

    async def issue(self, value: int = 1000_00, *, months: int | None = 12, at: datetime = NOW, **kwargs) -> store.Issued:
        return await store.issue(
            supplier_id=kwargs.pop("supplier_id", self.salon),
            offering_id=kwargs.pop("offering_id", self.salon_cards),
            value_ore=value,
            now=at,
            validity_months=months,
            **kwargs,
        )


async def _wipe() -> None:
    await GiftCardEntry.delete(force=True)
    await GiftCard.delete(force=True)
    await GiftCardMiss.delete(force=True)


@pytest.fixture()
async def shop():
    async def supplier(slug: str) -> int:
        return (await Supplier.select(Supplier.id).where(Supplier.slug == slug).first())["id"]

    async def offering(supplier_id: int, slug: str) -> dict:
        return await Offering.select().where((Offering.supplier == supplier_id) & (Offering.slug == slug)).first()

    await _wipe()
    salon, apartments = await supplier(SALON), await supplier(APARTMENTS)
    made = Offering(supplier=salon, slug="gavekort-test", kind="giftcard", title="Gavekort", price_ore=0, active=False)
    await made.save()
    haircut = await offering(salon, "herreklipp")
    try:
        yield Shop(
            salon=salon,
            salon_cards=made.id,
            haircut=haircut["id"],
            haircut_price=haircut["price_ore"],
            colour=(await offering(salon, "farge-og-klipp"))["id"],
            apartments=apartments,
            apartment_cards=(await offering(apartments, "gavekort-1000"))["id"],
        )
        assert await store.ledger_mismatches() == [], "a cached balance differs from the sum of its ledger"
        for row in await GiftCard.select(GiftCard.id, GiftCard.balance_ore):
            ledger = g.fold(await store.entries(row["id"]))  # a ledger a card can have
            assert ledger.balance_ore == row["balance_ore"]
    finally:
        await _wipe()
        await Offering.delete().where(Offering.id == made.id)


async def refusal_of(call) -> GiftCardRefused:
    with pytest.raises(GiftCardRefused) as raised:
        await call
    return raised.value


# ---------------------------------------------------------------- issue


@pytest.mark.legal("L21")
async def test_issue_stores_value_validity_and_no_code(shop):
    issued = await shop.issue(
        1000_00, order_id=41, line_position=2, recipient_name="Kari", buyer_name="Ola", message="Gratulerer!"
    )
    assert g.normalise_code(issued.code) == issued.code
    row = await GiftCard.select().where(GiftCard.id == issued.card_id).first()
    assert row["code_hash"] == g.code_hash(issued.code) and row["code_last4"] == issued.code[-4:]
    compact = issued.code.replace("-", "")
    assert not any(compact in str(v) or issued.code in str(v) for v in row.values()), "the code is stored in clear"
    assert (row["initial_ore"], row["balance_ore"], row["kind"], row["state"]) == (1000_00, 1000_00, "value", "active")
    assert (row["order_id"], row["line_position"], row["recipient_name"], row["buyer_name"]) == (41, 2, "Kari", "Ola")
    assert row["valid_until"] == datetime(2027, 12, 7, 23, 0, tzinfo=ZoneInfo("UTC"))
    card = await store.card_by_code(issued.code.lower())
    assert g.expiry_day(card.valid_until) == date(2027, 12, 7)
    assert await store.balance(issued.code) == 1000_00
    assert [(e.kind, e.amount_ore) for e in await store.entries(issued.card_id)] == [(EntryKind.ISSUE, 1000_00)]


@pytest.mark.legal("L21")
async def test_a_card_with_no_stated_validity_is_valid_three_years(shop):
    issued = await shop.issue(500_00, months=None, order_id=42)
    card = await store.card(issued.card_id)
    assert g.expiry_day(card.valid_until) == date(2029, 12, 7)
    assert await store.redeem(shop.salon, issued.code, 7, 100_00, datetime(2029, 12, 7, 23, 59, tzinfo=OSLO)) == 100_00
    refused = await refusal_of(store.redeem(shop.salon, issued.code, 8, 100_00, datetime(2029, 12, 8, 0, 0, tzinfo=OSLO)))
    assert refused.refusal is Refusal.EXPIRED
    assert "8. desember" not in refused.message.text("nb") and "7. desember 2029" in refused.message.text("nb")


async def test_one_card_per_unit_of_an_order_line(shop):
    first = await shop.issue(order_id=43, line_position=1, unit=1)
    again = await shop.issue(order_id=43, line_position=1, unit=1)
    second = await shop.issue(order_id=43, line_position=1, unit=2)
    assert again == store.Issued(card_id=first.card_id, code=None)
    assert second.card_id != first.card_id and second.code != first.code
    assert await GiftCard.count() == 2 and await GiftCardEntry.count() == 2


async def test_issue_refuses_what_cannot_be_sold(shop):
    with pytest.raises(ValueError):  # not this supplier's gift card offering
        await shop.issue(offering_id=shop.apartment_cards)
    with pytest.raises(ValueError):  # not a gift card offering
        await shop.issue(offering_id=shop.haircut)
    with pytest.raises(ValueError):  # a service of another supplier
        await shop.issue(
            kind=CardKind.SERVICE, service_offering_id=shop.haircut, supplier_id=shop.apartments, offering_id=shop.apartment_cards
        )
    with pytest.raises(ValueError):
        await shop.issue(0)
    with pytest.raises(ValueError):
        await shop.issue(kind=CardKind.SERVICE)
    assert await GiftCard.count() == 0


async def test_the_database_refuses_a_balance_below_zero_or_above_the_value(shop):
    issued = await shop.issue(1000_00)
    for bad in (-1, 1000_01):
        with pytest.raises(CONFLICT_ERRORS):
            async with write_transaction():
                await GiftCard.raw("UPDATE gift_card SET balance_ore = {} WHERE id = {}", bad, issued.card_id)
    assert (await store.card(issued.card_id)).balance_ore == 1000_00


# ---------------------------------------------------------------- redeem and restore


@pytest.mark.legal("L21")
async def test_partial_use_until_nothing_is_left(shop):
    code = (await shop.issue(1000_00)).code
    assert await store.redeem(shop.salon, code, 1, 549_00, NOW) == 549_00
    assert await store.balance(code) == 451_00
    assert await store.redeem(shop.salon, code, 2, 549_00, NOW) == 451_00  # the rest is paid another way
    assert await store.balance(code) == 0
    refused = await refusal_of(store.redeem(shop.salon, code, 3, 100, NOW))
    assert refused.refusal is Refusal.USED_UP
    ledger = g.fold(await store.entries(refused.card.id))
    assert ledger.taken_ore == {1: 549_00, 2: 451_00}


async def test_the_same_order_is_never_paid_twice_by_one_card(shop):
    code = (await shop.issue(1000_00)).code
    assert await store.redeem(shop.salon, code, 1, 300_00, NOW) == 300_00
    assert await store.redeem(shop.salon, code, 1, 300_00, NOW) == 300_00
    assert await store.redeem(shop.salon, code.lower(), 1, 900_00, NOW) == 300_00
    assert await store.balance(code) == 700_00
    assert await GiftCardEntry.count().where(GiftCardEntry.kind == "redeem") == 1


async def test_restore_gives_back_each_use_of_the_order_once(shop):
    one, two = (await shop.issue(1000_00)).code, (await shop.issue(200_00)).code
    await store.redeem(shop.salon, one, 5, 300_00, NOW)
    await store.redeem(shop.salon, two, 5, 300_00, NOW)  # two cards on one order
    await store.redeem(shop.salon, one, 6, 100_00, NOW)  # another order
    restored = await store.restore(5, NOW)
    assert sorted((r.amount_ore, r.expired) for r in restored) == [(200_00, False), (300_00, False)]
    assert await store.restore(5, NOW) == []
    assert (await store.balance(one), await store.balance(two)) == (900_00, 200_00)
    assert await store.restore(999, NOW) == []
    # the order may use the card again after its use was given back
    assert await store.redeem(shop.salon, one, 5, 50_00, NOW) == 50_00
    assert await store.balance(one) == 850_00
    assert [r.amount_ore for r in await store.restore(5, NOW)] == [50_00]
    assert await store.balance(one) == 900_00


async def test_a_restore_onto_an_expired_card_says_so(shop):
    code = (await shop.issue(1000_00, months=1)).code
    await store.redeem(shop.salon, code, 5, 300_00, NOW)
    later = NOW + timedelta(days=60)
    (restored,) = await store.restore(5, later)
    assert (restored.amount_ore, restored.expired) == (300_00, True)
    assert (await refusal_of(store.redeem(shop.salon, code, 6, 1, later))).refusal is Refusal.EXPIRED


async def test_a_redemption_is_part_of_the_callers_transaction(shop):
    code = (await shop.issue(1000_00)).code

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with write_transaction():
            assert await store.redeem(shop.salon, code, 9, 400_00, NOW) == 400_00
            raise Abandoned
    assert await store.balance(code) == 1000_00
    assert await GiftCardEntry.count().where(GiftCardEntry.kind == "redeem") == 0


@pytest.mark.parametrize(
    ("how", "refusal"),
    [("malformed", Refusal.MALFORMED), ("unknown", Refusal.UNKNOWN), ("other_supplier", Refusal.OTHER_SUPPLIER),
     ("withdrawn", Refusal.WITHDRAWN), ("expired", Refusal.EXPIRED), ("gift_card", Refusal.GIFT_CARD_PURCHASE)],
)  # fmt: skip
async def test_refusals_take_nothing(shop, how, refusal):
    code = (await shop.issue(1000_00)).code
    supplier, now, kwargs = shop.salon, NOW, {}
    if how == "malformed":
        code = code[:-1] + ("0" if code[-1] != "0" else "1")
    elif how == "unknown":
        code = g.new_code()
    elif how == "other_supplier":
        supplier = shop.apartments
    elif how == "withdrawn":
        await store.withdraw((await store.card_by_code(code)).id, NOW)
    elif how == "expired":
        now = NOW + timedelta(days=400)
    elif how == "gift_card":
        kwargs["buys_gift_card"] = True
    before = await GiftCardEntry.count()
    refused = await refusal_of(store.redeem(supplier, code, 3, 100_00, now, **kwargs))
    assert refused.refusal is refusal
    assert await GiftCardEntry.count() == before
    assert refused.message.text("nb") and "%(" not in refused.message.text("en")
    if how == "other_supplier":
        assert "Saks & Stil" in refused.message.text("nb")


async def test_a_card_is_used_only_at_its_own_supplier(shop):
    theirs = await shop.issue(1000_00, supplier_id=shop.apartments, offering_id=shop.apartment_cards)
    refused = await refusal_of(store.redeem(shop.salon, theirs.code, 3, 100_00, NOW))
    assert refused.refusal is Refusal.OTHER_SUPPLIER
    assert await store.redeem(shop.apartments, theirs.code, 3, 100_00, NOW) == 100_00


# ---------------------------------------------------------------- service cards


async def _service_card(shop, **kwargs) -> store.Issued:
    return await shop.issue(shop.haircut_price, kind=CardKind.SERVICE, service_offering_id=shop.haircut, **kwargs)


async def test_a_service_card_pays_its_service_once_in_full(shop):
    code = (await _service_card(shop)).code
    refused = await refusal_of(store.redeem(shop.salon, code, 1, 1200_00, NOW, offering_id=shop.colour))
    assert refused.refusal is Refusal.WRONG_SERVICE and "Herreklipp" in refused.message.text("nb")
    assert (await refusal_of(store.redeem(shop.salon, code, 1, 549_00, NOW))).refusal is Refusal.WRONG_SERVICE
    assert await store.redeem(shop.salon, code, 1, shop.haircut_price, NOW, offering_id=shop.haircut) == shop.haircut_price
    assert await store.balance(code) == 0
    again = await refusal_of(store.redeem(shop.salon, code, 2, shop.haircut_price, NOW, offering_id=shop.haircut))
    assert again.refusal is Refusal.USED_UP


async def test_a_service_card_for_a_service_that_got_dearer_pays_what_it_is_worth(shop):
    code = (await _service_card(shop)).code
    line = shop.haircut_price + 50_00
    taken = await store.redeem(shop.salon, code, 1, line, NOW, offering_id=shop.haircut)
    assert taken == shop.haircut_price
    assert g.service_cover(shop.haircut_price, line).waived_ore == line - taken == 50_00  # checkout gives it off the line
    assert await store.balance(code) == 0


async def test_a_service_card_for_a_service_that_got_cheaper_is_used_up_by_it(shop):
    issued = await _service_card(shop)
    taken = await store.redeem(shop.salon, issued.code, 1, 499_00, NOW, offering_id=shop.haircut)
    assert taken == 499_00
    assert await store.balance(issued.code) == 0
    assert [(e.kind, e.amount_ore) for e in await store.entries(issued.card_id)] == [
        (EntryKind.ISSUE, shop.haircut_price),
        (EntryKind.REDEEM, -499_00),
        (EntryKind.FORFEIT, -(shop.haircut_price - 499_00)),
    ]
    # the booking is cancelled: the whole card comes back, ready for its service
    assert [r.amount_ore for r in await store.restore(1, NOW)] == [shop.haircut_price]
    assert await store.balance(issued.code) == shop.haircut_price
    assert await store.redeem(shop.salon, issued.code, 2, shop.haircut_price, NOW, offering_id=shop.haircut) == shop.haircut_price


# ---------------------------------------------------------------- withdrawal (L4)


@pytest.mark.legal("L4")
async def test_an_unused_card_is_withdrawn_within_14_days_for_its_whole_value(shop):
    issued = await shop.issue(750_00, order_id=44)
    last_day = datetime(2026, 12, 21, 23, 59, tzinfo=OSLO)
    assert await store.withdraw(issued.card_id, last_day) == 750_00
    card = await store.card(issued.card_id)
    assert (card.state, card.balance_ore) == (CardState.WITHDRAWN, 0)
    assert [(e.kind, e.amount_ore) for e in await store.entries(issued.card_id)] == [
        (EntryKind.ISSUE, 750_00),
        (EntryKind.REFUND, -750_00),
    ]
    with pytest.raises(WithdrawalRefused) as twice:
        await store.withdraw(issued.card_id, last_day)
    assert twice.value.refusal is WithdrawalRefusal.ALREADY_WITHDRAWN
    assert (await refusal_of(store.redeem(shop.salon, issued.code, 3, 1, NOW))).refusal is Refusal.WITHDRAWN


@pytest.mark.legal("L4")
async def test_a_card_is_not_withdrawn_after_the_period_or_once_used(shop):
    late = await shop.issue(750_00)
    with pytest.raises(WithdrawalRefused) as refused:
        await store.withdraw(late.card_id, datetime(2026, 12, 22, 0, 0, tzinfo=OSLO))
    assert refused.value.refusal is WithdrawalRefusal.PERIOD_OVER
    assert "21. desember 2026" in refused.value.message.text("nb")
    used = await shop.issue(750_00)
    await store.redeem(shop.salon, used.code, 3, 1, NOW)
    with pytest.raises(WithdrawalRefused) as refused:
        await store.withdraw(used.card_id, NOW)
    assert refused.value.refusal is WithdrawalRefusal.USED
    # a use that was given back (its order never happened) leaves the card unused
    await store.restore(3, NOW)
    assert await store.withdraw(used.card_id, NOW) == 750_00
    with pytest.raises(LookupError):
        await store.withdraw(10**9, NOW)


async def test_a_lost_card_gets_a_new_code_and_the_old_one_stops(shop):
    issued = await shop.issue(1000_00)
    await store.redeem(shop.salon, issued.code, 1, 100_00, NOW)
    new = await store.replace_code(issued.card_id)
    assert new != issued.code
    assert await store.card_by_code(issued.code) is None
    assert await store.balance(new) == 900_00
    assert await store.redeem(shop.salon, new, 1, 100_00, NOW) == 100_00  # the order's use stands, with the new code too


# ---------------------------------------------------------------- evaluate and the wrong-code limit


async def test_evaluate_says_what_a_code_would_pay(shop):
    code = (await shop.issue(400_00)).code
    seen = await store.evaluate(shop.salon, code, amount_ore=549_00, now=NOW, visitor="v1", ip="10.0.0.1")
    assert (seen.allowance_ore, seen.refusal, seen.card.balance_ore) == (400_00, None, 400_00)
    assert await store.balance(code) == 400_00  # nothing taken
    gift = await store.evaluate(shop.salon, code, amount_ore=549_00, now=NOW, visitor="v1", ip="10.0.0.1", buys_gift_card=True)
    assert gift.refusal is Refusal.GIFT_CARD_PURCHASE and gift.allowance_ore == 0


async def test_ten_unknown_codes_an_hour_per_browser_and_per_address(shop):
    code = (await shop.issue(400_00)).code
    for i in range(10):
        seen = await store.evaluate(
            shop.salon, g.new_code(), amount_ore=1, now=NOW + timedelta(minutes=i), visitor="v1", ip="10.0.0.1"
        )
        assert seen.refusal is Refusal.UNKNOWN
    # a malformed code is no miss: the check character refused it without a lookup
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert (
        await store.evaluate(shop.salon, typo, amount_ore=1, now=NOW, visitor="v9", ip="10.9.9.9")
    ).refusal is Refusal.MALFORMED
    soon = NOW + timedelta(minutes=20)
    assert await store.misses("v1", "10.0.0.1", soon) == 10
    for visitor, ip in (
        ("v1", "10.0.0.2"),
        ("v2", "10.0.0.1"),
    ):  # the same browser elsewhere, or another browser at the same address
        locked = await store.evaluate(shop.salon, code, amount_ore=1, now=soon, visitor=visitor, ip=ip)
        assert locked.refusal is Refusal.TOO_MANY_TRIES and locked.card is None
        assert "Wait an hour" in locked.message.text("en")
    assert (await store.evaluate(shop.salon, code, amount_ore=1, now=soon, visitor="v2", ip="10.0.0.2")).refusal is None
    assert (await store.evaluate(shop.salon, code, amount_ore=1, now=soon, visitor="", ip="")).refusal is None
    later = NOW + timedelta(minutes=60, seconds=30)  # the first miss is over an hour old
    assert await store.misses("v1", "", later) == 9
    assert (await store.evaluate(shop.salon, code, amount_ore=1, now=later, visitor="v1", ip="10.0.0.1")).refusal is None
    await store.forget_misses(later)
    assert await GiftCardMiss.count() == 9


async def test_record_miss_counts_per_browser_and_per_address(shop):
    await store.record_miss("a", "1.1.1.1", NOW)
    await store.record_miss("a", "2.2.2.2", NOW)
    await store.record_miss("b", "2.2.2.2", NOW)
    assert await store.misses("a", "", NOW) == 2
    assert await store.misses("", "2.2.2.2", NOW) == 2
    assert await store.misses("b", "1.1.1.1", NOW) == 1
    assert await store.misses("c", "3.3.3.3", NOW) == 0


# ---------------------------------------------------------------- against a model


async def test_random_uses_agree_with_a_plain_model(shop):
    """Redeem, restore and withdraw at random on three cards; after every step
    each card's balance is what a plain model says, and the sum of its ledger."""
    rnd = random.Random(20261202)
    cards = []
    for value in (1000_00, 250_00, 1_00):
        issued = await shop.issue(value)
        cards.append({"id": issued.card_id, "code": issued.code, "value": value, "balance": value, "withdrawn": False})
    taken: dict[tuple[int, int], int] = {}  # (card index, order) -> amount standing
    for _step in range(60):
        i, order, op = rnd.randrange(3), rnd.randint(1, 6), rnd.choice(["redeem", "redeem", "restore", "withdraw"])
        c = cards[i]
        if op == "redeem":
            amount = rnd.choice([1, 99, 100_00, 300_00, 2000_00])
            try:
                got = await store.redeem(shop.salon, c["code"], order, amount, NOW)
            except GiftCardRefused as refused:
                assert c["withdrawn"] or (c["balance"] == 0 and (i, order) not in taken), refused.refusal
                continue
            if (i, order) in taken:
                assert got == taken[(i, order)]
            else:
                assert got == min(c["balance"], amount)
                taken[(i, order)] = got
                c["balance"] -= got
        elif op == "restore":
            await store.restore(order, NOW)
            for (j, o), amount in list(taken.items()):
                if o == order:
                    cards[j]["balance"] += amount
                    del taken[(j, o)]
        else:
            try:
                refund = await store.withdraw(c["id"], NOW)
            except WithdrawalRefused:
                assert c["withdrawn"] or c["balance"] != c["value"]
            else:
                assert not c["withdrawn"] and refund == c["value"] == c["balance"]
                c["balance"], c["withdrawn"] = 0, True
        for m in cards:
            assert (await store.card(m["id"])).balance_ore == m["balance"]
            assert g.fold(await store.entries(m["id"])).balance_ore == m["balance"]
        assert await store.ledger_mismatches() == []

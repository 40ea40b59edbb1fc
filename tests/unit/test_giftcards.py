"""Gift card rules: codes, validity, worth, the ledger fold, partial use,
refusals, withdrawal and the wrong-code limit (portal.payments.giftcards)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.lib.i18n import translations
from portal.payments import giftcards as g
from portal.payments.giftcards import (
    Card,
    CardKind,
    CardState,
    Entry,
    EntryKind,
    GiftCardOffer,
    Refusal,
    ValueKind,
    WithdrawalRefusal,
)

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


# ---------------------------------------------------------------- codes

codes = st.text(alphabet=g.ALPHABET, min_size=15, max_size=15).map(
    lambda body: "-".join((body + g.check_character(body))[i : i + 4] for i in range(0, 16, 4))
)


def test_the_alphabet_has_no_look_alikes_and_enough_entropy():
    assert len(g.ALPHABET) == len(set(g.ALPHABET)) == 32
    assert not set("OILU") & set(g.ALPHABET)
    # of each look-alike group exactly one is in the alphabet, and typing another maps to it
    for typed, meant in g.LOOKALIKES.items():
        assert typed not in g.ALPHABET and meant in g.ALPHABET
    assert g.RANDOM_LENGTH * math.log2(len(g.ALPHABET)) >= 60
    assert g.CODE_BITS == 75


def test_generated_codes_are_grouped_checked_and_never_repeat():
    seen = set()
    for _ in range(3000):
        code = g.new_code()
        groups = code.split("-")
        assert [len(group) for group in groups] == [4, 4, 4, 4]
        assert set("".join(groups)) <= set(g.ALPHABET)
        assert not set(code) & set("OILU")
        assert g.normalise_code(code) == code
        seen.add(code)
    assert len(seen) == 3000
    # every character of the alphabet turns up in every random position
    positions = [{c.replace("-", "")[i] for c in seen} for i in range(g.RANDOM_LENGTH)]
    assert all(len(p) == 32 for p in positions)


def _typed(code: str, rnd: random.Random) -> str:
    """How a hurried person types it: any case, spaces or dashes or nothing
    between groups (or anywhere), O for 0, I or L for 1, U for V."""
    out = []
    for ch in code.replace("-", ""):
        ch = {"0": rnd.choice("0Oo"), "1": rnd.choice("1IiLl"), "V": rnd.choice("VvUu")}.get(ch, ch)
        out.append(ch.lower() if rnd.random() < 0.5 else ch)
        out.append(rnd.choice(["", "", "", " ", "-", "  ", "\u2013", "\u00a0"]))
    return rnd.choice(["", " ", "\t"]) + "".join(out) + rnd.choice(["", " ", "\n"])


@given(code=codes, seed=st.integers(0, 2**32))
def test_a_code_round_trips_through_what_people_type(code, seed):
    assert g.normalise_code(_typed(code, random.Random(seed))) == code


def test_typical_typing():
    code = "K7QX-9M3P-2C4R-H8T" + g.check_character("K7QX9M3P2C4RH8T")
    compact = code.replace("-", "")
    assert g.normalise_code(compact.lower()) == code
    assert g.normalise_code(" ".join(code.split("-"))) == code
    assert g.normalise_code(code.replace("-", " - ")) == code


@settings(max_examples=40)
@given(code=codes)
def test_every_single_wrong_character_is_not_a_code(code):
    compact = code.replace("-", "")
    for i, right in enumerate(compact):
        for wrong in g.ALPHABET:
            if wrong != right:
                assert g.normalise_code(compact[:i] + wrong + compact[i + 1 :]) is None


@settings(max_examples=40)
@given(code=codes)
def test_every_swap_of_two_characters_is_not_a_code(code):
    compact = list(code.replace("-", ""))
    for i in range(16):
        for j in range(i + 1, 16):
            if compact[i] != compact[j]:
                swapped = compact.copy()
                swapped[i], swapped[j] = swapped[j], swapped[i]
                assert g.normalise_code("".join(swapped)) is None


@pytest.mark.parametrize(
    "raw",
    [None, 12, "", "   ", "ABC", "K7QX-9M3P-2C4R", "K7QX9M3P2C4RH8TWX", "K7QX-9M3P-2C4R-H8T!", "K7QX-9M3P-2C4R-H8Tı",
     "K7QX-9M3P-2C4R-H8Tß", "K7QX-9M3P-2C4R-H8T\uff10", "æøåæ-øåæø-åæøå-æøåæ", "X" * 500],
)  # fmt: skip
def test_what_cannot_be_a_code(raw):
    assert g.normalise_code(raw) is None


def test_one_character_missing_or_extra_is_not_a_code():
    code = g.new_code().replace("-", "")
    assert g.normalise_code(code[:-1]) is None
    assert g.normalise_code(code + "0") is None
    assert g.normalise_code(code[1:]) is None


def test_the_stored_form_finds_every_typing_but_not_the_code_itself():
    code = g.new_code()
    digest = g.code_hash(code)
    assert len(digest) == 64 and code not in digest and code.replace("-", "") not in digest
    assert g.code_hash(code.lower().replace("-", " ")) == digest
    assert g.code_hash(g.new_code()) != digest
    assert g.code_last4(code) == code[-4:]
    assert g.masked(code[-4:]).endswith("-" + code[-4:]) and code[:4] not in g.masked(code[-4:])
    with pytest.raises(ValueError):
        g.code_hash("nonsense")


# ---------------------------------------------------------------- validity (L21)


@pytest.mark.legal("L21")
def test_a_card_with_no_stated_validity_lasts_three_years():
    issued = oslo(2026, 3, 15, 10, 0)
    assert g.last_valid_day(issued, None) == date(2029, 3, 15)
    assert g.valid_until(issued, None) == oslo(2029, 3, 16, 0, 0)


@pytest.mark.legal("L21")
def test_the_stated_months_end_at_the_end_of_the_local_day():
    issued = oslo(2026, 3, 15, 10, 0)
    assert g.last_valid_day(issued, 12) == date(2027, 3, 15)
    until = g.valid_until(issued, 12)
    assert until == datetime(2027, 3, 15, 23, 0, tzinfo=UTC)  # midnight in Oslo, winter time
    assert g.expiry_day(until) == date(2027, 3, 15)
    assert g.valid_until(oslo(2026, 1, 10, 9), 6) == datetime(2026, 7, 10, 22, 0, tzinfo=UTC)  # summer time


def test_the_issue_day_is_the_oslo_day():
    late_utc = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)  # 00:30 on 1 July in Oslo
    assert g.last_valid_day(late_utc, 12) == date(2027, 7, 1)


@pytest.mark.parametrize(
    ("issued", "months", "last"),
    [(date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2028, 2, 29), 12, date(2029, 2, 28)),
     (date(2027, 1, 31), 13, date(2028, 2, 29)), (date(2026, 8, 31), 6, date(2027, 2, 28)),
     (date(2026, 12, 15), 1, date(2027, 1, 15)), (date(2026, 5, 31), 120, date(2036, 5, 31))],
)  # fmt: skip
def test_months_that_are_shorter_end_on_their_last_day(issued, months, last):
    assert g.last_valid_day(datetime.combine(issued, datetime.min.time(), tzinfo=OSLO).replace(hour=12), months) == last


@pytest.mark.parametrize("months", [0, -1, 121, 1.5, True, "12"])
def test_validity_is_whole_months(months):
    with pytest.raises(ValueError):
        g.valid_until(oslo(2026, 1, 1, 12), months)
    with pytest.raises(ValueError):
        g.valid_until(datetime(2026, 1, 1, 12), 12)  # naive


@given(
    issued=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    months=st.one_of(st.none(), st.integers(1, 120)),
)
def test_a_card_pays_through_its_last_local_day_and_not_a_moment_longer(issued, months):
    until = g.valid_until(issued, months)
    last = g.last_valid_day(issued, months)
    local = until.astimezone(OSLO)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    assert local.date() == last + timedelta(days=1)
    assert g.expiry_day(until) == last
    assert (until - timedelta(microseconds=1)).astimezone(OSLO).date() == last
    assert last > issued.astimezone(OSLO).date()


# ---------------------------------------------------------------- worth


def test_a_fixed_card_is_worth_its_value_and_a_service_card_the_price_now():
    assert g.card_value(GiftCardOffer(ValueKind.FIXED, value_ore=500_00)) == (500_00, None)
    service = GiftCardOffer(ValueKind.SERVICE, service_offering_id=7, service_price_ore=549_00)
    assert g.card_value(service, "1") == (549_00, None)
    assert service.card_kind is CardKind.SERVICE


@pytest.mark.parametrize(
    ("typed", "value"),
    [("500", 500_00), ("500,50", 500_50), (" 1 000 ", 1000_00), ("kr 250", 250_00), ("250 kr", 250_00),
     ("300,-", 300_00), ("2000", 2000_00), ("100", 100_00), (750_00, 750_00)],
)  # fmt: skip
def test_a_free_amount_within_the_limits(typed, value):
    offer = GiftCardOffer(ValueKind.FREE, min_ore=100_00, max_ore=2000_00)
    assert g.card_value(offer, typed) == (value, None)


@pytest.mark.parametrize("typed", ["", None, "abc", "-5", "0", "1,234", "5e3", "١٠٠", True])
def test_a_free_amount_that_is_not_an_amount(typed):
    offer = GiftCardOffer(ValueKind.FREE, min_ore=100_00, max_ore=2000_00)
    value, message = g.card_value(offer, typed)
    assert value is None and message.msgid == g.AMOUNT_NEEDED


@pytest.mark.parametrize("typed", ["99,99", "2000,01", "50000"])
def test_a_free_amount_outside_the_limits_says_which_they_are(typed):
    offer = GiftCardOffer(ValueKind.FREE, min_ore=100_00, max_ore=2000_00)
    value, message = g.card_value(offer, typed)
    assert value is None
    assert message.text("nb") == "Velg et beløp fra kr\u00a0100,00 til kr\u00a02\u00a0000,00."
    assert message.text("en") == "Choose an amount from NOK\u00a0100.00 to NOK\u00a02,000.00."


@pytest.mark.parametrize(
    "bad",
    [dict(value_kind="fixed"), dict(value_kind="free", min_ore=0, max_ore=10), dict(value_kind="free", min_ore=20, max_ore=10),
     dict(value_kind="service", service_price_ore=100), dict(value_kind="service", service_offering_id=1),
     dict(value_kind="fixed", value_ore=-1), dict(value_kind="fixed", value_ore=1.5), dict(value_kind="fixed", value_ore=1, validity_months=0),
     dict(value_kind="nonsense", value_ore=1)],
)  # fmt: skip
def test_an_offer_that_cannot_be(bad):
    with pytest.raises(ValueError):
        GiftCardOffer(**bad)


def test_an_offer_may_leave_its_validity_unstated():
    assert GiftCardOffer(ValueKind.FIXED, value_ore=1, validity_months=None).validity_months is None
    assert GiftCardOffer(ValueKind.FIXED, value_ore=1).validity_months == g.DEFAULT_VALIDITY_MONTHS == 12


@pytest.mark.legal("L21")
def test_the_terms_state_validity_and_what_a_card_pays():
    for kind, text in g.TERMS_TEXT.items():
        for language in ("nb", "en"):
            shown = translations(language).gettext(text) % {"date": "15.03.2027", "supplier": "Saks", "service": "Herreklipp"}
            assert "15.03.2027" in shown and "Saks" in shown
            assert ("Herreklipp" in shown) == (kind is CardKind.SERVICE)


# ---------------------------------------------------------------- the ledger


def _ledger(draw_ops: list[tuple[str, int, int]], value: int) -> tuple[list[Entry], int]:
    """Apply (operation, order, amount) the way the store does, keeping only
    what a card allows; returns the entries and the balance by a plain model."""
    entries = [Entry(EntryKind.ISSUE, value, order_id=1)]
    balance, taken, withdrawn = value, {}, False
    for op, order, amount in draw_ops:
        if withdrawn:
            break
        if op == "redeem" and balance > 0 and taken.get(order, 0) == 0:
            take = min(balance, amount)
            entries.append(Entry(EntryKind.REDEEM, -take, order_id=order))
            balance -= take
            taken[order] = take
        elif op == "restore" and taken.get(order, 0):
            entries.append(Entry(EntryKind.RESTORE, taken[order], order_id=order))
            balance += taken.pop(order)
        elif op == "refund" and balance == value and not any(taken.values()):
            entries.append(Entry(EntryKind.REFUND, -value))
            balance, withdrawn = 0, True
    return entries, balance


ops = st.lists(
    st.tuples(st.sampled_from(["redeem", "restore", "refund"]), st.integers(1, 5), st.integers(1, 200_000)), max_size=40
)


@given(ops=ops, value=st.integers(1, 500_000))
def test_the_fold_is_the_sum_and_a_card_never_goes_below_zero(ops, value):
    entries, balance = _ledger(ops, value)
    ledger = g.fold(entries)
    assert ledger.balance_ore == balance == sum(e.amount_ore for e in entries)
    assert 0 <= ledger.balance_ore <= value
    assert ledger.issued_ore == value
    assert ledger.balance_ore == value - sum(ledger.taken_ore.values()) - ledger.refunded_ore
    assert ledger.unused == (not any(ledger.taken_ore.values()))


def test_the_fold_refuses_ledgers_no_card_has():
    issue = Entry(EntryKind.ISSUE, 1000_00, order_id=1)
    bad = [
        [Entry(EntryKind.REDEEM, -1, order_id=2)],  # no issue
        [issue, Entry(EntryKind.ISSUE, 1, order_id=1)],  # two
        [issue, Entry(EntryKind.REDEEM, -1000_01, order_id=2)],  # overdrawn
        [issue, Entry(EntryKind.REDEEM, -600_00, order_id=2), Entry(EntryKind.REDEEM, -600_00, order_id=3)],
        [issue, Entry(EntryKind.RESTORE, 1, order_id=2)],  # given back what was never taken
        [issue, Entry(EntryKind.REDEEM, -5, order_id=2), Entry(EntryKind.RESTORE, 6, order_id=2)],
        [issue, Entry(EntryKind.REDEEM, -5, order_id=2), Entry(EntryKind.REFUND, -999_95)],  # refund after use
        [issue, Entry(EntryKind.REFUND, -1000_00), Entry(EntryKind.REFUND, -1000_00)],
    ]
    for entries in bad:
        with pytest.raises(ValueError):
            g.fold(entries)


@pytest.mark.parametrize(
    ("kind", "amount"), [("issue", -1), ("redeem", 1), ("restore", -1), ("refund", 5), ("forfeit", 1), ("redeem", 0)]
)
def test_each_kind_has_its_sign(kind, amount):
    with pytest.raises(ValueError):
        Entry(kind, amount, order_id=1)


@pytest.mark.legal("L21")
def test_partial_redemption_leaves_the_rest_on_the_card():
    entries = [Entry(EntryKind.ISSUE, 1000_00, order_id=1), Entry(EntryKind.REDEEM, -g.allowance(1000_00, 349_00), order_id=2)]
    assert g.fold(entries).balance_ore == 651_00
    entries.append(Entry(EntryKind.REDEEM, -g.allowance(651_00, 900_00), order_id=3))
    ledger = g.fold(entries)
    assert ledger.balance_ore == 0 and ledger.taken_ore == {2: 349_00, 3: 651_00}


@given(balance=st.integers(0, 10**9), amount=st.integers(0, 10**9))
def test_a_card_never_pays_more_than_it_has_or_is_asked(balance, amount):
    paid = g.allowance(balance, amount)
    assert paid <= balance and paid <= amount and paid in (balance, amount)
    cover = g.service_cover(balance, amount)
    assert cover.taken_ore == paid
    assert cover.taken_ore + cover.forfeited_ore == balance  # nothing is left on a service card
    assert cover.taken_ore + cover.waived_ore == amount  # and its line is paid in full
    assert min(cover.forfeited_ore, cover.waived_ore) == 0


@pytest.mark.parametrize(("balance", "amount"), [(-1, 5), (5, -1), (1.5, 1), (True, 1)])
def test_allowance_takes_ore(balance, amount):
    with pytest.raises(ValueError):
        g.allowance(balance, amount)


# ---------------------------------------------------------------- when a card may pay

NOW = oslo(2026, 12, 7, 12)


def card(**changes) -> Card:
    fields = dict(
        id=1, supplier_id=10, kind=CardKind.VALUE, initial_ore=1000_00, balance_ore=1000_00,
        issued_at=NOW, valid_until=g.valid_until(NOW, 12), state=CardState.ACTIVE,
    )  # fmt: skip
    fields.update(changes)
    return Card(**fields)


def test_a_good_card_pays():
    assert g.check(card(), supplier_id=10, now=NOW) is None
    service = card(kind=CardKind.SERVICE, service_offering_id=5)
    assert g.check(service, supplier_id=10, now=NOW, offering_id=5) is None


@pytest.mark.parametrize(
    ("the_card", "kwargs", "refusal"),
    [
        (None, {}, Refusal.UNKNOWN),
        (card(), {"supplier_id": 11}, Refusal.OTHER_SUPPLIER),
        (card(state=CardState.WITHDRAWN, balance_ore=0), {}, Refusal.WITHDRAWN),
        (card(), {"now": g.valid_until(NOW, 12)}, Refusal.EXPIRED),
        (card(balance_ore=0), {}, Refusal.USED_UP),
        (card(kind=CardKind.SERVICE, service_offering_id=5), {"offering_id": 6}, Refusal.WRONG_SERVICE),
        (card(kind=CardKind.SERVICE, service_offering_id=5), {}, Refusal.WRONG_SERVICE),
        (card(), {"buys_gift_card": True}, Refusal.GIFT_CARD_PURCHASE),
        (None, {"buys_gift_card": True}, Refusal.GIFT_CARD_PURCHASE),  # says nothing about the code
        (card(balance_ore=0), {"now": g.valid_until(NOW, 12) + timedelta(days=1)}, Refusal.EXPIRED),
        (card(), {"supplier_id": 11, "buys_gift_card": True}, Refusal.GIFT_CARD_PURCHASE),
    ],
)
def test_refusals(the_card, kwargs, refusal):
    args = {"supplier_id": 10, "now": NOW, **kwargs}
    assert g.check(the_card, **args) is refusal


def test_the_last_moment_of_the_last_day_still_pays():
    until = g.valid_until(NOW, 12)
    assert g.check(card(), supplier_id=10, now=until - timedelta(microseconds=1)) is None
    assert g.check(card(), supplier_id=10, now=until) is Refusal.EXPIRED


def test_every_refusal_has_a_message_with_its_figures():
    assert set(g.REFUSAL_TEXT) == set(Refusal)
    args = {"supplier": "Saks og Stil", "date": date(2027, 12, 7), "service": "Herreklipp"}
    for refusal in Refusal:
        needed = {k: v for k, v in args.items() if k in g.REFUSAL_ARGS.get(refusal, ())}
        for language in ("nb", "en"):
            text = g.refusal_message(refusal, **needed).text(language)
            assert text and "%(" not in text
            for value in needed.values():
                assert (str(value) in text) if isinstance(value, str) else ("2027" in text)
    with pytest.raises(ValueError):
        g.refusal_message(Refusal.EXPIRED)
    assert g.refusal_message(Refusal.EXPIRED, date=date(2027, 12, 7)).text("nb") == (
        "Dette gavekortet var gyldig til og med tirsdag 7. desember 2027 og kan ikke brukes lenger."
    )


def test_a_card_that_cannot_be():
    with pytest.raises(ValueError):
        card(balance_ore=-1)
    with pytest.raises(ValueError):
        card(balance_ore=1000_01)
    with pytest.raises(ValueError):
        card(kind=CardKind.SERVICE)
    with pytest.raises(ValueError):
        card(service_offering_id=4)
    with pytest.raises(ValueError):
        card(valid_until=datetime(2027, 1, 1))


# ---------------------------------------------------------------- withdrawal (L4)


@pytest.mark.legal("L4")
def test_an_unused_card_may_be_withdrawn_for_14_days():
    bought = oslo(2026, 12, 7, 12)  # Monday: the period ends Monday 21 December
    assert g.card_withdrawal_deadline(card(issued_at=bought)) == date(2026, 12, 21)
    assert g.withdrawal_refusal(card(issued_at=bought), oslo(2026, 12, 21, 23, 59)) is None
    late = g.withdrawal_refusal(card(issued_at=bought), oslo(2026, 12, 22, 0, 0))
    assert late is WithdrawalRefusal.PERIOD_OVER
    assert g.withdrawal_message(late, card(issued_at=bought)).text("en").endswith("ended on Monday 21 December 2026.")


@pytest.mark.legal("L4")
def test_the_withdrawal_deadline_moves_past_christmas():
    bought = oslo(2026, 12, 11, 9)  # +14 days is Friday 25 December, then the 26th, then Sunday
    assert g.card_withdrawal_deadline(card(issued_at=bought)) == date(2026, 12, 28)


@pytest.mark.legal("L4")
def test_a_used_or_withdrawn_card_cannot_be_withdrawn():
    assert g.withdrawal_refusal(card(balance_ore=999_99), NOW) is WithdrawalRefusal.USED
    assert g.withdrawal_refusal(card(balance_ore=0), NOW) is WithdrawalRefusal.USED
    done = card(state=CardState.WITHDRAWN, balance_ore=0)
    assert g.withdrawal_refusal(done, NOW) is WithdrawalRefusal.ALREADY_WITHDRAWN
    for refusal in WithdrawalRefusal:
        assert g.withdrawal_message(refusal, card()).text("nb")


# ---------------------------------------------------------------- wrong codes


def test_ten_wrong_codes_an_hour_then_wait():
    assert g.MISSES_PER_HOUR == 10 and g.MISS_WINDOW == timedelta(hours=1)
    assert not g.locked_out(9)
    assert g.locked_out(10) and g.locked_out(11)

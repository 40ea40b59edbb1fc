"""Unit tests of the payment rules (portal.payments.domain): the state
machine, the fold of Vipps events, what a booking's end does to its money,
the time rules, references and the ways to pay.

Expectations are written out by hand (the transition table, the ledgers, the
settlements); nothing expected is computed with the code under test.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.payments import domain
from portal.payments.domain import (
    TRANSITIONS,
    Event,
    Folded,
    Ledger,
    Outcome,
    PaymentEventName,
    PaymentState,
    Refused,
    Settlement,
    fold,
    settlement,
    transition,
)
from portal.payments.pricing import Means

UTC = timezone.utc
PROPS = settings(max_examples=300, deadline=None, database=None)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# ---------------------------------------------------------------- the transition table

S, N, R = PaymentState, PaymentEventName, Refused
BEFORE, AFTER, ENDED, NEVER = R.BEFORE_AUTHORISATION, R.AFTER_AUTHORISATION, R.ALREADY_ENDED, R.NEVER_CREATED

EVENT_COLUMNS = (N.CREATED, N.AUTHORIZED, N.ABORTED, N.EXPIRED, N.TERMINATED, N.CAPTURED, N.REFUNDED, N.CANCELLED)
EXPECTED_TABLE: dict[PaymentState, tuple[PaymentState | Refused, ...]] = {
    #               CREATED       AUTHORIZED    ABORTED       EXPIRED       TERMINATED    CAPTURED      REFUNDED      CANCELLED
    S.CREATED:     (S.CREATED,    S.AUTHORIZED, S.ABORTED,    S.EXPIRED,    S.TERMINATED, BEFORE,       BEFORE,       BEFORE),
    S.AUTHORIZED:  (S.AUTHORIZED, S.AUTHORIZED, AFTER,        AFTER,        AFTER,        S.AUTHORIZED, S.AUTHORIZED, S.AUTHORIZED),
    S.ABORTED:     (S.ABORTED,    ENDED,        S.ABORTED,    ENDED,        ENDED,        ENDED,        ENDED,        ENDED),
    S.EXPIRED:     (S.EXPIRED,    ENDED,        ENDED,        S.EXPIRED,    ENDED,        ENDED,        ENDED,        ENDED),
    S.TERMINATED:  (S.TERMINATED, ENDED,        ENDED,        ENDED,        S.TERMINATED, ENDED,        ENDED,        ENDED),
    S.FAILED:      (NEVER,        NEVER,        NEVER,        NEVER,        NEVER,        NEVER,        NEVER,        NEVER),
}  # fmt: skip


def test_every_state_event_pair_is_in_the_table():
    assert set(EVENT_COLUMNS) == set(PaymentEventName)
    assert set(EXPECTED_TABLE) == set(PaymentState)
    for state, event in itertools.product(PaymentState, PaymentEventName):
        assert (state, event) in TRANSITIONS, (state, event)
        outcome = TRANSITIONS[(state, event)]
        assert isinstance(outcome, (PaymentState, Refused)), (state, event, outcome)
        assert transition(state, event) == outcome
    assert len(TRANSITIONS) == len(PaymentState) * len(PaymentEventName)


@pytest.mark.parametrize("state", list(PaymentState), ids=lambda s: s.value)
def test_transition_table_row(state):
    got = tuple(transition(state, event) for event in EVENT_COLUMNS)
    assert got == EXPECTED_TABLE[state]


def test_created_becomes_authorized():
    assert transition(S.CREATED, N.AUTHORIZED) is S.AUTHORIZED


def test_authorized_never_leaves_authorized():
    for event in PaymentEventName:
        outcome = transition(S.AUTHORIZED, event)
        assert outcome is S.AUTHORIZED or isinstance(outcome, Refused), event


def test_aborted_then_authorized_is_refused():
    assert transition(S.ABORTED, N.AUTHORIZED) is R.ALREADY_ENDED
    folded = fold([ev(N.CREATED, 0), ev(N.ABORTED, 1), ev(N.AUTHORIZED, 2)])
    assert folded.state is S.ABORTED
    assert folded.ledger == Ledger()
    assert [(e.name, why) for e, why in folded.refused] == [(N.AUTHORIZED, R.ALREADY_ENDED)]


@pytest.mark.parametrize("money", [N.CAPTURED, N.REFUNDED, N.CANCELLED])
def test_money_before_authorisation_is_refused(money):
    assert transition(S.CREATED, money) is R.BEFORE_AUTHORISATION
    folded = fold([ev(N.CREATED, 0), ev(money, 1, amount=100_00)])
    assert folded.state is S.CREATED
    assert folded.ledger == Ledger()
    assert len(folded.refused) == 1


def test_failed_refuses_everything():
    for event in PaymentEventName:
        assert transition(S.FAILED, event) is R.NEVER_CREATED
    folded = fold([ev(N.CREATED, 0), ev(N.AUTHORIZED, 1), ev(N.CAPTURED, 2, amount=100)], start=S.FAILED)
    assert folded.state is S.FAILED
    assert folded.ledger == Ledger()
    assert len(folded.refused) == 3


def test_ended_without_money():
    assert domain.ENDED_WITHOUT_MONEY == {S.ABORTED, S.EXPIRED, S.TERMINATED, S.FAILED}


# ---------------------------------------------------------------- fold

AMOUNT = 549_00
_psp = itertools.count(1)


def ev(name, seconds, *, amount=AMOUNT, success=True, psp=None, key=None) -> Event:
    return Event(
        name=name,
        amount_ore=amount,
        success=success,
        at=T0 + timedelta(seconds=seconds),
        psp_reference=psp or f"psp-{name.value}-{seconds}-{amount}",
        idempotency_key=key,
    )


def test_ledger_arithmetic():
    ledger = Ledger(authorized_ore=549_00, captured_ore=200_00, refunded_ore=50_00, cancelled_ore=100_00)
    assert ledger.reserved_ore == 249_00  # 549 - 200 - 100
    assert ledger.refundable_ore == 150_00  # 200 - 50
    assert Ledger().reserved_ore == 0 and Ledger().refundable_ore == 0
    assert Ledger(authorized_ore=100, captured_ore=100, cancelled_ore=0).reserved_ore == 0
    assert Ledger(authorized_ore=100, captured_ore=60, cancelled_ore=40).reserved_ore == 0
    assert Ledger(captured_ore=100, refunded_ore=100).refundable_ore == 0
    # never negative, even for a ledger that does not add up
    assert Ledger(authorized_ore=100, captured_ore=80, cancelled_ore=80).reserved_ore == 0
    assert Ledger(captured_ore=10, refunded_ore=20).refundable_ore == 0


def test_fold_of_a_full_history():
    history = [
        ev(N.CREATED, 0),
        ev(N.AUTHORIZED, 10),
        ev(N.CAPTURED, 20, amount=300_00, key="cap-1"),
        ev(N.CAPTURED, 30, amount=100_00, key="cap-2"),
        ev(N.CANCELLED, 40, amount=149_00, key="cancel-1"),
        ev(N.REFUNDED, 50, amount=120_00, key="refund-1"),
    ]
    folded = fold(history)
    assert folded == Folded(
        state=S.AUTHORIZED,
        ledger=Ledger(authorized_ore=549_00, captured_ore=400_00, refunded_ore=120_00, cancelled_ore=149_00),
        refused=(),
        failed=(),
    )
    assert folded.ledger.reserved_ore == 0
    assert folded.ledger.refundable_ore == 280_00


def test_same_instant_is_ordered_by_the_kind_of_event():
    """Vipps may stamp several events with the same second: authorisation
    comes before money, money before the release of the rest."""
    same = [ev(N.CANCELLED, 5, amount=249_00, key="c"), ev(N.CAPTURED, 5, amount=300_00, key="k"), ev(N.AUTHORIZED, 5), ev(N.CREATED, 5)]
    folded = fold(same)
    assert folded.state is S.AUTHORIZED
    assert folded.ledger == Ledger(549_00, 300_00, 0, 249_00)
    assert folded.refused == ()


def test_created_after_authorized_changes_nothing():
    folded = fold([ev(N.AUTHORIZED, 10), ev(N.CREATED, 20)])
    assert folded.state is S.AUTHORIZED and folded.ledger.authorized_ore == AMOUNT and folded.refused == ()


def test_failed_operation_is_reported_and_moves_no_money():
    history = [
        ev(N.CREATED, 0),
        ev(N.AUTHORIZED, 10),
        ev(N.CAPTURED, 20, amount=549_00, key="cap-1", success=False),
        ev(N.CANCELLED, 30, amount=549_00, key="cancel-1"),
    ]
    folded = fold(history)
    assert folded.state is S.AUTHORIZED
    assert folded.ledger == Ledger(549_00, 0, 0, 549_00)
    assert [(e.name, e.idempotency_key) for e in folded.failed] == [(N.CAPTURED, "cap-1")]
    assert folded.refused == ()


def test_a_failed_authorisation_does_not_authorise():
    folded = fold([ev(N.CREATED, 0), ev(N.AUTHORIZED, 10, success=False)])
    assert folded.state is S.CREATED and folded.ledger == Ledger()
    assert len(folded.failed) == 1


def test_same_operation_failed_and_then_succeeded_are_two_events():
    """A retried capture (same key) that failed first and worked later: the
    failure is reported, the success counted once."""
    history = [
        ev(N.AUTHORIZED, 10),
        ev(N.CAPTURED, 20, amount=200_00, key="cap-1", success=False, psp="p1"),
        ev(N.CAPTURED, 30, amount=200_00, key="cap-1", success=True, psp="p2"),
    ]
    folded = fold(history + history)
    assert folded.ledger.captured_ore == 200_00
    assert len(folded.failed) == 1


@st.composite
def realistic_history(draw) -> tuple[list[Event], PaymentState, Ledger]:
    """A history as Vipps could report it, with the state and ledger it must
    fold to, computed by hand from the draw (not with the code under test)."""
    amount = draw(st.integers(min_value=1, max_value=50_000_00))
    clock = itertools.count(0, draw(st.sampled_from([0, 1, 7])))  # step 0: everything in the same second
    t = lambda: next(clock)  # noqa: E731
    events = [ev(N.CREATED, t(), amount=amount, psp="psp-created")]
    ending = draw(st.sampled_from(["authorized", "aborted", "expired", "terminated", "waiting"]))
    if ending == "waiting":
        return events, S.CREATED, Ledger()
    if ending != "authorized":
        name = {"aborted": N.ABORTED, "expired": N.EXPIRED, "terminated": N.TERMINATED}[ending]
        events.append(ev(name, t(), amount=amount, psp=f"psp-{ending}"))
        return events, PaymentState(ending), Ledger()
    events.append(ev(N.AUTHORIZED, t(), amount=amount, psp="psp-auth"))
    captured = refunded = cancelled = 0
    captures = draw(st.lists(st.integers(min_value=1, max_value=amount), max_size=3))
    for i, part in enumerate(captures):
        if captured + part > amount:
            break
        if draw(st.booleans()):  # some captures fail (lapsed card): they move nothing
            events.append(ev(N.CAPTURED, t(), amount=part, success=False, psp=f"psp-capfail-{i}", key=f"cap-{i}"))
            continue
        captured += part
        events.append(ev(N.CAPTURED, t(), amount=part, psp=f"psp-cap-{i}", key=f"cap-{i}"))
    if draw(st.booleans()) and amount - captured > 0:
        cancelled = amount - captured
        events.append(ev(N.CANCELLED, t(), amount=cancelled, psp="psp-cancel", key="cancel"))
    refunds = draw(st.lists(st.integers(min_value=1, max_value=max(captured, 1)), max_size=2))
    for i, part in enumerate(refunds):
        if refunded + part > captured:
            break
        refunded += part
        events.append(ev(N.REFUNDED, t(), amount=part, psp=f"psp-refund-{i}", key=f"refund-{i}"))
    return events, S.AUTHORIZED, Ledger(amount, captured, refunded, cancelled)


@PROPS
@given(data=st.data(), history=realistic_history())
def test_fold_is_the_same_whatever_the_order_and_the_duplicates(data, history):
    events, state, ledger = history
    reference = fold(events)
    assert reference.state is state
    assert reference.ledger == ledger
    assert reference.refused == ()
    # Deliveries: every event at least once, some many times, in any order.
    copies = data.draw(st.lists(st.integers(min_value=1, max_value=4), min_size=len(events), max_size=len(events)))
    delivered = [e for e, n in zip(events, copies) for _ in range(n)]
    shuffled = data.draw(st.permutations(delivered))
    assert fold(shuffled) == reference


@PROPS
@given(data=st.data(), history=realistic_history())
def test_failed_events_never_move_money(data, history):
    events, state, ledger = history
    names = data.draw(st.lists(st.sampled_from(list(PaymentEventName)), max_size=6))
    failures = [
        ev(name, 1000 + i, amount=data.draw(st.integers(min_value=1, max_value=10**7)), success=False, psp=f"f-{i}", key=f"f-{i}")
        for i, name in enumerate(names)
    ]
    mixed = data.draw(st.permutations(events + failures))
    folded = fold(mixed)
    assert folded.state is state
    assert folded.ledger == ledger
    assert set(failures) <= set(folded.failed)
    assert all(not e.success for e in folded.failed)


@PROPS
@given(history=realistic_history())
def test_ledger_of_a_realistic_history_adds_up(history):
    events, _, _ = history
    ledger = fold(events).ledger
    assert ledger.captured_ore + ledger.cancelled_ore <= ledger.authorized_ore
    assert ledger.reserved_ore == ledger.authorized_ore - ledger.captured_ore - ledger.cancelled_ore
    assert ledger.refundable_ore == ledger.captured_ore - ledger.refunded_ore >= 0


# ---------------------------------------------------------------- settlement


@pytest.mark.parametrize(
    ("ledger", "due", "expected"),
    [
        # reserved the total, nothing taken: capture the total, nothing left to cancel
        (Ledger(549_00), 549_00, Settlement(capture_ore=549_00, cancel_rest=False)),
        # a deposit reserved and due
        (Ledger(150_00), 150_00, Settlement(capture_ore=150_00, cancel_rest=False)),
        # due less than reserved (a discount after the fact): capture it, release the rest
        (Ledger(549_00), 400_00, Settlement(capture_ore=400_00, cancel_rest=True)),
        # part captured already: only the remainder of what is due
        (Ledger(549_00, captured_ore=200_00), 549_00, Settlement(capture_ore=349_00, cancel_rest=False)),
        # everything captured already: nothing more
        (Ledger(549_00, captured_ore=549_00), 549_00, Settlement()),
        # due more than reserved: never beyond the reservation
        (Ledger(300_00), 549_00, Settlement(capture_ore=300_00, cancel_rest=False)),
        # reservation released already: nothing can be taken
        (Ledger(549_00, cancelled_ore=549_00), 549_00, Settlement()),
    ],
)
def test_delivered_captures_what_is_due(ledger, due, expected):
    assert settlement(Outcome.DELIVERED, ledger, due_ore=due, fee_ore=0) == expected


@pytest.mark.parametrize("outcome", [Outcome.NO_SHOW, Outcome.CUSTOMER_CANCEL_LATE])
@pytest.mark.parametrize(
    ("ledger", "fee", "expected"),
    [
        (Ledger(549_00), 274_50, Settlement(capture_ore=274_50, cancel_rest=True)),
        (Ledger(549_00), 0, Settlement(capture_ore=0, cancel_rest=True)),
        (Ledger(549_00), 549_00, Settlement(capture_ore=549_00, cancel_rest=False)),
        (Ledger(100_00), 274_50, Settlement(capture_ore=100_00, cancel_rest=False)),  # a deposit smaller than the fee
        (Ledger(549_00, captured_ore=100_00), 274_50, Settlement(capture_ore=174_50, cancel_rest=True)),
        (Ledger(549_00, cancelled_ore=549_00), 274_50, Settlement()),
    ],
)
def test_fee_outcomes_capture_the_fee_and_release_the_rest(outcome, ledger, fee, expected):
    assert settlement(outcome, ledger, due_ore=549_00, fee_ore=fee) == expected


@pytest.mark.parametrize("outcome", [Outcome.CUSTOMER_CANCEL_FREE, Outcome.HOLD_LOST])
def test_free_ends_release_everything_and_take_nothing(outcome):
    assert settlement(outcome, Ledger(549_00), due_ore=549_00, fee_ore=274_50) == Settlement(cancel_rest=True)
    assert settlement(outcome, Ledger(549_00, cancelled_ore=549_00), due_ore=549_00, fee_ore=274_50) == Settlement()


@pytest.mark.parametrize("outcome", [Outcome.SUPPLIER_CANCEL, Outcome.WITHDRAWN])
@pytest.mark.parametrize(
    ("ledger", "expected"),
    [
        (Ledger(549_00), Settlement(cancel_rest=True)),
        (Ledger(549_00, captured_ore=549_00), Settlement(refund_ore=549_00)),
        (Ledger(549_00, captured_ore=200_00), Settlement(cancel_rest=True, refund_ore=200_00)),
        (Ledger(549_00, captured_ore=200_00, refunded_ore=50_00), Settlement(cancel_rest=True, refund_ore=150_00)),
        (Ledger(549_00, captured_ore=549_00, refunded_ore=549_00), Settlement()),
    ],
)
def test_supplier_ends_give_everything_back(outcome, ledger, expected):
    assert settlement(outcome, ledger, due_ore=549_00, fee_ore=274_50) == expected


ledgers = st.builds(
    lambda a, c, x, r: Ledger(a, min(c, a), min(r, min(c, a)), min(x, a - min(c, a))),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
)


@PROPS
@given(outcome=st.sampled_from(list(Outcome)), ledger=ledgers, due=st.integers(0, 10**7), fee=st.integers(0, 10**7))
def test_settlement_never_takes_more_than_is_reserved(outcome, ledger, due, fee):
    plan = settlement(outcome, ledger, due_ore=due, fee_ore=fee)
    assert 0 <= plan.capture_ore <= ledger.reserved_ore
    assert 0 <= plan.refund_ore <= ledger.refundable_ore
    # what is left reserved after the capture is released, never kept hanging
    assert plan.cancel_rest == (ledger.reserved_ore - plan.capture_ore > 0)
    if outcome in (Outcome.DELIVERED,):
        assert ledger.captured_ore + plan.capture_ore <= max(due, ledger.captured_ore)
    if outcome in (Outcome.NO_SHOW, Outcome.CUSTOMER_CANCEL_LATE):
        assert ledger.captured_ore + plan.capture_ore <= max(fee, ledger.captured_ore)
    if outcome not in (Outcome.SUPPLIER_CANCEL, Outcome.WITHDRAWN):
        assert plan.refund_ore == 0
    if outcome in (Outcome.CUSTOMER_CANCEL_FREE, Outcome.HOLD_LOST, Outcome.SUPPLIER_CANCEL, Outcome.WITHDRAWN):
        assert plan.capture_ore == 0
    assert plan.is_empty == (plan == Settlement())


# ---------------------------------------------------------------- time rules

START = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)
TINY = timedelta(microseconds=1)


def test_free_window_boundaries():
    deadline = START - timedelta(hours=24)
    assert domain.in_free_window(START, deadline - TINY, 24)
    assert domain.in_free_window(START, deadline - timedelta(days=10), 24)
    assert not domain.in_free_window(START, deadline, 24)  # "until 24 hours before": at the 24th hour it has ended
    assert not domain.in_free_window(START, deadline + TINY, 24)
    assert not domain.in_free_window(START, START, 24)
    # no free hours: free right up to the start, not at it
    assert domain.in_free_window(START, START - TINY, 0)
    assert not domain.in_free_window(START, START, 0)


def test_free_window_across_the_dst_change():
    """Hours are real hours, also over the night the clocks go back (Oslo, 25 Oct 2026)."""
    start = datetime(2026, 10, 25, 11, 0, tzinfo=UTC)  # 12:00 Oslo, winter time
    deadline = start - timedelta(hours=24)  # 13:00 Oslo summer time the day before
    assert domain.in_free_window(start, deadline - TINY, 24)
    assert not domain.in_free_window(start, deadline, 24)


def test_may_deliver_only_once_started():
    assert not domain.may_deliver(START, START - TINY)
    assert domain.may_deliver(START, START)
    assert domain.may_deliver(START, START + timedelta(days=30))


def test_auto_complete_due():
    end = START + timedelta(minutes=30)
    assert not domain.auto_complete_due(end, end + timedelta(hours=24) - TINY, 24)
    assert domain.auto_complete_due(end, end + timedelta(hours=24), 24)
    assert domain.auto_complete_due(end, end, 0)


def test_reconcile_due():
    created = START
    assert not domain.reconcile_due(created, created + timedelta(minutes=12) - TINY, 12)
    assert domain.reconcile_due(created, created + timedelta(minutes=12), 12)
    assert domain.reconcile_due(created, created + timedelta(hours=3), 12)


# ---------------------------------------------------------------- references and phones

VIPPS_REFERENCE = re.compile(r"^[a-zA-Z0-9-]{8,50}$")


@pytest.mark.parametrize(("booking", "attempt", "expected"), [("7KQ2MX", 1, "7KQ2MX-1"), ("ABCDEF", 12, "ABCDEF-12"), ("A" * 47, 99, "A" * 47 + "-99")])
def test_payment_reference(booking, attempt, expected):
    reference = domain.payment_reference(booking, attempt)
    assert reference == expected
    assert VIPPS_REFERENCE.match(reference)


@PROPS
@given(booking=st.text(alphabet="23456789ABCDEFGHJKMNPQRSTUVWXYZ", min_size=6, max_size=6), attempt=st.integers(1, 10**6))
def test_payment_reference_of_any_booking_fits_vipps(booking, attempt):
    assert VIPPS_REFERENCE.match(domain.payment_reference(booking, attempt))


@pytest.mark.parametrize(("booking", "attempt"), [("AB", 1), ("ABCD", 1), ("", 123456), ("A" * 49, 1), ("ÆØÅ123", 1), ("ABC DEF", 1), ("ABC_DEF", 1)])
def test_payment_reference_refuses_what_vipps_would_refuse(booking, attempt):
    with pytest.raises(ValueError):
        domain.payment_reference(booking, attempt)


def test_payment_references_are_never_reused_between_attempts():
    refs = {domain.payment_reference("7KQ2MX", n) for n in range(1, 200)}
    assert len(refs) == 199


@pytest.mark.parametrize(("e164", "digits"), [("+4791234567", "4791234567"), ("+46701234567", "46701234567"), ("+4741234567", "4741234567")])
def test_vipps_phone(e164, digits):
    assert domain.vipps_phone(e164) == digits


@pytest.mark.parametrize("bad", ["", "+", "++4791234567", "+47 912 34 567", "+47-91234567", "tlf 91234567", "+٤٧٩١٢٣٤٥٦٧", "+47９１２３４５６７", "+4791234567²"])
def test_vipps_phone_refuses_anything_but_ascii_digits(bad):
    with pytest.raises(ValueError):
        domain.vipps_phone(bad)


# ---------------------------------------------------------------- event names


@pytest.mark.parametrize("name", list(PaymentEventName))
def test_event_name_from_the_events_api_and_from_webhooks(name):
    assert domain.event_name(name.value) is name
    assert domain.event_name(f"epayments.payment.{name.value.lower()}.v1") is name
    assert domain.event_name(name.value.lower()) is name
    assert domain.event_name(f"  {name.value} ") is name


def test_event_name_examples_written_out():
    assert domain.event_name("AUTHORIZED") is N.AUTHORIZED
    assert domain.event_name("epayments.payment.authorized.v1") is N.AUTHORIZED
    assert domain.event_name("epayments.payment.cancelled.v1") is N.CANCELLED
    assert domain.event_name("epayments.payment.captured.v1") is N.CAPTURED


@pytest.mark.parametrize("raw", ["", "   ", "AUTHORISED", "epayments.payment.authorized.v2", "epayments.payment.v1", "PAID", None])
def test_unknown_event_names(raw):
    assert domain.event_name(raw) is None


def test_state_from_vipps():
    assert domain.state_from_vipps("AUTHORIZED") is S.AUTHORIZED
    assert domain.state_from_vipps(" terminated ") is S.TERMINATED
    assert domain.state_from_vipps("CAPTURED") is None
    assert domain.state_from_vipps(None) is None


# ---------------------------------------------------------------- ways to pay


@pytest.mark.parametrize(
    ("methods", "deposit", "expected"),
    [
        (["vipps", "onsite"], "none", [Means.VIPPS, Means.ONSITE]),
        (["onsite", "vipps"], "none", [Means.VIPPS, Means.ONSITE]),  # Vipps first whatever the order stored
        (["vipps"], "none", [Means.VIPPS]),
        (["onsite"], "none", [Means.ONSITE]),
        ([], "none", [Means.ONSITE]),
        (["card"], "none", [Means.ONSITE]),
        (["vipps", "onsite"], "fixed", [Means.DEPOSIT]),
        (["vipps"], "percent", [Means.DEPOSIT]),
        (["onsite"], "percent", [Means.ONSITE]),  # no Vipps: a deposit cannot be taken
        (["vipps", "onsite"], "", [Means.VIPPS, Means.ONSITE]),
    ],
)
def test_available_means(methods, deposit, expected):
    assert domain.available_means(methods, deposit) == expected

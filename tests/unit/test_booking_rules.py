"""Unit tests of the booking rules: the order and reservation state machines
(portal.orders.domain, portal.kinds.appointment.domain), claim keys
(portal.capacity.domain), the withdrawal rules (portal.legal.withdrawal),
references and tokens, and the checkout form (portal.sales.forms).

Expectations are written out by hand in this file (the transition tables, the
withdrawal deadlines of L5, the phone numbers); nothing is computed with the
code under test.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.capacity import domain as capacity
from portal.kinds.appointment import domain as appointment
from portal.kinds.appointment.domain import ReservationEvent, ReservationStatus
from portal.legal import withdrawal
from portal.orders import domain
from portal.orders.domain import OrderEvent, OrderState, TransitionRefused
from portal.sales.forms import MAX_NAME, MAX_NOTE, parse_checkout, parse_phone

UTC = timezone.utc
OSLO = ZoneInfo("Europe/Oslo")
PROPS = settings(max_examples=300, deadline=None, database=None)


def oslo(y: int, m: int, d: int, hh: int = 0, mm: int = 0, fold: int = 0) -> datetime:
    """Oslo wall time -> aware UTC datetime."""
    return datetime(y, m, d, hh, mm, fold=fold, tzinfo=OSLO).astimezone(UTC)


# ---------------------------------------------------------------- the order state machine

S, E = OrderState, OrderEvent
X = None  # refused

#: Every (state, event) pair, written out: rows are states, columns are events in this order.
EVENT_COLUMNS = (E.CONFIRM, E.EXPIRE, E.ABANDON, E.RECLAIM, E.COMPLETE, E.MARK_NO_SHOW, E.CUSTOMER_CANCEL, E.SUPPLIER_CANCEL, E.WITHDRAW)
EXPECTED_TABLE: dict[OrderState, tuple[OrderState | None, ...]] = {
    #                         confirm      expire      abandon     reclaim  complete     no_show     cust_cancel                supp_cancel                withdraw
    S.HELD:                  (S.CONFIRMED, S.RELEASED, S.RELEASED, X,       X,           X,          X,                         X,                         X),
    S.CONFIRMED:             (X,           X,          X,          X,       S.COMPLETED, S.NO_SHOW,  S.CANCELLED_BY_CUSTOMER,   S.CANCELLED_BY_SUPPLIER,   S.WITHDRAWN),
    S.RELEASED:              (X,           X,          X,          S.HELD,  X,           X,          X,                         X,                         X),
    S.COMPLETED:             (X,           X,          X,          X,       X,           X,          X,                         X,                         S.WITHDRAWN),  # L8: after delivery (an unused gift card)
    S.NO_SHOW:               (X,           X,          X,          X,       X,           X,          X,                         X,                         X),
    S.CANCELLED_BY_CUSTOMER: (X,           X,          X,          X,       X,           X,          X,                         X,                         X),
    S.CANCELLED_BY_SUPPLIER: (X,           X,          X,          X,       X,           X,          X,                         X,                         X),
    S.WITHDRAWN:             (X,           X,          X,          X,       X,           X,          X,                         X,                         X),
}  # fmt: skip

ALL_PAIRS = [(state, event) for state in EXPECTED_TABLE for event in EVENT_COLUMNS]


def test_expected_table_covers_every_state_and_event():
    assert set(EXPECTED_TABLE) == set(OrderState), "a new state needs a row in this table"
    assert set(EVENT_COLUMNS) == set(OrderEvent) and len(EVENT_COLUMNS) == len(OrderEvent), "a new event needs a column"
    assert all(len(row) == len(EVENT_COLUMNS) for row in EXPECTED_TABLE.values())
    assert len(ALL_PAIRS) == len(OrderState) * len(OrderEvent) == 72


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s.value}-{e.value}" for s, e in ALL_PAIRS])
def test_transition_table(state, event):
    expected = EXPECTED_TABLE[state][EVENT_COLUMNS.index(event)]
    if expected is None:
        with pytest.raises(TransitionRefused) as refused:
            domain.transition(state, event)
        assert refused.value.state == state and refused.value.event == event
    else:
        assert domain.transition(state, event) == expected


def test_transition_table_in_code_has_no_pair_outside_the_expected_table():
    defined = {pair: target for pair, target in domain.ORDER_TRANSITIONS.items()}
    expected = {
        (state, event): target
        for state, row in EXPECTED_TABLE.items()
        for event, target in zip(EVENT_COLUMNS, row)
        if target is not None
    }
    assert defined == expected


def test_a_released_order_is_held_again_on_reclaim_and_only_then():
    assert domain.transition(S.RELEASED, E.RECLAIM) is S.HELD
    assert domain.transition("released", E.RECLAIM) is S.HELD, "a state read from the database is a plain str"
    for state in set(OrderState) - {S.RELEASED}:
        with pytest.raises(TransitionRefused):
            domain.transition(state, E.RECLAIM)


def test_an_unknown_state_is_refused():
    with pytest.raises(TransitionRefused):
        domain.transition("booked", E.CONFIRM)


def test_final_states_and_those_that_free_capacity():
    assert domain.FINAL == {S.COMPLETED, S.NO_SHOW, S.CANCELLED_BY_CUSTOMER, S.CANCELLED_BY_SUPPLIER, S.WITHDRAWN}
    assert domain.FREES_CAPACITY == {S.CANCELLED_BY_CUSTOMER, S.CANCELLED_BY_SUPPLIER, S.WITHDRAWN}
    for state in domain.FINAL:
        follows = {EVENT_COLUMNS[i]: to for i, to in enumerate(EXPECTED_TABLE[state]) if to is not None}
        # Nothing follows a final state, but a withdrawal after delivery (L8).
        assert follows == ({E.WITHDRAW: S.WITHDRAWN} if state is S.COMPLETED else {}), state


def test_order_live_hold():
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert domain.is_live_hold(S.HELD, now + timedelta(seconds=1), now)
    assert not domain.is_live_hold(S.HELD, now, now), "a hold expiring now is over"
    assert not domain.is_live_hold(S.HELD, None, now)
    for state in set(OrderState) - {S.HELD}:
        assert not domain.is_live_hold(state, now + timedelta(hours=1), now)
    assert domain.hold_expiry(now, 10) == datetime(2026, 5, 4, 10, 10, tzinfo=UTC)


# ---------------------------------------------------------------- the reservation state machine

RS, RE = ReservationStatus, ReservationEvent

RESERVATION_EVENT_COLUMNS = (RE.CONFIRM, RE.RELEASE, RE.RECLAIM, RE.COMPLETE, RE.NO_SHOW, RE.CANCEL)
RESERVATION_TABLE: dict[ReservationStatus, tuple[ReservationStatus | None, ...]] = {
    #               confirm       release      reclaim  complete      no_show     cancel
    RS.HELD:       (RS.CONFIRMED, RS.RELEASED, X,       X,            X,          X),
    RS.CONFIRMED:  (X,            X,           X,       RS.COMPLETED, RS.NO_SHOW, RS.CANCELLED),
    RS.RELEASED:   (X,            X,           RS.HELD, X,            X,          X),
    RS.COMPLETED:  (X,            X,           X,       X,            X,          X),
    RS.NO_SHOW:    (X,            X,           X,       X,            X,          X),
    RS.CANCELLED:  (X,            X,           X,       X,            X,          X),
}  # fmt: skip

RESERVATION_PAIRS = [(status, event) for status in RESERVATION_TABLE for event in RESERVATION_EVENT_COLUMNS]


def test_reservation_table_covers_every_status_and_event():
    assert set(RESERVATION_TABLE) == set(ReservationStatus), "a new status needs a row in this table"
    assert set(RESERVATION_EVENT_COLUMNS) == set(ReservationEvent) and len(RESERVATION_EVENT_COLUMNS) == len(ReservationEvent)
    assert all(len(row) == len(RESERVATION_EVENT_COLUMNS) for row in RESERVATION_TABLE.values())
    assert len(RESERVATION_PAIRS) == len(ReservationStatus) * len(ReservationEvent) == 36


@pytest.mark.parametrize(("status", "event"), RESERVATION_PAIRS, ids=[f"{s.value}-{e.value}" for s, e in RESERVATION_PAIRS])
def test_reservation_transition_table(status, event):
    expected = RESERVATION_TABLE[status][RESERVATION_EVENT_COLUMNS.index(event)]
    if expected is None:
        with pytest.raises(TransitionRefused) as refused:
            appointment.transition(status, event)
        assert refused.value.state == status and refused.value.event == event
    else:
        assert appointment.transition(status, event) == expected


def test_reservation_table_in_code_has_no_pair_outside_the_expected_table():
    expected = {
        (status, event): target
        for status, row in RESERVATION_TABLE.items()
        for event, target in zip(RESERVATION_EVENT_COLUMNS, row)
        if target is not None
    }
    assert dict(appointment.RESERVATION_TRANSITIONS) == expected


def test_a_released_reservation_is_held_again_on_reclaim_and_only_then():
    assert appointment.transition(RS.RELEASED, RE.RECLAIM) is RS.HELD
    assert appointment.transition("released", RE.RECLAIM) is RS.HELD
    for status in set(ReservationStatus) - {RS.RELEASED}:
        with pytest.raises(TransitionRefused):
            appointment.transition(status, RE.RECLAIM)
    with pytest.raises(TransitionRefused):  # an order state is not a reservation status
        appointment.transition("cancelled_by_customer", RE.CONFIRM)


#: How each end of a confirmed order moves its reservation (written out by hand).
EXPECTED_END_EVENTS = {
    S.COMPLETED: (RE.COMPLETE, RS.COMPLETED),
    S.NO_SHOW: (RE.NO_SHOW, RS.NO_SHOW),
    S.CANCELLED_BY_CUSTOMER: (RE.CANCEL, RS.CANCELLED),
    S.CANCELLED_BY_SUPPLIER: (RE.CANCEL, RS.CANCELLED),
    S.WITHDRAWN: (RE.CANCEL, RS.CANCELLED),
}


def test_every_end_of_an_order_moves_its_confirmed_reservation():
    assert set(appointment.END_EVENTS) == set(EXPECTED_END_EVENTS) == set(domain.FINAL)
    for state, (event, status) in EXPECTED_END_EVENTS.items():
        assert appointment.END_EVENTS[state] is event
        assert appointment.transition(RS.CONFIRMED, event) is status


def test_only_held_and_confirmed_occupy_time():
    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    assert appointment.OCCUPYING == {RS.HELD, RS.CONFIRMED}
    assert appointment.occupies(RS.CONFIRMED, None, now)
    assert appointment.occupies(RS.HELD, now + timedelta(seconds=1), now)
    assert not appointment.occupies(RS.HELD, now, now), "a hold expiring now no longer blocks"
    assert not appointment.occupies(RS.HELD, None, now)
    for status in set(ReservationStatus) - {RS.HELD, RS.CONFIRMED}:
        assert not appointment.occupies(status, now + timedelta(hours=1), now)
    assert appointment.is_live_hold(RS.HELD, now + timedelta(seconds=1), now)
    assert not appointment.is_live_hold(RS.HELD, now, now)
    assert not appointment.is_live_hold(RS.CONFIRMED, now + timedelta(hours=1), now)


# ---------------------------------------------------------------- claim units

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # on the 5-minute grid


def _claims(start_min: int, end_min: int, before: int = 0, after: int = 0, resource: int = 1) -> set[str]:
    return set(capacity.claim_units(resource, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min), before, after))


def test_claim_units_cover_the_interval_in_5_minute_units():
    keys = capacity.claim_units(7, T0, T0 + timedelta(minutes=30), 0, 0)
    base = int(T0.timestamp()) // 60
    assert keys == [f"7:{base + m}" for m in range(0, 30, 5)]
    assert len(set(keys)) == len(keys)


def test_overlapping_bookings_share_a_key():
    assert _claims(0, 30) & _claims(15, 45)
    assert _claims(0, 60) & _claims(20, 25), "one inside the other"
    assert _claims(0, 30) & _claims(25, 30)


def test_adjacent_bookings_share_no_key():
    assert not _claims(0, 30) & _claims(30, 60)
    assert not _claims(30, 60) & _claims(0, 30)


def test_buffers_extend_the_claim():
    # 15 minutes after the first booking: the next one may start at :45, not :30.
    assert _claims(0, 30, after=15) & _claims(30, 60)
    assert not _claims(0, 30, after=15) & _claims(45, 75)
    # 5 minutes before the second booking.
    assert _claims(0, 30) & _claims(30, 60, before=5)
    assert not _claims(0, 30) & _claims(35, 65, before=5)
    base = int(T0.timestamp()) // 60
    assert _claims(60, 90, before=10, after=10) == {f"1:{base + m}" for m in range(50, 100, 5)}


def test_different_resources_never_share_a_key():
    assert not _claims(0, 30, resource=1) & _claims(0, 30, resource=2)
    assert not _claims(0, 30, resource=1) & _claims(0, 30, resource=11), "1:… must not be a prefix of 11:…"


def test_claims_follow_real_time_across_the_autumn_clock_change():
    # 02:30 happens twice in Oslo on 25 October 2026; the two are an hour apart.
    first = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=OSLO).astimezone(UTC)
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=OSLO).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    a = set(capacity.claim_units(1, first, first + timedelta(minutes=30), 0, 0))
    b = set(capacity.claim_units(1, second, second + timedelta(minutes=30), 0, 0))
    assert not a & b
    c = set(capacity.claim_units(1, first + timedelta(minutes=45), first + timedelta(minutes=75), 0, 0))
    assert a.isdisjoint(c) and c & b, "02:15 (summer time) + 30 min overlaps 02:30 (winter time)"


grid = st.integers(0, 200).map(lambda n: n * 5)
length = st.integers(1, 48).map(lambda n: n * 5)
buffer = st.sampled_from([0, 5, 10, 15, 30])


@PROPS
@given(s1=grid, d1=length, b1=buffer, a1=buffer, s2=grid, d2=length, b2=buffer, a2=buffer)
def test_on_the_grid_keys_are_shared_exactly_when_occupied_intervals_overlap(s1, d1, b1, a1, s2, d2, b2, a2):
    overlap = (s1 - b1) < (s2 + d2 + a2) and (s2 - b2) < (s1 + d1 + a1)
    shared = bool(_claims(s1, s1 + d1, b1, a1) & _claims(s2, s2 + d2, b2, a2))
    assert shared == overlap


@PROPS
@given(s1=st.integers(0, 86_400), d1=st.integers(1, 7_200), s2=st.integers(0, 86_400), d2=st.integers(1, 7_200))
def test_off_the_grid_overlaps_are_still_caught(s1, d1, s2, d2):
    def keys(start_s: int, dur_s: int) -> set[str]:
        start = T0 + timedelta(seconds=start_s)
        return set(capacity.claim_units(1, start, start + timedelta(seconds=dur_s), 0, 0))

    if s1 < s2 + d2 and s2 < s1 + d1:
        assert keys(s1, d1) & keys(s2, d2)


# ---------------------------------------------------------------- early start (L5, L7)

#: (contract moment in Oslo, service start in Oslo, needs the early-start request?)
#: Deadline (L5): the contract date + 14 days (the contract day does not count),
#: to the end of that day; a deadline on a Saturday, Sunday or public holiday
#: moves to the next working day.
EARLY_START_CASES = [
    # Contract Tuesday 6 January 2026 10:00 -> deadline Tuesday 20 January, end of day.
    ((2026, 1, 6, 10, 0), (2026, 1, 6, 14, 0), True),
    ((2026, 1, 6, 10, 0), (2026, 1, 7, 10, 0), True),
    ((2026, 1, 6, 10, 0), (2026, 1, 20, 10, 0), True),
    ((2026, 1, 6, 10, 0), (2026, 1, 20, 23, 0), True),
    ((2026, 1, 6, 10, 0), (2026, 1, 21, 12, 0), False),
    ((2026, 1, 6, 10, 0), (2026, 2, 20, 12, 0), False),
    # Holiday example, start well after the moved deadline (Tuesday 7 April 2026).
    ((2026, 3, 19, 10, 0), (2026, 4, 8, 12, 0), False),
]

#: The deadline is a whole local day; the code counts 15 × 24 hours from the contract moment.
EARLY_START_DAY_BOUNDARY = [
    ((2026, 1, 6, 10, 0), (2026, 1, 21, 8, 0)),  # the day after the deadline, before 10:00
    ((2026, 1, 6, 23, 30), (2026, 1, 21, 0, 15)),  # contract late in the evening
]

#: The weekend / public-holiday extension of L5.
EARLY_START_EXTENDED = [
    # Contract Saturday 10 January 2026: day 14 is Saturday 24th -> deadline Monday 26 January.
    ((2026, 1, 10, 10, 0), (2026, 1, 25, 12, 0)),
    ((2026, 1, 10, 10, 0), (2026, 1, 26, 12, 0)),
    # Contract Thursday 19 March 2026: day 14 is Maundy Thursday 2 April; Good Friday,
    # the weekend and Easter Monday follow -> deadline Tuesday 7 April.
    ((2026, 3, 19, 10, 0), (2026, 4, 3, 12, 0)),
    ((2026, 3, 19, 10, 0), (2026, 4, 6, 12, 0)),
    ((2026, 3, 19, 10, 0), (2026, 4, 7, 12, 0)),
    # Contract Sunday 15 March 2026: day 14 is Sunday 29 March (the day summer time starts)
    # -> deadline Monday 30 March.
    ((2026, 3, 15, 10, 0), (2026, 3, 30, 12, 0)),
]


@pytest.mark.parametrize(("contract", "start", "needed"), EARLY_START_CASES)
def test_needs_early_start_request_for_standard_services(contract, start, needed):
    assert withdrawal.needs_early_start_request("standard", oslo(*start), oslo(*contract)) is needed


@pytest.mark.parametrize(("contract", "start"), EARLY_START_DAY_BOUNDARY)
def test_no_early_start_request_after_the_deadline_day(contract, start):
    assert withdrawal.needs_early_start_request("standard", oslo(*start), oslo(*contract)) is False


@pytest.mark.parametrize(("contract", "start"), EARLY_START_EXTENDED)
def test_early_start_request_needed_until_a_deadline_moved_past_weekend_or_holiday(contract, start):
    assert withdrawal.needs_early_start_request("standard", oslo(*start), oslo(*contract)) is True


@pytest.mark.parametrize("withdrawal_class", ["exempt_dated_leisure", "exempt_custom", "digital_content"])
@pytest.mark.parametrize("days_ahead", [0, 1, 13, 14, 15, 60])
def test_no_early_start_request_outside_the_standard_class(withdrawal_class, days_ahead):
    contract = oslo(2026, 1, 6, 10, 0)
    assert withdrawal.needs_early_start_request(withdrawal_class, contract + timedelta(days=days_ahead, hours=2), contract) is False


# ---------------------------------------------------------------- withdrawal info (L4, L6)


@pytest.mark.parametrize(
    ("withdrawal_class", "applies", "says"),
    [
        ("standard", True, "14 days"),
        ("exempt_dated_leisure", False, "No right of withdrawal"),
        ("exempt_custom", False, "No right of withdrawal"),
        ("digital_content", True, "digital content"),
    ],
)
def test_withdrawal_info(withdrawal_class, applies, says):
    info = withdrawal.withdrawal_info(withdrawal_class)
    assert info.applies is applies
    assert says in info.message


@pytest.mark.parametrize("withdrawal_class", ["", "Standard", "exempt", "none", "standard "])
def test_withdrawal_info_refuses_an_unknown_class(withdrawal_class):
    with pytest.raises(ValueError):
        withdrawal.withdrawal_info(withdrawal_class)


# ---------------------------------------------------------------- references and tokens


def test_reference_alphabet_has_no_lookalikes():
    alphabet = domain.REFERENCE_ALPHABET
    assert len(set(alphabet)) == len(alphabet)
    assert set(alphabet) == set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    assert not set(alphabet) & set("01OIL")
    assert domain.REFERENCE_LENGTH == 6


def test_new_references_use_only_the_alphabet():
    pattern = re.compile(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}")
    references = [domain.new_reference() for _ in range(3000)]
    assert all(pattern.fullmatch(r) for r in references)
    assert len(set(references)) > 2990, "31^6 ≈ 887 million: repeats in 3000 draws are vanishingly rare"
    assert set("".join(references)) == set(domain.REFERENCE_ALPHABET), "every letter gets used"


def test_tokens_are_long_url_safe_and_unique():
    tokens = {domain.new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32,}", t) for t in tokens)


# ---------------------------------------------------------------- the checkout form

VALID = {
    "name": "Kari Nordmann",
    "phone": "412 34 567",
    "email": "kari@example.no",
    "note": "",
    "accept_terms": "on",
    "adult": "on",
    "early_start": "on",
}


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("412 34 567", "+4741234567"),
        ("41234567", "+4741234567"),
        ("+47 412 34 567", "+4741234567"),
        ("+4741234567", "+4741234567"),
        ("0047 41234567", "+4741234567"),
        ("  41 23 45 67  ", "+4741234567"),
        ("912 34 567", "+4791234567"),
        ("+46 70 123 45 67", "+46701234567"),  # Sweden
        ("+45 20 12 34 56", "+4520123456"),  # Denmark
    ],
)
def test_phone_numbers_with_and_without_country_code(raw, e164):
    assert parse_phone(raw) == e164
    result = parse_checkout({**VALID, "phone": raw}, needs_early_start=False)
    assert result.ok, result.errors
    assert result.phone_e164 == e164


@pytest.mark.parametrize(
    "raw",
    ["12", "abc", "4123456", "412345678", "12345678", "+47 12345678", "+999 1234567", "41 23 45 6x", "22 35 04 17", "800 12 345"],
)
def test_invalid_phone_numbers_are_refused(raw):
    assert parse_phone(raw) is None
    result = parse_checkout({**VALID, "phone": raw}, needs_early_start=False)
    assert set(result.errors) == {"phone"}
    assert result.phone_e164 == ""


def test_missing_phone_has_its_own_message():
    result = parse_checkout({**VALID, "phone": "   "}, needs_early_start=False)
    assert result.errors == {"phone": "Enter your mobile number."}


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("kari@example.no", "kari@example.no"),
        ("  kari@example.no ", "kari@example.no"),
        ("Kari.Nordmann@Example.NO", "Kari.Nordmann@example.no"),
        ("kåre@eksempel.no", "kåre@eksempel.no"),
    ],
)
def test_valid_email_is_normalized(raw, normalized):
    result = parse_checkout({**VALID, "email": raw}, needs_early_start=False)
    assert result.ok, result.errors
    assert result.email_normalized == normalized


@pytest.mark.parametrize(
    "raw",
    ["kari", "kari@", "@example.no", "kari@@example.no", "kari@example", "kari @example.no", "kari@exa mple.no", "a" * 250 + "@example.no"],
)
def test_invalid_email_is_refused(raw):
    result = parse_checkout({**VALID, "email": raw}, needs_early_start=False)
    assert set(result.errors) == {"email"}
    assert result.email_normalized == ""


def test_missing_email_has_its_own_message():
    result = parse_checkout({k: v for k, v in VALID.items() if k != "email"}, needs_early_start=False)
    assert result.errors == {"email": "Enter your email address."}


@pytest.mark.parametrize("ticked", ["on", "ON", "On", "1", "true", "True", "yes", " on "])
def test_ticks_that_count(ticked):
    form = {**VALID, "accept_terms": ticked, "adult": ticked, "early_start": ticked}
    result = parse_checkout(form, needs_early_start=True)
    assert result.ok, result.errors
    assert result.values.accept_terms and result.values.adult and result.values.early_start


@pytest.mark.parametrize("unticked", ["", "off", "0", "no", "false", "checked", None, ["on", "on"], []])
def test_anything_else_is_not_a_tick(unticked):
    form = {**VALID, "accept_terms": unticked, "adult": unticked, "early_start": unticked}
    result = parse_checkout(form, needs_early_start=True)
    assert set(result.errors) == {"accept_terms", "adult", "early_start"}


def test_missing_ticks_are_refused_each_with_its_own_message():
    form = {k: v for k, v in VALID.items() if k not in {"accept_terms", "adult", "early_start"}}
    result = parse_checkout(form, needs_early_start=True)
    assert result.errors == {
        "accept_terms": "You must accept the terms to book.",
        "adult": "You must be 18 or older to book.",
        "early_start": (
            "This appointment is within the 14-day withdrawal period: tick the box to ask us to start early, "
            "or choose a later time."
        ),
    }


def test_early_start_is_not_required_when_not_needed():
    form = {k: v for k, v in VALID.items() if k != "early_start"}
    result = parse_checkout(form, needs_early_start=False)
    assert result.ok, result.errors
    assert result.values.early_start is False


def test_name_rules():
    assert parse_checkout({**VALID, "name": ""}, needs_early_start=False).errors == {"name": "Enter your name."}
    assert parse_checkout({**VALID, "name": " \t "}, needs_early_start=False).errors == {"name": "Enter your name."}
    assert parse_checkout({**VALID, "name": "\x00\x01\x1b"}, needs_early_start=False).errors == {"name": "Enter your name."}
    assert parse_checkout({**VALID, "name": "Å" * MAX_NAME}, needs_early_start=False).ok
    too_long = parse_checkout({**VALID, "name": "Å" * (MAX_NAME + 1)}, needs_early_start=False)
    assert set(too_long.errors) == {"name"}
    assert len(too_long.values.name) <= MAX_NAME + 1, "the echo back is capped"


def test_control_characters_are_removed_from_name_and_note():
    form = {**VALID, "name": " Kari\x00 Nord\x1bmann\r ", "note": "linje 1\nlinje\x07 2\tok"}
    result = parse_checkout(form, needs_early_start=False)
    assert result.ok, result.errors
    assert result.values.name == "Kari Nordmann"
    assert result.values.note == "linje 1\nlinje 2\tok"


def test_del_and_c1_control_characters_are_removed_too():
    result = parse_checkout({**VALID, "name": "Kari\x7f Nord\x85mann\x9b"}, needs_early_start=False)
    assert result.values.name == "Kari Nordmann"


def test_note_rules():
    assert parse_checkout({**VALID, "note": "x" * MAX_NOTE}, needs_early_start=False).ok
    assert set(parse_checkout({**VALID, "note": "x" * (MAX_NOTE + 1)}, needs_early_start=False).errors) == {"note"}


def test_list_values_take_the_first_text():
    result = parse_checkout({**VALID, "name": ["Kari Nordmann", "Ola"], "phone": ["41234567"]}, needs_early_start=False)
    assert result.ok, result.errors
    assert result.values.name == "Kari Nordmann"
    assert result.phone_e164 == "+4741234567"


def test_an_empty_form_names_every_required_field():
    result = parse_checkout({}, needs_early_start=True)
    assert set(result.errors) == {"name", "phone", "email", "accept_terms", "adult", "early_start"}


@PROPS
@given(
    form=st.dictionaries(
        st.sampled_from(list(VALID) + ["other"]),
        st.one_of(st.text(max_size=300), st.lists(st.text(max_size=50), max_size=3), st.none()),
    ),
    needs_early_start=st.booleans(),
)
def test_parse_checkout_is_total(form, needs_early_start):
    result = parse_checkout(form, needs_early_start=needs_early_start)
    assert set(result.errors) <= {"name", "phone", "email", "note", "accept_terms", "adult", "early_start"}
    if result.ok:
        assert result.values.name and len(result.values.name) <= MAX_NAME
        assert result.phone_e164.startswith("+")
        assert "@" in result.email_normalized
        assert result.values.accept_terms and result.values.adult
        assert result.values.early_start or not needs_early_start


# ---------------------------------------------------------------- registering a supplier


def test_a_supplier_slug_is_plain_ascii_from_name_and_town():
    from portal.catalogue.domain import slug_for

    assert slug_for("Klipp & Krøll", "Bergen") == "klipp-kroll-bergen"
    assert slug_for("Ærlig Årstid", "Tromsø") == "aerlig-arstid-tromso"
    assert slug_for("Café Müller") == "cafe-muller"
    assert slug_for("!!!") == "leverandor"
    assert len(slug_for("x" * 300)) <= 70


def test_a_supplier_draft_is_stored_the_way_registers_write_it():
    from portal.catalogue.domain import SupplierDraft, check_supplier

    draft = SupplierDraft(name="  Klipp   og Krøll ", org_number="974 760 673", email="Post@Klipp.no", phone="55 12 34 56", street="Strandgaten 1", postcode="5013", town="Bergen", category="hair", company_form="as")
    checked, problems = check_supplier(draft)
    assert problems == {}
    assert (checked.name, checked.legal_name, checked.org_number, checked.phone, checked.email, checked.company_form) == (
        "Klipp og Krøll", "Klipp og Krøll", "974760673", "+4755123456", "Post@klipp.no", "AS",
    )  # fmt: skip
    _, problems = check_supplier(SupplierDraft(name="X", org_number="974760673", email="a@b.no", phone="55123456", street="G 1", postcode="５０１３", town="B", category="sauna", company_form="LTD"))
    assert set(problems) == {"postcode", "category", "company_form"}

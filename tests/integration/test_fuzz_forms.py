"""Property tests: whatever is typed or tampered with, no input produces a 5xx,
bad input gets a page with a clear status, and nothing is written
(DESIGN invariant 6)."""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from portal.capacity.tables import SlotClaim
from portal.kinds.appointment.tables import Reservation
from portal.lib import clock
from portal.orders.tables import Order, OrderLine
from portal.sales.forms import parse_checkout
from tests.integration.helpers import csrf, first_free_slot
from tests.integration.staff import staff_login

HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
WHY = "/kontor/saks-og-stil-grunerlokka/hvorfor"
OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc

#: PostgreSQL runs take a fresh connection per query in tests: fewer examples keep the file near a minute.
EXAMPLES = 20 if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) else 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- strategies

#: Any character a browser can send (lone surrogates cannot be encoded).
CHAR = st.characters(exclude_categories=("Cs",))
CONTROL = st.characters(max_codepoint=0x9F, exclude_categories=("Cs",)).filter(lambda c: unicodedata.category(c) == "Cc")
TEXT = st.one_of(
    st.text(CHAR, max_size=40),
    st.text(CONTROL, min_size=1, max_size=10),
    st.text(st.sampled_from("æøåÆØÅü€😀\u202e\u200b\ufeff<>\"'&%;=+ \t\r\n\x00"), max_size=20),
    st.builds(lambda chunk, n: chunk * n, st.text(CHAR, min_size=1, max_size=4), st.integers(100, 3000)),
    st.sampled_from(["", " ", "on", "off", "1", "true", "null", "NaN", "-1", "0", "9" * 50, "41234567", "kari@example.no"]),
)
VALUE = st.one_of(TEXT, st.lists(TEXT, max_size=3))
#: Query strings: long values are capped so the URL stays under httpx's 64 KiB limit (browsers stop far earlier).
QTEXT = st.one_of(
    st.text(CHAR, max_size=40),
    st.text(CONTROL, min_size=1, max_size=10),
    st.text(st.sampled_from("æøåÆØÅü€😀\u202e\u200b\ufeff<>\"'&%;=+#?/ \t\r\n\x00"), max_size=20),
    st.builds(lambda chunk, n: (chunk * n)[:600], st.text(CHAR, min_size=1, max_size=4), st.integers(100, 600)),
    st.sampled_from(["", " ", "hair", "Tromsø", "TROMSØ", "saks", "null", "-1", "9" * 50]),
)
QVALUE = st.one_of(QTEXT, st.lists(QTEXT, max_size=2))

CHECKOUT_FIELDS = ("name", "phone", "email", "note", "accept_terms", "adult", "early_start")
CHECKOUT_FORM = st.fixed_dictionaries({}, optional={field: VALUE for field in CHECKOUT_FIELDS}).flatmap(
    lambda form: st.dictionaries(st.text(CHAR, min_size=1, max_size=10), TEXT, max_size=3).map(
        lambda extra: {**{k: v for k, v in extra.items() if k != "_csrf_token"}, **form}
    )
)


def as_received(form: dict) -> dict:
    """The form as the server parses it: one value stays a string, repeats become a list."""
    received = {}
    for key, value in form.items():
        if isinstance(value, list):
            if value:
                received[key] = value[0] if len(value) == 1 else value
        else:
            received[key] = value
    return received


def is_page(response) -> bool:
    return "text/html" in response.headers.get("content-type", "") and "<html" in response.text


async def snapshot() -> tuple:
    """Every order with its lines and reservations, and every claim, as stored."""
    return (
        await Order.select().order_by(Order.id),
        await OrderLine.select().order_by(OrderLine.id),
        await Reservation.select().order_by(Reservation.id),
        await SlotClaim.select().order_by(SlotClaim.id),
    )


async def hold_time(client) -> tuple[str, str]:
    start, token = await first_free_slot(client, HAIRCUT)
    response = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    return response.headers["location"], start


# ---------------------------------------------------------------- checkout


@FUZZ
@given(form=CHECKOUT_FORM)
async def test_checkout_never_fails_and_invalid_input_writes_nothing(client, form):
    if not hasattr(client, "_fuzz_checkout"):
        url, _ = await hold_time(client)
        page = await client.get(url)
        client._fuzz_checkout = (url, csrf(page.text), 'name="early_start"' in page.text)
    url, token, needs_early_start = client._fuzz_checkout
    assume(not parse_checkout(as_received(form), needs_early_start=needs_early_start).ok)

    before = await snapshot()
    response = await client.post(url, data={**form, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 422, response.text[:500]
    assert is_page(response)
    assert 'id="form-errors"' in response.text
    assert await snapshot() == before


# ---------------------------------------------------------------- hold

AWARE_ZONES = st.sampled_from(
    [UTC, OSLO, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(minutes=-30))]
)


def iso(moment: datetime, style: str) -> str:
    if style == "space":
        return moment.isoformat(sep=" ")
    if style == "z" and moment.utcoffset() == timedelta(0):
        return moment.isoformat().replace("+00:00", "Z")
    return moment.isoformat()


ISO_STYLE = st.sampled_from(["t", "space", "z"])
GARBAGE = TEXT.filter(lambda s: not _is_aware_iso(s))
NAIVE = st.builds(iso, st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), ISO_STYLE)
#: The extreme first and last days of the calendar are a known bug (see test_hold_at_the_ends_of_the_calendar).
AWARE = st.builds(
    iso, st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=AWARE_ZONES), ISO_STYLE
)


def _is_aware_iso(raw: str) -> bool:
    try:
        return datetime.fromisoformat(raw).tzinfo is not None
    except (ValueError, TypeError):
        return False


@st.composite
def not_offered(draw) -> str:
    """Aware start times the haircut never offers, relative to now."""
    now = clock.now()
    kind = draw(st.sampled_from(["past", "far_future", "outside_hours", "off_grid"]))
    if kind == "past":
        moment = now - draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3650)))
    elif kind == "far_future":
        moment = now + draw(st.timedeltas(min_value=timedelta(days=95), max_value=timedelta(days=365 * 200)))
    elif kind == "outside_hours":
        day = clock.local_today(now) + timedelta(days=draw(st.integers(1, 50)))
        quarter = draw(st.one_of(st.integers(0, 8 * 4 - 1), st.integers(20 * 4, 24 * 4 - 1)))  # 00:00–07:45, 20:00–23:45
        moment = datetime.combine(day, time(quarter // 4, (quarter % 4) * 15), tzinfo=OSLO)
    else:
        day = clock.local_today(now) + timedelta(days=draw(st.integers(1, 50)))
        wall = datetime.combine(day, time(draw(st.integers(8, 19))), tzinfo=OSLO)
        off = draw(
            st.one_of(st.integers(1, 14).map(lambda m: timedelta(minutes=m)), st.integers(1, 59).map(lambda s: timedelta(seconds=s)))
        )
        moment = wall + timedelta(minutes=15 * draw(st.integers(0, 3))) + off
    zone = draw(AWARE_ZONES)
    return iso(moment.astimezone(zone), draw(ISO_STYLE))


async def _hold_token(client) -> str:
    if not hasattr(client, "_fuzz_token"):
        client._fuzz_token = csrf((await client.get(HAIRCUT)).text)
    return client._fuzz_token


async def _post_hold(client, data: dict):
    before = await snapshot()
    token = await _hold_token(client)
    response = await client.post(f"{HAIRCUT}/hold", data={**data, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code < 500, response.text[:500]
    return response, before


@FUZZ
@given(start=st.one_of(GARBAGE, NAIVE), resource=st.one_of(st.none(), TEXT))
async def test_hold_with_garbage_or_naive_times_is_422_and_writes_nothing(client, start, resource):
    data = {"start": start} if resource is None else {"start": start, "resource": resource}
    response, before = await _post_hold(client, data)
    assert response.status_code == 422, (start, response.status_code)
    assert is_page(response)
    assert await snapshot() == before


@FUZZ
@given(start=not_offered(), resource=st.one_of(st.none(), TEXT))
async def test_hold_of_a_time_not_offered_is_409_and_writes_nothing(client, start, resource):
    data = {"start": start} if resource is None else {"start": start, "resource": resource}
    response, before = await _post_hold(client, data)
    assert response.status_code == 409, (start, response.status_code)
    assert is_page(response)
    assert await snapshot() == before


@FUZZ
@given(start=AWARE, resource=st.one_of(st.none(), TEXT))
@example(start="2000-01-01T00:00:00+00:00", resource="²")  # a digit to str.isdigit(), not to int() (found in CI)
async def test_hold_of_any_aware_time_never_fails(client, start, resource):
    data = {"start": start} if resource is None else {"start": start, "resource": resource}
    response, before = await _post_hold(client, data)
    assert response.status_code in (303, 409), (start, response.status_code)
    if response.status_code == 409:
        assert is_page(response)
        assert await snapshot() == before


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"start": ["2026-12-01T10:00:00+01:00", "2026-12-01T10:15:00+01:00"]}, id="start-list"),
        pytest.param({"start": "2026-12-01T10:00:00+01:00", "resource": ["1", "2"]}, id="resource-list"),
    ],
)
async def test_hold_with_repeated_fields_is_not_a_server_error(client, data):
    """A field sent twice counts as not sent: a repeated start is refused; a
    repeated person means "any available" and may hold a time."""
    response, before = await _post_hold(client, data)
    if isinstance(data.get("resource"), list):
        assert response.status_code in (303, 409)
        return
    assert response.status_code in (409, 422)
    assert await snapshot() == before


@pytest.mark.parametrize(
    "start",
    ["9999-12-31T23:59:00+00:00", "9999-12-25T10:00:00+01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+00:00"],
)
async def test_hold_at_the_ends_of_the_calendar(client, start):
    response, before = await _post_hold(client, {"start": start})
    assert response.status_code in (409, 422)
    assert await snapshot() == before


# ---------------------------------------------------------------- search and offering page

HEADERS = st.sampled_from(
    [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Target": "slots"}, {"HX-Request": "true", "HX-Target": "picker"}]
)


@FUZZ
@given(
    params=st.fixed_dictionaries({}, optional={"q": QVALUE, "category": QVALUE, "town": QVALUE}),
    headers=HEADERS,
)
async def test_search_never_fails(client, params, headers):
    response = await client.get("/", params=params, headers=headers)
    assert response.status_code < 500, response.text[:500]
    if response.status_code == 200:
        assert 'id="results"' in response.text


DAY = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "2026-W01-1", "20261201", "+1-01-01"]),
    QTEXT,
)
RESOURCE = st.one_of(st.integers(-(2**70), 2**70).map(str), QTEXT)


@FUZZ
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "day": st.one_of(DAY, st.lists(DAY, max_size=2)),
            "resource": st.one_of(RESOURCE, st.lists(RESOURCE, max_size=2)),
        },
    ),
    headers=HEADERS,
)
async def test_offering_page_never_fails(client, params, headers):
    response = await client.get(HAIRCUT, params=params, headers=headers)
    assert response.status_code < 500, response.text[:500]
    if response.status_code == 200:
        assert 'id="slots"' in response.text


# ---------------------------------------------------------------- the why page (back office)

WHY_NAMES = {"at": "tid", "resource": "ressurs"}


async def _as_owner(client) -> None:
    if "pk" not in client.cookies:
        await staff_login(client, "saks-og-stil-grunerlokka")


LOCAL = st.builds(
    lambda moment, seconds: moment.isoformat(timespec="seconds" if seconds else "minutes"),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.booleans(),
)


@FUZZ
@given(
    params=st.fixed_dictionaries({}, optional={"at": st.one_of(LOCAL, AWARE, QTEXT), "resource": RESOURCE}),
)
async def test_why_page_never_fails(client, params):
    await _as_owner(client)
    response = await client.get(WHY, params={"tilbud": "herreklipp", **{WHY_NAMES[k]: v for k, v in params.items()}})
    assert response.status_code < 500, response.text[:500]
    assert is_page(response)


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "9999-12-31T23:59"])
async def test_why_page_at_the_ends_of_the_calendar(client, at):
    await _as_owner(client)
    response = await client.get(WHY, params={"tid": at})
    assert response.status_code < 500

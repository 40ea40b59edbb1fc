"""Calendar feeds and the morning agenda as pure rules: tokens, the .ics, when an agenda is due."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from icalendar import Calendar

from portal.calendarfeed import domain
from portal.lib import clock

OSLO = clock.OSLO


def _booking(**kw) -> domain.FeedBooking:
    values = dict(
        reservation_id=41, order_id=7, reference="AB12CD", start=datetime(2026, 12, 7, 9, 0, tzinfo=clock.UTC), end=datetime(2026, 12, 7, 9, 45, tzinfo=clock.UTC),
        sequence=2, updated_at=datetime(2026, 12, 1, 8, 0, tzinfo=clock.UTC), service="Herreklipp", customer_name="Kari Nordmann",
        customer_note="Kort i nakken, takk; gjerne", customer_phone="", resource_name="Ingrid", online=False, status="confirmed",
    )  # fmt: skip
    values.update(kw)
    return domain.FeedBooking(**values)


def test_a_token_is_long_random_and_only_its_hash_names_it():
    a, b = domain.new_token(), domain.new_token()
    assert a != b and len(a) >= 32
    assert domain.token_hash(a) != a and len(domain.token_hash(a)) == 64
    assert domain.token_of(f"{a}.ics") == a
    for bad in (a, f"{a}.ical", "kort.ics", f"{a[:10]}/../{a}.ics", f"{a}%00.ics", f"{'x' * 80}.ics"):
        assert domain.token_of(bad) is None, bad
    assert domain.webcal("https://portal.example/kalender/x.ics") == "webcal://portal.example/kalender/x.ics"


def test_the_feed_is_a_subscribable_calendar_with_one_stable_event_per_booking():
    moved = _booking(reservation_id=42, start=datetime(2026, 12, 8, 14, 0, tzinfo=clock.UTC), end=datetime(2026, 12, 8, 15, 0, tzinfo=clock.UTC),
                     online=True, status="no_show", customer_phone="+47 412 34 567")  # fmt: skip
    body = domain.feed_ics(
        name="Saks og Stil", bookings=[_booking(), moved], host="portal.example", address="Thorvald Meyers gate 1, 0555 Oslo",
        backoffice_url=lambda b: f"https://portal.example/kontor/saks/ordre/{b.order_id}", show_resource=True,
    )  # fmt: skip
    cal = Calendar.from_ical(body)
    assert str(cal["version"]) == "2.0" and "portal" in str(cal["prodid"]) and str(cal["x-wr-calname"]) == "Saks og Stil"
    assert cal["refresh-interval"].dt == timedelta(minutes=15) and str(cal["x-published-ttl"]) == "PT15M"
    first, second = cal.events
    assert str(first["uid"]) == "reservation-41@portal.example" and str(second["uid"]) == "reservation-42@portal.example"
    assert first.decoded("dtstart") == datetime(2026, 12, 7, 9, 0, tzinfo=clock.UTC) and b"DTSTART:20261207T090000Z" in body
    assert int(first["sequence"]) == 2 and str(first["summary"]) == "Herreklipp — Kari Nordmann"
    text = str(first["description"])
    assert "AB12CD" in text and "Kort i nakken, takk; gjerne" in text and "https://portal.example/kontor/saks/ordre/7" in text and "Ingrid" in text
    assert "+47" not in text
    assert str(first["location"]) == "Thorvald Meyers gate 1, 0555 Oslo" and str(second["location"]) == "På nett"
    assert "+47 412 34 567" in str(second["description"]) and "Møtte ikke" in str(second["description"])


def test_the_agenda_is_due_from_seven_until_ten_oslo_time_also_when_the_clocks_change():
    for day in (date(2026, 3, 29), date(2026, 10, 25), date(2026, 12, 7)):  # summer time starts, ends, winter
        seven = datetime.combine(day, time(7, 0), OSLO)
        assert domain.agenda_day(seven - timedelta(minutes=1)) is None
        assert domain.agenda_day(seven) == day
        assert domain.agenda_day(seven.astimezone(clock.UTC) + timedelta(minutes=5)) == day
        assert domain.agenda_day(datetime.combine(day, time(10, 0), OSLO)) is None
        start, end = domain.day_bounds(day)
        assert start == datetime.combine(day, time(0), OSLO) and clock.to_local(end).date() == day + timedelta(days=1)
    assert domain.day_bounds(date(2026, 3, 29))[1] - domain.day_bounds(date(2026, 3, 29))[0] == timedelta(hours=23)
    assert domain.agenda_dedupe_key(3, 1, date(2026, 12, 7)) == "agenda:3:1:2026-12-07"


def test_only_the_owner_manages_the_whole_feed_and_the_phone_numbers():
    assert domain.may_manage_supplier_feed("owner") and domain.may_choose_phone("owner")
    for role in ("front_desk", "staff", "nobody"):
        assert not domain.may_manage_supplier_feed(role) and not domain.may_choose_phone(role)
    assert domain.sees_all("owner") and domain.sees_all("front_desk") and not domain.sees_all("staff")

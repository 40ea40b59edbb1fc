"""An online booking's own video meeting room (M16): stored on the
reservation when the booking is confirmed, in the confirmation and the
reminder (email and SMS), on the customer's booking page from 15 minutes
before the start, and on the supplier's booking page."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import time_machine

from portal.kinds.appointment.tables import Reservation
from portal.orders import service as orders
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import confirm_with_code, first_free_slot
from tests.integration.staff import staff_login

VIDEO = "/s/lunde-radgivning/videokonsultasjon"
HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
MEET = "https://meet.jit.si/"


async def booked(client, path: str) -> tuple[dict, dict, list[dict]]:
    """A confirmed booking paid on site: (order, reservation, its messages to the customer)."""
    start, token = await first_free_slot(client, path)
    held = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert held.status_code == 303
    checkout_token = held.headers["location"].rsplit("/", 1)[1]
    done = await confirm_with_code(client, f"/checkout/{checkout_token}", {"means": "onsite"})
    assert done.status_code == 303, done.text[:300]
    order = await orders.by_checkout_token(checkout_token)
    (reservation,) = await Reservation.select().where(Reservation.order == order["id"])
    messages = await (
        OutboxMessage.select(OutboxMessage.channel, OutboxMessage.topic, OutboxMessage.recipient, OutboxMessage.payload)
        .output(load_json=True)
        .where((OutboxMessage.order_id == order["id"]) & (OutboxMessage.topic != "code") & (OutboxMessage.recipient.is_in([order["email"], order["phone"]])))
    )
    return order, reservation, messages


def by(messages: list[dict], channel: str, topic: str) -> dict:
    (found,) = [m["payload"] for m in messages if m["channel"] == channel and m["topic"] == topic]
    return found


async def test_an_online_booking_gets_its_own_room_in_its_messages_and_an_in_person_one_none(client):
    order, reservation, messages = await booked(client, VIDEO)
    link = reservation["meeting_url"]
    assert link.startswith(MEET) and len(link) > len(MEET) + 20
    confirmation = by(messages, "email", "confirmation")
    assert link in confirmation["text"] and f'href="{link}"' in confirmation["html"]
    assert "Bli med i videomøtet" in confirmation["text"] and f"LOCATION:{link}" in confirmation["ics"].replace("\r\n ", "")
    assert link in by(messages, "email", "reminder")["text"]
    assert link in by(messages, "sms", "confirmation")["text"] and link in by(messages, "sms", "reminder")["text"]

    # The supplier sees the same link on its booking page.
    await staff_login(client, "lunde-radgivning")
    backoffice = await client.get(f"/kontor/lunde-radgivning/ordre/{order['id']}")
    assert backoffice.status_code == 200 and f'href="{link}"' in backoffice.text

    # A second online booking has another room; an in-person booking has none.
    _, other, _ = await booked(client, VIDEO)
    assert other["meeting_url"].startswith(MEET) and other["meeting_url"] != link
    _, salon, salon_messages = await booked(client, HAIRCUT)
    assert salon["meeting_url"] == ""
    salon_confirmation = by(salon_messages, "email", "confirmation")
    for text in (salon_confirmation["text"], salon_confirmation["html"], by(salon_messages, "sms", "confirmation")["text"]):
        assert MEET not in text and "videomøte" not in text.lower()


async def test_the_booking_page_shows_the_link_only_from_fifteen_minutes_before_the_start(client):
    order, reservation, _ = await booked(client, VIDEO)
    link, start, end = reservation["meeting_url"], reservation["start"], reservation["end"]
    page = f"/b/{order['manage_token']}"

    with time_machine.travel(start - timedelta(minutes=16), tick=False):
        early = unescape((await client.get(page)).text)
    assert link not in early and "Lenken kommer her 15 minutter før start" in early

    with time_machine.travel(start - timedelta(minutes=15), tick=False):
        ready = (await client.get(page)).text
    assert f'href="{link}"' in ready and "Bli med i videomøtet" in unescape(ready)

    with time_machine.travel(end + timedelta(minutes=1), tick=False):
        over = unescape((await client.get(page)).text)
    assert link not in over and "Lenken kommer her" not in over

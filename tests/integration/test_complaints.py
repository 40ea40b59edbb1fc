"""Complaints (L23) over HTTP: the customer sends one with a photo from the
order page, the supplier is emailed, answers in the back office, and the
customer sees the answer and gets it by email; bad input is refused with a
message next to the field and stores nothing. (Another supplier's
complaints are in the tenant sweep of test_backoffice.py.)"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from PIL import Image, PngImagePlugin

from portal.complaints.tables import Complaint, ComplaintPhoto
from portal.lib import clock
from portal.notify import service as notify
from portal.outbox.tables import OutboxMessage
from tests.integration.helpers import csrf
from tests.integration.staff import staff_login
from tests.integration.test_backoffice import SALON, book, says


def png(**text: str) -> bytes:
    """A small PNG; `text` goes into tEXt chunks (metadata the portal must not keep)."""
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (180, 40, 40)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def complaint_rows() -> tuple[int, int, int]:
    return await Complaint.count(), await ComplaintPhoto.count(), await OutboxMessage.count().where(OutboxMessage.topic.is_in(["complaint", "complaint_answer"]))


async def send(client, token: str, text: str, files: dict | None = None):
    form = await client.get(f"/b/{token}/klage")
    assert form.status_code == 200
    return await client.post(f"/b/{token}/klage", data={"_csrf_token": csrf(form.text), "text": text}, files=files or {}, follow_redirects=False)


@pytest.mark.legal("L23")
async def test_a_complaint_with_a_photo_goes_to_the_supplier_and_the_answer_comes_back_to_the_customer(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    token = order["manage_token"]
    page = await client.get(f"/b/{token}")
    assert says(page.text, "Send en klage") and says(page.text, "to år etter tjenesten")  # the time limits are shown

    sent = await send(client, token, "Klippen ble skjev på venstre side.\nJeg vil ha den rettet.", {"photo": ("skjev.png", png(Comment="hemmelig GPS"), "image/png")})
    assert sent.status_code == 303 and sent.headers["location"] == f"/b/{token}#complaints"
    complaint = await Complaint.select().where(Complaint.order == order["id"]).first()
    assert complaint["status"] == "new" and complaint["photo_format"] == "png" and complaint["supplier"] == order["supplier"]
    stored = await ComplaintPhoto.select().where(ComplaintPhoto.complaint == complaint["id"]).first()
    assert bytes(stored["content"]).startswith(b"\x89PNG") and b"hemmelig" not in bytes(stored["content"])  # re-encoded, metadata gone

    # Forwarded to the supplier by email, with a link to the complaint in the back office; not in the customer's log.
    forwarded = await OutboxMessage.select().output(load_json=True).where(OutboxMessage.topic == "complaint").first()
    assert forwarded["recipient"] == "post@saksogstil.eksempel.no" and forwarded["order_id"] == order["id"]
    assert "Klippen ble skjev" in forwarded["payload"]["text"] and f"/kontor/{SALON}/klager/{complaint['id']}" in forwarded["payload"]["text"]
    assert all(row["topic"] != "complaint" for row in await notify.delivery_log(order["id"]))
    page = await client.get(f"/b/{token}")
    assert says(page.text, "Sendt til selgeren") and "Klippen ble skjev" in page.text

    # The supplier: the list, the complaint with its photo, the booking page.
    await staff_login(client, SALON, "front_desk")
    listing = await client.get(f"/kontor/{SALON}/klager", params={"status": "new"})
    assert listing.status_code == 200 and order["reference"] in listing.text and says(listing.text, "Ny (1)")
    photo = await client.get(f"/kontor/{SALON}/klager/{complaint['id']}/bilde")
    assert photo.status_code == 200 and photo.content == bytes(stored["content"])
    assert photo.headers["content-type"] == "image/png" and photo.headers["content-disposition"].startswith("inline") and photo.headers["x-content-type-options"] == "nosniff"
    booking = await client.get(f"/kontor/{SALON}/ordre/{order['id']}")
    assert "Klippen ble skjev" in booking.text and f"/kontor/{SALON}/klager/{complaint['id']}" in booking.text

    shown = await client.get(f"/kontor/{SALON}/klager/{complaint['id']}")
    empty = await client.post(f"/kontor/{SALON}/klager/{complaint['id']}", data={"_csrf_token": csrf(shown.text), "action": "answer", "answer": "  "})
    assert empty.status_code == 422 and says(empty.text, "Skriv svaret først.")
    answered = await client.post(
        f"/kontor/{SALON}/klager/{complaint['id']}", data={"_csrf_token": csrf(shown.text), "action": "answer", "answer": "Beklager! Kom innom, vi retter det gratis."}, follow_redirects=False
    )
    assert answered.status_code == 303
    again = await client.post(f"/kontor/{SALON}/klager/{complaint['id']}", data={"_csrf_token": csrf(shown.text), "action": "answer", "answer": "Nytt svar"})
    assert again.status_code == 409  # one answer; the second changes nothing
    assert (await Complaint.select(Complaint.status, Complaint.answer).where(Complaint.id == complaint["id"]).first()) == {"status": "answered", "answer": "Beklager! Kom innom, vi retter det gratis."}

    # The customer gets it by email (Reply-To the supplier) and sees it on the order page.
    mail = await OutboxMessage.select().output(load_json=True).where(OutboxMessage.topic == "complaint_answer").first()
    assert mail["recipient"] == order["email"] and "vi retter det gratis" in mail["payload"]["text"] and mail["payload"]["reply_to"] == "post@saksogstil.eksempel.no"
    assert f"/b/{token}" in mail["payload"]["text"]
    assert [row["topic"] for row in await notify.delivery_log(order["id"])].count("complaint_answer") == 1
    page = await client.get(f"/b/{token}")
    assert says(page.text, "Besvart") and "vi retter det gratis" in page.text

    closed = await client.post(f"/kontor/{SALON}/klager/{complaint['id']}", data={"_csrf_token": csrf(shown.text), "action": "close"}, follow_redirects=False)
    assert closed.status_code == 303
    assert says((await client.get(f"/b/{token}")).text, "Avsluttet av selgeren")
    # A second one without a photo: a browser sends the empty file field as a part with no name and no bytes.
    assert (await send(client, token, "Og håret klør.", {"photo": ("", b"", "application/octet-stream")})).status_code == 303
    assert [c["photo_format"] for c in await Complaint.select(Complaint.photo_format).where(Complaint.order == order["id"]).order_by(Complaint.id)] == ["png", ""]


@pytest.mark.legal("L23")
async def test_a_bad_complaint_gets_a_message_next_to_its_field_and_nothing_is_stored(client):
    order = await book(client, f"/s/{SALON}/herreklipp")
    token = order["manage_token"]
    before = await complaint_rows()
    cases = [
        ("Se vedlagt bilde.", {"photo": ("bilde.png", b"Dette er bare tekst, ikke et bilde.\n", "image/png")}, "photo", "Bare bilder: et JPEG-, PNG- eller WebP-bilde."),
        ("Se vedlagt bilde.", {"photo": ("bilde.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")}, "photo", "Bildet kunne ikke leses."),
        ("Se vedlagt bilde.", {"photo": ("stort.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (8 * 1024 * 1024), "image/png")}, "photo", "Bildet er for stort"),
        ("", {}, "text", "Beskriv hva som er galt."),
        ("x" * 4001, {}, "text", "Skriv høyst 4000 tegn."),
    ]
    for text, files, field, message in cases:
        refused = await send(client, token, text, files)
        assert refused.status_code == 422, (field, message)
        assert f'id="{field}-error"' in refused.text and says(refused.text, message), (field, message)
    # Without the CSRF field the multipart form is refused before anything runs.
    no_token = await client.post(f"/b/{token}/klage", data={"text": "Hei"}, files={"photo": ("a.png", png(), "image/png")})
    assert no_token.status_code == 403
    assert await complaint_rows() == before
    # Past the limit that applies to services (two years after the appointment), the form says so and takes nothing.
    token_field = csrf((await client.get(f"/b/{token}/klage")).text)
    with time_machine.travel(order["reservations"][0]["end"] + timedelta(days=2 * 366), tick=False):
        form = await client.get(f"/b/{token}/klage")
        assert says(form.text, "Fristen for å klage har gått ut") and 'name="text"' not in form.text
        late = await client.post(f"/b/{token}/klage", data={"_csrf_token": token_field, "text": "For sent?"})
        assert late.status_code == 422 and clock.now() > order["reservations"][0]["end"]
    assert await complaint_rows() == before

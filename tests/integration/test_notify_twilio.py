"""SMS through the REAL Twilio SDK against a local server that answers like
Twilio's Messages API; delivery status callbacks checked with the SDK's
RequestValidator."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from portal.audit import service as audit
from portal.audit.domain import system
from portal.lib.db import write_transaction
from portal.notify import service
from portal.notify.enqueue import enqueue_code_sms
from portal.notify.tables import DevMessage
from portal.outbox import worker
from portal.outbox.tables import OutboxMessage
from tests.integration.test_notify_support import NOW, clean_outbox, enqueue, make_booking, settings_with, supplier_not_told  # noqa: F401

pytestmark = pytest.mark.usefixtures("clean_outbox", "supplier_not_told")

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
CALLBACK_URL = "https://portal.example/hooks/twilio/status"


class FakeTwilio:
    """POST /2010-04-01/Accounts/{sid}/Messages.json, the way Twilio answers it.

    `script` is a list of answers for the next requests ("ok", "error500",
    "invalid_number"); when it runs out, every request is "ok".
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("content-length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                if self.headers.get("authorization") != expected:
                    return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                    return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                fake.requests.append(form)
                mode = fake.script.pop(0) if fake.script else "ok"
                if mode == "error500":
                    return self._answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                if mode == "invalid_number":
                    return self._answer(400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
                sid = f"SM{len(fake.requests):032x}"
                return self._answer(
                    201,
                    {
                        "account_sid": ACCOUNT_SID,
                        "api_version": "2010-04-01",
                        "body": form.get("Body"),
                        "date_created": "Mon, 23 Nov 2026 09:00:00 +0000",
                        "date_sent": None,
                        "date_updated": "Mon, 23 Nov 2026 09:00:00 +0000",
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": form.get("From"),
                        "messaging_service_sid": None,
                        "num_media": "0",
                        "num_segments": "1",
                        "price": None,
                        "price_unit": "USD",
                        "sid": sid,
                        "status": "queued",
                        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"},
                        "to": form.get("To"),
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
                    },
                )

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeTwilio:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def twilio():
    with FakeTwilio() as fake:
        yield fake


def twilio_settings(fake: FakeTwilio, **outbox):
    return settings_with(
        sms={"backend": "twilio", "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "base_url": fake.url, "status_callback_url": CALLBACK_URL},
        outbox=outbox or None,
    )


async def _drain_all(now, settings) -> None:
    while await worker.drain_once(now, settings=settings):
        pass


@pytest.mark.legal("L31")
async def test_confirmation_sms_goes_through_the_twilio_messages_api(twilio):
    booking = await make_booking(email="")
    await enqueue(booking, "confirmation", NOW)
    await _drain_all(NOW, twilio_settings(twilio))
    (request,) = twilio.requests
    assert request["From"] == "Reservation"  # L31 sender name
    assert request["To"] == "+4741234567"
    assert request["StatusCallback"] == CALLBACK_URL
    assert f"/b/{booking['manage_token']}" in request["Body"] and booking["reference"] in request["Body"]
    (row,) = await OutboxMessage.select().where(OutboxMessage.topic == "confirmation")
    assert row["status"] == "sent" and row["provider_id"] == f"SM{1:032x}"
    assert await DevMessage.count() == 0


async def test_a_twilio_outage_is_retried_and_a_bad_number_is_parked(twilio):
    good = await make_booking(email="")
    bad = await make_booking(email="", phone="+4741234568")
    async with write_transaction():
        await enqueue(good, "cancellation", NOW)
        await enqueue(bad, "cancellation", NOW)
    twilio.script = ["error500", "invalid_number"]
    settings = twilio_settings(twilio)
    await _drain_all(NOW, settings)
    rows = {r["order_id"]: r for r in await OutboxMessage.select()}
    assert rows[good["order_id"]]["status"] == "pending" and "Twilio 500" in rows[good["order_id"]]["last_error"]
    assert rows[bad["order_id"]]["status"] == "failed" and "21211" in rows[bad["order_id"]]["last_error"]
    await _drain_all(NOW + timedelta(hours=1), settings)
    rows = {r["order_id"]: r for r in await OutboxMessage.select()}
    assert rows[good["order_id"]]["status"] == "sent" and rows[good["order_id"]]["attempts"] == 2
    assert rows[bad["order_id"]]["attempts"] == 1 and len(twilio.requests) == 3


async def test_a_code_sms_tells_twilio_how_long_it_is_worth_sending(twilio):
    from portal.lib import clock

    now = clock.now()
    async with write_transaction():
        await enqueue_code_sms("+4741234567", "246810", "nb", now)
    await _drain_all(now, twilio_settings(twilio))
    (request,) = twilio.requests
    assert "246810" in request["Body"] and request["From"] == "Reservation"
    assert 200 <= int(request["ValidityPeriod"]) <= 300


async def test_status_callbacks_need_a_valid_signature_and_never_go_backwards(twilio, monkeypatch):
    booking = await make_booking(email="")
    await enqueue(booking, "cancellation", NOW)
    settings = twilio_settings(twilio)
    await _drain_all(NOW, settings)
    monkeypatch.setattr(service, "load_settings", lambda: settings)
    (row,) = await OutboxMessage.select()
    sign = RequestValidator(AUTH_TOKEN).compute_signature

    def callback(status: str) -> dict:
        return {"MessageSid": row["provider_id"], "MessageStatus": status, "AccountSid": ACCOUNT_SID, "To": "+4741234567"}

    actor = system("test")
    mark = await audit.last_id()
    forged = callback("failed")
    assert await service.twilio_status(actor, CALLBACK_URL, forged, "bm90IGEgc2lnbmF0dXJl", NOW) is False
    assert await service.twilio_status(actor, CALLBACK_URL, forged, sign(CALLBACK_URL + "?x=1", forged), NOW) is False
    assert (await OutboxMessage.select(OutboxMessage.delivery_status).first())["delivery_status"] == ""

    for status in ("sent", "delivered", "sent", "delivered"):  # late and repeated callbacks
        params = callback(status)
        assert await service.twilio_status(actor, CALLBACK_URL, params, sign(CALLBACK_URL, params), NOW) is True
    assert (await OutboxMessage.select(OutboxMessage.delivery_status).first())["delivery_status"] == "delivered"
    # One audit entry per change; forged, late and repeated callbacks change nothing and record nothing.
    entries = await audit.entries(since_id=mark, action="sms.delivery_status")
    assert [(e["order_id"], e["after"]["delivery_status"]) for e in entries] == [(booking["order_id"], "sent"), (booking["order_id"], "delivered")]

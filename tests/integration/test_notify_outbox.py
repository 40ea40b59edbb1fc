"""The outbox on the real database: enqueue in the caller's transaction,
drain through the dev backends and a real SMTP server (aiosmtpd), retries,
leases, reminders, codes, the delivery log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from portal.lib.db import write_transaction
from portal.notify import service
from portal.notify.domain import Channel, Topic
from portal.notify.enqueue import enqueue_code_sms
from portal.notify.tables import DevMessage
from portal.outbox import service as outbox
from portal.outbox import worker
from portal.outbox.domain import Draft, Status
from portal.outbox.tables import OutboxMessage
from tests.integration.test_notify_support import (  # noqa: F401 - fixtures
    NOW,
    SmtpServer,
    change_booking,
    clean_outbox,
    enqueue,
    make_booking,
    settings_with,
    smtp_server,
    supplier_not_told,
)

pytestmark = pytest.mark.usefixtures("clean_outbox", "supplier_not_told")


async def _rows(**where) -> list[dict]:
    query = OutboxMessage.select().order_by(OutboxMessage.id).output(load_json=True)
    rows = await query
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


async def _enqueue(booking: dict, topic: str, now=NOW) -> None:
    await enqueue(booking, topic, now)


async def _drain_all(now, settings=None, backends=None) -> int:
    total = 0
    while True:
        tried = await worker.drain_once(now, settings=settings, backends=backends)
        total += tried
        if not tried:
            return total


# ---------------------------------------------------------------- enqueue


async def test_confirmation_enqueues_email_sms_and_reminders_once():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    await _enqueue(booking, "confirmation")  # a double submit: nothing new
    rows = await _rows()
    assert sorted((r["topic"], r["channel"]) for r in rows) == [
        ("confirmation", "email"),
        ("confirmation", "sms"),
        ("reminder", "email"),
        ("reminder", "sms"),
        ("render", "document"),  # the withdrawal form the confirmation email carries (L11)
    ]
    reminder = next(r for r in rows if r["topic"] == "reminder")
    assert reminder["next_attempt_at"] == booking["start"] - timedelta(hours=24)
    assert all(r["status"] == "pending" and r["order_id"] == booking["order_id"] for r in rows)


async def test_nothing_is_enqueued_when_the_change_rolls_back():
    booking = await make_booking()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with write_transaction():
            await enqueue(booking, "confirmation", NOW)
            raise Boom()
    assert await OutboxMessage.count() == 0


async def test_no_reminder_when_booked_after_the_reminder_time():
    booking = await make_booking(start=NOW + timedelta(hours=5))
    await _enqueue(booking, "confirmation")
    assert {r["topic"] for r in await _rows()} == {"confirmation", "render"}


async def test_no_email_row_without_an_address_and_no_sms_without_a_phone():
    booking = await make_booking(email="", phone="")
    await _enqueue(booking, "confirmation")
    assert await OutboxMessage.count() == 0


@pytest.mark.legal("L31")
async def test_sms_to_a_country_we_do_not_serve_is_parked_with_the_reason_and_never_sent():
    booking = await make_booking(phone="+4915112345678")  # Germany
    await _enqueue(booking, "confirmation")
    sms = await _rows(channel="sms")
    assert sms and all(r["status"] == "failed" and "L31" in r["last_error"] for r in sms)
    await _drain_all(NOW + timedelta(days=5))
    assert await DevMessage.count().where(DevMessage.channel == "sms") == 0


async def test_cancellation_cancels_pending_reminders_and_sends_a_cancel_invite():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    booking = await change_booking(booking, state="cancelled_by_customer", ics_sequence=1)
    await _enqueue(booking, "cancellation", NOW + timedelta(minutes=5))
    reminders = await _rows(topic="reminder")
    assert reminders and all(r["status"] == "cancelled" for r in reminders)
    email = (await _rows(topic="cancellation", channel="email"))[0]
    assert "METHOD:CANCEL" in email["payload"]["ics"] and "STATUS:CANCELLED" in email["payload"]["ics"]
    assert "SEQUENCE:1" in email["payload"]["ics"]
    # Days later nothing but the confirmation and the cancellation went out.
    await _drain_all(booking["start"])
    assert sorted(r["topic"] for r in await _rows(status="sent")) == ["cancellation", "cancellation", "confirmation", "confirmation", "render"]


async def test_change_moves_the_reminder_to_the_new_time():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    moved = await change_booking(booking, start=booking["start"] + timedelta(days=1), end=booking["end"] + timedelta(days=1), ics_sequence=1)
    await _enqueue(moved, "change", NOW + timedelta(minutes=1))
    await _enqueue(moved, "change", NOW + timedelta(minutes=1))  # retried request: no-op, keeps the new reminder
    reminders = await _rows(topic="reminder")
    assert sorted(r["status"] for r in reminders) == ["cancelled", "cancelled", "pending", "pending"]
    pending = [r for r in reminders if r["status"] == "pending"]
    assert all(r["next_attempt_at"] == moved["start"] - timedelta(hours=24) for r in pending)
    change = (await _rows(topic="change", channel="email"))[0]
    assert "METHOD:REQUEST" in change["payload"]["ics"] and "SEQUENCE:1" in change["payload"]["ics"]
    assert len(await _rows(topic="change")) == 2


# ---------------------------------------------------------------- draining (dev backends)


async def test_dev_backends_store_messages_and_reminders_wait_until_due():
    booking = await make_booking(language="en")
    await _enqueue(booking, "confirmation")
    assert await _drain_all(NOW) == 3  # the email, the SMS, and the withdrawal form's PDF
    sent = await _rows(status="sent")
    assert {r["topic"] for r in sent} == {"confirmation", "render"}
    assert all(r["provider_id"].startswith("dev-") and r["sent_at"] == NOW for r in sent if r["channel"] != "document")
    mail = await DevMessage.select().where(DevMessage.channel == "email").first().output(load_json=True)
    assert mail["subject"].startswith("Booking confirmed:")
    assert [a["filename"] for a in mail["attachments"]] == [f"booking-{booking['reference']}.ics", f"withdrawal-form-{booking['reference']}.pdf"]
    sms = await DevMessage.select().where(DevMessage.channel == "sms").first()
    assert sms["sender"] == "Reservation" and booking["manage_token"] in sms["body"]

    due = booking["start"] - timedelta(hours=24)
    assert await _drain_all(due - timedelta(seconds=1)) == 0
    assert await _drain_all(due) == 2
    assert {r["topic"] for r in await _rows(status="sent")} == {"confirmation", "render", "reminder"}


async def test_a_reminder_never_goes_out_after_the_start():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    await _drain_all(booking["start"] + timedelta(minutes=1))  # the worker was away all along
    reminders = await _rows(topic="reminder")
    assert all(r["status"] == "failed" and "expired" in r["last_error"] for r in reminders)


async def test_delivery_log_lists_the_bookings_messages():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    await _drain_all(NOW)
    log = await service.delivery_log(booking["order_id"])
    assert [(e["topic"], e["channel"], e["status"]) for e in log] == [
        ("confirmation", "email", "sent"),
        ("confirmation", "sms", "sent"),
        ("reminder", "email", "pending"),
        ("reminder", "sms", "pending"),
    ]
    assert log[0]["recipient"] == "kari@example.no" and log[1]["recipient"] == "+4741234567"
    assert log[0]["subject"].startswith("Bestilling bekreftet") and log[0]["sent_at"] == NOW
    assert "payload" not in log[0]


# ---------------------------------------------------------------- codes


async def test_code_sms_goes_first_and_the_code_is_wiped_after_sending():
    booking = await make_booking()
    await _enqueue(booking, "confirmation")
    async with write_transaction():
        await enqueue_code_sms("+4741234567", "123456", "nb", NOW)
    settings = settings_with(outbox={"batch_size": 1})
    await worker.drain_once(NOW + timedelta(seconds=1), settings=settings)
    first = await DevMessage.select().first()
    assert "123456" in first["body"] and first["channel"] == "sms"
    code = (await _rows(topic="code"))[0]
    assert code["status"] == "sent" and "123456" not in str(code["payload"])


async def test_code_sms_is_never_sent_after_it_expires():
    async with write_transaction():
        await enqueue_code_sms("+4741234567", "654321", "en", NOW)
    await _drain_all(NOW + timedelta(minutes=10))
    (code,) = await _rows(topic="code")
    assert code["status"] == "failed" and "expired" in code["last_error"] and "654321" not in str(code["payload"])
    assert await DevMessage.count() == 0


# ---------------------------------------------------------------- retries, leases


class FlakyBackend:
    """Fails `failures` times, then accepts; counts every send."""

    transactional = False

    def __init__(self, failures: int, permanent: bool = False) -> None:
        self.failures = failures
        self.permanent = permanent
        self.sent: list[int] = []

    async def send(self, row: dict) -> str:
        from portal.outbox.handlers import SendError

        if self.failures > 0:
            self.failures -= 1
            raise SendError("451 try again later", permanent=self.permanent)
        self.sent.append(row["id"])
        return f"ok-{row['id']}"

    async def close(self) -> None:
        pass


async def test_retries_back_off_and_park_the_message_after_max_attempts():
    booking = await make_booking(phone="")
    await _enqueue(booking, "cancellation")
    flaky = FlakyBackend(failures=100)
    settings = settings_with(outbox={"max_attempts": 4, "base_delay_seconds": 30, "max_delay_seconds": 3600})
    backends = {"email": flaky, "sms": flaky}
    now, waits = NOW, []
    for _ in range(4):
        assert await worker.drain_once(now, settings=settings, backends=backends) == 1
        (row,) = await _rows()
        if row["status"] == "failed":
            break
        waits.append((row["next_attempt_at"] - now).total_seconds())
        assert await worker.drain_once(row["next_attempt_at"] - timedelta(seconds=1), settings=settings, backends=backends) == 0
        now = row["next_attempt_at"]
    assert [15 <= w <= 30 for w in waits[:1]] == [True] and 30 <= waits[1] <= 60 and 60 <= waits[2] <= 120
    (row,) = await _rows()
    assert row["status"] == "failed" and row["attempts"] == 4 and "451 try again later" in row["last_error"]
    assert flaky.sent == []


async def test_a_permanent_error_parks_at_once():
    booking = await make_booking(phone="")
    await _enqueue(booking, "cancellation")
    flaky = FlakyBackend(failures=1, permanent=True)
    await worker.drain_once(NOW, backends={"email": flaky, "sms": flaky})
    (row,) = await _rows()
    assert row["status"] == "failed" and row["attempts"] == 1


async def test_a_crashed_workers_rows_are_taken_again_when_the_lease_ends():
    booking = await make_booking(phone="")
    await _enqueue(booking, "cancellation")
    settings = settings_with(outbox={"lease_seconds": 120})
    token = "dead-worker:1:x"
    claimed = await worker.claim(NOW, 10, token, settings)  # ... and then the worker died
    assert len(claimed) == 1
    ok = FlakyBackend(failures=0)
    backends = {"email": ok, "sms": ok}
    assert await worker.drain_once(NOW + timedelta(seconds=119), settings=settings, backends=backends) == 0
    assert await worker.drain_once(NOW + timedelta(seconds=121), settings=settings, backends=backends) == 1
    (row,) = await _rows()
    assert row["status"] == "sent" and row["attempts"] == 2 and ok.sent == [row["id"]]


async def test_concurrent_drains_never_send_a_row_twice():
    """Several drains at once (on PostgreSQL: FOR UPDATE SKIP LOCKED; on SQLite: serialised claims)."""
    drafts = [
        Draft(Channel.EMAIL.value, Topic.CONFIRMATION.value, f"p{i}@example.no", f"test:concurrent:{i}", "nb", {"subject": "s", "text": "t"}, NOW)
        for i in range(60)
    ]
    async with write_transaction():
        await outbox.insert(drafts, NOW)
    counter = FlakyBackend(failures=0)
    backends = {"email": counter, "sms": counter}
    settings = settings_with(outbox={"batch_size": 7})

    async def drain() -> None:
        while await worker.drain_once(NOW, settings=settings, backends=backends):
            pass

    await asyncio.gather(*(drain() for _ in range(4)))
    assert len(counter.sent) == 60 and len(set(counter.sent)) == 60
    assert await OutboxMessage.count().where(OutboxMessage.status == Status.SENT.value) == 60


# ---------------------------------------------------------------- SMTP


async def test_smtp_delivers_multipart_email_with_calendar_and_reply_to(smtp_server):
    booking = await make_booking(language="nb")
    await _enqueue(booking, "confirmation")
    settings = settings_with(mail={"backend": "smtp", "port": smtp_server.port, "sender": "portal <no-reply@portal.example>"})
    await _drain_all(NOW, settings=settings)
    (msg,) = smtp_server.mailbox.parsed()
    (row,) = await _rows(channel="email", topic="confirmation")
    assert row["status"] == "sent" and "queued as" in row["provider_id"]
    assert msg["From"] == "portal <no-reply@portal.example>"
    assert msg["To"] == "kari@example.no"
    assert msg["Reply-To"].addresses[0].addr_spec == booking["terms"]["supplier"]["email"]
    assert str(msg["Message-ID"]).startswith(f"<outbox-{row['id']}-") and str(msg["Message-ID"]).endswith("@portal.example>")
    assert msg["Subject"].startswith("Bestilling bekreftet")
    assert msg.get_content_type() == "multipart/mixed"
    types = [part.get_content_type() for part in msg.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics", "application/pdf"]
    calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "REQUEST"
    ics = calendar.get_content()
    assert "METHOD:REQUEST" in ics and f"UID:booking-{booking['id']}-{booking['reference']}@" in ics
    text = msg.get_body(("plain",)).get_content()
    assert f"/b/{booking['manage_token']}" in text
    assert booking["terms"]["supplier"]["legal_name"] in text


async def test_smtp_outage_only_delays_delivery():
    server = SmtpServer()  # not started: nothing listens on its port
    async with write_transaction():
        await outbox.insert(
            [Draft(Channel.EMAIL.value, Topic.CONFIRMATION.value, f"o{i}@example.no", f"test:outage:{i}", "en", {"subject": f"m{i}", "text": "t"}, NOW) for i in range(5)],
            NOW,
        )
    settings = settings_with(
        mail={"backend": "smtp", "port": server.port, "timeout_seconds": 2},
        outbox={"max_attempts": 8, "base_delay_seconds": 30},
    )
    now, gaps = NOW, []
    for _ in range(3):
        assert await _drain_all(now, settings=settings) == 5
        rows = await _rows()
        assert all(r["status"] == "pending" and "unavailable" in r["last_error"] for r in rows)
        gaps.append(min((r["next_attempt_at"] - now).total_seconds() for r in rows))
        now = max(r["next_attempt_at"] for r in rows)
    assert gaps[0] < gaps[1] < gaps[2], gaps  # growing waits
    assert server.mailbox.raw == []
    server.start()
    try:
        assert await _drain_all(now, settings=settings) == 5
        assert len(server.mailbox.ids()) == 5
        assert all(r["status"] == "sent" and r["attempts"] == 4 for r in await _rows())
    finally:
        server.stop()


# ---------------------------------------------------------------- SMTP over TLS, with a login


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A throwaway certificate for 127.0.0.1, trusted by the client through SSL_CERT_FILE."""
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_smtp_with_tls_and_login(security, tls_files, monkeypatch):
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.integration.test_notify_support import Mailbox, free_port

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data.login, session.ssl is not None))
        return AuthResult(success=auth_data.login == b"portal" and auth_data.password == b"s3cret")

    mailbox, port = Mailbox(), free_port()
    tls = {"ssl_context": context} if security == "tls" else {"tls_context": context, "require_starttls": True}
    # aiosmtpd only counts STARTTLS as TLS for AUTH; on an implicit-TLS port every byte is encrypted anyway.
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=security == "starttls", **tls
    )
    controller.start()
    try:
        async with write_transaction():
            await outbox.insert(
                [Draft(Channel.EMAIL.value, Topic.CONFIRMATION.value, "tls@example.no", f"test:tls:{security}", "nb", {"subject": "Hei", "text": "Hei på deg"}, NOW)],
                NOW,
            )
        settings = settings_with(mail={"backend": "smtp", "port": port, "security": security, "username": "portal", "password": "s3cret"})
        monkeypatch.setenv("SSL_CERT_FILE", str(cert.parent / "nothing-trusted.pem"))
        assert await _drain_all(NOW, settings=settings) == 1
        (row,) = await _rows()
        assert row["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in row["last_error"]  # certificates are checked
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert await _drain_all(row["next_attempt_at"], settings=settings) == 1
    finally:
        controller.stop()
    (row,) = await _rows()
    assert row["status"] == "sent", row["last_error"]
    assert logins and logins[0][1] == b"portal"
    if security == "starttls":
        assert logins[0][2] is True  # the password went over TLS
    (msg,) = mailbox.parsed()
    assert msg.get_content().strip() == "Hei på deg"

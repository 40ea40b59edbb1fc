"""Where messages leave: SMTP (aiosmtplib) or Twilio, and the dev stand-ins
that keep the same contract and store what they "sent" in DevMessage.

These are the outbox handlers (portal.outbox.handlers) of the `email` and
`sms` channels: opened for one worker batch, they send rows one at a time
and return the provider's id for each, or raise SendError (permanent or not).
The dev backends are `transactional`: the worker writes their DevMessage and
marks the row sent in ONE database transaction, so they deliver exactly once
even across crashes. SMTP and Twilio cannot share our transaction; see
portal.outbox.worker for what "exactly once" means for them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import datetime
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr

from portal.documents import service as documents
from portal.lib import clock
from portal.notify.domain import SMS_SENDER, Channel, message_id, sms_allowed
from portal.notify.tables import DevMessage
from portal.outbox.handlers import Handler, SendError
from portal.settings import MailSettings, Settings, SmsSettings

log = logging.getLogger("portal.notify")

TWILIO_API = "https://api.twilio.com"


#: Kept for readers of older code: a backend is an outbox handler.
Backend = Handler


def _payload(row: dict) -> dict:
    payload = row.get("payload") or {}
    return json.loads(payload) if isinstance(payload, str) else payload


# ---------------------------------------------------------------- email


def mail_host(mail: MailSettings) -> str:
    """The domain of our own sender address: used in Message-IDs."""
    address = parseaddr(mail.sender)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else "portal.invalid"


def _created(row: dict) -> datetime:
    value = row.get("created_at")
    if isinstance(value, datetime):
        return value
    return clock.now()


#: Non-ASCII header text as base64 encoded words (utf-8's default, "shortest", costs more than the rest of the message).
UTF8_B64 = Charset("utf-8")
UTF8_B64.header_encoding = BASE64


def _header(value: str) -> str | Header:
    """ASCII as it is; anything else as an RFC 2047 encoded word."""
    return value if value.isascii() else Header(value, UTF8_B64)


def _address(name: str, address: str) -> str:
    return formataddr((name, address), charset=UTF8_B64) if name else address


#: UTF-8 bodies as quoted-printable: readable in the raw message, safe for 7-bit relays.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def _text_part(text: str, subtype: str) -> MIMEText:
    return MIMEText(text, subtype, UTF8_QP)


async def attachments_for(row: dict) -> list:
    """The documents an email carries (portal.documents), as (filename, type,
    bytes); a PDF not rendered yet makes the email wait (a temporary failure)."""
    wanted = [a for a in (_payload(row).get("attachments") or []) if isinstance(a, dict) and a.get("document_id")]
    if not wanted:
        return []
    files = []
    for item in wanted:
        try:
            files.append(await documents.attachment(int(item["document_id"])))
        except documents.DocumentNotFound as exc:
            raise SendError(f"attachment: no document {exc}", permanent=True) from exc
        except documents.RenderFailed as exc:
            raise SendError(f"attachment not ready: {exc}") from exc
    return files


def build_email(row: dict, mail: MailSettings, files: list | None = None) -> Message:
    """The MIME message for an outbox row; byte-for-byte the same on every try
    (stable Message-ID, Date from the row's creation, fixed boundaries).

    multipart/mixed
      multipart/alternative
        text/plain; text/html; text/calendar; method=REQUEST|CANCEL (when the row has a calendar file)
      application/ics attachment booking-<ref>.ics (the same file, for clients that ignore the inline part)
      application/pdf attachments (receipts, gift cards: `files`, from `attachments_for`)

    Built with the classic (compat32) MIME classes: several times cheaper than
    EmailMessage's header registry, which dominated a worker's CPU time.
    """
    payload = _payload(row)
    body: Message = _text_part(payload.get("text", ""), "plain")
    if payload.get("html") or payload.get("ics"):
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        if payload.get("html"):
            alternative.attach(_text_part(payload["html"], "html"))
        body = alternative
    if payload.get("ics"):
        calendar = MIMEText(payload["ics"], "calendar", "utf-8")  # base64: keeps the file's CRLF exactly
        calendar.set_param("method", payload.get("ics_method", "REQUEST"))
        body.attach(calendar)
    parts = []
    if payload.get("ics"):
        attachment = MIMEApplication(payload["ics"].encode("utf-8"), "ics")
        attachment.add_header("Content-Disposition", "attachment", filename=payload.get("ics_filename", "booking.ics"))
        parts.append(attachment)
    for file in files or ():
        subtype = file.content_type.split("/", 1)[1] if "/" in file.content_type else "octet-stream"
        pdf = MIMEApplication(file.content, subtype)
        pdf.add_header("Content-Disposition", "attachment", filename=file.filename)
        parts.append(pdf)
    if parts:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for part in parts:
            mixed.attach(part)
        body = mixed
    msg = body
    msg["Subject"] = _header(payload.get("subject", ""))
    msg["From"] = _address(*parseaddr(mail.sender))
    msg["To"] = row["recipient"]
    if payload.get("reply_to"):
        msg["Reply-To"] = _address(payload.get("reply_to_name", ""), payload["reply_to"])
    if payload.get("list_unsubscribe"):
        # News (L28): one-click unsubscribe (RFC 8058), honoured at once by /u/<token>.
        msg["List-Unsubscribe"] = f"<{payload['list_unsubscribe']}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Date"] = format_datetime(_created(row).astimezone(clock.UTC))
    msg["Message-ID"] = message_id(row["id"], row["dedupe_key"], mail_host(mail))
    msg["Content-Language"] = row.get("language") or "nb"
    # A service message from a machine: no out-of-office replies to it (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    # Fixed MIME boundaries (random by default), so every try sends the same bytes.
    digest = hashlib.sha256(f"{row['id']}:{row['dedupe_key']}".encode()).hexdigest()[:24]
    for number, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_outbox_{digest}_{number}")
    return msg


def attachments_of(msg: Message) -> list[dict]:
    return [
        {"filename": part.get_filename(), "content_type": part.get_content_type(), "size": len(part.get_payload(decode=True) or b"")}
        for part in msg.walk()
        if part.get_content_disposition() == "attachment"
    ]


class DevEmail:
    """Stores the email in DevMessage (listed on /dev/mailbox)."""

    transactional = True

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail

    async def send(self, row: dict) -> str:
        msg = build_email(row, self.mail, await attachments_for(row))
        payload = _payload(row)
        documents_by_name = {}
        for item in payload.get("attachments") or []:
            if isinstance(item, dict) and item.get("document_id"):
                found = await documents.attachment(int(item["document_id"]))
                documents_by_name[found.filename] = int(item["document_id"])
        listed = [{**a, "document_id": documents_by_name.get(a["filename"])} for a in attachments_of(msg)]
        inserted = await DevMessage.insert(
            DevMessage(
                channel=Channel.EMAIL.value,
                recipient=row["recipient"],
                sender=self.mail.sender,
                subject=payload.get("subject", "")[:300],
                body=payload.get("text", ""),
                html=payload.get("html", ""),
                attachments=listed,
                created_at=clock.now(),
            )
        ).returning(DevMessage.id)
        return f"dev-email-{inserted[0]['id']}"

    async def close(self) -> None:
        return None


class SmtpEmail:
    """aiosmtplib over one connection per batch; security none, STARTTLS or TLS; optional login."""

    transactional = False

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail
        self._client = None
        self._down: str | None = None

    async def _connect(self):
        import aiosmtplib

        client = aiosmtplib.SMTP(
            hostname=self.mail.host,
            port=self.mail.port,
            use_tls=self.mail.security == "tls",
            start_tls=self.mail.security == "starttls",
            timeout=self.mail.timeout_seconds,
        )
        await client.connect()
        if self.mail.username:
            await client.login(self.mail.username, self.mail.password)
        return client

    async def send(self, row: dict) -> str:
        import aiosmtplib

        if self._down:
            # The server did not answer for an earlier row of this batch: don't wait on it again.
            raise SendError(self._down)
        msg = build_email(row, self.mail, await attachments_for(row))
        try:
            if self._client is None:
                try:
                    self._client = await self._connect()
                except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                    self._down = f"SMTP server {self.mail.host}:{self.mail.port} unavailable: {exc!r}"[:500]
                    raise SendError(self._down) from exc
            _refused, response = await self._client.sendmail(
                parseaddr(self.mail.sender)[1], [row["recipient"]], msg.as_bytes()
            )
        except SendError:
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self._reset()
            codes = [r.code for r in exc.recipients]
            raise SendError(f"recipient refused: {exc}"[:500], permanent=all(500 <= c < 600 for c in codes)) from exc
        except aiosmtplib.SMTPDataError as exc:
            await self._reset()
            raise SendError(f"message refused: {exc.code} {exc.message}"[:500], permanent=500 <= exc.code < 600) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            await self._reset()
            raise SendError(f"SMTP error: {exc!r}"[:500]) from exc
        return (str(response).strip() or str(msg["Message-ID"]))[:200]

    async def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # noqa: BLE001 - the messages are already accepted
                client.close()


# ---------------------------------------------------------------- SMS


class DevSms:
    """Stores the SMS in DevMessage (listed on /dev/mailbox)."""

    transactional = True

    def __init__(self, sms: SmsSettings) -> None:
        self.sms = sms

    async def send(self, row: dict) -> str:
        _check_allowed(row)
        inserted = await DevMessage.insert(
            DevMessage(
                channel=Channel.SMS.value,
                recipient=row["recipient"],
                sender=SMS_SENDER,
                body=_payload(row).get("text", ""),
                created_at=clock.now(),
            )
        ).returning(DevMessage.id)
        return f"dev-sms-{inserted[0]['id']}"

    async def close(self) -> None:
        return None


def _check_allowed(row: dict) -> None:
    # Enqueue already parks such rows; this guards rows re-queued by hand (L31).
    if not sms_allowed(row["recipient"]):
        raise SendError("not sent: SMS goes only to numbers in the countries we serve (L31)", permanent=True)


def _twilio_http_client(base_url: str, timeout: float):
    """The Twilio SDK's async HTTP client with a real timeout, and (tests only)
    a local server in place of https://api.twilio.com."""
    import aiohttp
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.request import Request as TwilioRequest
    from twilio.http.response import Response as TwilioResponse

    class PortalTwilioHttpClient(AsyncTwilioHttpClient):
        def __init__(self) -> None:
            super().__init__(pool_connections=False, timeout=timeout)
            self.base_url = base_url.rstrip("/")
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

        async def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
            if self.base_url and url.startswith(TWILIO_API):
                url = self.base_url + url[len(TWILIO_API) :]
            headers = dict(headers or {})
            if auth:
                headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            kwargs = {
                "method": method.upper(),
                "url": url,
                "params": params,
                "data": data,
                "headers": headers,
                "allow_redirects": allow_redirects,
            }
            self.log_request(kwargs)
            self._test_only_last_request = TwilioRequest(**kwargs)
            async with self.session.request(**kwargs) as response:
                text = await response.text()
                self.log_response(response.status, response)
                self._test_only_last_response = TwilioResponse(response.status, text, response.headers)
            return self._test_only_last_response

    return PortalTwilioHttpClient()


#: Twilio refusals that will never succeed however often we try (bad or unreachable number, opted out).
TWILIO_PERMANENT_CODES = frozenset({21211, 21212, 21408, 21421, 21601, 21602, 21604, 21610, 21612, 21614, 21617, 21635})


class TwilioSms:
    """Twilio's Messaging API through the official SDK; sender "Reservation" (L31)."""

    transactional = False

    def __init__(self, sms: SmsSettings, timeout: float) -> None:
        self.sms = sms
        self.timeout = timeout
        self._client = None
        self._http = None

    def _twilio(self):
        if self._client is None:
            from twilio.rest import Client

            self._http = _twilio_http_client(self.sms.base_url, self.timeout)
            self._client = Client(self.sms.account_sid, self.sms.auth_token, http_client=self._http)
        return self._client

    async def send(self, row: dict) -> str:
        import aiohttp
        from twilio.base.exceptions import TwilioException, TwilioRestException

        _check_allowed(row)
        payload = _payload(row)
        options: dict = {}
        if self.sms.status_callback_url:
            options["status_callback"] = self.sms.status_callback_url
        if payload.get("expires_at"):
            # Twilio drops it from its own queue too once it is worthless (a code, a reminder).
            left = int((datetime.fromisoformat(payload["expires_at"]) - clock.now()).total_seconds())
            if left < 1:
                raise SendError("expired before it could be sent", permanent=True)
            options["validity_period"] = min(left, 36000)
        try:
            message = await self._twilio().messages.create_async(
                to=row["recipient"], from_=SMS_SENDER, body=payload.get("text", ""), **options
            )
        except TwilioRestException as exc:
            permanent = exc.code in TWILIO_PERMANENT_CODES or exc.status in (400, 404)
            raise SendError(f"Twilio {exc.status} code {exc.code}: {exc.msg}"[:500], permanent=permanent) from exc
        except (TimeoutError, TwilioException, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc!r}"[:500]) from exc
        return str(message.sid)[:200]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = self._http = None


# ---------------------------------------------------------------- choice


def dev_backend_active(settings: Settings) -> bool:
    """True while either channel uses a dev stand-in (demo banner, /dev/mailbox)."""
    return settings.mail.backend == "dev" or settings.sms.backend == "dev"


def email_handler(settings: Settings) -> Handler:
    return SmtpEmail(settings.mail) if settings.mail.backend == "smtp" else DevEmail(settings.mail)


def sms_handler(settings: Settings) -> Handler:
    return TwilioSms(settings.sms, settings.mail.timeout_seconds) if settings.sms.backend == "twilio" else DevSms(settings.sms)

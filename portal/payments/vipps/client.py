"""Our own thin, typed async client for the Vipps MobilePay ePayment API.

One `VippsClient` per process (it holds the access token and a connection
pool). It validates what it sends, speaks the documented headers, and turns
every failure into a `VippsError` that says whether a retry makes sense.

Retrying is the caller's job. The client never repeats create, capture,
refund or cancel on its own (only once after a 401, with a fresh token and
the same Idempotency-Key). A caller that gets a retryable error or
`VippsUnavailable` must retry with the SAME idempotency key: the request may
have taken effect even though no answer came back, and the key is what makes
Vipps answer the retry without doing it twice. Store the key before sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

log = logging.getLogger("portal.payments.vipps")

REFERENCE_RE = re.compile(r"^[a-zA-Z0-9-]{8,50}$")
PHONE_RE = re.compile(r"^[1-9][0-9]{9,14}$")
MAX_AMOUNT_ORE = 65_000_000
"""The largest amount the ePayment API accepts (650 000 kr)."""
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)

EventHook = Callable[[Any], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class VippsConfig:
    base_url: str
    """https://api.vipps.no, https://apitest.vipps.no, or a dev Vipps such as http://127.0.0.1:8000/dev/vipps."""
    client_id: str
    client_secret: str
    subscription_key: str
    """Ocp-Apim-Subscription-Key of the sales unit."""
    merchant_serial_number: str
    system_name: str = "portal"
    system_version: str = "1.0"
    plugin_name: str = "portal-vipps"
    plugin_version: str = "1.0"
    timeout_seconds: float = 10.0
    """For connecting, and for each read and write."""

    def __post_init__(self) -> None:
        for name in ("system_name", "system_version", "plugin_name", "plugin_version"):
            value = getattr(self, name)
            if not value or len(value) > 30 or not _header_safe(value):
                raise ValueError(f"VippsConfig.{name} must be 1-30 printable ASCII characters")
        if self.timeout_seconds <= 0:
            raise ValueError("VippsConfig.timeout_seconds must be positive")


class VippsError(Exception):
    """Vipps refused or could not answer.

    `status` is None when no answer came (see VippsUnavailable); `problem` is
    the RFC 7807 body (or what stood in its place); `trace_id` is Vipps'
    traceId, for their support; `operation` is ours ("create", "capture"…).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        problem: dict | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status
        self.problem = problem or {}
        self.trace_id = trace_id

    @property
    def retryable(self) -> bool:
        """Worth trying again later with the same idempotency key."""
        return self.status is None or self.status >= 500 or self.status == 429

    @property
    def conflict(self) -> bool:
        """The payment's state does not allow it: re-read the payment."""
        return self.status == 409


class VippsUnavailable(VippsError):
    """No answer: timeout or connection error. The request may have taken effect."""


@dataclass(frozen=True)
class Aggregate:
    authorized_ore: int
    captured_ore: int
    refunded_ore: int
    cancelled_ore: int

    @property
    def reserved_ore(self) -> int:
        """Still reserved on the customer's card: authorized − captured − cancelled."""
        return self.authorized_ore - self.captured_ore - self.cancelled_ore

    @property
    def refundable_ore(self) -> int:
        return self.captured_ore - self.refunded_ore


@dataclass(frozen=True)
class PaymentInfo:
    reference: str
    state: str
    """CREATED, AUTHORIZED, ABORTED, EXPIRED or TERMINATED."""
    amount_ore: int
    aggregate: Aggregate
    psp_reference: str | None
    raw: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class PaymentEventInfo:
    reference: str
    psp_reference: str
    name: str
    """As Vipps gives it: CREATED, AUTHORIZED, ABORTED, EXPIRED, CAPTURED, REFUNDED, CANCELLED, TERMINATED."""
    amount_ore: int
    timestamp: datetime
    idempotency_key: str | None
    success: bool


@dataclass(frozen=True)
class CreatedPayment:
    reference: str
    redirect_url: str


@dataclass(frozen=True)
class ModificationResult:
    reference: str
    state: str
    aggregate: Aggregate
    psp_reference: str | None


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: datetime


class VippsClient:
    """Async client for the ePayment, access token and webhooks APIs.

    `transport` is for tests (httpx.MockTransport); `now` drives the token
    cache; `event_hooks` are httpx's ({"request": [...], "response": [...]}).
    """

    def __init__(
        self,
        config: VippsConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], datetime] = _utc_now,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
    ) -> None:
        self.config = config
        self._now = now
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"),
            timeout=httpx.Timeout(config.timeout_seconds),
            transport=transport,
            event_hooks={k: list(v) for k, v in (event_hooks or {}).items()},
            follow_redirects=False,
        )

    async def __aenter__(self) -> VippsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- access token ---------------------------------------------------

    async def access_token(self) -> str:
        """A valid bearer token: cached, fetched again 5 minutes before it
        expires; concurrent callers wait for one fetch."""
        token = self._token
        if token is not None and self._now() < token.refresh_at:
            return token.value
        async with self._token_lock:
            token = self._token
            if token is not None and self._now() < token.refresh_at:
                return token.value
            self._token = await self._fetch_token()
            return self._token.value

    def _drop_token(self, value: str) -> None:
        # Only the token that was refused: another caller may already hold a new one.
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self) -> _Token:
        cfg = self.config
        headers = {
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "Ocp-Apim-Subscription-Key": cfg.subscription_key,
            "Merchant-Serial-Number": cfg.merchant_serial_number,
            **self._system_headers(),
        }
        response = await self._send("token", "POST", "/accesstoken/get", headers=headers)
        if not response.is_success:
            raise self._error("token", response)
        body = self._parse_success("token", response)
        now = self._now()
        try:
            value = body["access_token"]
            if not isinstance(value, str) or not value:
                raise ValueError("empty access_token")
            if body.get("expires_on") not in (None, ""):
                expires = datetime.fromtimestamp(_as_int(body["expires_on"]), timezone.utc)
            else:
                expires = now + timedelta(seconds=_as_int(body["expires_in"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise VippsError(f"unexpected access token answer: {exc}", operation="token", status=response.status_code) from exc
        margin = min(TOKEN_REFRESH_MARGIN, max(expires - now, timedelta(0)) / 2)
        return _Token(value=value, refresh_at=expires - margin)

    # -- ePayment -------------------------------------------------------

    async def create_payment(
        self,
        *,
        reference: str,
        amount_ore: int,
        phone_number: str,
        return_url: str,
        description: str,
        idempotency_key: str,
    ) -> CreatedPayment:
        """Reserve `amount_ore` on the customer's card; send the browser to the answer's redirect_url.

        `phone_number` is the verified number as digits with the country code
        first and no plus (4791234567)."""
        _check_reference(reference)
        _check_amount(amount_ore)
        _check_key(idempotency_key)
        if not isinstance(phone_number, str) or not PHONE_RE.match(phone_number):
            raise ValueError("phone_number must be 10-15 digits, country code first, no plus (e.g. 4791234567)")
        if not isinstance(description, str) or not 3 <= len(description) <= 100 or len(description.strip()) < 3:
            raise ValueError("description must be 3-100 characters")
        if not isinstance(return_url, str) or not return_url.strip():
            raise ValueError("return_url is required")
        body = {
            "amount": {"currency": "NOK", "value": amount_ore},
            "paymentMethod": {"type": "WALLET"},
            "customer": {"phoneNumber": phone_number},
            "reference": reference,
            "userFlow": "WEB_REDIRECT",
            "returnUrl": return_url,
            "paymentDescription": description,
        }
        answer = await self._call("create", "POST", "/epayment/v1/payments", json_body=body, idempotency_key=idempotency_key)
        try:
            return CreatedPayment(reference=answer.get("reference", reference), redirect_url=answer["redirectUrl"])
        except (KeyError, AttributeError) as exc:
            raise VippsError("create answer without redirectUrl", operation="create", problem=_as_dict(answer)) from exc

    async def get_payment(self, reference: str) -> PaymentInfo:
        _check_reference(reference)
        raw = await self._call("get", "GET", f"/epayment/v1/payments/{reference}")
        try:
            return PaymentInfo(
                reference=raw["reference"],
                state=raw["state"],
                amount_ore=_ore(raw["amount"]),
                aggregate=_aggregate(raw["aggregate"]),
                psp_reference=raw.get("pspReference"),
                raw=raw,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VippsError(f"unexpected payment answer: {exc}", operation="get", problem=_as_dict(raw)) from exc

    async def get_events(self, reference: str) -> list[PaymentEventInfo]:
        """The payment's history, oldest first: the authoritative record (read `success`)."""
        _check_reference(reference)
        raw = await self._call("events", "GET", f"/epayment/v1/payments/{reference}/events")
        try:
            return [
                PaymentEventInfo(
                    reference=item["reference"],
                    psp_reference=item["pspReference"],
                    name=item.get("name") or item["paymentAction"],  # older answers used paymentAction
                    amount_ore=_ore(item["amount"]),
                    timestamp=_timestamp(item["timestamp"]),
                    idempotency_key=item.get("idempotencyKey"),
                    success=bool(item["success"]),
                )
                for item in raw
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise VippsError(f"unexpected events answer: {exc}", operation="events") from exc

    async def capture(self, reference: str, amount_ore: int, idempotency_key: str) -> ModificationResult:
        """Take `amount_ore` of the reservation (only once the service is delivered)."""
        return await self._modify("capture", reference, idempotency_key, amount_ore)

    async def refund(self, reference: str, amount_ore: int, idempotency_key: str) -> ModificationResult:
        return await self._modify("refund", reference, idempotency_key, amount_ore)

    async def cancel(self, reference: str, idempotency_key: str) -> ModificationResult:
        """Release everything not captured (before authorisation: end the payment as TERMINATED)."""
        return await self._modify("cancel", reference, idempotency_key, None)

    async def force_approve(self, reference: str, phone_number: str | None = None) -> None:
        """Test environment only (apitest and the dev Vipps): approve as if the user did."""
        _check_reference(reference)
        body: dict[str, Any] = {}
        if phone_number is not None:
            if not PHONE_RE.match(phone_number):
                raise ValueError("phone_number must be 10-15 digits, country code first, no plus")
            body["customer"] = {"phoneNumber": phone_number}
        await self._call("approve", "POST", f"/epayment/v1/test/payments/{reference}/approve", json_body=body)

    async def register_webhook(self, url: str, events: list[str]) -> tuple[str, str]:
        """Register `url` for `events`; returns (id, secret). The secret is shown only now: store it."""
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError("url must be an absolute http(s) URL")
        if not events or not all(isinstance(e, str) and e for e in events):
            raise ValueError("events must be a non-empty list of event names")
        answer = await self._call("webhook", "POST", "/webhooks/v1/webhooks", json_body={"url": url, "events": list(events)})
        try:
            return str(answer["id"]), str(answer["secret"])
        except (KeyError, TypeError) as exc:
            raise VippsError("webhook answer without id and secret", operation="webhook") from exc

    # -- plumbing -------------------------------------------------------

    async def _modify(self, operation: str, reference: str, idempotency_key: str, amount_ore: int | None) -> ModificationResult:
        _check_reference(reference)
        _check_key(idempotency_key)
        body = None
        if amount_ore is not None:
            _check_amount(amount_ore)
            body = {"modificationAmount": {"currency": "NOK", "value": amount_ore}}
        raw = await self._call(
            operation, "POST", f"/epayment/v1/payments/{reference}/{operation}", json_body=body, idempotency_key=idempotency_key
        )
        try:
            return ModificationResult(
                reference=raw["reference"],
                state=raw["state"],
                aggregate=_aggregate(raw["aggregate"]),
                psp_reference=raw.get("pspReference"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VippsError(f"unexpected {operation} answer: {exc}", operation=operation, problem=_as_dict(raw)) from exc

    def _system_headers(self) -> dict[str, str]:
        cfg = self.config
        return {
            "Vipps-System-Name": cfg.system_name,
            "Vipps-System-Version": cfg.system_version,
            "Vipps-System-Plugin-Name": cfg.plugin_name,
            "Vipps-System-Plugin-Version": cfg.plugin_version,
        }

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One API call with a bearer token; after a 401, once more with a new token."""
        for attempt in (1, 2):
            token = await self.access_token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Ocp-Apim-Subscription-Key": self.config.subscription_key,
                "Merchant-Serial-Number": self.config.merchant_serial_number,
                **self._system_headers(),
            }
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            response = await self._send(operation, method, path, headers=headers, json_body=json_body)
            if response.status_code == 401 and attempt == 1:
                log.info("vipps %s: 401, fetching a new access token and trying once more", operation)
                self._drop_token(token)
                continue
            if not response.is_success:
                raise self._error(operation, response)
            return self._parse_success(operation, response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, operation: str, method: str, path: str, *, headers: dict[str, str], json_body: Any = None) -> httpx.Response:
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers = {**headers, "Content-Type": "application/json"}
        try:
            return await self._http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            log.warning("vipps %s %s: no answer within %ss (%s)", operation, path, self.config.timeout_seconds, type(exc).__name__)
            raise VippsUnavailable(f"Vipps did not answer {operation} in time", operation=operation) from exc
        except httpx.TransportError as exc:
            log.warning("vipps %s %s: connection failed (%s: %s)", operation, path, type(exc).__name__, exc)
            raise VippsUnavailable(f"could not reach Vipps for {operation}", operation=operation) from exc

    @staticmethod
    def _parse_success(operation: str, response: httpx.Response) -> Any:
        """Any JSON, whatever its declared type (Vipps types some successes problem+json)."""
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise VippsError(
                f"Vipps answered {operation} with {response.status_code} but no JSON",
                operation=operation,
                status=response.status_code,
            ) from exc

    @staticmethod
    def _error(operation: str, response: httpx.Response) -> VippsError:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            problem = {"status": response.status_code, "detail": response.text[:500]}
        trace_id = problem.get("traceId") or response.headers.get("traceid") or response.headers.get("x-trace-id")
        title = problem.get("title") or response.reason_phrase
        detail = problem.get("detail") or ""
        log.warning(
            "vipps %s failed: status=%s traceId=%s title=%r detail=%r",
            operation,
            response.status_code,
            trace_id,
            title,
            detail,
        )
        message = f"Vipps refused {operation}: {response.status_code} {title}" + (f" – {detail}" if detail else "")
        return VippsError(message, operation=operation, status=response.status_code, problem=problem, trace_id=trace_id)


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _check_reference(reference: str) -> None:
    if not isinstance(reference, str) or not REFERENCE_RE.match(reference):
        raise ValueError("reference must match ^[a-zA-Z0-9-]{8,50}$")


def _check_amount(amount_ore: int) -> None:
    if isinstance(amount_ore, bool) or not isinstance(amount_ore, int) or not 0 < amount_ore <= MAX_AMOUNT_ORE:
        raise ValueError(f"amount must be a positive whole number of øre, at most {MAX_AMOUNT_ORE}")


def _check_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 50 or not _header_safe(idempotency_key):
        raise ValueError("idempotency key must be 1-50 printable ASCII characters")


def _as_int(value: Any) -> int:
    """Vipps sends some numbers as strings ("3600") and some as integers."""
    if isinstance(value, bool):
        raise ValueError("boolean where a number was expected")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"not a whole number: {value!r}")


def _ore(amount: Any) -> int:
    return _as_int(amount["value"])


def _aggregate(raw: Any) -> Aggregate:
    return Aggregate(
        authorized_ore=_ore(raw["authorizedAmount"]),
        captured_ore=_ore(raw["capturedAmount"]),
        refunded_ore=_ore(raw["refundedAmount"]),
        cancelled_ore=_ore(raw["cancelledAmount"]),
    )


def _timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {"body": value}

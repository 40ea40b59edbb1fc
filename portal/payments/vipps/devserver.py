"""A dev Vipps: a small, honest, in-memory implementation of the same HTTP
contract (access token, ePayment v1, webhooks v1), for development and tests.

It enforces what the real one enforces where our code could get it wrong:
bearer tokens it issued and that have not expired, the subscription key and
MSN headers, Idempotency-Key on every change (the same key answers the same
again with no second effect), references that are never reused, the state
rules and the money arithmetic. Errors are RFC 7807 problem+json. Webhooks
are signed like the real ones and sent in the background, in order per
payment, retried a few times on non-2xx.

A landing page stands in for the Vipps app: Approve / Reject, then back to
the shop's returnUrl. Tests drive the same through `approve()`, `reject()`,
`expire()`, and provoke trouble with `fail_next()`, `delay_next()` and
`fail_captures()`.

`DevVipps` may be touched from another thread than the server's (tests run
uvicorn in a thread): its state sits behind one lock, and webhooks are always
handed to the server's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
import secrets
import ssl
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from litestar import Litestar, Request, Response, Router, delete, get, post
from litestar.response import Redirect

from portal.payments.vipps import signing

log = logging.getLogger("portal.payments.vipps.dev")

REFERENCE_RE = re.compile(r"^[a-zA-Z0-9-]{8,50}$")
PHONE_RE = re.compile(r"^\d{10,15}$")
MAX_AMOUNT = 65_000_000
PROBLEM_TYPE = "https://developer.vippsmobilepay.com/docs/knowledge-base/errors"
OPERATIONS = frozenset({"token", "create", "get", "events", "capture", "refund", "cancel", "approve", "webhooks"})
WEBHOOK_EVENT_TYPES = {
    "CREATED": "epayments.payment.created.v1",
    "AUTHORIZED": "epayments.payment.authorized.v1",
    "ABORTED": "epayments.payment.aborted.v1",
    "EXPIRED": "epayments.payment.expired.v1",
    "CAPTURED": "epayments.payment.captured.v1",
    "REFUNDED": "epayments.payment.refunded.v1",
    "CANCELLED": "epayments.payment.cancelled.v1",
    "TERMINATED": "epayments.payment.terminated.v1",
}
USER_FLOWS = {"PUSH_MESSAGE", "NATIVE_REDIRECT", "WEB_REDIRECT", "QR"}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: a new one for every webhook costs tens of milliseconds."""
    return ssl.create_default_context()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _money(value: int, currency: str = "NOK") -> dict:
    return {"currency": currency, "value": value}


@dataclass
class DevPayment:
    """One payment as the dev Vipps holds it (inspect freely; change through DevVipps)."""

    reference: str
    amount_ore: int
    currency: str
    description: str
    phone_number: str | None
    return_url: str | None
    user_flow: str
    payment_method: str
    created_key: str
    created_at: datetime
    psp_reference: str
    redirect_url: str
    state: str = "CREATED"
    authorized_ore: int = 0
    captured_ore: int = 0
    refunded_ore: int = 0
    cancelled_ore: int = 0
    events: list[dict] = field(default_factory=list)

    @property
    def reserved_ore(self) -> int:
        return self.authorized_ore - self.captured_ore - self.cancelled_ore

    def aggregate(self) -> dict:
        return {
            "authorizedAmount": _money(self.authorized_ore, self.currency),
            "cancelledAmount": _money(self.cancelled_ore, self.currency),
            "capturedAmount": _money(self.captured_ore, self.currency),
            "refundedAmount": _money(self.refunded_ore, self.currency),
        }

    def as_json(self) -> dict:
        return {
            "aggregate": self.aggregate(),
            "amount": _money(self.amount_ore, self.currency),
            "state": self.state,
            "paymentMethod": {"type": self.payment_method},
            "profile": {},
            "pspReference": self.psp_reference,
            "redirectUrl": self.redirect_url,
            "reference": self.reference,
        }


@dataclass
class _Answer:
    status: int
    body: Any = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class _Failure:
    status: int
    after_effect: bool


class _Refused(Exception):
    def __init__(self, answer: _Answer) -> None:
        self.answer = answer


def _problem(status: int, title: str, detail: str, extra: list[tuple[str, str]] | None = None) -> _Answer:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "traceId": uuid.uuid4().hex,
    }
    if extra:
        body["extraDetails"] = [{"name": name, "reason": reason} for name, reason in extra]
    return _Answer(status, body, "application/problem+json")


def _bad_request(detail: str, name: str | None = None) -> _Refused:
    return _Refused(_problem(400, "Bad Request", detail, [(name, detail)] if name else None))


def _conflict(detail: str) -> _Refused:
    return _Refused(_problem(409, "Conflict", detail))


class DevVipps:
    """State and behaviour of the dev Vipps (in memory)."""

    def __init__(
        self,
        *,
        client_id: str = "dev-client",
        client_secret: str = "dev-secret",
        subscription_key: str = "dev-subscription",
        merchant_serial_number: str = "123456",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        token_seconds: int = 3600,
        now: Callable[[], datetime] = _utc_now,
        public_base: str = "",
        merchant_name: str = "portal",
        payment_seconds: int = 600,
        webhook_retries: int = 3,
        webhook_backoff: float = 0.1,
        webhook_timeout: float = 5.0,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("a webhook_url needs its webhook_secret")
        self.client_id = client_id
        self.client_secret = client_secret
        self.subscription_key = subscription_key
        self.merchant_serial_number = merchant_serial_number
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.token_seconds = token_seconds
        self.now = now
        self.public_base = public_base.rstrip("/")
        """Where browsers reach this server (scheme://host:port); empty: the host the API was called on."""
        self.merchant_name = merchant_name
        self.payment_seconds = payment_seconds
        """A payment nobody acts on expires after this long (10 minutes at Vipps)."""
        self.webhook_retries = webhook_retries
        self.webhook_backoff = webhook_backoff
        self.webhook_timeout = webhook_timeout
        self.token_numbers_as_int = False
        """Answer the token's numbers as integers instead of strings (Vipps has done both)."""

        self.payments: dict[str, DevPayment] = {}
        self.request_log: list[dict] = []
        self.sent_webhooks: list[dict] = []
        self.webhooks: dict[str, dict] = {}
        """Registered through the API: id -> {id, url, events, secret}."""

        self._lock = threading.RLock()
        self._tokens: dict[str, datetime] = {}
        self._idempotent: dict[tuple[str, str, str], _Answer] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._failing_captures = False
        self._psp_counter = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unscheduled: list[tuple[str, dict, list[tuple[str, str]]]] = []
        self._chains: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()

    # -- what tests and the landing page do ----------------------------

    def approve(self, reference: str) -> bool:
        """The user approves in the app: CREATED -> AUTHORIZED. False if it was not CREATED."""
        with self._lock:
            payment = self._payment(reference)
            if payment.state != "CREATED":
                return False
            payment.state = "AUTHORIZED"
            payment.authorized_ore = payment.amount_ore
            self._record(payment, "AUTHORIZED", payment.amount_ore, None)
            return True

    def reject(self, reference: str) -> bool:
        """The user says no in the app: CREATED -> ABORTED."""
        return self._end(reference, "ABORTED")

    def expire(self, reference: str) -> bool:
        """Nobody acted in time: CREATED -> EXPIRED."""
        return self._end(reference, "EXPIRED")

    def fail_next(self, operation: str, status: int = 500, count: int = 1, *, after_effect: bool = False) -> None:
        """Answer the next `count` calls of `operation` with a problem of `status`.

        Normally nothing happens; with `after_effect` the call takes effect
        first and only the answer is lost (as when a gateway fails on the way back).
        """
        self._check_operation(operation)
        with self._lock:
            self._failures.setdefault(operation, deque()).extend([_Failure(status, after_effect)] * count)

    def delay_next(self, operation: str, seconds: float, count: int = 1) -> None:
        """Sleep before answering the next `count` calls of `operation`.

        The call takes effect at once; only the answer is late (provokes client
        timeouts where a retry must not do it twice)."""
        self._check_operation(operation)
        with self._lock:
            self._delays.setdefault(operation, deque()).extend([seconds] * count)

    def fail_captures(self, on: bool = True) -> None:
        """Refuse captures as when the card reservation has lapsed: a problem
        answer and a CAPTURED event with success false."""
        with self._lock:
            self._failing_captures = on

    def revoke_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        with self._lock:
            self._tokens.clear()

    def reset(self) -> None:
        """Forget every payment, token, registration, log and injected fault
        (the settings given to the constructor stay)."""
        with self._lock:
            self.payments.clear()
            self.request_log.clear()
            self.sent_webhooks.clear()
            self.webhooks.clear()
            self._tokens.clear()
            self._idempotent.clear()
            self._failures.clear()
            self._delays.clear()
            self._failing_captures = False
            self.token_numbers_as_int = False
            self._unscheduled.clear()

    def requests_for(self, operation: str) -> list[dict]:
        with self._lock:
            return [entry for entry in self.request_log if entry["operation"] == operation]

    async def flush_webhooks(self) -> None:
        """Wait until every webhook delivery started so far has finished (tests)."""
        with self._lock:
            loop = self._loop
            if loop is None and self._unscheduled:
                self._bind_loop(asyncio.get_running_loop())
                loop = self._loop
        if loop is None:
            return
        if loop is asyncio.get_running_loop():
            await self._drain()
        elif not loop.is_closed():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._drain(), loop))

    # -- state ----------------------------------------------------------

    def _check_operation(self, operation: str) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {sorted(OPERATIONS)}")

    def _payment(self, reference: str) -> DevPayment:
        payment = self.payments.get(reference)
        if payment is None:
            raise KeyError(reference)
        self._expire_if_due(payment)
        return payment

    def _expire_if_due(self, payment: DevPayment) -> None:
        if payment.state == "CREATED" and self.now() >= payment.created_at + timedelta(seconds=self.payment_seconds):
            payment.state = "EXPIRED"
            self._record(payment, "EXPIRED", payment.amount_ore, None)

    def _end(self, reference: str, state: str) -> bool:
        with self._lock:
            payment = self._payment(reference)
            if payment.state != "CREATED":
                return False
            payment.state = state
            self._record(payment, state, payment.amount_ore, None)
            return True

    def _next_psp(self) -> str:
        self._psp_counter += 1
        return f"{self._psp_counter:010d}"

    def _record(self, payment: DevPayment, name: str, amount: int, key: str | None, success: bool = True) -> dict:
        event = {
            "reference": payment.reference,
            "pspReference": payment.psp_reference if name == "CREATED" else self._next_psp(),
            "name": name,
            "amount": _money(amount, payment.currency),
            "timestamp": _iso(self.now()),
            "idempotencyKey": key,
            "success": success,
        }
        payment.events.append(event)
        self._queue_webhooks(payment.reference, event)
        return event

    # -- webhooks -------------------------------------------------------

    def _targets(self, event_type: str) -> list[tuple[str, str]]:
        targets = [(self.webhook_url, self.webhook_secret)] if self.webhook_url and self.webhook_secret else []
        targets += [(hook["url"], hook["secret"]) for hook in self.webhooks.values() if event_type in hook["events"]]
        return targets

    def _queue_webhooks(self, reference: str, event: dict) -> None:
        """Called with the lock held, so deliveries are handed over in event order."""
        targets = self._targets(WEBHOOK_EVENT_TYPES[event["name"]])
        if not targets:
            return
        payload = {"msn": self.merchant_serial_number, **{k: event[k] for k in ("reference", "pspReference", "name", "amount", "timestamp", "idempotencyKey", "success")}}
        item = (reference, payload, targets)
        if self._loop is None or self._loop.is_closed():
            self._loop = None
            self._unscheduled.append(item)
            return
        self._loop.call_soon_threadsafe(self._start_delivery, *item)

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._loop is loop:
                return
            self._loop = loop
            self._chains = {}
            self._tasks = set()
            waiting, self._unscheduled = self._unscheduled, []
            for item in waiting:
                loop.call_soon_threadsafe(self._start_delivery, *item)

    def _unbind_loop(self) -> None:
        with self._lock:
            self._loop = None

    def _start_delivery(self, reference: str, payload: dict, targets: list[tuple[str, str]]) -> None:
        """On the server's loop: deliver after this payment's earlier webhooks."""
        previous = self._chains.get(reference)
        task = asyncio.get_running_loop().create_task(self._deliver_after(previous, payload, targets))
        self._chains[reference] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_after(self, previous: asyncio.Task | None, payload: dict, targets: list[tuple[str, str]]) -> None:
        if previous is not None and not previous.done():
            await asyncio.gather(previous, return_exceptions=True)
        for url, secret in targets:
            await self._deliver(url, secret, payload)

    async def _deliver(self, url: str, secret: str, payload: dict) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        for attempt in range(1 + self.webhook_retries):
            headers = {"Content-Type": "application/json", **signing.sign(secret, url=url, body=body, now=self.now())}
            record: dict[str, Any] = {"url": url, "headers": headers, "body": body, "json": payload, "attempt": attempt + 1, "status": None, "error": None}
            try:
                async with httpx.AsyncClient(timeout=self.webhook_timeout, verify=_tls_context()) as http:
                    response = await http.post(url, content=body, headers=headers)
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.sent_webhooks.append(record)
            if record["status"] is not None and 200 <= record["status"] < 300:
                return
            if attempt < self.webhook_retries:
                await asyncio.sleep(self.webhook_backoff * 2**attempt)

    async def _drain(self) -> None:
        while True:
            pending = [task for task in self._tasks if not task.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    # -- the HTTP contract ----------------------------------------------

    async def handle(self, operation: str, request: Request, action: Callable[[dict, bytes, Any], _Answer], *, auth: str = "epayment") -> Response:
        """Log, inject trouble, authenticate, act, answer."""
        self._bind_loop(asyncio.get_running_loop())
        body = await request.body()
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = ValueError
        headers = {k.lower(): v for k, v in request.headers.items()}
        entry = {
            "operation": operation,
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "url": str(request.url),
            "headers": headers,
            "body": body,
            "json": None if parsed is ValueError else parsed,
            "response": None,
        }
        with self._lock:
            self.request_log.append(entry)
            failures = self._failures.get(operation)
            failure = failures.popleft() if failures else None
            delays = self._delays.get(operation)
            delay = delays.popleft() if delays else 0.0

        if failure is not None and not failure.after_effect:
            answer = _problem(failure.status, "Injected failure", f"dev Vipps was told to fail {operation}")
        else:
            try:
                with self._lock:
                    if auth == "epayment":
                        self._check_bearer(headers, msn_required=True)
                    elif auth == "webhooks":
                        self._check_bearer(headers, msn_required=False)
                    if parsed is ValueError:
                        raise _bad_request("The request body is not valid JSON")
                    answer = action(headers, body, parsed)
            except _Refused as refused:
                answer = refused.answer
            if failure is not None:
                answer = _problem(failure.status, "Injected failure", f"dev Vipps was told to fail {operation} after doing it")
        if delay:
            await asyncio.sleep(delay)
        content = b"" if answer.body is None else json.dumps(answer.body).encode()
        entry["response"] = {"status": answer.status, "media_type": answer.media_type, "body": content}
        return Response(content=content, status_code=answer.status, media_type=answer.media_type)

    def _check_bearer(self, headers: dict, *, msn_required: bool) -> None:
        authorization = headers.get("authorization", "")
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        expires = self._tokens.get(token)
        if expires is None or self.now() >= expires:
            raise _Refused(_problem(401, "Unauthorized", "The access token is missing, unknown or expired"))
        if headers.get("ocp-apim-subscription-key") != self.subscription_key:
            raise _Refused(_problem(401, "Unauthorized", "The subscription key is missing or wrong"))
        msn = headers.get("merchant-serial-number")
        if msn is None and msn_required:
            raise _bad_request("The Merchant-Serial-Number header is required", "Merchant-Serial-Number")
        if msn is not None and msn != self.merchant_serial_number:
            raise _Refused(_problem(403, "Forbidden", "The merchant serial number does not belong to this subscription key"))

    def _idempotency_key(self, headers: dict) -> str:
        key = headers.get("idempotency-key")
        if not key:
            raise _bad_request("The Idempotency-Key header is required", "Idempotency-Key")
        if len(key) > 50:
            raise _bad_request("The Idempotency-Key header is at most 50 characters", "Idempotency-Key")
        return key

    def _known(self, reference: str) -> DevPayment:
        if not REFERENCE_RE.match(reference):
            raise _bad_request("The reference must match ^[a-zA-Z0-9-]{8,50}$", "reference")
        try:
            return self._payment(reference)
        except KeyError:
            raise _Refused(_problem(404, "Not Found", f"No payment with reference {reference}")) from None

    def token(self, headers: dict, body: bytes, parsed: Any) -> _Answer:
        expected = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "ocp-apim-subscription-key": self.subscription_key,
            "merchant-serial-number": self.merchant_serial_number,
        }
        if any(headers.get(name) != value for name, value in expected.items()):
            return _problem(401, "Unauthorized", "client_id, client_secret, subscription key and MSN must all match")
        now = self.now()
        expires = now + timedelta(seconds=self.token_seconds)
        value = base64.b64encode(secrets.token_bytes(48)).decode()
        self._tokens[value] = expires
        number = (lambda n: n) if self.token_numbers_as_int else str
        return _Answer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": number(self.token_seconds),
                "ext_expires_in": number(self.token_seconds),
                "expires_on": number(int(expires.timestamp())),
                "not_before": number(int(now.timestamp())),
                "resource": "dev-vipps",
                "access_token": value,
            },
            "application/json;charset=UTF-8",
        )

    def create(self, headers: dict, body: bytes, parsed: Any, *, landing: Callable[[str], str]) -> _Answer:
        key = self._idempotency_key(headers)
        request = self._create_request(parsed)
        reference = request["reference"]
        existing = self.payments.get(reference)
        if existing is not None:
            if existing.created_key == key:
                return _Answer(201, {"redirectUrl": existing.redirect_url, "reference": reference})
            raise _conflict(f"The reference {reference} has already been used")
        customer = request.get("customer") or {}
        payment = DevPayment(
            reference=reference,
            amount_ore=request["amount"]["value"],
            currency=request["amount"]["currency"],
            description=request.get("paymentDescription") or "",
            phone_number=customer.get("phoneNumber"),
            return_url=request.get("returnUrl"),
            user_flow=request["userFlow"],
            payment_method=request["paymentMethod"]["type"],
            created_key=key,
            created_at=self.now(),
            psp_reference=self._next_psp(),
            redirect_url=landing(reference),
        )
        self.payments[reference] = payment
        self._record(payment, "CREATED", payment.amount_ore, key)
        return _Answer(201, {"redirectUrl": payment.redirect_url, "reference": reference})

    def _create_request(self, parsed: Any) -> dict:
        if not isinstance(parsed, dict):
            raise _bad_request("The body must be a CreatePaymentRequest object")
        self._amount(parsed.get("amount"), "amount")
        method = parsed.get("paymentMethod")
        if not isinstance(method, dict) or method.get("type") not in ("WALLET", "CARD"):
            raise _bad_request("paymentMethod.type must be WALLET or CARD", "paymentMethod")
        reference = parsed.get("reference")
        if not isinstance(reference, str) or not REFERENCE_RE.match(reference):
            raise _bad_request("The reference must match ^[a-zA-Z0-9-]{8,50}$", "reference")
        flow = parsed.get("userFlow")
        if flow not in USER_FLOWS:
            raise _bad_request(f"userFlow must be one of {sorted(USER_FLOWS)}", "userFlow")
        if flow in ("WEB_REDIRECT", "NATIVE_REDIRECT") and not (isinstance(parsed.get("returnUrl"), str) and parsed["returnUrl"]):
            raise _bad_request("returnUrl is required for this userFlow", "returnUrl")
        customer = parsed.get("customer")
        if customer is not None:
            if not isinstance(customer, dict) or len(customer) != 1:
                raise _bad_request("customer must have exactly one of phoneNumber, personalQr, customerToken", "customer")
            phone = customer.get("phoneNumber")
            if "phoneNumber" in customer and not (isinstance(phone, str) and PHONE_RE.match(phone)):
                raise _bad_request("customer.phoneNumber must be 10-15 digits, country code first", "customer.phoneNumber")
        elif flow == "PUSH_MESSAGE":
            raise _bad_request("customer is required for PUSH_MESSAGE", "customer")
        description = parsed.get("paymentDescription")
        if description is not None and not (isinstance(description, str) and 3 <= len(description) <= 100):
            raise _bad_request("paymentDescription must be 3-100 characters", "paymentDescription")
        return parsed

    def _amount(self, amount: Any, name: str, currency: str | None = None) -> int:
        if not isinstance(amount, dict):
            raise _bad_request(f"{name} is required", name)
        value = amount.get("value")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT:
            raise _bad_request(f"{name}.value must be a whole number of minor units, 1-{MAX_AMOUNT}", f"{name}.value")
        if amount.get("currency") not in ("NOK", "DKK", "EUR") or (currency and amount["currency"] != currency):
            raise _bad_request(f"{name}.currency must be {currency or 'NOK, DKK or EUR'}", f"{name}.currency")
        return value

    def get_payment(self, reference: str) -> _Answer:
        return _Answer(200, self._known(reference).as_json())

    def get_events(self, reference: str) -> _Answer:
        return _Answer(200, list(self._known(reference).events))

    def modify(self, operation: str, reference: str, headers: dict, parsed: Any) -> _Answer:
        key = self._idempotency_key(headers)
        remembered = self._idempotent.get((reference, operation, key))
        if remembered is not None:
            return remembered
        payment = self._known(reference)
        amount = 0
        if operation != "cancel":
            if not isinstance(parsed, dict):
                raise _bad_request("modificationAmount is required", "modificationAmount")
            amount = self._amount(parsed.get("modificationAmount"), "modificationAmount", payment.currency)
        if operation == "capture":
            event = self._capture(payment, amount, key)
        elif operation == "refund":
            event = self._refund(payment, amount, key)
        else:
            event = self._cancel(payment, key)
        answer = _Answer(
            200,
            {
                "amount": _money(payment.amount_ore, payment.currency),
                "state": payment.state,
                "aggregate": payment.aggregate(),
                "pspReference": event["pspReference"],
                "reference": payment.reference,
            },
            # Vipps types these successes problem+json (see the spec's AdjustResponse).
            "application/problem+json",
        )
        self._idempotent[(reference, operation, key)] = answer
        return answer

    def _capture(self, payment: DevPayment, amount: int, key: str) -> dict:
        if payment.state != "AUTHORIZED":
            raise _conflict(f"A {payment.state} payment cannot be captured")
        if amount > payment.reserved_ore:
            raise _conflict(f"Only {payment.reserved_ore} is reserved; cannot capture {amount}")
        if self._failing_captures:
            self._record(payment, "CAPTURED", amount, key, success=False)
            raise _Refused(_problem(400, "Capture failed", "The card reservation is no longer valid"))
        payment.captured_ore += amount
        return self._record(payment, "CAPTURED", amount, key)

    def _refund(self, payment: DevPayment, amount: int, key: str) -> dict:
        if payment.state != "AUTHORIZED":
            raise _conflict(f"A {payment.state} payment cannot be refunded")
        refundable = payment.captured_ore - payment.refunded_ore
        if amount > refundable:
            raise _conflict(f"Only {refundable} can be refunded; cannot refund {amount}")
        payment.refunded_ore += amount
        return self._record(payment, "REFUNDED", amount, key)

    def _cancel(self, payment: DevPayment, key: str) -> dict:
        if payment.state == "CREATED":
            payment.state = "TERMINATED"
            return self._record(payment, "TERMINATED", payment.amount_ore, key)
        if payment.state != "AUTHORIZED":
            raise _conflict(f"A {payment.state} payment cannot be cancelled")
        remaining = payment.reserved_ore
        if remaining <= 0:
            raise _conflict("Nothing is left to cancel")
        payment.cancelled_ore += remaining
        return self._record(payment, "CANCELLED", remaining, key)

    def force_approve(self, reference: str) -> _Answer:
        payment = self._known(reference)
        if payment.state != "CREATED":
            raise _conflict(f"A {payment.state} payment cannot be approved")
        self.approve(reference)
        return _Answer(200)

    def register_webhook(self, parsed: Any) -> _Answer:
        if not isinstance(parsed, dict) or set(parsed) - {"url", "events"}:
            raise _bad_request("The body must be {url, events}")
        url, events = parsed.get("url"), parsed.get("events")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _bad_request("url must be an absolute URL", "url")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise _bad_request("events must be a list of event types", "events")
        unknown = sorted(set(events) - set(WEBHOOK_EVENT_TYPES.values()))
        if unknown:
            raise _bad_request(f"Unknown event types: {', '.join(unknown)}", "events")
        hook = {"id": str(uuid.uuid4()), "url": url, "events": list(events), "secret": secrets.token_urlsafe(32)}
        self.webhooks[hook["id"]] = hook
        return _Answer(201, {"id": hook["id"], "secret": hook["secret"]})

    def list_webhooks(self) -> _Answer:
        return _Answer(200, {"webhooks": [{k: hook[k] for k in ("id", "url", "events")} for hook in self.webhooks.values()]})

    def delete_webhook(self, webhook_id: str) -> _Answer:
        if self.webhooks.pop(webhook_id, None) is None:
            raise _Refused(_problem(404, "Not Found", "No such webhook"))
        return _Answer(204)


def dev_vipps_router(dev: DevVipps, path: str = "/dev/vipps") -> Router:
    """The dev Vipps' HTTP API and landing page, mounted at `path`."""
    prefix = "" if path in ("", "/") else "/" + path.strip("/")

    def landing_url(request: Request) -> Callable[[str], str]:
        base = dev.public_base or f"{request.url.scheme}://{request.url.netloc}"
        return lambda reference: f"{base}{prefix}/landing/{reference}"

    api = {"exclude_from_csrf": True, "include_in_schema": False}

    @post("/accesstoken/get", **api)
    async def access_token(request: Request) -> Response:
        return await dev.handle("token", request, dev.token, auth="none")

    @post("/epayment/v1/payments", **api)
    async def create_payment(request: Request) -> Response:
        make = landing_url(request)
        return await dev.handle("create", request, lambda h, b, p: dev.create(h, b, p, landing=make))

    @get("/epayment/v1/payments/{reference:str}", **api)
    async def get_payment(request: Request, reference: str) -> Response:
        return await dev.handle("get", request, lambda h, b, p: dev.get_payment(reference))

    @get("/epayment/v1/payments/{reference:str}/events", **api)
    async def get_events(request: Request, reference: str) -> Response:
        return await dev.handle("events", request, lambda h, b, p: dev.get_events(reference))

    @post("/epayment/v1/payments/{reference:str}/capture", **api)
    async def capture(request: Request, reference: str) -> Response:
        return await dev.handle("capture", request, lambda h, b, p: dev.modify("capture", reference, h, p))

    @post("/epayment/v1/payments/{reference:str}/refund", **api)
    async def refund(request: Request, reference: str) -> Response:
        return await dev.handle("refund", request, lambda h, b, p: dev.modify("refund", reference, h, p))

    @post("/epayment/v1/payments/{reference:str}/cancel", **api)
    async def cancel(request: Request, reference: str) -> Response:
        return await dev.handle("cancel", request, lambda h, b, p: dev.modify("cancel", reference, h, p))

    @post("/epayment/v1/test/payments/{reference:str}/approve", **api)
    async def force_approve(request: Request, reference: str) -> Response:
        return await dev.handle("approve", request, lambda h, b, p: dev.force_approve(reference))

    @post("/webhooks/v1/webhooks", **api)
    async def register_webhook(request: Request) -> Response:
        return await dev.handle("webhooks", request, lambda h, b, p: dev.register_webhook(p), auth="webhooks")

    @get("/webhooks/v1/webhooks", **api)
    async def list_webhooks(request: Request) -> Response:
        return await dev.handle("webhooks", request, lambda h, b, p: dev.list_webhooks(), auth="webhooks")

    @delete("/webhooks/v1/webhooks/{webhook_id:str}", status_code=200, **api)  # the Response says 204
    async def delete_webhook(request: Request, webhook_id: str) -> Response:
        return await dev.handle("webhooks", request, lambda h, b, p: dev.delete_webhook(webhook_id), auth="webhooks")

    def _landing_payment(reference: str) -> DevPayment | None:
        with dev._lock:
            try:
                return dev._payment(reference)
            except KeyError:
                return None

    @get("/landing/{reference:str}", include_in_schema=False)
    async def landing(request: Request, reference: str) -> object:
        """Stands in for the Vipps app: Approve or Reject, then back to the shop."""
        from portal.web.render import page

        dev._bind_loop(asyncio.get_running_loop())
        payment = _landing_payment(reference)
        return page(
            request,
            "pages/devvipps/landing.html",
            status_code=200 if payment else 404,
            payment=payment,
            merchant=dev.merchant_name,
            action=f"{prefix}/landing/{reference}",
        )

    def _decide(reference: str, choice: Callable[[str], bool]) -> Redirect:
        payment = _landing_payment(reference)
        if payment is None:
            return Redirect(path=f"{prefix}/landing/{reference}", status_code=303)
        choice(reference)
        return Redirect(path=payment.return_url or f"{prefix}/landing/{reference}", status_code=303)

    @post("/landing/{reference:str}/approve", include_in_schema=False)
    async def landing_approve(reference: str) -> Redirect:
        dev._bind_loop(asyncio.get_running_loop())
        return _decide(reference, dev.approve)

    @post("/landing/{reference:str}/reject", include_in_schema=False)
    async def landing_reject(reference: str) -> Redirect:
        dev._bind_loop(asyncio.get_running_loop())
        return _decide(reference, dev.reject)

    return Router(
        path=prefix or "/",
        route_handlers=[
            access_token,
            create_payment,
            get_payment,
            get_events,
            capture,
            refund,
            cancel,
            force_approve,
            register_webhook,
            list_webhooks,
            delete_webhook,
            landing,
            landing_approve,
            landing_reject,
        ],
    )


def create_dev_vipps_app(dev: DevVipps) -> Litestar:
    """The dev Vipps on its own (tests; or `uvicorn --factory`), routes at the root, no CSRF."""
    from litestar.static_files import create_static_files_router
    from litestar.template.config import TemplateConfig

    from portal.settings import ROOT
    from portal.web.templates import template_engine

    def started() -> None:
        dev._bind_loop(asyncio.get_running_loop())

    def crashed(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status >= 500:
            log.exception("dev Vipps failed on %s %s", request.method, request.url.path, exc_info=exc)
        answer = _problem(status, "Internal Server Error" if status >= 500 else "Error", str(getattr(exc, "detail", "")) or type(exc).__name__)
        return Response(content=json.dumps(answer.body).encode(), status_code=status, media_type=answer.media_type)

    return Litestar(
        route_handlers=[
            dev_vipps_router(dev, path=""),
            create_static_files_router(path="/static", directories=[ROOT / "static"], name="static"),
        ],
        template_config=TemplateConfig(instance=template_engine()),
        on_startup=[started],
        on_shutdown=[dev._unbind_loop],
        exception_handlers={Exception: crashed},
        # Errors are logged by `crashed`; Litestar's own logging config would
        # start a queue-listener thread for every app made (one per test).
        logging_config=None,
        debug=False,
    )

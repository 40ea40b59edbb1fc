"""Contract: every request our VippsClient sends in a full flow, and every
answer the dev Vipps gives, checked with openapi-core against Vipps' own
OpenAPI files (shared/specs/vipps), patched in memory for their known defects.

Requests and answers are taken on the client's side of the wire (httpx event
hooks). The dev server's base URL is mapped onto the spec's test server.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import yaml
from jsonschema.exceptions import ValidationError as JsonSchemaValidationError
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import (
    InvalidParameter,
    InvalidRequestBody,
    MissingRequiredParameter,
    SecurityValidationError,
)
from openapi_core.validation.response.exceptions import InvalidData
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from portal.payments.vipps.client import VippsClient, VippsError
from portal.payments.vipps.devserver import WEBHOOK_EVENT_TYPES
from tests.integration.vipps_support import WebhookReceiver, config_for, dev_vipps, dev_vipps_module  # noqa: F401 - fixtures

#: The repository's copy (tests/specs/vipps), checked against ../shared/specs/vipps when that exists.
SPECS = Path(__file__).resolve().parents[1] / "specs" / "vipps"
SHARED_SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "vipps"
SPEC_FILES = ("epayment-api/epayment.v1.yml", "webhooks-api/swagger.yaml", "access-token-api/swagger.yaml")
SPEC_HOST = "https://apitest.vipps.no"


def _load(name: str) -> dict:
    with open(SPECS / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def patched_epayment(raw: dict) -> dict:
    """A copy with the README's three known defects fixed; `raw` is untouched."""
    spec = copy.deepcopy(raw)
    schemas = spec["components"]["schemas"]
    # 1. Remote $ref (Order Management's Receipt): offline, accept any object.
    schemas["CreatePaymentRequest"]["properties"]["receipt"] = {"type": "object", "additionalProperties": True}
    # 2. The customer variants have no `required`: oneOf matched all three for {"phoneNumber": …}.
    schemas["CustomerPhoneNumber"]["required"] = ["phoneNumber"]
    schemas["PersonalQrCode"]["required"] = ["personalQr"]
    schemas["CustomerToken"]["required"] = ["customerToken"]
    # 3. PaymentEvent.required names `paymentAction`; the field is `name`.
    schemas["PaymentEvent"]["required"] = ["name" if item == "paymentAction" else item for item in schemas["PaymentEvent"]["required"]]
    return spec


@functools.cache
def raw_specs() -> dict[str, dict]:
    return {
        "epayment": _load("epayment-api/epayment.v1.yml"),
        "webhooks": _load("webhooks-api/swagger.yaml"),
        "token": _load("access-token-api/swagger.yaml"),
    }


# openapi-core reads application/json only; Vipps types errors and some successes problem+json.
CONFIG = Config(extra_media_type_deserializers={"application/problem+json": json.loads})


@functools.cache
def apis() -> dict[str, OpenAPI]:
    raw = raw_specs()
    return {
        "epayment": OpenAPI.from_dict(patched_epayment(raw["epayment"]), config=CONFIG),
        "webhooks": OpenAPI.from_dict(copy.deepcopy(raw["webhooks"]), config=CONFIG),
        "token": OpenAPI.from_dict(copy.deepcopy(raw["token"]), config=CONFIG),
    }


def api_for(path: str) -> OpenAPI:
    if path.startswith("/accesstoken/"):
        return apis()["token"]
    if path.startswith("/webhooks/"):
        return apis()["webhooks"]
    return apis()["epayment"]


class Wire:
    """httpx event hooks that keep (request, response) pairs as sent and received."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges.append((response.request, response))

    def hooks(self) -> dict:
        return {"response": [self.on_response]}


def spec_request(request: httpx.Request, base_url: str, *, body: bytes | None = None, headers: dict | None = None) -> MockRequest:
    """The request as if it had been sent to the spec's test server."""
    url = str(request.url)
    assert url.startswith(base_url), url
    parts = urlsplit(url)
    path = parts.path[len(urlsplit(base_url).path) :] or "/"
    sent_headers = dict(request.headers) if headers is None else headers
    return MockRequest(
        SPEC_HOST,
        request.method,
        path,
        args=dict(parse_qsl(parts.query)),
        headers=sent_headers,
        data=request.content if body is None else body,
        content_type=sent_headers.get("content-type", "application/json"),
    )


def spec_response(response: httpx.Response) -> MockResponse:
    return MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )


def deref(node: Any, root: dict) -> Any:
    """Inline local $refs (the schemas used here are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return deref(target, root)
        return {k: deref(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v, root) for v in node]
    return node


def schema_validator(name: str) -> OAS30Validator:
    root = patched_epayment(raw_specs()["epayment"])
    return OAS30Validator(deref(root["components"]["schemas"][name], root), format_checker=oas30_format_checker)


# -- the patches themselves ----------------------------------------------


def test_the_copies_are_the_published_files():
    """The repository's copies carry the SHA-256 that SOURCES.md records, and
    equal ../shared/specs/vipps where that folder exists."""
    import hashlib

    sources = (SPECS / "SOURCES.md").read_text(encoding="utf-8")
    for name in SPEC_FILES:
        digest = hashlib.sha256((SPECS / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in sources, name
        if (SHARED_SPECS / name).exists():
            assert (SHARED_SPECS / name).read_bytes() == (SPECS / name).read_bytes(), name


def test_patches_leave_the_shared_files_alone():
    before = {name: (SPECS / name).read_bytes() for name in SPEC_FILES}
    raw = raw_specs()["epayment"]
    patched = patched_epayment(raw)
    assert "$ref" in raw["components"]["schemas"]["CreatePaymentRequest"]["properties"]["receipt"]
    assert "paymentAction" in raw["components"]["schemas"]["PaymentEvent"]["required"]
    assert "paymentAction" not in patched["components"]["schemas"]["PaymentEvent"]["required"]
    apis()
    assert before == {name: (SPECS / name).read_bytes() for name in before}


def test_customer_defect_is_real_and_the_patch_fixes_it():
    raw = copy.deepcopy(raw_specs()["epayment"])
    customer = deref(raw["components"]["schemas"]["Customer"], raw)
    with pytest.raises(JsonSchemaValidationError, match="is valid under each of"):
        OAS30Validator(customer, format_checker=oas30_format_checker).validate({"phoneNumber": "4791234567"})
    schema_validator("Customer").validate({"phoneNumber": "4791234567"})


# -- the full flow, checked request by request ----------------------------


async def test_every_request_and_answer_of_a_full_flow_matches_the_spec(dev_vipps):
    dev, base_url = dev_vipps
    wire = Wire()
    with WebhookReceiver() as receiver:
        async with VippsClient(config_for(dev, base_url), event_hooks=wire.hooks()) as client:
            await client.register_webhook(f"{receiver.url}/hooks/vipps", list(WEBHOOK_EVENT_TYPES.values()))
            await client.create_payment(
                reference="booking-42-1",
                amount_ore=49900,
                phone_number="4791234567",
                return_url="https://portal.example/pay/return?b=abc",
                description="Klipp hos Salong Nord",
                idempotency_key="create-booking-42-1",
            )
            await client.get_payment("booking-42-1")
            await client.force_approve("booking-42-1")
            await client.get_payment("booking-42-1")
            await client.capture("booking-42-1", 10000, "capture-1")
            await client.capture("booking-42-1", 15000, "capture-2")
            with pytest.raises(VippsError):
                await client.capture("booking-42-1", 99999, "capture-3")  # 409, a declared problem answer
            await client.refund("booking-42-1", 5000, "refund-1")
            await client.cancel("booking-42-1", "cancel-1")
            await client.get_events("booking-42-1")

            await client.create_payment(
                reference="booking-43-1",
                amount_ore=100,
                phone_number="4791234567",
                return_url="https://portal.example/pay/return?b=def",
                description="Avbrutt",
                idempotency_key="create-booking-43-1",
            )
            await client.cancel("booking-43-1", "cancel-43")
            await client.get_events("booking-43-1")
        await dev.flush_webhooks()
        webhooks = list(receiver.received)

    operations = set()
    for request, response in wire.exchanges:
        mock = spec_request(request, base_url)
        api = api_for(mock.path)
        api.validate_request(mock)
        api.validate_response(mock, spec_response(response))  # also refuses a status the spec does not declare
        operations.add((request.method, response.status_code, mock.path.split("/")[-1]))
    assert len(wire.exchanges) == 15  # token, webhook registration, 13 ePayment calls: none went unchecked
    assert ("POST", 409, "capture") in operations

    event_schema = schema_validator("WebhookEvent")
    assert len(webhooks) == 8  # 6 events of the first payment, 2 of the second
    for item in webhooks:
        event_schema.validate(json.loads(item["body"]))


async def test_token_answer_with_integers_is_what_the_spec_does_not_say(dev_vipps):
    """Vipps has answered with integers where its spec says strings; the
    client copes (test_vipps_client), and the validator notices the difference."""
    dev, base_url = dev_vipps
    dev.token_numbers_as_int = True
    wire = Wire()
    async with VippsClient(config_for(dev, base_url), event_hooks=wire.hooks()) as client:
        await client.access_token()
    (request, response), = wire.exchanges
    mock = spec_request(request, base_url)
    api_for(mock.path).validate_request(mock)
    with pytest.raises(InvalidData):  # expires_in and friends are not strings
        api_for(mock.path).validate_response(mock, spec_response(response))


# -- the validator does reject what is wrong -------------------------------


async def _one_create(dev_vipps) -> tuple[httpx.Request, str]:
    dev, base_url = dev_vipps
    wire = Wire()
    async with VippsClient(config_for(dev, base_url), event_hooks=wire.hooks()) as client:
        await client.create_payment(
            reference="booking-44-1",
            amount_ore=49900,
            phone_number="4791234567",
            return_url="https://portal.example/pay/return",
            description="Klipp",
            idempotency_key="create-booking-44-1",
        )
    request = next(req for req, _ in wire.exchanges if req.url.path.endswith("/epayment/v1/payments"))
    return request, base_url


@pytest.mark.parametrize(
    "breakage",
    ["amount-as-string", "no-payment-method", "bad-reference", "two-customer-kinds", "description-too-short"],
)
async def test_broken_create_body_is_rejected(dev_vipps, breakage):
    request, base_url = await _one_create(dev_vipps)
    good = json.loads(request.content)
    api_for("/epayment/v1/payments").validate_request(spec_request(request, base_url))  # the real one passes
    bad = copy.deepcopy(good)
    if breakage == "amount-as-string":
        bad["amount"]["value"] = "49900"
    elif breakage == "no-payment-method":
        del bad["paymentMethod"]
    elif breakage == "bad-reference":
        bad["reference"] = "booking_44"
    elif breakage == "two-customer-kinds":
        bad["customer"]["personalQr"] = "https://qr.vipps.no/28/2/01/031/4791234567"
    else:
        bad["paymentDescription"] = "ab"
    with pytest.raises(InvalidRequestBody):
        api_for("/epayment/v1/payments").validate_request(spec_request(request, base_url, body=json.dumps(bad).encode()))


async def test_missing_idempotency_key_and_bad_msn_header_are_rejected(dev_vipps):
    request, base_url = await _one_create(dev_vipps)
    api = api_for("/epayment/v1/payments")
    headers = dict(request.headers)
    without_key = {k: v for k, v in headers.items() if k.lower() != "idempotency-key"}
    with pytest.raises(MissingRequiredParameter):
        api.validate_request(spec_request(request, base_url, headers=without_key))
    with pytest.raises(InvalidParameter):
        api.validate_request(spec_request(request, base_url, headers={**headers, "merchant-serial-number": "12"}))
    with pytest.raises(InvalidParameter):
        api.validate_request(spec_request(request, base_url, headers={**headers, "vipps-system-name": "x" * 31}))
    without_token = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    with pytest.raises(SecurityValidationError):
        api.validate_request(spec_request(request, base_url, headers=without_token))


async def test_broken_answer_is_rejected(dev_vipps):
    dev, base_url = dev_vipps
    wire = Wire()
    async with VippsClient(config_for(dev, base_url), event_hooks=wire.hooks()) as client:
        await client.create_payment(
            reference="booking-45-1",
            amount_ore=100,
            phone_number="4791234567",
            return_url="https://portal.example/r",
            description="Klipp",
            idempotency_key="k45",
        )
        await client.get_payment("booking-45-1")
    request, response = wire.exchanges[-1]
    mock = spec_request(request, base_url)
    api = api_for(mock.path)
    api.validate_response(mock, spec_response(response))
    answer = json.loads(response.content)
    del answer["aggregate"]
    broken = httpx.Response(200, content=json.dumps(answer).encode(), headers={"content-type": "application/json"})
    with pytest.raises(InvalidData, match="aggregate"):
        api.validate_response(mock, spec_response(broken))
    not_declared = httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "status": 404, "traceId": "t"})
    with pytest.raises(ResponseNotFound):
        api.validate_response(mock, spec_response(not_declared))

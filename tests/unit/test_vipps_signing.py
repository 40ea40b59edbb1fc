"""Webhook HMAC: the published test vector, a round trip, and every way a
forged, altered or replayed webhook must be refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.payments.vipps import signing
from portal.payments.vipps.signing import WebhookRejected

# Published by Vipps MobilePay for verifier tests (see shared/specs/vipps/README.md).
SECRET = "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
URL = "https://webhook.site/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
BODY = b'{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"}'
DATE = "Thu, 30 Mar 2023 08:38:32 GMT"
HASH = "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4="
SIGNATURE = "agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U="
SENT = datetime(2023, 3, 30, 8, 38, 32, tzinfo=timezone.utc)
PATH = "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
HOST = "webhook.site"


def vector_headers() -> dict[str, str]:
    return {
        "x-ms-date": DATE,
        "x-ms-content-sha256": HASH,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={SIGNATURE}",
    }


def check(headers: dict[str, str], *, body: bytes = BODY, secret: str = SECRET, path: str = PATH, host: str = HOST, now: datetime = SENT) -> None:
    signing.verify(secret, path_and_query=path, host=host, headers=headers, body=body, now=now)


def rejected(reason: str, headers: dict[str, str], **kw) -> None:
    with pytest.raises(WebhookRejected) as info:
        check(headers, **kw)
    assert info.value.reason == reason


def test_vector_content_hash():
    assert signing.content_hash(BODY) == HASH


def test_vector_string_to_sign():
    assert signing.string_to_sign(PATH, DATE, HOST, HASH) == f"POST\n{PATH}\n{DATE};{HOST};{HASH}"


def test_vector_sign_gives_published_signature():
    headers = signing.sign(SECRET, url=URL, body=BODY, date=DATE)
    assert headers["x-ms-date"] == DATE
    assert headers["x-ms-content-sha256"] == HASH
    assert headers["Authorization"] == vector_headers()["Authorization"]


def test_vector_sign_from_now_formats_rfc1123():
    assert signing.sign(SECRET, url=URL, body=BODY, now=SENT) == signing.sign(SECRET, url=URL, body=BODY, date=DATE)
    oslo = SENT.astimezone(timezone(timedelta(hours=2)))
    assert signing.http_date(oslo) == DATE


def test_vector_verifies():
    check(vector_headers())


def test_round_trip_with_query_and_port():
    url = "http://127.0.0.1:8123/hooks/vipps?source=test&x=1"
    body = b'{"name":"AUTHORIZED","amount":{"currency":"NOK","value":49900}}'
    now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    headers = signing.sign("s3cret", url=url, body=body, now=now)
    signing.verify("s3cret", path_and_query="/hooks/vipps?source=test&x=1", host="127.0.0.1:8123", headers=headers, body=body, now=now + timedelta(seconds=30))


def test_changed_body_byte_rejected():
    changed = bytearray(BODY)
    changed[10] ^= 0x01
    rejected("content hash mismatch", vector_headers(), body=bytes(changed))


def test_body_and_hash_both_replaced_rejected():
    """An attacker who recomputes the hash still cannot make the signature."""
    body = BODY.replace(b"hello", b"HELLO")
    rejected("bad signature", {**vector_headers(), "x-ms-content-sha256": signing.content_hash(body)}, body=body)


def test_wrong_secret_rejected():
    rejected("bad signature", vector_headers(), secret=SECRET[:-4] + "AAA=")


def test_changed_path_rejected():
    rejected("bad signature", vector_headers(), path=PATH + "?replay=1")


def test_other_host_rejected():
    rejected("bad signature", vector_headers(), host="evil.example")


def test_stale_date_rejected():
    rejected("stale date", vector_headers(), now=SENT + timedelta(minutes=5, seconds=1))
    check(vector_headers(), now=SENT + timedelta(minutes=5))


def test_future_date_rejected():
    rejected("stale date", vector_headers(), now=SENT - timedelta(minutes=5, seconds=1))


def test_custom_skew():
    with pytest.raises(WebhookRejected):
        signing.verify(SECRET, path_and_query=PATH, host=HOST, headers=vector_headers(), body=BODY, now=SENT + timedelta(seconds=61), max_skew=timedelta(minutes=1))


@pytest.mark.parametrize("name", ["x-ms-date", "x-ms-content-sha256", "Authorization"])
def test_missing_header_rejected(name):
    headers = vector_headers()
    del headers[name]
    rejected("missing header", headers)


def test_empty_header_rejected():
    rejected("missing header", {**vector_headers(), "x-ms-date": ""})


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        f"Bearer {SIGNATURE}",
        f"HMAC-SHA256 Signature={SIGNATURE}",
        f"HMAC-SHA256 SignedHeaders=host;x-ms-date&Signature={SIGNATURE}",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=",
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256",
        "HMAC-SHA256 nonsense",
    ],
)
def test_garbage_authorization_rejected(value):
    rejected("malformed authorization", {**vector_headers(), "Authorization": value})


def test_non_ascii_signature_rejected_not_crashing():
    rejected("bad signature", {**vector_headers(), "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=æøå"})


def test_malformed_date_rejected():
    rejected("malformed date", {**vector_headers(), "x-ms-date": "yesterday"})


@pytest.mark.parametrize("transform", [str.upper, str.title, str.lower])
def test_header_names_in_any_case_accepted(transform):
    check({transform(k): v for k, v in vector_headers().items()})


def test_headers_mapping_of_a_framework_accepted():
    from litestar.datastructures import Headers

    check(Headers({"X-MS-DATE": DATE, "X-Ms-Content-Sha256": HASH, "authorization": vector_headers()["Authorization"]}))


def test_http_date_refuses_naive():
    with pytest.raises(ValueError):
        signing.http_date(datetime(2023, 3, 30, 8, 38, 32))

"""Small helpers for HTTP-level tests: read tokens and slots from pages."""

from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')
SLOT_RE = re.compile(r'name="start" value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def slots(html: str) -> list[str]:
    return SLOT_RE.findall(html)


async def first_free_slot(client, path: str) -> tuple[str, str]:
    """(start, csrf) of the first offered time on the offering page."""
    page = await client.get(path)
    assert page.status_code == 200
    starts = slots(page.text)
    assert starts, "no free slot on the offering page"
    return starts[0], csrf(page.text)


VALID_CUSTOMER = {
    "name": "Kari Nordmann",
    "phone": "412 34 567",
    "email": "kari@example.no",
    "note": "",
    "accept_terms": "on",
    "adult": "on",
    "early_start": "on",
    "means": "onsite",
}


async def latest_code(phone_e164: str) -> str:
    """The one-time code last queued for this number, read from the outbox row
    (tests run without the embedded worker, so the row is still there)."""
    from portal.outbox.tables import OutboxMessage

    row = await (
        OutboxMessage.select(OutboxMessage.payload)
        .output(load_json=True)
        .where((OutboxMessage.recipient == phone_e164) & (OutboxMessage.topic == "code"))
        .order_by(OutboxMessage.id, ascending=False)
        .first()
    )
    assert row, f"no code queued for {phone_e164}"
    match = re.search(r"\b(\d{6})\b", row["payload"]["text"])
    assert match, row["payload"]["text"]
    return match.group(1)


async def send_code(client, checkout_url: str, token: str, data: dict) -> object:
    return await client.post(checkout_url, data={**data, "action": "send_code", "_csrf_token": token})


async def confirm_with_code(client, checkout_url: str, data: dict | None = None, *, follow_redirects: bool = False):
    """The checkout as a customer does it: when the number is a valid mobile
    number, press "Send code" and type the code from the SMS; then confirm.
    Fields set to None are left out of the form."""
    from portal.sales.forms import parse_phone

    data = {k: v for k, v in {**VALID_CUSTOMER, **(data or {})}.items() if v is not None}
    page = await client.get(checkout_url)
    token = csrf(page.text)
    phone = parse_phone(data.get("phone", ""))
    if phone and "code" not in data:
        sent = await send_code(client, checkout_url, token, data)
        assert sent.status_code == 200, sent.text[:300]
        data["code"] = await latest_code(phone)
    return await client.post(checkout_url, data={**data, "action": "confirm", "_csrf_token": token}, follow_redirects=follow_redirects)

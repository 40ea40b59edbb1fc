"""Security promises over HTTP: CSP without inline code, CSRF on every POST,
cookie flags, fragment caching, safe redirects, unguessable private links."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest

from portal.audit import service as audit
from portal.capacity.tables import SlotClaim
from portal.kinds.appointment.tables import Reservation
from portal.orders import service as orders
from portal.orders.tables import Order, OrderLine
from tests.integration.helpers import VALID_CUSTOMER, confirm_with_code, csrf, first_free_slot
from tests.integration.staff import staff_login

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8000"
OSLO = ZoneInfo("Europe/Oslo")
HAIRCUT = "/s/saks-og-stil-grunerlokka/herreklipp"
SUPPLIER = "/s/saks-og-stil-grunerlokka"
SALON_SLUG = "saks-og-stil-grunerlokka"
TOKEN_VALUE = re.compile(r"[A-Za-z0-9_.\-]{16,}")


# ---------------------------------------------------------------- helpers


class Markup(HTMLParser):
    """Everything a CSP without 'unsafe-inline' would block, and the forms."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.forms: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self._script: dict | None = None
        self._script_body: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name, value in attrs:
            lowered = name.lower()
            if lowered == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if lowered.startswith("on"):
                self.problems.append(f"inline event handler {name} on <{tag}>")
            if lowered.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"htmx inline handler {name} on <{tag}>")
            url_attribute = lowered in {"href", "src", "action", "formaction", "hx-get", "hx-post"}
            if url_attribute and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self._script, self._script_body = attributes, []
            if not attributes.get("src"):
                self.problems.append("<script> without src")
        if tag == "form":
            self.forms.append({"attrs": attributes, "inputs": []})
        if tag in {"input", "button", "textarea", "select"} and self.forms:
            self.forms[-1]["inputs"].append(attributes)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_data(self, data):
        if self._script is not None:
            self._script_body.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            if "".join(self._script_body).strip():
                self.problems.append("inline <script> body")
            self._script = None

    def post_forms(self) -> list[dict]:
        return [f for f in self.forms if (f["attrs"].get("method") or "get").lower() == "post"]


def set_cookies(response) -> dict[str, list[str]]:
    """name -> lower-cased attributes of each Set-Cookie header."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0].strip()
        cookies[name] = [part.strip().lower() for part in header.split(";")[1:]]
    return cookies


def csp(response) -> dict[str, list[str]]:
    header = response.headers.get("content-security-policy")
    assert header, "no Content-Security-Policy header"
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


async def hold(client, path: str = HAIRCUT) -> str:
    start, token = await first_free_slot(client, path)
    response = await client.post(f"{path}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    return response.headers["location"]


async def confirmed(client, **customer) -> str:
    url = await hold(client)
    done = await confirm_with_code(client, url, customer)
    assert done.status_code == 303, done.text[:300]
    return done.headers["location"]


async def fetch(client, name: str):
    """One rendered page of each kind the portal serves."""
    if name == "front":
        return await client.get("/")
    if name == "front-search":
        return await client.get("/", params={"q": "saks", "category": "hair", "town": "Oslo"})
    if name == "front-fragment":
        return await client.get("/", params={"q": "yoga"}, headers={"HX-Request": "true"})
    if name == "supplier":
        return await client.get(SUPPLIER)
    if name == "offering":
        return await client.get(HAIRCUT)
    if name == "offering-fragment":
        start, _ = await first_free_slot(client, HAIRCUT)
        day = datetime.fromisoformat(start).astimezone(OSLO).date().isoformat()
        return await client.get(HAIRCUT, params={"day": day}, headers={"HX-Request": "true", "HX-Target": "slots"})
    if name == "offering-while-holding":
        await hold(client)
        return await client.get(HAIRCUT)
    if name == "hold-not-offered":
        start, token = await first_free_slot(client, HAIRCUT)
        off_grid = (datetime.fromisoformat(start) + timedelta(minutes=7)).isoformat()
        return await client.post(f"{HAIRCUT}/hold", data={"start": off_grid, "_csrf_token": token})
    if name == "hold-bad-input":
        token = csrf((await client.get(HAIRCUT)).text)
        return await client.post(f"{HAIRCUT}/hold", data={"start": "not a time", "_csrf_token": token})
    if name == "checkout":
        return await client.get(await hold(client))
    if name == "checkout-errors":
        url = await hold(client)
        token = csrf((await client.get(url)).text)
        return await client.post(url, data={"name": "", "_csrf_token": token})
    if name == "confirmation":
        return await client.get(await confirmed(client))
    if name == "why":
        await staff_login(client, SALON_SLUG)
        return await client.get(f"/kontor/{SALON_SLUG}/hvorfor", params={"tilbud": "herreklipp", "tid": "2026-12-01T10:00"})
    if name == "backoffice-login":
        client.cookies.pop("pk", None)
        return await client.get("/kontor/logg-inn")
    if name == "backoffice-day":
        await staff_login(client, SALON_SLUG)
        return await client.get(f"/kontor/{SALON_SLUG}")
    if name == "backoffice-week":
        await staff_login(client, SALON_SLUG)
        return await client.get(f"/kontor/{SALON_SLUG}/uke")
    if name == "backoffice-order":
        location = await confirmed(client)
        order = await orders.by_manage_token(location.rsplit("/", 1)[-1].split("?")[0])
        await staff_login(client, SALON_SLUG)
        return await client.get(f"/kontor/{SALON_SLUG}/ordre/{order['id']}")
    if name == "404":
        return await client.get("/s/finnes-ikke")
    if name == "403":
        return await client.post(f"{HAIRCUT}/hold", data={"start": "x"})
    raise AssertionError(name)


PAGES = {
    "front": 200,
    "front-search": 200,
    "front-fragment": 200,
    "supplier": 200,
    "offering": 200,
    "offering-fragment": 200,
    "offering-while-holding": 200,
    "hold-not-offered": 409,
    "hold-bad-input": 422,
    "checkout": 200,
    "checkout-errors": 422,
    "confirmation": 200,
    "why": 200,
    "backoffice-login": 200,
    "backoffice-day": 200,
    "backoffice-week": 200,
    "backoffice-order": 200,
    "404": 404,
    "403": 403,
}


# ---------------------------------------------------------------- CSP and inline code


@pytest.mark.parametrize("name", list(PAGES))
async def test_every_page_has_a_strict_csp(client, name):
    response = await fetch(client, name)
    assert response.status_code == PAGES[name], response.text[:300]
    policy = csp(response)
    for directive in ("script-src", "style-src"):
        sources = policy.get(directive, policy.get("default-src"))
        assert sources, f"{directive} missing"
        lowered = [s.lower() for s in sources]
        assert "'unsafe-inline'" not in lowered and "'unsafe-eval'" not in lowered, (directive, sources)
        assert "*" not in lowered and "data:" not in lowered and "http:" not in lowered and "https:" not in lowered
    assert all("'unsafe-inline'" not in v for v in policy.values())
    assert policy.get("object-src") == ["'none'"]
    assert policy.get("frame-ancestors") == ["'none'"]
    assert policy.get("base-uri") in (["'none'"], ["'self'"])
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"


@pytest.mark.parametrize("name", list(PAGES))
async def test_every_page_is_free_of_inline_code(client, name):
    response = await fetch(client, name)
    assert response.status_code == PAGES[name], response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    markup = Markup(response.text)
    assert markup.problems == [], markup.problems
    for tag, attributes in markup.tags:
        if tag == "script":
            src = attributes["src"]
            assert src.startswith("/static/"), f"script from {src}: scripts are served from static/, never a CDN"


@pytest.mark.parametrize("name", ["front", "offering", "checkout", "404"])
async def test_html_content_type_names_the_charset_once(client, name):
    response = await fetch(client, name)
    assert response.headers["content-type"].replace(" ", "").lower() == "text/html;charset=utf-8"


def web_templates() -> list[Path]:
    """Templates rendered as web pages (emails and PDF documents carry their own inline styles)."""
    templates = ROOT / "templates"
    found = [templates / "base.html", *(templates / "pages").rglob("*.html"), *(templates / "partials").rglob("*.html")]
    assert len(found) > 5
    return found


def test_templates_have_no_inline_code_or_styles():
    for template in web_templates():
        source = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), template
        assert not re.search(r"<style\b", source), template
        assert not re.search(r"\sstyle\s*=", source), template
        assert not re.search(r"\s(?:data-)?(?:hx-)?on[a-z:-]*\s*=", source, re.I), template


# ---------------------------------------------------------------- CSRF


def test_templates_render_the_csrf_token_through_autoescape():
    for template in web_templates():
        source = template.read_text()
        assert "csrf_input" not in source, f"{template}: csrf_input is inserted unescaped"
        assert not re.search(r"csrf_token\(\)\s*\|\s*safe", source), template
        for form in re.findall(r"<form\b[^>]*>.*?</form>", source, re.S | re.I):
            if re.search(r'method="post"', form, re.I):
                assert '<input type="hidden" name="_csrf_token" value="{{ csrf_token() }}">' in form, template


@pytest.mark.parametrize(
    "name", ["offering", "offering-fragment", "offering-while-holding", "hold-not-offered", "checkout", "checkout-errors"]
)
async def test_every_post_form_carries_the_csrf_token(client, name):
    response = await fetch(client, name)
    markup = Markup(response.text)
    forms = markup.post_forms()
    assert forms, f"{name}: expected a POST form"
    values = set()
    for form in forms:
        tokens = [i for i in form["inputs"] if i.get("name") == "_csrf_token"]
        assert len(tokens) == 1, form["attrs"]
        assert tokens[0].get("type") == "hidden"
        assert TOKEN_VALUE.fullmatch(tokens[0].get("value") or ""), tokens[0]
        values.add(tokens[0]["value"])
    assert len(values) == 1, "one token per page"
    # htmx requests send the same token as a header.
    body = next((a for t, a in markup.tags if t == "body"), None)
    if body is not None:
        assert json.loads(body["hx-headers"])["x-csrftoken"] in values


async def _post_targets(client) -> list[tuple[str, dict]]:
    start, _ = await first_free_slot(client, HAIRCUT)
    checkout = await hold(client)
    return [(f"{HAIRCUT}/hold", {"start": start}), (checkout, dict(VALID_CUSTOMER))]


@pytest.mark.parametrize("token", [None, "", "wrong", "0" * 64, "other-browser"])
async def test_post_without_a_valid_csrf_token_is_refused_and_writes_nothing(client, token):
    from litestar.testing import AsyncTestClient

    from portal.app import create_app

    targets = await _post_targets(client)
    if token == "other-browser":
        async with AsyncTestClient(app=create_app(), base_url=BASE) as other:
            token = csrf((await other.get(HAIRCUT)).text)
    async def written() -> tuple:
        """Everything a booking was (order, lines, reservations) and every claim."""
        return (
            await Order.select().order_by(Order.id),
            await OrderLine.select().order_by(OrderLine.id),
            await Reservation.select().order_by(Reservation.id),
            await SlotClaim.count(),
        )

    before = await written()
    mark = await audit.last_id()
    for url, data in targets:
        if token is not None:
            data = {**data, "_csrf_token": token}
        response = await client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, (url, response.status_code)
        assert "text/html" in response.headers["content-type"]
        assert "<html" in response.text
    assert await written() == before
    assert await audit.entries(since_id=mark) == []


async def test_form_token_without_the_cookie_is_refused(client):
    page = await client.get(HAIRCUT)
    token = csrf(page.text)
    start, _ = await first_free_slot(client, HAIRCUT)
    client.cookies.delete("csrftoken")
    response = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 403


# ---------------------------------------------------------------- cookies


def _assert_cookie_flags(attributes: list[str], *, secure: bool) -> None:
    assert "httponly" in attributes, attributes
    assert "samesite=lax" in attributes, attributes
    assert "path=/" in attributes, attributes
    assert ("secure" in attributes) is secure, attributes


async def _cookie_flags(client) -> dict[str, list[str]]:
    found = {}
    page = await client.get(HAIRCUT)
    found.update(set_cookies(page))
    start = re.search(r'name="start" value="([^"]+)"', page.text).group(1)
    held = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert held.status_code == 303
    found.update(set_cookies(held))
    found.update(set_cookies(await client.get("/language/en", follow_redirects=False)))
    return found


async def test_cookies_are_httponly_and_samesite_lax(client):
    found = await _cookie_flags(client)
    assert {"csrftoken", "pv", "lang"} <= set(found), found
    for name, attributes in found.items():
        _assert_cookie_flags(attributes, secure=False)


@pytest.fixture()
async def secure_client(clean_bookings, monkeypatch):
    from litestar.testing import AsyncTestClient

    from portal.app import create_app
    from portal.settings import load

    monkeypatch.setenv("PORTAL_SECURE_COOKIES", "1")
    load.cache_clear()
    try:
        async with AsyncTestClient(app=create_app(), base_url="https://127.0.0.1:8000") as test_client:
            yield test_client
    finally:
        monkeypatch.undo()
        load.cache_clear()


async def test_cookies_are_secure_when_configured(secure_client):
    found = await _cookie_flags(secure_client)
    assert {"csrftoken", "pv", "lang"} <= set(found), found
    for name, attributes in found.items():
        _assert_cookie_flags(attributes, secure=True)
    page = await secure_client.get("/")
    assert page.headers.get("strict-transport-security", "").startswith("max-age=")


async def test_visitor_cookie_is_signed(client):
    client.cookies.set("pv", "forged-visitor-id")
    page = await client.get(HAIRCUT)
    start = re.search(r'name="start" value="([^"]+)"', page.text).group(1)
    held = await client.post(f"{HAIRCUT}/hold", data={"start": start, "_csrf_token": csrf(page.text)}, follow_redirects=False)
    assert held.status_code == 303
    assert "pv" in set_cookies(held), "a forged visitor cookie is replaced by a fresh signed one"
    assert await Order.count().where(Order.visitor == "forged-visitor-id") == 0


# ---------------------------------------------------------------- fragments and caching


def _vary(response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",")}


@pytest.mark.parametrize("path", ["/", "/?q=saks", HAIRCUT, f"{HAIRCUT}?day=2030-01-01"])
@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Target": "slots"}])
async def test_pages_with_fragments_vary_on_hx_request(client, path, headers):
    response = await client.get(path, headers=headers)
    assert response.status_code == 200
    assert "hx-request" in _vary(response)


async def test_offering_fragment_is_only_the_fragment(client):
    full = await client.get(HAIRCUT)
    assert "<html" in full.text and 'id="slots"' in full.text and 'id="picker"' in full.text
    for headers in ({"HX-Request": "true"}, {"HX-Request": "true", "HX-Target": "slots"}):
        fragment = await client.get(HAIRCUT, headers=headers)
        assert fragment.status_code == 200
        assert 'id="slots"' in fragment.text
        assert "<html" not in fragment.text and "<head" not in fragment.text and "<footer" not in fragment.text
    only_slots = await client.get(HAIRCUT, headers={"HX-Request": "true", "HX-Target": "slots"})
    assert 'id="picker"' not in only_slots.text
    boosted = await client.get(HAIRCUT, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text, "a boosted navigation gets the whole page"


async def test_front_page_fragment_is_only_the_results(client):
    fragment = await client.get("/", params={"q": "saks"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'id="results"' in fragment.text
    assert "<html" not in fragment.text and 'role="search"' not in fragment.text


# ---------------------------------------------------------------- redirects


def _lands_on(location: str) -> str:
    """Where a browser goes: tabs/newlines dropped and backslashes read as slashes (WHATWG URL)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    return urlsplit(urljoin(BASE + "/", cleaned)).netloc


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "///evil.example",
        "//evil.example/s/x",
        "https://evil.example",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: pwned=1",
        "%2F%2Fevil.example",
    ],
)
async def test_language_switch_does_not_redirect_off_site(client, target):
    response = await client.get("/language/en", params={"next": target}, follow_redirects=False)
    assert response.status_code in (302, 303)
    location = response.headers["location"]
    assert _lands_on(location) == "127.0.0.1:8000", location
    assert "pwned" not in set_cookies(response)
    assert not any(ch in location for ch in "\r\n")


async def test_language_switch_returns_to_a_local_page(client):
    response = await client.get("/language/en", params={"next": f"{SUPPLIER}?x=1"}, follow_redirects=False)
    assert response.headers["location"] == f"{SUPPLIER}?x=1"
    unknown = await client.get("/language/xx", params={"next": "/"}, follow_redirects=False)
    assert unknown.status_code == 303 and "lang" not in set_cookies(unknown)


# ---------------------------------------------------------------- health


async def test_health_endpoints(client):
    for path in ("/healthz", "/readyz"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json()["status"] == "ok"


# ---------------------------------------------------------------- private links


async def test_unknown_tokens_are_404(client):
    random = secrets.token_urlsafe(24)
    token = csrf((await client.get(HAIRCUT)).text)
    for method, path in (
        ("GET", f"/b/{random}"),
        ("GET", f"/b/{random}?new=1"),
        ("GET", f"/b/{random}/booking.ics"),
        ("GET", f"/checkout/{random}"),
        ("POST", f"/checkout/{random}"),
    ):
        if method == "GET":
            response = await client.get(path)
        else:
            response = await client.post(path, data={**VALID_CUSTOMER, "_csrf_token": token})
        assert response.status_code == 404, (method, path)
        assert "text/html" in response.headers["content-type"]


async def test_hold_and_manage_tokens_are_not_interchangeable(client):
    checkout = await hold(client)
    hold_token = checkout.rsplit("/", 1)[1]
    assert (await client.get(f"/b/{hold_token}")).status_code == 404
    assert (await client.get(f"/b/{hold_token}/booking.ics")).status_code == 404
    manage = await confirmed(client)
    manage_token = manage.split("/b/")[1].split("?")[0]
    assert (await client.get(f"/checkout/{manage_token}")).status_code == 404
    assert len(hold_token) >= 32 and len(manage_token) >= 32


# ---------------------------------------------------------------- escaping


EVIL = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


async def test_customer_input_is_escaped_when_echoed(client):
    url = await hold(client)
    token = csrf((await client.get(url)).text)
    errors = await client.post(url, data={**VALID_CUSTOMER, "name": EVIL, "note": EVIL, "phone": "", "_csrf_token": token})
    assert errors.status_code == 422
    assert "<script>alert(1)" not in errors.text and "<img src=x" not in errors.text
    assert Markup(errors.text).problems == []

    manage = await confirmed(client, name=EVIL, note=EVIL)
    page = await client.get(manage)
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert Markup(page.text).problems == []


@pytest.mark.parametrize("params", [{"q": EVIL}, {"town": EVIL}, {"category": EVIL}])
async def test_search_input_is_escaped_when_echoed(client, params):
    response = await client.get("/", params=params)
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text and "<img src=x" not in response.text
    assert Markup(response.text).problems == []


async def test_why_page_input_is_escaped_when_echoed(client):
    await staff_login(client, SALON_SLUG)
    response = await client.get(f"/kontor/{SALON_SLUG}/hvorfor", params={"tid": EVIL, "tilbud": EVIL})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text and Markup(response.text).problems == []

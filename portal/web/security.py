"""Security headers, the signed visitor cookie, and safe redirects."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from litestar import Request
from litestar.datastructures import Cookie
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from portal.settings import load as load_settings

VISITOR_COOKIE = "pv"
VISITOR_SECONDS = 30 * 24 * 3600

_POLICY = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
    ("base-uri", "'none'"),
    ("object-src", "'none'"),
)


def content_security_policy(form_action: Iterable[str] = ()) -> str:
    """The site's one policy; `form_action` adds origins (validated ones, from
    settings) that a form on the page may be sent on to."""
    extra = " ".join(form_action)
    return "; ".join(f"{name} {sources} {extra}" if name == "form-action" and extra else f"{name} {sources}" for name, sources in _POLICY)


CONTENT_SECURITY_POLICY = content_security_policy()


def vipps_form_headers() -> dict[str, str]:
    """For a response whose page holds a form that may be answered with a
    redirect to Vipps (the checkout): Chromium applies `form-action` to the
    redirect after a form post too, so the policy also allows the origins of
    Vipps' landing pages (`PORTAL_VIPPS_LANDING_ORIGINS`), and only there.
    The security middleware leaves a response's own policy alone."""
    return {"Content-Security-Policy": content_security_policy(load_settings().vipps.landing_origins)}


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Add the security headers to every HTTP response, error pages included."""
    extra = dict(SECURITY_HEADERS)
    if load_settings().secure_cookies:
        extra["Strict-Transport-Security"] = "max-age=31536000"
    encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in encoded if k not in present]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(load_settings().secret_key, salt="visitor")


def visitor_of(request: Request) -> str | None:
    raw = request.cookies.get(VISITOR_COOKIE)
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def new_visitor() -> tuple[str, Cookie]:
    visitor = secrets.token_urlsafe(16)
    return visitor, cookie(VISITOR_COOKIE, _serializer().dumps(visitor), max_age=VISITOR_SECONDS)


DEVICE_COOKIE = "pd"


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(load_settings().secret_key, salt="device")


def device_cookie(token: str) -> Cookie:
    """"Remember this phone on this device": a signed, expiring device token."""
    days = load_settings().codes.device_days
    return cookie(DEVICE_COOKIE, _device_serializer().dumps(token), max_age=days * 24 * 3600)


def device_token_of(request: Request) -> str | None:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        value = _device_serializer().loads(raw, max_age=load_settings().codes.device_days * 24 * 3600)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


ACCOUNT_COOKIE = "ps"
ACCOUNT_SECONDS = 30 * 60


def _account_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(load_settings().secret_key, salt="account")


def account_cookie(customer_id: int) -> Cookie:
    """Logged in to “Mine bookinger” for half an hour."""
    return cookie(ACCOUNT_COOKIE, _account_serializer().dumps(customer_id), max_age=ACCOUNT_SECONDS)


def account_of(request: Request) -> int | None:
    raw = request.cookies.get(ACCOUNT_COOKIE)
    if not raw:
        return None
    try:
        value = _account_serializer().loads(raw, max_age=ACCOUNT_SECONDS)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def expired_cookie(name: str) -> Cookie:
    return cookie(name, "", max_age=0)


def cookie(name: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=load_settings().secure_cookies,
        path="/",
    )


def local_path(candidate: str | None, fallback: str = "/") -> str:
    """Only same-site paths: '/x' yes; '//evil', 'https://…', '/\\evil' no."""
    if not candidate or not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return fallback
    if any(ch in candidate for ch in "\r\n"):
        return fallback
    return candidate

"""Logging in to the back office: email and password, the TOTP code, setting
up a second factor, invitations and resets by link, logging out (here or
everywhere). Handlers parse, call portal.identity.staff.service, render."""

from __future__ import annotations

import segno
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from portal.audit import domain as actors
from portal.backoffice import access
from portal.backoffice.access import CODE_PATH, LOGIN_PATH, TOTP_SETUP_PATH
from portal.identity.staff import service as staff
from portal.identity.staff.domain import DEMO_EMAIL_DOMAIN, MIN_PASSWORD_LENGTH, PasswordProblem
from portal.identity.staff.service import REFUSAL_TEXT, Refusal
from portal.lib import clock
from portal.lib.forms import form_text
from portal.lib.i18n import N_, translations
from portal.settings import load as load_settings
from portal.web.render import language_of, page
from portal.web.security import local_path

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
HOME = "/kontor"

PASSWORD_TEXT = {
    PasswordProblem.TOO_SHORT: N_("Use at least %(n)s characters."),
    PasswordProblem.TOO_LONG: N_("Use at most 200 characters."),
    PasswordProblem.SAME_AS_EMAIL: N_("The password cannot be your email address."),
}


def _next(raw: object) -> str:
    path = local_path(str(raw or ""), HOME)
    return path if path.startswith("/kontor") and not path.startswith((LOGIN_PATH, CODE_PATH)) else HOME


def _visitor_actor(request: Request, email: str = "") -> actors.Actor:
    return actors.Actor(actors.ActorKind.STAFF, f"login:{email[:60]}", label=f"login from {access.client_ip(request)}")


def msg(request: Request, text: str, **args: object) -> str:
    """A field message in the visitor's language."""
    translated = translations(language_of(request)).gettext(text)
    return translated % args if args else translated


def _refusal(request: Request, result: staff.LoginResult) -> str:
    args = {"time": clock.fmt_time(result.retry_at, language_of(request))} if result.retry_at else {}
    return msg(request, REFUSAL_TEXT[result.refusal], **args)


@get(LOGIN_PATH, name="staff_login")
async def login_page(request: Request, neste: str = "", done: str = "") -> object:
    user = await access.user_of(request)
    if user is not None and not user.pending:
        return Redirect(path=_next(neste), status_code=303)
    return page(request, "pages/backoffice/login.html", values={"email": ""}, errors={}, next_path=_next(neste), request_done=done == "1")


@post(LOGIN_PATH, name="staff_login_post")
async def login_post(request: Request, data: dict = FORM) -> object:
    email = form_text(data, "email", 254)
    password = str(data.get("password") or "")[:201]
    next_path = _next(data.get("next"))
    errors = {}
    if not email:
        errors["email"] = msg(request, N_("Enter your email address."))
    if not password:
        errors["password"] = msg(request, N_("Enter your password."))
    if errors:
        return page(request, "pages/backoffice/login.html", status_code=422, values={"email": email}, errors=errors, next_path=next_path)
    result = await staff.login(_visitor_actor(request, email), email=email, password=password, client_ip=access.client_ip(request), now=clock.now())
    if result.refusal:
        status = 429 if result.refusal is Refusal.LOCKED else 422
        return page(request, "pages/backoffice/login.html", status_code=status, values={"email": email}, errors={"form": _refusal(request, result)}, next_path=next_path)
    to = f"{CODE_PATH}?neste={next_path}" if result.needs_code else next_path
    response = Redirect(path=to, status_code=303)
    response.set_cookie(access.session_cookie(result.token))
    return response


@get(CODE_PATH, name="staff_code")
async def code_page(request: Request, neste: str = "") -> object:
    user = await access.user_of(request)
    if user is None:
        return Redirect(path=LOGIN_PATH, status_code=303)
    if not user.pending:
        return Redirect(path=_next(neste), status_code=303)
    return page(request, "pages/backoffice/code.html", errors={}, next_path=_next(neste), has_totp=user.has_totp, demo_code=await _demo_code(user))


async def _demo_code(user: staff.StaffUser) -> str:
    """In dev, for the demo's own logins only: the code the owner's app would show now."""
    if not load_settings().is_dev or not user.email.endswith("@" + DEMO_EMAIL_DOMAIN):
        return ""
    return await staff.current_code(user.account_id, clock.now())


@post(CODE_PATH, name="staff_code_post")
async def code_post(request: Request, data: dict = FORM) -> object:
    user = await access.user_of(request)
    next_path = _next(data.get("next"))
    if user is None:
        return Redirect(path=LOGIN_PATH, status_code=303)
    if not user.has_totp:
        # An owner in production who has no second factor yet: set it up first (TOTP page).
        return Redirect(path=TOTP_SETUP_PATH, status_code=303)
    code = form_text(data, "code", 12)
    result = await staff.second_factor(_actor_of(user), token=access.token_of(request), code=code, client_ip=access.client_ip(request), now=clock.now())
    if result.refusal:
        status = 429 if result.refusal is Refusal.LOCKED else 422
        return page(request, "pages/backoffice/code.html", status_code=status, errors={"code": _refusal(request, result)}, next_path=next_path, has_totp=True, demo_code=await _demo_code(user))
    return Redirect(path=next_path, status_code=303)


def _actor_of(user: staff.StaffUser) -> actors.Actor:
    return actors.Actor(actors.ActorKind.STAFF, str(user.account_id), label=user.name or user.email)


def _qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


@get(TOTP_SETUP_PATH, name="staff_totp")
async def totp_page(request: Request) -> object:
    user = await access.logged_in(request, allow_pending=True, allow_missing_totp=True)
    if user.has_totp:
        return page(request, "pages/backoffice/totp.html", user=user, uri="", qr="", secret="", errors={}, done=True)
    uri = await staff.totp_uri(user.account_id) or await staff.start_totp(_actor_of(user), account_id=user.account_id, now=clock.now())
    secret = uri.split("secret=")[1].split("&")[0] if "secret=" in uri else ""
    return page(request, "pages/backoffice/totp.html", user=user, uri=uri, qr=_qr_data_uri(uri), secret=secret, errors={}, done=False)


@post(TOTP_SETUP_PATH, name="staff_totp_post")
async def totp_post(request: Request, data: dict = FORM) -> object:
    user = await access.logged_in(request, allow_pending=True, allow_missing_totp=True)
    if user.has_totp:
        return Redirect(path=HOME, status_code=303)
    if user.pending and not user.must_set_up_totp:
        raise access.LoginRequired(CODE_PATH)
    code = form_text(data, "code", 12)
    ok = await staff.confirm_totp(_actor_of(user), account_id=user.account_id, session_id=user.session_id, code=code, now=clock.now())
    if not ok:
        uri = await staff.totp_uri(user.account_id)
        secret = uri.split("secret=")[1].split("&")[0] if "secret=" in uri else ""
        errors = {"code": msg(request, REFUSAL_TEXT[Refusal.WRONG_CODE])}
        return page(request, "pages/backoffice/totp.html", status_code=422, user=user, uri=uri, qr=_qr_data_uri(uri) if uri else "", secret=secret, errors=errors, done=False)
    return Redirect(path=HOME, status_code=303)


@post("/kontor/logg-ut", name="staff_logout")
async def logout(request: Request, data: dict = FORM) -> object:
    user = await access.user_of(request)
    if user is not None:
        await staff.logout(_actor_of(user), token=access.token_of(request), now=clock.now())
    response = Redirect(path=LOGIN_PATH, status_code=303)
    response.set_cookie(access.clear_cookie())
    return response


@post("/kontor/logg-ut-overalt", name="staff_logout_everywhere")
async def logout_everywhere(request: Request, data: dict = FORM) -> object:
    user = await access.logged_in(request)
    await staff.logout_everywhere(_actor_of(user), account_id=user.account_id, now=clock.now())
    response = Redirect(path=LOGIN_PATH, status_code=303)
    response.set_cookie(access.clear_cookie())
    return response


@get("/kontor/glemt", name="staff_forgot")
async def forgot_page(request: Request) -> object:
    return page(request, "pages/backoffice/forgot.html", values={"email": ""}, errors={}, sent=False)


@post("/kontor/glemt", name="staff_forgot_post")
async def forgot_post(request: Request, data: dict = FORM) -> object:
    email = form_text(data, "email", 254)
    if "@" not in email:
        errors = {"email": msg(request, N_("Enter the email address you log in with."))}
        return page(request, "pages/backoffice/forgot.html", status_code=422, values={"email": email}, errors=errors, sent=False)
    until = await staff.request_reset(_visitor_actor(request, email), email=email, client_ip=access.client_ip(request), now=clock.now())
    if until:
        errors = {"email": msg(request, REFUSAL_TEXT[Refusal.LOCKED], time=clock.fmt_time(until, language_of(request)))}
        return page(request, "pages/backoffice/forgot.html", status_code=429, values={"email": email}, errors=errors, sent=False)
    return page(request, "pages/backoffice/forgot.html", values={"email": email}, errors={}, sent=True)


@get("/kontor/lenke/{token:str}", name="staff_link")
async def link_page(request: Request, token: str) -> object:
    account = await staff.link_account(token, clock.now())
    if account is None:
        return page(request, "pages/backoffice/link.html", status_code=410, account=None, errors={}, min_length=MIN_PASSWORD_LENGTH)
    return page(request, "pages/backoffice/link.html", account=account, errors={}, min_length=MIN_PASSWORD_LENGTH)


@post("/kontor/lenke/{token:str}", name="staff_link_post")
async def link_post(request: Request, token: str, data: dict = FORM) -> object:
    now = clock.now()
    account = await staff.link_account(token, now)
    if account is None:
        return page(request, "pages/backoffice/link.html", status_code=410, account=None, errors={}, min_length=MIN_PASSWORD_LENGTH)
    password = str(data.get("password") or "")[:201]
    repeat = str(data.get("repeat") or "")[:201]
    errors = {}
    if password != repeat:
        errors["repeat"] = msg(request, N_("The two passwords are not the same."))
    else:
        outcome = await staff.set_password(actors.Actor(actors.ActorKind.STAFF, str(account["id"]), label=account["email"]), token=token, password=password, now=now)
        if outcome is Refusal.LINK_UNUSABLE:
            return page(request, "pages/backoffice/link.html", status_code=410, account=None, errors={}, min_length=MIN_PASSWORD_LENGTH)
        if isinstance(outcome, PasswordProblem):
            errors["password"] = msg(request, PASSWORD_TEXT[outcome], n=MIN_PASSWORD_LENGTH)
    if errors:
        return page(request, "pages/backoffice/link.html", status_code=422, account=account, errors=errors, min_length=MIN_PASSWORD_LENGTH)
    return Redirect(path=f"{LOGIN_PATH}?{_query(done='1')}", status_code=303)


def _query(**kw: str) -> str:
    from urllib.parse import urlencode

    return urlencode(kw)


@get("/kontor", name="staff_home")
async def home(request: Request) -> object:
    user = await access.logged_in(request)
    if len(user.memberships) == 1 and not user.operator:
        return Redirect(path=f"/kontor/{user.memberships[0].supplier_slug}", status_code=303)
    return page(request, "pages/backoffice/home.html", user=user)


def login_required_handler(request: Request, exc: access.LoginRequired) -> Redirect:
    if exc.to == LOGIN_PATH and exc.next_path:
        return Redirect(path=f"{LOGIN_PATH}?{_query(neste=exc.next_path)}", status_code=303)
    return Redirect(path=exc.to, status_code=303)


ROUTES = [login_page, login_post, code_page, code_post, totp_page, totp_post, logout, logout_everywhere, forgot_page, forgot_post, link_page, link_post, home]


"""Who is at the back office: the staff session cookie, and the guard every
back-office page goes through. A visitor without a live session is sent to
the login; a session still waiting for its code, to the code; a workplace
the user does not belong to, or an id of another supplier's data, is 404
(never 403: nothing says it exists)."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import NotFoundException

from portal.audit import domain as actors
from portal.audit.domain import Actor
from portal.catalogue.tables import Supplier
from portal.identity.staff import service as staff
from portal.identity.staff import store
from portal.identity.staff.domain import Permission, may
from portal.identity.staff.service import Membership, StaffUser
from portal.lib import clock
from portal.settings import load as load_settings
from portal.web.security import cookie, expired_cookie

STAFF_COOKIE = "pk"
#: The cookie lives no longer than a session may (the idle timeout is kept in the database).
COOKIE_SECONDS = int(staff.RULES.absolute.total_seconds())
LOGIN_PATH = "/kontor/logg-inn"
CODE_PATH = "/kontor/kode"
TOTP_SETUP_PATH = "/kontor/totp"


class LoginRequired(Exception):
    """Send the visitor to `to` (the login, or the step of it still missing), then back to `next`."""

    def __init__(self, to: str, next_path: str = "") -> None:
        super().__init__(to)
        self.to = to
        self.next_path = next_path


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(load_settings().secret_key, salt="staff-session")


def session_cookie(token: str) -> Cookie:
    return cookie(STAFF_COOKIE, _serializer().dumps(token), max_age=COOKIE_SECONDS)


def clear_cookie() -> Cookie:
    return expired_cookie(STAFF_COOKIE)


def token_of(request: Request) -> str | None:
    raw = request.cookies.get(STAFF_COOKIE)
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def user_of(request: Request) -> StaffUser | None:
    return await staff.user_of(token_of(request), clock.now())


async def logged_in(request: Request, *, allow_pending: bool = False, allow_missing_totp: bool = False) -> StaffUser:
    """The user of a live, complete session, or LoginRequired."""
    user = await user_of(request)
    if user is None:
        raise LoginRequired(LOGIN_PATH, request.url.path)
    if user.pending and not allow_pending:
        raise LoginRequired(CODE_PATH, request.url.path)
    if user.must_set_up_totp and not user.pending and not allow_missing_totp:
        raise LoginRequired(TOTP_SETUP_PATH, request.url.path)
    now = clock.now()
    if store.touch_due(user.last_seen_at, now):
        await store.touch(user.session_id, now)
    return user


@dataclass(frozen=True)
class Workplace:
    """A logged-in user at one supplier, in their role there."""

    user: StaffUser
    membership: Membership
    supplier: dict

    @property
    def actor(self) -> Actor:
        return actors.staff(self.user.account_id, supplier_id=self.membership.supplier_id, role=self.membership.role.value, label=self.user.name or self.user.email)

    @property
    def role(self) -> str:
        return self.membership.role.value

    def may(self, permission: Permission) -> bool:
        return may(self.membership.role, permission)

    @property
    def own_resource(self) -> int | None:
        return self.membership.resource_id


async def workplace(request: Request, slug: str, permission: Permission | None = None) -> Workplace:
    """The guard: logged in, a member of this supplier, and (if asked) allowed this. Else 404."""
    user = await logged_in(request)
    membership = user.membership(slug)
    if membership is None:
        raise NotFoundException()
    if permission is not None and not may(membership.role, permission):
        raise NotFoundException()
    supplier = await Supplier.select().where(Supplier.id == membership.supplier_id).first()
    if supplier is None:
        raise NotFoundException()
    return Workplace(user=user, membership=membership, supplier=supplier)

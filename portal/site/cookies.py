"""Every cookie the portal sets, with its purpose and lifetime: the cookie
page lists exactly these, and a test fails when a response sets any other
(L29). All are strictly necessary (no consent, no banner): keep it so, or a
consent step must come first.

The names and lifetimes are read from the modules that set the cookies, so
the page cannot drift from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.backoffice import access
from portal.backoffice.feed_routes import SHOWN_COOKIE, SHOWN_SECONDS
from portal.lib.i18n import N_, Nn_
from portal.settings import load as load_settings
from portal.web import security
from portal.web.render import LANGUAGE_COOKIE, LANGUAGE_SECONDS

#: Litestar's CSRF cookie (portal.app's CSRFConfig keeps the default name).
CSRF_COOKIE = "csrftoken"


@dataclass(frozen=True)
class CookieInfo:
    name: str
    purpose: str  # msgid
    seconds: int | None  # None: until the browser is closed
    who: str  # msgid: who meets it

    @property
    def lifetime(self) -> tuple[str, str, int] | None:
        """(singular, plural, n) to show with ngettext; None: a session cookie."""
        return lifetime(self.seconds)


_UNITS = (
    (365 * 24 * 3600, Nn_("%(num)d year", "%(num)d years")),
    (24 * 3600, Nn_("%(num)d day", "%(num)d days")),
    (3600, Nn_("%(num)d hour", "%(num)d hours")),
    (60, Nn_("%(num)d minute", "%(num)d minutes")),
    (1, Nn_("%(num)d second", "%(num)d seconds")),
)


def lifetime(seconds: int | None) -> tuple[str, str, int] | None:
    """A cookie's max-age in the largest unit that divides it: 86400 → 1 day."""
    if seconds is None:
        return None
    for size, (singular, plural) in _UNITS:
        if seconds >= size and seconds % size == 0:
            return singular, plural, seconds // size
    return _UNITS[-1][1][0], _UNITS[-1][1][1], seconds


def cookies() -> list[CookieInfo]:
    """The portal's cookies, in the order the cookie page lists them."""
    return [
        CookieInfo(CSRF_COOKIE, N_("Protects forms against being sent from other websites (CSRF)."), None, N_("Everyone")),
        CookieInfo(LANGUAGE_COOKIE, N_("Remembers the language you chose."), LANGUAGE_SECONDS, N_("Everyone who chooses a language")),
        CookieInfo(
            security.VISITOR_COOKIE, N_("Keeps the time you chose held for you while you book."), security.VISITOR_SECONDS, N_("Customers who book")
        ),
        CookieInfo(
            security.DEVICE_COOKIE,
            N_("Remembers that this device has proven your mobile number, when you ask for it."),
            load_settings().codes.device_days * 24 * 3600,
            N_("Customers who tick “remember this device”"),
        ),
        CookieInfo(security.ACCOUNT_COOKIE, N_("Keeps you logged in to “My bookings”."), security.ACCOUNT_SECONDS, N_("Customers")),
        CookieInfo(access.STAFF_COOKIE, N_("Keeps staff logged in to the back office."), access.COOKIE_SECONDS, N_("The suppliers' staff")),
        CookieInfo(SHOWN_COOKIE, N_("Shows a new calendar address once, right after it was made."), SHOWN_SECONDS, N_("The suppliers' staff")),
    ]


def names() -> frozenset[str]:
    return frozenset(c.name for c in cookies())

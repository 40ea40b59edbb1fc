"""The portal's own pages, in Bokmål and English: terms of use, privacy
notice, cookies, accessibility statement. Read-only: the texts are the
templates in templates/pages/site/, their versions portal.legal.terms."""

from __future__ import annotations

from litestar import Request, get

from portal.legal.terms import ACCESSIBILITY, PRIVACY, TERMS
from portal.site.cookies import cookies
from portal.web.render import page

TERMS_PATH = "/vilkar"
PRIVACY_PATH = "/personvern"
COOKIES_PATH = "/informasjonskapsler"
ACCESSIBILITY_PATH = "/tilgjengelighet"


@get(TERMS_PATH, name="site_terms")
async def terms_page(request: Request) -> object:
    return page(request, "pages/site/terms.html", version=TERMS)


@get(PRIVACY_PATH, name="site_privacy")
async def privacy_page(request: Request) -> object:
    return page(request, "pages/site/privacy.html", version=PRIVACY)


@get(COOKIES_PATH, name="site_cookies")
async def cookies_page(request: Request) -> object:
    return page(request, "pages/site/cookies.html", cookies=cookies())


@get(ACCESSIBILITY_PATH, name="site_accessibility")
async def accessibility_page(request: Request) -> object:
    return page(request, "pages/site/accessibility.html", version=ACCESSIBILITY)


ROUTES = [terms_page, privacy_page, cookies_page, accessibility_page]

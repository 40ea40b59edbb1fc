"""One URL, two renderings: the whole page, or its named block for htmx.

`page()` is the only way handlers render templates; it adds the visitor's
language and the formatters bound to it, and `Vary: HX-Request`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import Request

from portal.lib import clock
from portal.lib.i18n import LANGUAGES, pick_language, translations
from portal.lib.money import format_nok, format_rate
from portal.settings import load as load_settings

LANGUAGE_COOKIE = "lang"
LANGUAGE_SECONDS = 60 * 60 * 24 * 365


def language_of(request: Request) -> str:
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), load_settings().default_language)


def wants_fragment(request: Request) -> bool:
    """An htmx request that asked for a part of the page (not a boosted page load)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-boosted") != "true"
        and headers.get("hx-history-restore-request") != "true"  # Back button: the whole page
    )


def phone_text(e164: str) -> str:
    """+4741234567 -> '+47 412 34 567'; anything unparsable is shown as stored."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def org_number_text(org_number: str) -> str:
    """918630252 -> '918 630 252', the way it is printed in Norway."""
    digits = "".join(ch for ch in org_number if ch in "0123456789")
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3)) if len(digits) == 9 else org_number


def helpers(language: str) -> dict[str, Any]:
    t = translations(language)

    def money(ore: int) -> str:
        return format_nok(ore, language)

    def when(moment: datetime) -> str:
        return clock.fmt_datetime(moment, language)

    def hhmm(moment: datetime) -> str:
        return clock.fmt_time(moment, language)

    def day(value: date | datetime, style: str = "full") -> str:
        return clock.fmt_date(value, language, style)

    return {
        "lang": language,
        "other_languages": [code for code in LANGUAGES if code != language],
        "_": t.gettext,
        "gettext": t.gettext,
        "ngettext": t.ngettext,
        "money": money,
        "rate": lambda bp: format_rate(bp, language),
        "when": when,
        "hhmm": hhmm,
        "fmt_day": day,
        "phone": phone_text,
        "org_number": org_number_text,
        "query": lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")}),
        "settings": load_settings(),
    }


def page(
    request: Request,
    template: str,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMXBlockTemplate:
    language = language_of(request)
    fragment = block if block and wants_fragment(request) else None
    return HTMXBlockTemplate(
        template_name=template,
        block_name=fragment,
        context={
            **helpers(language),
            "path": request.url.path,
            "full_path": _full_path(request),
            "is_fragment": fragment is not None,
            **context,
        },
        status_code=status_code,
        media_type="text/html",
        headers={"Vary": "HX-Request, Cookie", **(headers or {})},
    )


def _full_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")

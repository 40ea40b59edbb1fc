"""Message texts: rendered from templates/email and templates/sms in the
order's language when the message is enqueued, so what is sent is what the
order looked like when the event happened (and a later template change
never rewrites a message already in the outbox). The kinds build their own
messages with `render` (portal.kinds.*.messages); here are the shared parts.

Times are shown in Europe/Oslo (portal.lib.clock); amounts with
portal.lib.money. Service messages only: no advertising, no third-party
links (L28, L31). The only links are the booking's own manage page and,
when a paid-for time was lost, the offering's page to choose another time.

The payment topics (slot_lost, payment_problem) carry no calendar file and
touch no reminders. A payment problem is also told to the supplier, in an
email of its own (always Bokmål: suppliers are Norwegian businesses).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.lib.i18n import translations
from portal.notify.domain import Channel, Topic, code_dedupe_key, sms_allowed
from portal.outbox.domain import Draft, Status
from portal.settings import ROOT

NOT_ALLOWED_SMS = "not sent: SMS goes only to numbers in the countries we serve (L31)"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Jinja for messages: HTML escaped, text and SMS not; missing values fail loudly."""
    return Environment(
        loader=FileSystemLoader(str(ROOT / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=StrictUndefined,
        auto_reload=False,
    )


def render(template: str, language: str, **context: Any) -> str:
    t = translations(language)
    base = {"lang": language, "_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext}
    return environment().get_template(template).render(**base, **context).strip() + "\n"


def host_of(base_url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(base_url).hostname or "portal"


def code_draft(phone: str, code: str, language: str, now: datetime, valid_seconds: int) -> Draft:
    """The one-time code SMS: due at once, worthless (and never sent) after it expires."""
    language = language if language in ("nb", "en") else "nb"
    minutes = max(1, valid_seconds // 60)
    text = render("sms/code.txt", language, code=code, minutes=minutes).strip()
    allowed = sms_allowed(phone)
    return Draft(
        channel=Channel.SMS.value,
        topic=Topic.CODE.value,
        recipient=phone,
        dedupe_key=code_dedupe_key(phone, code, now),
        language=language,
        payload={"text": text, "expires_at": (now + timedelta(seconds=valid_seconds)).isoformat(), "scrub": ["text"]},
        next_attempt_at=now,
        urgent=True,
        status=Status.PENDING if allowed else Status.FAILED,
        last_error="" if allowed else NOT_ALLOWED_SMS,
    )

"""Bokmål first, English second, through gettext catalogues.

Source strings (msgids) are English; `portal/locale/nb/LC_MESSAGES/messages.po`
translates every one of them (a test keeps it complete). The .po files are
compiled in memory at start, so there is no build step and no .mo in git.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("nb", "en")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a singular/plural pair for extraction; shown with ngettext."""
    return singular, plural


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick_language(cookie_value: str | None, default: str) -> str:
    """The visitor's choice (a strictly necessary cookie) or the default, Bokmål."""
    return cookie_value if cookie_value in LANGUAGES else default

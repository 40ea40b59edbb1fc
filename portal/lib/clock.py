"""Time is stored in UTC and shown in Europe/Oslo. `now()` is the one clock.

Tests travel in time with time-machine, which moves this clock too.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc
LOCALES = {"nb": "nb_NO", "en": "en_GB"}


def now() -> datetime:
    return datetime.now(UTC)


def to_local(moment: datetime, tz: ZoneInfo = OSLO) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store and pass UTC-aware datetimes only")
    return moment.astimezone(tz)


def local_today(moment: datetime | None = None, tz: ZoneInfo = OSLO) -> date:
    return to_local(moment or now(), tz).date()


def fmt_time(moment: datetime, language: str = "nb") -> str:
    """HH:mm on the Oslo clock (the same in both languages: no locale needed, and a page lists hundreds)."""
    return to_local(moment).strftime("%H:%M")


def fmt_date(day: date | datetime, language: str = "nb", style: str = "full") -> str:
    if isinstance(day, datetime):
        day = to_local(day).date()
    patterns = {"full": "EEEE d. MMMM y", "long": "d. MMMM y", "short": "EEE d. MMM", "day": "d.", "weekday": "EEE"}
    if language == "en":
        patterns = {"full": "EEEE d MMMM y", "long": "d MMMM y", "short": "EEE d MMM", "day": "d", "weekday": "EEE"}
    return format_date(day, patterns[style], locale=LOCALES[language])


def fmt_datetime(moment: datetime, language: str = "nb") -> str:
    pattern = "EEEE d. MMMM y 'kl.' HH:mm" if language == "nb" else "EEEE d MMMM y 'at' HH:mm"
    return format_datetime(to_local(moment), pattern, tzinfo=OSLO, locale=LOCALES[language])

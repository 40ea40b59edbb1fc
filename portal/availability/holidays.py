"""Norwegian public holidays (helligdager) as local dates, via ``holidays``.

Sundays are not counted as holidays here (``include_sundays=False``): an
ordinary Sunday is governed by the weekly opening hours. Christmas Eve and
New Year's Eve are not public holidays in Norway and are not included.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays as _holidays_pkg

__all__ = ["norwegian_holidays"]


@lru_cache(maxsize=32)
def _year(year: int) -> frozenset[date]:
    table = _holidays_pkg.country_holidays("NO", years=year, include_sundays=False)
    return frozenset(d for d in table if d.year == year)


def norwegian_holidays(first: date, last: date) -> frozenset[date]:
    """The Norwegian public holidays on the dates ``first..last`` inclusive."""
    if first > last:
        return frozenset()
    out: set[date] = set()
    for year in range(first.year, last.year + 1):
        out.update(d for d in _year(year) if first <= d <= last)
    return frozenset(out)

"""The portal's own texts and their versions (L34): the terms of use, the
privacy notice, the cookie list and the accessibility statement.

A new wording of the terms of use gets a new `TERMS` version (and date); the
version a customer accepted is stored with the order's consents at checkout
(portal.sales.checkout), so it can always be said which text applied.
The texts themselves are templates/pages/site/*.html (through gettext).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Version:
    """One published wording of a text: its version and the date it applies from."""

    number: str
    published: date


#: The terms of use for customers and suppliers of the portal.
TERMS = Version("1.0", date(2026, 12, 7))
#: The privacy notice.
PRIVACY = Version("1.0", date(2026, 12, 7))
#: The accessibility statement (L35): when it was last reviewed.
ACCESSIBILITY = Version("1.0", date(2026, 12, 7))


def terms_accepted() -> dict:
    """What the consent to the terms records besides its text and time: the
    version of the terms of use accepted, and its date."""
    return {"terms_version": TERMS.number, "terms_date": TERMS.published.isoformat()}

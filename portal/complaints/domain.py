"""The rules of complaints, pure: how long a description and a photo may be,
which bytes are an image we take, the statuses and their transitions, and
the time limits the customer is shown (L23). Every rule takes `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from portal.lib.i18n import N_

#: The longest description, and the longest answer, in characters.
MAX_TEXT = 4000
MAX_ANSWER = 4000
#: The largest photo we take, as uploaded (it is re-encoded and downscaled before it is stored).
MAX_PHOTO_BYTES = 8 * 1024 * 1024
#: The longest side of a stored photo, in pixels; the most pixels we decode at all (a bomb is refused).
MAX_SIDE = 2560
MAX_PIXELS = 50_000_000
#: At most this many complaints per order (a form is not a mailbox to flood).
MAX_PER_ORDER = 5


class Status(StrEnum):
    NEW = "new"
    ANSWERED = "answered"
    CLOSED = "closed"


class Event(StrEnum):
    ANSWER = "answer"
    CLOSE = "close"


#: Every (status, event) that is allowed, and where it leads; anything else is refused.
TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.NEW, Event.ANSWER): Status.ANSWERED,
    (Status.NEW, Event.CLOSE): Status.CLOSED,
    (Status.ANSWERED, Event.CLOSE): Status.CLOSED,
}

STATUS_LABELS = {Status.NEW: N_("New"), Status.ANSWERED: N_("Answered"), Status.CLOSED: N_("Case closed")}
#: The same statuses as the customer reads them.
CUSTOMER_STATUS_LABELS = {Status.NEW: N_("Sent to the seller"), Status.ANSWERED: N_("Answered"), Status.CLOSED: N_("Closed by the seller")}


class Refused(Exception):
    """A transition the table does not allow."""


def next_status(status: Status | str, event: Event) -> Status:
    try:
        return TRANSITIONS[(Status(status), event)]
    except (KeyError, ValueError):
        raise Refused(f"{event} is not possible when the complaint is {status}") from None


# ---------------------------------------------------------------- photos

#: The formats we take, by their first bytes (the content type a browser sends is not trusted).
JPEG, PNG, WEBP = "jpeg", "png", "webp"
MEDIA_TYPES = {JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp"}
EXTENSIONS = {JPEG: "jpg", PNG: "png", WEBP: "webp"}


def image_format(data: bytes) -> str | None:
    """JPEG, PNG or WebP by the magic numbers at the start of the file; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


DESCRIBE = N_("Describe what is wrong.")
ANSWER_FIRST = N_("Write the answer first.")
NOT_A_BOOKING = N_("A complaint can be sent once the booking is confirmed.")
CHANGED_MEANWHILE = N_("The complaint was changed meanwhile. Here it is as it is now.")


def text_problem(text: str, *, empty: str = DESCRIBE, limit: int = MAX_TEXT) -> str | None:
    """The message for a description (or answer) that cannot be taken, or None."""
    if not text.strip():
        return empty
    if len(text) > limit:
        return N_("Write at most 4000 characters.")
    return None


def photo_problem(data: bytes) -> str | None:
    """The message for an uploaded file that is not a photo we take (by size and bytes), or None."""
    if len(data) > MAX_PHOTO_BYTES:
        return N_("The photo is too large: at most 8 MB.")
    if image_format(data) is None:
        return N_("Only photos: a JPEG, PNG or WebP image.")
    return None


NOT_READABLE = N_("The photo could not be read. Try another JPEG, PNG or WebP image.")


# ---------------------------------------------------------------- time limits (L23)


def years_after(moment: datetime, years: int) -> datetime:
    """The same moment `years` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


#: Håndverkertjenesteloven § 22 and forbrukerkjøpsloven § 27: within reasonable time after the
#: defect was found, and at the latest this many years after delivery; longer for what is meant
#: to last considerably longer. Every offering on the portal is a service (or a gift card for one).
LIMIT_YEARS = 2
LASTING_LIMIT_YEARS = 5


@dataclass(frozen=True)
class Window:
    """What the customer is told about the time limits, and whether the form is open."""

    delivered: datetime  # the end of the service (or the contract, for what has no time)
    last_day: datetime  # the latest moment a complaint about a service can be made
    lasting_last_day: datetime  # the same for work meant to last considerably longer
    open: bool


def window(delivered: datetime, now: datetime, *, lasting: bool = False) -> Window:
    """The limits counted from `delivered`; the form is open until the limit
    that applies (services: LIMIT_YEARS; `lasting` work: LASTING_LIMIT_YEARS)."""
    last = years_after(delivered, LIMIT_YEARS)
    lasting_last = years_after(delivered, LASTING_LIMIT_YEARS)
    return Window(delivered=delivered, last_day=last, lasting_last_day=lasting_last, open=now <= (lasting_last if lasting else last))


def may_send(window: Window, sent_before: int) -> str | None:
    """Why a new complaint cannot be sent now, or None."""
    if not window.open:
        return N_("The time limit for complaints has passed. Contact the seller directly.")
    if sent_before >= MAX_PER_ORDER:
        return N_("You have sent as many complaints about this booking as the form takes. Contact the seller directly.")
    return None

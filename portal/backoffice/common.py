"""What every back-office page module shares: the layout's context, the
labels of states and roles, and parsing of the small query values (a date, an
id, a local time) that come from links and forms."""

from __future__ import annotations

from datetime import date, datetime

from litestar.enums import RequestEncodingType
from litestar.params import Body

from portal.backoffice.access import Workplace
from portal.lib import clock
from portal.lib.forms import offset_moment, small_int
from portal.lib.i18n import N_

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)

ROLE_LABELS = {"owner": N_("Owner"), "front_desk": N_("Front desk"), "staff": N_("Staff")}
STATE_LABELS = {
    "held": N_("Held in checkout"),
    "confirmed": N_("Booked"),
    "completed": N_("Delivered"),
    "no_show": N_("No-show"),
    "released": N_("Not completed"),
    "cancelled": N_("Cancelled"),
    "cancelled_by_customer": N_("Cancelled by the customer"),
    "cancelled_by_supplier": N_("Cancelled by you"),
    "withdrawn": N_("Withdrawn"),
}

#: How an order was paid (Order.means), as the back office says it.
MEANS_LABELS = {"vipps": N_("Vipps"), "deposit": N_("Deposit by Vipps, the rest on site"), "onsite": N_("On site"), "giftcard": N_("Gift card")}


def base(wp: Workplace) -> dict:
    """The layout's context: who is where, and the labels it shows."""
    return {"wp": wp, "role_labels": ROLE_LABELS, "state_labels": STATE_LABELS}


def day_param(raw: str | None, today: date) -> date | None:
    """A `dato` value: today when absent, None when it is not a date."""
    if not raw:
        return today
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


int_param = small_int


def local_moment(raw: str) -> datetime | None:
    """A local wall time as typed ("2026-12-07T10:30") → UTC; None if it is not one."""
    try:
        local = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if local.tzinfo is not None or local.year not in range(2000, 2200):
        return None
    return local.replace(tzinfo=clock.OSLO).astimezone(clock.UTC)


utc_moment = offset_moment

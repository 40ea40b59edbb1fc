"""Cancellation terms as the customer reads them. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from portal.lib.i18n import Nn_
from portal.lib.money import format_nok


@dataclass(frozen=True)
class PluralText:
    """A message to show with ngettext(singular, plural, count) % args."""

    singular: str
    plural: str
    count: int
    args: dict


def cancellation_terms_text(free_hours: int, fee_percent: int, fee_ore: int = 0) -> PluralText:
    """The rule as accepted at checkout; a fixed fee (`fee_ore`) wins over the
    percentage, as the settlement charges it."""
    if fee_ore > 0:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment. Later cancellation or no-show: %(amount)s.",
            "Free cancellation until %(hours)s hours before the appointment. Later cancellation or no-show: %(amount)s.",
        )
    elif fee_percent <= 0:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment.",
            "Free cancellation until %(hours)s hours before the appointment.",
        )
    else:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
            "Free cancellation until %(hours)s hours before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
        )
    return PluralText(singular, plural, free_hours, {"hours": free_hours, "fee": fee_percent, "amount": format_nok(fee_ore)})

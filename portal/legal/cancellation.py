"""Cancellation terms as the customer reads them. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from portal.lib.i18n import Nn_


@dataclass(frozen=True)
class PluralText:
    """A message to show with ngettext(singular, plural, count) % args."""

    singular: str
    plural: str
    count: int
    args: dict


def cancellation_terms_text(free_hours: int, fee_percent: int) -> PluralText:
    if fee_percent <= 0:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment.",
            "Free cancellation until %(hours)s hours before the appointment.",
        )
    else:
        singular, plural = Nn_(
            "Free cancellation until %(hours)s hour before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
            "Free cancellation until %(hours)s hours before the appointment. Later cancellation or no-show: %(fee)s %% of the price.",
        )
    return PluralText(singular, plural, free_hours, {"hours": free_hours, "fee": fee_percent})

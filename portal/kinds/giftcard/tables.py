"""What a gift card offering sells."""

from piccolo.columns import ForeignKey, Integer, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Offering


class GiftCardOffer(Table):
    """The card an offering of kind `giftcard` sells (portal.payments.giftcards.GiftCardOffer)."""

    offering = ForeignKey(references=Offering, unique=True, on_delete=OnDelete.cascade)
    value_kind = Varchar(length=10)  # fixed | free | service
    value_ore = Integer(default=0)  # fixed
    min_ore = Integer(default=0)  # free
    max_ore = Integer(default=0)  # free
    service_offering = ForeignKey(references=Offering, null=True, default=None, on_delete=OnDelete.restrict)  # service
    validity_months = Integer(null=True, default=12)  # None: no validity stated (3 years, L21)

"""Reservations: the time an appointment line takes."""

from piccolo.columns import ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from portal.catalogue.tables import Offering, Resource, Supplier
from portal.orders.tables import Order, OrderLine


class Reservation(Table):
    """One appointment on one resource. While it is `held` or `confirmed` its
    time is claimed (portal.capacity: `r:<id>` claims, or seats of its class
    session); `hold_expires_at` mirrors its order's while held."""

    order = ForeignKey(references=Order, index=True, on_delete=OnDelete.cascade)
    line = ForeignKey(references=OrderLine, index=True, on_delete=OnDelete.cascade)
    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.restrict)
    offering = ForeignKey(references=Offering, index=True, on_delete=OnDelete.restrict)
    resource = ForeignKey(references=Resource, index=True, on_delete=OnDelete.restrict)
    start = Timestamptz(index=True)
    end = Timestamptz()
    buffer_before_min = Integer(default=0)
    buffer_after_min = Integer(default=0)
    seats = Integer(default=1)
    status = Varchar(length=20, index=True)  # portal.kinds.appointment.domain.ReservationStatus
    hold_expires_at = Timestamptz(null=True, default=None, index=True)
    ics_sequence = Integer(default=0)
    meeting_url = Varchar(length=500, default="")  # an online booking's video room, set when it is confirmed (meeting.py)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TimeBlock(Table):
    """Time a staff member or room is taken without a booking (absence,
    meeting), put in by the back office. Its time is claimed like a
    reservation's (`b:<id>` claims), so no booking can take it; removing the
    block (`removed_at`) frees them."""

    supplier = ForeignKey(references=Supplier, index=True, on_delete=OnDelete.restrict)
    resource = ForeignKey(references=Resource, index=True, on_delete=OnDelete.restrict)
    start = Timestamptz(index=True)
    end = Timestamptz()
    note = Varchar(length=200, default="")
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz()
    removed_at = Timestamptz(null=True, default=None)

"""The one Piccolo app; it owns the top-level migrations/ folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.booking.tables import Booking, ClassSession, SlotClaim
from portal.catalogue.tables import (
    DateException,
    HoursRule,
    Offering,
    OfferingResource,
    Resource,
    Supplier,
)

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=[
        Supplier,
        Resource,
        HoursRule,
        DateException,
        Offering,
        OfferingResource,
        Booking,
        SlotClaim,
        ClassSession,
    ],
    migration_dependencies=[],
    commands=[],
)

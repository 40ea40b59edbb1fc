"""The one Piccolo app; it owns the top-level migrations/ folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.booking.tables import Booking, ClassSession, SlotClaim
from portal.documents.tables import Document, DocumentPdf, DocumentSeries, DocumentVoid
from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, PhoneCode
from portal.notify.tables import DevMessage, OutboxMessage
from portal.payments.tables import (
    Coupon,
    CouponRedemption,
    MoneyMovement,
    Payment,
    PaymentEvent,
    PaymentOperation,
    WebhookDelivery,
)
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
        Customer,
        CustomerSupplier,
        PhoneCode,
        DeviceToken,
        OutboxMessage,
        DevMessage,
        Payment,
        PaymentOperation,
        PaymentEvent,
        WebhookDelivery,
        MoneyMovement,
        Coupon,
        CouponRedemption,
        DocumentSeries,
        Document,
        DocumentPdf,
        DocumentVoid,
    ],
    migration_dependencies=[],
    commands=[],
)

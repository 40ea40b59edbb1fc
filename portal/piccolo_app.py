"""The one Piccolo app; it owns the top-level migrations/ folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.account.tables import LegalHold
from portal.audit.tables import AuditEntry
from portal.calendarfeed.tables import CalendarFeed, StaffAgenda
from portal.capacity.tables import ClassSession, SlotClaim
from portal.catalogue.tables import (
    DateException,
    HoursRule,
    Offering,
    OfferingResource,
    Resource,
    Supplier,
)
from portal.complaints.tables import Complaint, ComplaintPhoto
from portal.documents.tables import Document, DocumentPdf, DocumentRelease, DocumentSeries, DocumentVoid
from portal.identity.staff.tables import StaffAccount, StaffLink, StaffLoginFailure, StaffMembership, StaffSession
from portal.identity.tables import Customer, CustomerSupplier, DeviceToken, MarketingConsent, PhoneCode
from portal.kinds.appointment.tables import Reservation, TimeBlock
from portal.kinds.giftcard.tables import GiftCardOffer
from portal.notify.tables import DevMessage
from portal.orders.tables import Order, OrderLine, OrderNote, OrderWithdrawal
from portal.outbox.tables import OutboxMessage
from portal.payments.tables import (
    Coupon,
    CouponRedemption,
    GiftCard,
    GiftCardEntry,
    GiftCardMiss,
    MoneyMovement,
    Payment,
    PaymentEvent,
    PaymentOperation,
    WebhookDelivery,
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
        Order,
        OrderLine,
        OrderNote,
        OrderWithdrawal,
        Reservation,
        TimeBlock,
        SlotClaim,
        ClassSession,
        Customer,
        CustomerSupplier,
        PhoneCode,
        DeviceToken,
        StaffAccount,
        StaffMembership,
        StaffSession,
        StaffLink,
        StaffLoginFailure,
        OutboxMessage,
        DevMessage,
        Payment,
        PaymentOperation,
        PaymentEvent,
        WebhookDelivery,
        MoneyMovement,
        Coupon,
        CouponRedemption,
        AuditEntry,
        GiftCard,
        GiftCardEntry,
        GiftCardMiss,
        GiftCardOffer,
        DocumentSeries,
        Document,
        DocumentPdf,
        DocumentVoid,
        DocumentRelease,
        LegalHold,
        MarketingConsent,
        CalendarFeed,
        StaffAgenda,
        Complaint,
        ComplaintPhoto,
    ],
    migration_dependencies=[],
    commands=[],
)

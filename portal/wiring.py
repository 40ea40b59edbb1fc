"""The composition root: which outbox handlers, offering kinds, ports and
routes exist. Everything that plugs into something else is named here, once;
the app (portal.app), the worker (`portal worker`) and the tests call
`configure()` before anything runs."""

from __future__ import annotations

from portal.documents.handler import document_handler
from portal.kinds.appointment import reschedule_routes
from portal.kinds.appointment import routes as appointment_routes
from portal.kinds.appointment.kind import KIND as APPOINTMENT
from portal.kinds.giftcard import routes as giftcard_routes
from portal.kinds.giftcard.kind import KIND as GIFTCARD
from portal.notify.backends import email_handler, sms_handler
from portal.orders import kinds
from portal.outbox import handlers
from portal.payments import ports
from portal.payments.backend import payment_handler
from portal.sales import routes as sales_routes
from portal.sales import withdrawal_routes
from portal.sales.payment_news import PaymentNews

_configured = False


def configure() -> None:
    """Register the outbox handlers per channel, the kinds, and the order
    effects of payments. Safe to call more than once."""
    global _configured
    if _configured:
        return
    handlers.register("email", email_handler)
    handlers.register("sms", sms_handler)
    handlers.register("payment", payment_handler)
    handlers.register("document", document_handler)
    kinds.register(APPOINTMENT)
    kinds.register(GIFTCARD)
    ports.plug(PaymentNews())
    _configured = True


def route_handlers() -> list:
    """Every route of the shop, by area (the app adds its own and the dev ones)."""
    from portal.account import routes as account_routes
    from portal.backoffice import routes as backoffice_routes
    from portal.catalogue import routes as catalogue_routes
    from portal.complaints import routes as complaint_routes
    from portal.notify import routes as notify_routes
    from portal.site import routes as site_routes

    return [
        *catalogue_routes.ROUTES,
        *appointment_routes.ROUTES,
        *reschedule_routes.ROUTES,
        *giftcard_routes.ROUTES,
        *sales_routes.ROUTES,
        *withdrawal_routes.ROUTES,
        *notify_routes.ROUTES,
        *complaint_routes.ROUTES,
        *account_routes.ROUTES,
        *site_routes.ROUTES,
        backoffice_routes.router(),
    ]

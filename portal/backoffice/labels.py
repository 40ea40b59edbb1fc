"""The words a booking page uses for the codes it shows: payment states,
requests to Vipps, messages and the audit trail's actions and actors. A
code without a label is shown as it is (a new one should get a label here)."""

from __future__ import annotations

from portal.lib.i18n import N_

PAYMENT_STATES = {
    "created": N_("waiting for the customer in Vipps"),
    "authorized": N_("approved in Vipps"),
    "aborted": N_("refused by the customer"),
    "expired": N_("not approved in time"),
    "terminated": N_("cancelled before approval"),
    "failed": N_("could not be started"),
}

OPERATION_KINDS = {"capture": N_("Charge"), "refund": N_("Refund"), "cancel": N_("Release the reservation")}
OPERATION_STATUSES = {"pending": N_("waiting"), "done": N_("done"), "failed": N_("failed")}
OUTCOMES = {
    "delivered": N_("delivered"),
    "no_show": N_("no-show"),
    "customer_cancel_free": N_("cancelled in time by the customer"),
    "customer_cancel_late": N_("cancelled late by the customer"),
    "supplier_cancel": N_("cancelled by you"),
    "hold_lost": N_("the time was gone"),
    "withdrawn": N_("withdrawn"),
    "refund": N_("refund"),
}

CHANNELS = {"email": N_("Email"), "sms": N_("SMS")}
TOPICS = {
    "confirmation": N_("confirmation"),
    "reminder": N_("reminder"),
    "change": N_("change"),
    "cancellation": N_("cancellation"),
    "code": N_("one-time code"),
    "slot_lost": N_("time lost"),
    "payment_problem": N_("payment problem"),
    "receipt": N_("receipt"),
    "credit_note": N_("credit note"),
    "withdrawal": N_("withdrawal acknowledgement"),
    "complaint": N_("complaint"),
    "complaint_answer": N_("answer to a complaint"),
}
MESSAGE_STATUSES = {"pending": N_("queued"), "sending": N_("being sent"), "sent": N_("sent"), "failed": N_("not sent"), "cancelled": N_("cancelled")}

ACTIONS = {
    "appointment.hold": N_("Time held in checkout"),
    "appointment.move": N_("Moved"),
    "checkout.phone_verified": N_("Mobile number confirmed with a code"),
    "checkout.codes": N_("Discount or gift card code entered"),
    "checkout.giftcard_tried": N_("Gift card tried"),
    "code.send": N_("Code sent by SMS"),
    "code.check": N_("Code checked"),
    "order.confirm": N_("Booked"),
    "order.book_at_desk": N_("Booked by the desk"),
    "order.submit_for_payment": N_("Sent to Vipps"),
    "order.expire": N_("Hold ran out"),
    "order.delivered": N_("Marked as delivered"),
    "order.auto_complete": N_("Counted as delivered"),
    "order.no_show": N_("Marked as no-show"),
    "order.customer_cancel": N_("Cancelled by the customer"),
    "order.supplier_cancel": N_("Cancelled by the business"),
    "order.refund": N_("Refund"),
    "order.note": N_("Internal note"),
    "complaint.send": N_("Complaint sent by the customer"),
    "complaint.answer": N_("Complaint answered"),
    "complaint.close": N_("Complaint closed"),
    "payment.start": N_("Payment started in Vipps"),
    "payment.webhook": N_("News from Vipps"),
    "payment.sync": N_("Payment read from Vipps"),
    "payment.stored_webhook": N_("News from Vipps"),
    "payment.operation_done": N_("Vipps carried out a request"),
    "payment.operation_failed": N_("A request to Vipps failed"),
    "payment.give_up": N_("Request to Vipps given up"),
    "giftcard.purchase": N_("Gift card bought"),
    "giftcard.withdraw": N_("Gift card withdrawn"),
    "order.withdraw": N_("Withdrawn (right of withdrawal)"),
    "order.withdrawal_settled": N_("Part delivered stated after a withdrawal"),
}
ACTOR_KINDS = {"customer": N_("the customer"), "system": N_("portal"), "operator": N_("portal's operations")}


def context() -> dict:
    """What the booking page template reads (`labels.<table>`)."""
    return {
        "labels": {
            "payment_states": PAYMENT_STATES,
            "operation_kinds": OPERATION_KINDS,
            "operation_statuses": OPERATION_STATUSES,
            "outcomes": OUTCOMES,
            "channels": CHANNELS,
            "topics": TOPICS,
            "message_statuses": MESSAGE_STATUSES,
            "actions": ACTIONS,
            "actor_kinds": ACTOR_KINDS,
        }
    }

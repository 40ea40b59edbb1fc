"""Buying gift cards: what the purchase form asks and how to read it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email

from portal.lib.forms import form_text
from portal.lib.i18n import N_
from portal.payments.giftcards import GiftCardOffer, ValueKind, card_value

MAX_QUANTITY = 10
MAX_MESSAGE = 300
MAX_NAME = 200
#: How far ahead a gift can be sent.
MAX_DELIVERY_DAYS = 365


@dataclass
class PurchaseInput:
    amount: str = ""
    quantity: str = "1"
    for_gift: bool = False
    recipient_name: str = ""
    recipient_email: str = ""
    message: str = ""
    deliver_on: str = ""


@dataclass
class Purchase:
    """A purchase form, read: the values to show again, field messages, and what they mean."""

    values: PurchaseInput
    errors: dict[str, object] = field(default_factory=dict)  # field → msgid or giftcards.Message
    value_ore: int = 0
    quantity: int = 1
    deliver_on: date | None = None  # None: at once
    recipient_email: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors




def parse_purchase(form: dict, offer: GiftCardOffer, today: date) -> Purchase:
    """What the buyer asked for, or what is wrong with it (nothing is written here)."""
    values = PurchaseInput(
        amount=form_text(form, "amount", 20),
        quantity=form_text(form, "quantity", 5) or "1",
        for_gift=form_text(form, "for_gift", 5).lower() in {"on", "1", "true", "yes"},
        recipient_name=form_text(form, "recipient_name", MAX_NAME),
        recipient_email=form_text(form, "recipient_email", 254),
        message=form_text(form, "message", MAX_MESSAGE),
        deliver_on=form_text(form, "deliver_on", 20),
    )
    result = Purchase(values=values)
    errors = result.errors
    value, problem = card_value(offer, values.amount if offer.value_kind is ValueKind.FREE else None)
    if problem is not None:
        errors["amount"] = problem
    else:
        result.value_ore = value
    if not (values.quantity.isascii() and values.quantity.isdigit()) or not 1 <= int(values.quantity) <= MAX_QUANTITY:
        errors["quantity"] = N_("Choose how many cards, from 1 to 10.")
    else:
        result.quantity = int(values.quantity)
    if values.for_gift:
        if not values.recipient_name:
            errors["recipient_name"] = N_("Write who the gift card is for.")
        elif len(values.recipient_name) > MAX_NAME:
            errors["recipient_name"] = N_("The name is too long (at most 200 characters).")
        if values.recipient_email:
            try:
                result.recipient_email = validate_email(values.recipient_email, check_deliverability=False).normalized
            except EmailNotValidError:
                errors["recipient_email"] = N_("That is not a valid email address.")
        if len(values.message) > MAX_MESSAGE:
            errors["message"] = N_("The message is too long (at most 300 characters).")
        if values.deliver_on:
            try:
                day = date.fromisoformat(values.deliver_on)
            except ValueError:
                errors["deliver_on"] = N_("Choose a date, or leave it empty to send the card at once.")
            else:
                if day < today:
                    errors["deliver_on"] = N_("That date has passed. Choose today or a later date.")
                elif day > today + timedelta(days=MAX_DELIVERY_DAYS):
                    errors["deliver_on"] = N_("Choose a date within a year.")
                elif not result.recipient_email:
                    errors["recipient_email"] = N_("Write the email address the card is to be sent to on that date.")
                else:
                    result.deliver_on = day if day > today else None
    return result

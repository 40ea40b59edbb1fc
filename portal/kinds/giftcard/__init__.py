"""Gift cards: a sale with no booking. The buyer chooses a value (fixed, a
free amount within limits, or one named service), for themselves or as a
gift; paid with Vipps and captured at once — the card is delivered when it is
issued, as a PDF by email. Its value is kept in a ledger
(portal.payments.giftcard_store) and redeemed at checkout as a means of
payment of the same supplier."""

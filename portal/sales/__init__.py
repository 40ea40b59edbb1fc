"""Selling: the use cases over orders, their kinds and their money — the
checkout, what a payment's news does to its order, and settling an order
when it ends (delivered, no-show, cancelled, refunded). Kinds plug in through
portal.orders.kinds; payments report back through portal.payments.ports."""

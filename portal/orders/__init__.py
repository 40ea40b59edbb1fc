"""Orders: what a customer agreed to and pays for, with its lines. Payments,
money movements, coupon and gift-card uses, documents and messages belong to
the order; what a line takes (an appointment's time, later a stay's nights)
belongs to its kind (portal.orders.kinds, portal.kinds)."""

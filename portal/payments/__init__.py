"""Payments: Vipps MobilePay reservations, captures and refunds."""

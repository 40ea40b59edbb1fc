"""Vipps MobilePay ePayment: our own thin client, webhook signing, and a dev
stand-in that speaks the same HTTP contract (never call real Vipps in tests)."""

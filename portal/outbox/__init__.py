"""The durable outbox: every side effect (an email, an SMS, a capture, a PDF)
is a row written in the same transaction as the change that causes it, and a
worker carries it out. Infrastructure: it knows no domain. Handlers register
per channel at the composition root (portal.wiring)."""

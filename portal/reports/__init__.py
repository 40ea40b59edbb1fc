"""The supplier's customers and money, read for the back office: who booked,
CSV exports, and the monthly revenue, VAT and booking figures."""

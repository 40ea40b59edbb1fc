"""Complaints (reklamasjon, LEGAL.md L23): the customer sends one from the
order page, with an optional photo; the supplier is emailed, answers in the
back office, and the customer sees the answer on the order page and by
email. Knows orders (for the supplier, the lines' times and the customer)."""

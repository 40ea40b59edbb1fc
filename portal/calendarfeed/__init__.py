"""Private calendar feeds (iCalendar subscriptions) and the morning agenda email for staff."""

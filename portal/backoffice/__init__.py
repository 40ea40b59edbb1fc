"""The supplier's back office: staff logins, the day, bookings and their actions."""

"""Appointments: a fixed duration on one of several resources (a stylist, a
room), capacity 1 or N seats (a class). A line holds its reservation."""

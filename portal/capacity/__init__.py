"""Capacity in the database: claims with unique keys (resource × time unit;
later unit × night) and seat counters taken by a conditional update, written
in the order's transaction (DESIGN.md invariant 1)."""

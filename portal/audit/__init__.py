"""Who changed what, when: one append-only entry per use case, written in the
same transaction as the change (DESIGN.md invariant 8)."""

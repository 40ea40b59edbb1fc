"""Receipts, credit notes and gift cards: numbered, immutable, with their PDFs.

Callers use `portal.documents.service` (issue inside their write transaction,
void, render in the worker, read) with the dataclasses of
`portal.documents.domain`. This package imports no other domain package.
"""

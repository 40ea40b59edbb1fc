"""Benchmark of rendering a typical receipt to PDF (WeasyPrint, PDF/UA-1, DejaVu embedded).

Run from the repository root:  .venv/bin/python bench/documents.py [--runs N] [--language nb|en]

A typical receipt: 3 lines at 2 VAT rates (25 % and 15 %), paid by Vipps and
a gift card, for a VAT-registered AS. The rendering is what the outbox worker
does for each document (`portal.documents.render.pdf_bytes`); no database is
involved (storing the bytes is one INSERT). The first rendering of a process
pays for loading WeasyPrint, Pango and the fonts and is reported apart; the
goal is for the warm p95 (wall clock, and CPU time, which a busy shared
machine disturbs less). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-key-not-for-production")

from portal.documents.domain import (
    Buyer,
    Draft,
    IssuedDocument,
    Kind,
    Line,
    PaymentPart,
    Seller,
    snapshot_of,
    vat_per_rate,
)
from portal.documents.render import pdf_bytes
from portal.lib.money import split_vat

GOAL_MS = 300.0
GOAL_BYTES = 60 * 1024


def typical_receipt(language: str) -> IssuedDocument:
    def line(description: str, quantity: int, unit_ore: int, rate_bp: int) -> Line:
        gross = quantity * unit_ore
        split = split_vat(gross, rate_bp)
        return Line(
            description, quantity, unit_ore, gross, rate_bp, split.vat_ore, split.net_ore, date(2026, 12, 3), "Saks og Stil, Oslo"
        )

    lines = (
        line("Herreklipp", 1, 549_00, 2500),
        line("Hårvoks 100 ml", 2, 199_00, 2500),
        line("Kaffe og kanelbolle", 1, 65_00, 1500),
    )
    total = sum(item.gross_ore for item in lines)
    draft = Draft(
        kind=Kind.RECEIPT,
        supplier_id=1,
        order_id=1,
        language=language,
        seller=Seller(
            "Saks og Stil Grünerløkka AS",
            "923456789",
            "AS",
            True,
            "Thorvald Meyers gate 12",
            "0555",
            "Oslo",
            "+4722334455",
            "post@saksogstil.no",
        ),
        buyer=Buyer("Kari Nordmann", "+4741234567", "kari@example.no"),
        order_reference="SG-4F7K2",
        lines=lines,
        vat=vat_per_rate(lines),
        payments=(PaymentPart("vipps", total - 100_00), PaymentPart("giftcard", 100_00, "7Q2M")),
    )
    row = {
        "id": 1,
        "supplier_id": 1,
        "order_id": 1,
        "kind": "receipt",
        "number": 1042,
        "issued_at": datetime(2026, 12, 3, 13, 5, tzinfo=UTC),
        "language": language,
        "refers_to": None,
        "snapshot": snapshot_of(draft),
    }
    return IssuedDocument.from_row(row)


def _pages(pdf: bytes) -> int:
    from io import BytesIO

    from pypdf import PdfReader  # a test dependency (pyproject [test])

    return len(PdfReader(BytesIO(pdf)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--language", choices=("nb", "en"), default="nb")
    args = parser.parse_args()

    document = typical_receipt(args.language)
    started = time.perf_counter()
    first = pdf_bytes(document)
    first_ms = (time.perf_counter() - started) * 1000

    times, cpu = [], []
    for _ in range(args.runs):
        wall, proc = time.perf_counter(), time.process_time()
        pdf = pdf_bytes(document)
        times.append((time.perf_counter() - wall) * 1000)
        cpu.append((time.process_time() - proc) * 1000)
        assert pdf == first, "rendering is deterministic"

    times.sort()
    cpu.sort()

    def p(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    print(
        json.dumps(
            {
                "benchmark": "documents: typical receipt (3 lines, 2 VAT rates) to PDF/UA-1",
                "runs": args.runs,
                "language": args.language,
                "first_render_ms": round(first_ms, 1),
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": p(times, 0.95),
                "max_ms": round(times[-1], 1),
                "cpu_p95_ms": p(cpu, 0.95),
                "bytes": len(first),
                "pages": _pages(first),
                "goal_ms": GOAL_MS,
                "goal_bytes": GOAL_BYTES,
                "meets_goal_ms": p(times, 0.95) <= GOAL_MS,
                "meets_goal_cpu": p(cpu, 0.95) <= GOAL_MS,
                "meets_goal_bytes": len(first) <= GOAL_BYTES,
                "python": platform.python_version(),
                "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

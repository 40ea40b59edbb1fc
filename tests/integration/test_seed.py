"""The demo seed on a fresh, migrated SQLite database.

piccolo_conf reads DATABASE_URL when it is imported, so the database work
runs in a subprocess with its own environment; this process only imports the
(database-free) org number helper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:  # also when run as `pytest` rather than `python -m pytest`
    sys.path.insert(0, str(ROOT))

from stdnum.no import orgnr  # noqa: E402

TODAY = date(2026, 11, 23)  # a Monday

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from datetime import date

    from portal.demo import seed_demo
    from portal.catalogue.tables import (
        DateException, HoursRule, Offering, OfferingResource, Resource, Supplier,
    )

    def hhmm(value):
        return value.strftime("%H:%M") if value is not None else None

    async def main():
        today = date.fromisoformat(sys.argv[1])
        first = await seed_demo(today)
        second = await seed_demo(today)
        suppliers = await Supplier.select().order_by(Supplier.id)
        out = {"first": first, "second": second, "suppliers": {}}
        for s in suppliers:
            resources = await Resource.select().where(Resource.supplier == s["id"])
            res_out = {}
            for r in resources:
                rules = await HoursRule.select().where(HoursRule.resource == r["id"])
                excs = await DateException.select().where(DateException.resource == r["id"])
                res_out[r["name"]] = {
                    "title": r["title"],
                    "hours": [
                        [h["weekday"], hhmm(h["start"]), hhmm(h["end"]), h["is_break"]]
                        for h in rules
                    ],
                    "exceptions": [
                        {"day": e["day"].isoformat(), "closed": e["closed"],
                         "start": hhmm(e["start"]), "end": hhmm(e["end"])}
                        for e in excs
                    ],
                }
            offerings = await Offering.select().where(Offering.supplier == s["id"])
            off_out = {}
            for o in offerings:
                links = await OfferingResource.select(
                    OfferingResource.resource.name
                ).where(OfferingResource.offering == o["id"])
                o = {k: v for k, v in o.items() if k not in {"id", "supplier"}}
                o["resources"] = sorted(link["resource.name"] for link in links)
                off_out[o["slug"]] = o
            s = {k: v for k, v in s.items() if k != "created_at"}
            s["resources"] = res_out
            s["offerings"] = off_out
            out["suppliers"][s["slug"]] = s
        out["counts"] = {
            t.__name__: await t.count()
            for t in (Supplier, Resource, HoursRule, DateException, Offering, OfferingResource)
        }
        print(json.dumps(out, default=str))

    asyncio.run(main())
    """
)


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{cmd[:3]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = tmp_path_factory.mktemp("seed") / "t.sqlite3"
    env = {
        **os.environ,
        "PICCOLO_CONF": "portal.piccolo_conf",
        "DATABASE_URL": f"sqlite:///{db}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PORTAL_ENV", None)
    _run([sys.executable, "-m", "piccolo.main", "migrations", "forwards", "portal"], env)
    out = _run([sys.executable, "-c", SCRIPT, TODAY.isoformat()], env)
    return json.loads(out.strip().splitlines()[-1])


def _by_category(data: dict, category: str) -> dict:
    [supplier] = [s for s in data["suppliers"].values() if s["category"] == category]
    return supplier


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


# --- organisation numbers ---------------------------------------------------


def test_org_numbers_are_checked_with_python_stdnum() -> None:
    from portal.catalogue.domain import SupplierDraft, check_supplier

    def problem(number: str) -> str | None:
        draft = SupplierDraft(name="X", org_number=number, email="x@eksempel.no", phone="22 33 44 55", street="Gate 1", postcode="0150", town="Oslo", category="hair")
        return check_supplier(draft)[1].get("org_number")

    assert problem("974760673") is None  # Brønnøysundregistrene
    assert problem("974 760 673") is None  # as people write it
    assert problem("924173084") is None
    assert problem("924173085")  # wrong check digit
    assert problem("92417308")  # too short
    assert problem("92417308a")
    assert all(problem(f"92417305{d}") for d in range(10))  # remainder 1: no valid number has these eight digits


# --- the seeded catalogue ------------------------------------------------------


def test_seeds_once(seeded: dict) -> None:
    assert seeded["first"] is True
    assert seeded["second"] is False
    counts = seeded["counts"]
    assert counts["Supplier"] >= 5
    # The second call changed nothing: one set of rows per supplier.
    assert len(seeded["suppliers"]) == counts["Supplier"]


def test_supplier_fields(seeded: dict) -> None:
    slugs = set()
    for slug, s in seeded["suppliers"].items():
        assert slug.isascii() and slug == slug.lower() and " " not in slug
        assert orgnr.is_valid(s["org_number"]), slug
        assert s["phone"].startswith("+47") and len(s["phone"]) == 11, slug
        assert s["phone"][1:].isdigit()
        assert s["email"].endswith("eksempel.no"), slug
        assert len(s["postcode"]) == 4 and s["postcode"].isdigit()
        for key in ("legal_name", "name", "street", "town", "description", "terms"):
            assert s[key], (slug, key)
        methods = s["payment_methods"]
        methods = json.loads(methods) if isinstance(methods, str) else methods
        assert methods and set(methods) <= {"vipps", "onsite"}, slug
        assert s["offerings"], slug
        slugs.add(slug)
    assert len(slugs) == len(seeded["suppliers"])
    categories = {s["category"] for s in seeded["suppliers"].values()}
    assert {"hair", "massage", "consulting", "fitness"} <= categories


def test_hair_salon_stylists(seeded: dict) -> None:
    salon = _by_category(seeded, "hair")
    assert salon["town"] == "Oslo"
    assert salon["vat_registered"] and salon["company_form"] == "AS"
    resources = salon["resources"]
    assert len(resources) == 3
    weekly_patterns = set()
    for name, res in resources.items():
        assert res["title"], name
        work = [h for h in res["hours"] if not h[3]]
        breaks = [h for h in res["hours"] if h[3]]
        assert work and breaks, name
        # One break per working day, inside that day's hours.
        assert sorted(h[0] for h in breaks) == sorted(h[0] for h in work), name
        for day, start, end, _ in breaks:
            [(_, w_start, w_end, _)] = [h for h in work if h[0] == day]
            assert _minutes(w_start) < _minutes(start) < _minutes(end) < _minutes(w_end)
        weekly_patterns.add(tuple(sorted((h[0], h[1], h[2]) for h in work)))
    assert len(weekly_patterns) == 3  # each stylist has their own hours

    offerings = salon["offerings"]
    assert offerings["herreklipp"]["price_ore"] == 549_00
    assert offerings["herreklipp"]["duration_min"] == 30
    assert offerings["dameklipp"]["price_ore"] == 895_00
    assert offerings["farge-og-klipp"]["price_ore"] == 1_990_00
    assert offerings["farge-og-klipp"]["duration_min"] == 120
    # The salon also sells gift cards: a free amount, and one haircut (no VAT on the sale, L21).
    cards = {slug: o for slug, o in offerings.items() if o["kind"] == "giftcard"}
    assert sorted(cards) == ["gavekort", "gavekort-herreklipp"]
    assert all(o["vat_rate_bp"] == 0 and o["resources"] == [] for o in cards.values())
    offerings = {slug: o for slug, o in offerings.items() if slug not in cards}
    for slug, o in offerings.items():
        assert o["kind"] == "appointment" and o["vat_rate_bp"] == 2500, slug
        assert o["step_min"] == 15 and o["withdrawal_class"] == "standard", slug
    sizes = sorted(len(o["resources"]) for o in offerings.values())
    assert sizes.count(2) == 1 and sizes.count(3) == len(offerings) - 1


def test_massage_clinic(seeded: dict) -> None:
    clinic = _by_category(seeded, "massage")
    assert clinic["town"] == "Bergen"
    assert len(clinic["resources"]) == 2
    for res in clinic["resources"].values():
        assert all(h[0] != 0 for h in res["hours"])  # closed on Mondays
        [exc] = res["exceptions"]
        assert exc["closed"] is True
        day = date.fromisoformat(exc["day"])
        assert timedelta(days=5) <= day - TODAY <= timedelta(days=9)
        assert day.weekday() in {h[0] for h in res["hours"] if not h[3]}
    durations = {o["duration_min"] for o in clinic["offerings"].values()}
    assert {30, 60, 90} <= durations
    assert all(o["buffer_after_min"] == 15 for o in clinic["offerings"].values())
    assert any(o["buffer_before_min"] == 5 for o in clinic["offerings"].values())
    assert all(o["vat_rate_bp"] == 2500 for o in clinic["offerings"].values())


def test_consultant(seeded: dict) -> None:
    consultant = _by_category(seeded, "consulting")
    assert consultant["company_form"] == "ENK" and consultant["vat_registered"]
    assert consultant["town"] == "Trondheim"
    [res] = consultant["resources"].values()
    work = sorted(h for h in res["hours"] if not h[3])
    breaks = sorted(h for h in res["hours"] if h[3])
    assert work == [[d, "09:00", "16:00", False] for d in range(5)]
    assert breaks == [[d, "11:30", "12:00", True] for d in range(5)]
    [exc] = res["exceptions"]
    day = date.fromisoformat(exc["day"])
    assert day.weekday() == 5 and day > TODAY and exc["closed"] is False
    assert exc["start"] and exc["end"]
    video = consultant["offerings"]["videokonsultasjon"]
    assert video["online"] is True and video["duration_min"] == 45
    assert video["min_notice_min"] == 120 and video["step_min"] == 15


def test_yoga_class(seeded: dict) -> None:
    studio = _by_category(seeded, "fitness")
    assert studio["town"] == "Stavanger"
    flow = studio["offerings"]["yoga-flow"]
    assert flow["capacity"] == 12 and flow["duration_min"] == 75
    assert flow["cancel_free_hours"] == 12
    assert flow["withdrawal_class"] == "exempt_dated_leisure"
    [room] = flow["resources"]
    # The room's hours are exactly the class windows: one slot per day.
    for day, start, end, is_break in studio["resources"][room]["hours"]:
        assert not is_break
        assert _minutes(end) - _minutes(start) == flow["duration_min"]


def test_other_kinds(seeded: dict) -> None:
    other = [
        o
        for s in seeded["suppliers"].values()
        for o in s["offerings"].values()
        if o["kind"] in {"stay", "giftcard"}
    ]
    assert other
    for o in other:
        assert o["duration_min"] is None and o["resources"] == []


def test_offering_rules(seeded: dict) -> None:
    for s in seeded["suppliers"].values():
        positions = [o["position"] for o in s["offerings"].values()]
        assert len(set(positions)) == len(positions)
        for slug, o in s["offerings"].items():
            assert isinstance(o["price_ore"], int) and o["price_ore"] > 0, slug
            assert 60 <= o["max_advance_days"] <= 90, slug
            if o["kind"] == "appointment":
                assert o["resources"], slug
                assert o["duration_min"] % 5 == 0, slug
                assert o["cancel_free_hours"] in {12, 24, 48}, slug

"""`portal run | migrate | seed | worker | supplier … | staff invite | agenda send | retention run` — the commands a newcomer, CI and the operator use."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys

from portal.settings import ROOT


def migrate() -> None:
    env = {**os.environ, "PICCOLO_CONF": "portal.piccolo_conf"}
    subprocess.run([sys.executable, "-m", "piccolo.main", "migrations", "forwards", "portal"], cwd=ROOT, env=env, check=True)


async def _seed() -> bool:
    from portal.demo import seed_demo, seed_demo_staff
    from portal.lib import clock, db

    await db.prepare()
    created = await seed_demo(clock.local_today())
    await seed_demo_staff(clock.now())
    return created


def seed() -> None:
    created = asyncio.run(_seed())
    sys.stdout.write("demo data created\n" if created else "demo data already present\n")


def _say_problems(problems: dict[str, str]) -> None:
    from portal.lib.i18n import translations

    t = translations("nb")
    for name, msgid in sorted(problems.items()):
        sys.stderr.write(f"--{name.replace('_', '-')}: {t.gettext(msgid)}\n")


async def _supplier(args: argparse.Namespace) -> int:
    """`portal supplier create | approve | suspend`, as the operator."""
    from portal.audit.domain import operator
    from portal.catalogue import onboarding
    from portal.catalogue.domain import SupplierDraft
    from portal.lib import clock

    actor = operator(f"cli:{os.environ.get('USER', 'operator')}")
    if args.action == "create":
        draft = SupplierDraft(
            name=args.name, org_number=args.org_number, email=args.email, phone=args.phone, street=args.street,
            postcode=args.postcode, town=args.town, category=args.category, legal_name=args.legal_name or "",
            company_form=args.company_form, vat_registered=not args.not_vat_registered,
        )  # fmt: skip
        try:
            made = await onboarding.create(actor, draft, clock.now())
        except onboarding.SupplierRefused as refused:
            _say_problems(refused.problems)
            return 2
        sys.stdout.write(f"created {made['slug']} (not listed until approved: portal supplier approve {made['slug']})\n")
        return 0
    changed = await (onboarding.approve if args.action == "approve" else onboarding.suspend)(actor, args.slug, clock.now())
    if changed is None:
        sys.stderr.write(f"no supplier {args.slug!r}\n")
        return 1
    sys.stdout.write(f"{changed['slug']}: {'listed' if changed['active'] else 'suspended'}\n")
    return 0


async def _staff_invite(args: argparse.Namespace) -> int:
    """`portal staff invite`: the invitation goes out by email through the outbox (run `portal worker`)."""
    from portal.audit.domain import operator
    from portal.catalogue.tables import Resource, Supplier
    from portal.identity.staff import service as staff
    from portal.identity.staff.domain import Role
    from portal.lib import clock
    from portal.settings import load

    supplier = await Supplier.select(Supplier.id).where(Supplier.slug == args.supplier).first()
    if supplier is None:
        sys.stderr.write(f"no supplier {args.supplier!r}\n")
        return 1
    resource_id = None
    if args.calendar:
        row = await Resource.select(Resource.id).where((Resource.supplier == supplier["id"]) & (Resource.name == args.calendar)).first()
        if row is None:
            sys.stderr.write(f"{args.supplier} has no calendar named {args.calendar!r}\n")
            return 1
        resource_id = row["id"]
    actor = operator(f"cli:{os.environ.get('USER', 'operator')}")
    token, problem = await staff.invite(
        actor, supplier_id=supplier["id"], email=args.email, name=args.name, role=Role(args.role), resource_id=resource_id, now=clock.now()
    )
    if problem is not None:
        why = {
            staff.InviteProblem.ALREADY_MEMBER: f"{args.email} already works for {args.supplier}",
            staff.InviteProblem.RESOURCE_ELSEWHERE: "that calendar belongs to another supplier",
        }
        sys.stderr.write(f"not invited: {why.get(problem, problem.value)}\n")
        return 1
    sys.stdout.write(f"invited {args.email} as {args.role}; the email with the link is in the outbox.\nlink: {load().base_url}/kontor/lenke/{token}\n")
    return 0


async def _agenda(args: argparse.Namespace) -> int:
    """`portal agenda send`: queue today's morning agendas now (what the sweeper does from 07:00 Oslo time)."""
    from datetime import datetime

    from portal.calendarfeed import service as agendas
    from portal.lib import clock

    now = clock.now()
    if args.at:
        try:
            now = datetime.fromisoformat(args.at)
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            sys.stderr.write("--at: a time with its offset, like 2026-12-07T07:05+01:00\n")
            return 2
    queued = await agendas.send_agendas(now)
    sys.stdout.write(f"{queued} agenda email(s) queued; the outbox sends them (portal worker).\n")
    return 0


async def _retention(args: argparse.Namespace) -> int:
    """`portal retention run`: end the legal holds that are due and forget inactive customers (L26), as the sweeper does hourly."""
    from portal.account import rights
    from portal.audit.domain import system
    from portal.lib import clock

    done = await rights.run(system("retention-cli"), clock.now())
    sys.stdout.write(f"{done.released} legal hold(s) ended, {done.forgotten} inactive customer(s) forgotten.\n")
    return 0


def _run_async(command, args: argparse.Namespace) -> None:
    async def main() -> int:
        from portal import wiring
        from portal.lib import db

        wiring.configure()
        await db.prepare()
        return await command(args)

    raise SystemExit(asyncio.run(main()))


def run(host: str, port: int) -> None:
    import uvicorn

    migrate()
    seed()
    uvicorn.run("portal.app:create_app", factory=True, host=host, port=port, log_level="info")


def main(argv: list[str] | None = None) -> None:
    from portal.catalogue.domain import CATEGORIES
    from portal.identity.staff.domain import Role

    parser = argparse.ArgumentParser(prog="portal")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="migrate, seed demo data if empty, serve")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="run migrations forwards")
    sub.add_parser("seed", help="insert demo data into an empty database")
    sub.add_parser("worker", help="drain the outbox: send email and SMS (several may run on PostgreSQL)")

    supplier = sub.add_parser("supplier", help="the operator: create, approve or suspend a supplier").add_subparsers(dest="action", required=True)
    create = supplier.add_parser("create", help="register a supplier (not listed until approved)")
    for name in ("name", "org-number", "email", "phone", "street", "postcode", "town"):
        create.add_argument(f"--{name}", required=True)
    create.add_argument("--category", required=True, choices=sorted(CATEGORIES))
    create.add_argument("--legal-name", help="as in the register (default: --name)")
    create.add_argument("--company-form", default="AS", help="AS, ENK, NUF … (default AS)")
    create.add_argument("--not-vat-registered", action="store_true", help="not in the VAT register (prices without VAT)")
    for action, text in (("approve", "list the supplier: its offerings can be booked"), ("suspend", "take the supplier off the portal")):
        supplier.add_parser(action, help=text).add_argument("slug")

    staff = sub.add_parser("staff", help="staff accounts").add_subparsers(dest="action", required=True)
    invite = staff.add_parser("invite", help="invite someone to a supplier's back office by email")
    invite.add_argument("--supplier", required=True, help="the supplier's slug")
    invite.add_argument("--email", required=True)
    invite.add_argument("--name", default="")
    invite.add_argument("--role", required=True, choices=[r.value for r in Role])
    invite.add_argument("--calendar", help="the name of their own calendar (resource), if they have one")
    agenda = sub.add_parser("agenda", help="the staff's morning agenda emails").add_subparsers(dest="action", required=True)
    send = agenda.add_parser("send", help="queue today's agendas for those who want one (only from 07:00 to 10:00 Oslo time)")
    send.add_argument("--at", help="as if it were this time (ISO 8601 with offset)")
    retention = sub.add_parser("retention", help="the customers' data (L26)").add_subparsers(dest="action", required=True)
    retention.add_parser("run", help="remove bookkeeping whose legal hold has ended, and the contact data of inactive customers")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.host, args.port)
    elif args.command == "migrate":
        migrate()
    elif args.command == "seed":
        seed()
    elif args.command == "supplier":
        _run_async(_supplier, args)
    elif args.command == "staff":
        _run_async(_staff_invite, args)
    elif args.command == "agenda":
        _run_async(_agenda, args)
    elif args.command == "retention":
        _run_async(_retention, args)
    elif args.command == "worker":
        from portal import wiring
        from portal.outbox.worker import main as worker_main

        wiring.configure()
        worker_main()


if __name__ == "__main__":
    main()

"""`portal run | migrate | seed | worker` — the commands a newcomer and CI use."""

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


def run(host: str, port: int) -> None:
    import uvicorn

    migrate()
    seed()
    uvicorn.run("portal.app:create_app", factory=True, host=host, port=port, log_level="info")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="portal")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="migrate, seed demo data if empty, serve")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="run migrations forwards")
    sub.add_parser("seed", help="insert demo data into an empty database")
    sub.add_parser("worker", help="drain the outbox: send email and SMS (several may run on PostgreSQL)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.host, args.port)
    elif args.command == "migrate":
        migrate()
    elif args.command == "seed":
        seed()
    elif args.command == "worker":
        from portal import wiring
        from portal.outbox.worker import main as worker_main

        wiring.configure()
        worker_main()


if __name__ == "__main__":
    main()

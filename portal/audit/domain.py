"""Actors: whoever a use case acts for. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorKind(StrEnum):
    CUSTOMER = "customer"  # a person in the shop: by browser (visitor id) and, once known, customer id
    STAFF = "staff"  # a staff member of one supplier, with a role
    SYSTEM = "system"  # the portal itself: a sweeper, the reconciler, the outbox worker, a webhook
    OPERATOR = "operator"  # the people who run the portal


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str = ""  # customer id or visitor id, staff id, the process's name
    supplier_id: int | None = None  # staff: the supplier they act for
    role: str = ""  # staff: owner | front_desk | staff
    label: str = ""  # what a person reading the trail sees

    @property
    def name(self) -> str:
        return self.label or f"{self.kind}:{self.id}"


def customer(*, visitor: str | None = None, customer_id: int | None = None, label: str = "") -> Actor:
    """A customer acting in the shop: known by customer id once verified, else by browser."""
    ident = f"c{customer_id}" if customer_id else f"v:{visitor or 'unknown'}"
    return Actor(ActorKind.CUSTOMER, ident, label=label)


def staff(staff_id: int | str, *, supplier_id: int, role: str, label: str = "") -> Actor:
    return Actor(ActorKind.STAFF, str(staff_id), supplier_id=supplier_id, role=role, label=label)


def system(process: str) -> Actor:
    """The portal acting on its own: "hold-sweeper", "reconciler", "outbox-worker", "vipps-webhook" …"""
    return Actor(ActorKind.SYSTEM, process, label=process)


def operator(name: str) -> Actor:
    return Actor(ActorKind.OPERATOR, name, label=name)

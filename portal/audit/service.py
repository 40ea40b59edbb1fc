"""Recording audit entries, and the `use_case` decorator that makes a
service function one audited write transaction.

    @use_case("order.cancel")
    async def cancel(actor: Actor, order_id: int, now: datetime) -> dict:
        ...change...
        await record(actor, "order.cancel", order_id=order_id, before=..., after=..., now=now)

The decorator opens the write transaction (joining the caller's, if any;
`transaction=False` for a use case that must commit before it talks to
Vipps),
and refuses — rolling everything back — a call that records more than one
entry, or an entry for another action. A call that changed nothing (an
idempotent repeat) may record none. Functions that change data on a use
case's behalf are `step`s: they refuse to run outside one. `tests/integration/test_audit.py` calls
every registered use case in a state where it changes something and proves
it wrote exactly one entry; a static test proves every public function of a
`service.py` module is a `use_case` or a `query`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from portal.audit.domain import Actor
from portal.audit.tables import AuditEntry
from portal.lib import clock
from portal.lib.db import write_transaction

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class AuditError(RuntimeError):
    """A use case broke the one-entry rule: a programming error, the change is rolled back."""


_frame: contextvars.ContextVar[list | None] = contextvars.ContextVar("audit_frame", default=None)
_after_commit: contextvars.ContextVar[list | None] = contextvars.ContextVar("after_commit", default=None)

#: Every use case by action name (filled as modules are imported).
USE_CASES: dict[str, Callable[..., Awaitable[Any]]] = {}
#: Read-only service functions, by qualified name.
QUERIES: dict[str, Callable[..., Awaitable[Any]]] = {}


def _json(value: Any) -> Any:
    """What goes into before/after: plain JSON (datetimes as ISO text)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(clock.UTC).isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


async def record(
    actor: Actor,
    action: str,
    *,
    now: datetime,
    order_id: int | None = None,
    supplier_id: int | None = None,
    subject: str = "",
    subject_id: object = "",
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """One entry, inside the caller's transaction."""
    frame = _frame.get()
    if frame is not None:
        if frame[0] != action:
            raise AuditError(f"use case {frame[0]!r} recorded an entry for {action!r}")
        frame[1] += 1
        if frame[1] > 1:
            raise AuditError(f"use case {action!r} recorded more than one audit entry")
    await AuditEntry.insert(
        AuditEntry(
            at=now.astimezone(clock.UTC),
            actor_kind=actor.kind.value,
            actor_id=actor.id[:80],
            actor_role=actor.role[:20],
            actor_label=actor.name[:120],
            supplier_id=supplier_id if supplier_id is not None else actor.supplier_id,
            action=action,
            subject=subject or ("order" if order_id is not None else ""),
            subject_id=str(subject_id if subject_id != "" else (order_id if order_id is not None else ""))[:60],
            order_id=order_id,
            before=_json(before or {}),
            after=_json(after or {}),
        )
    )


def use_case(action: str, *, transaction: bool = True) -> Callable[[F], F]:
    """Mark a service function as the use case `action`: its first argument is
    the Actor; it records at most one entry. It runs in one write transaction,
    unless `transaction=False`: a use case that talks to the outside (Vipps)
    between its own transactions, and records its entry inside one of them."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _frame.set([action, 0])
            outermost = _after_commit.get() is None
            pending_token = _after_commit.set([]) if outermost else None
            try:
                if not transaction:
                    result = await fn(*args, **kwargs)
                else:
                    async with write_transaction():
                        result = await fn(*args, **kwargs)
                if outermost:
                    for callback in _after_commit.get() or ():
                        callback()
                return result
            finally:
                _frame.reset(token)
                if pending_token is not None:
                    _after_commit.reset(pending_token)

        if action in USE_CASES and USE_CASES[action].__qualname__ != fn.__qualname__:
            raise AuditError(f"two use cases named {action!r}")
        USE_CASES[action] = wrapper
        wrapper.use_case = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


#: Service functions that write nothing themselves but run use cases (a sweeper's loop), by qualified name.
JOBS: dict[str, Callable[..., Awaitable[Any]]] = {}


def job(fn: F) -> F:
    """Mark a service function that only runs other use cases (each audited)."""
    JOBS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    fn.job = True  # type: ignore[attr-defined]
    return fn


@contextlib.asynccontextmanager
async def acting(actor: Actor, action: str, *, now: datetime, order_id: int | None = None, note: str = "") -> AsyncIterator[None]:
    """An ad-hoc use case (an operator's script, a test that calls steps):
    the block runs in one write transaction as `action` by `actor`, and its
    one entry is written at the end of it."""
    token = _frame.set([action, 0])
    try:
        async with write_transaction():
            yield
            await record(actor, action, now=now, order_id=order_id, after={"note": note} if note else None)
    finally:
        _frame.reset(token)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the outermost use case running now has committed
    (e.g. wake the outbox worker); at once when no use case is running."""
    pending = _after_commit.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


#: Steps of use cases, by qualified name.
STEPS: dict[str, Callable[..., Awaitable[Any]]] = {}


def step(fn: F) -> F:
    """Mark a service function that changes data as a step of a use case: it
    runs inside its caller's use case (and transaction) and writes no entry
    of its own. Called outside any use case, it refuses (AuditError): no
    change without an author."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _frame.get() is None:
            raise AuditError(f"{fn.__module__}.{fn.__qualname__} changes data: call it inside a use case")
        return await fn(*args, **kwargs)

    STEPS[f"{fn.__module__}.{fn.__qualname__}"] = wrapper
    wrapper.step = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def query(fn: F) -> F:
    """Mark a service function as read-only (no audit entry, no transaction)."""
    QUERIES[f"{fn.__module__}.{fn.__qualname__}"] = fn
    fn.query = True  # type: ignore[attr-defined]
    return fn


async def entries(*, order_id: int | None = None, since_id: int = 0, action: str | None = None) -> list[dict]:
    q = AuditEntry.select().where(AuditEntry.id > since_id).order_by(AuditEntry.id).output(load_json=True)
    if order_id is not None:
        q = q.where(AuditEntry.order_id == order_id)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    return await q


async def last_id() -> int:
    row = await AuditEntry.select(AuditEntry.id).order_by(AuditEntry.id, ascending=False).first()
    return row["id"] if row else 0

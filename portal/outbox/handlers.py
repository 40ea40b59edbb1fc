"""Which handler carries out a channel's rows. The composition root
(portal.wiring) registers one factory per channel; the worker asks for them
by the channel a row names and knows nothing else about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from portal.settings import Settings


class SendError(Exception):
    """A try failed. `permanent`: trying again cannot help (bad address, refused content)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Handler(Protocol):
    """Opened for one worker batch; `send` carries out one row and returns a
    provider id (or a short note), or raises SendError. A `transactional`
    handler's own writes commit together with the row's "sent" (the worker
    wraps both in one transaction): exactly once, even across crashes."""

    transactional: bool

    async def send(self, row: dict) -> str: ...

    async def close(self) -> None: ...


Factory = Callable[[Settings], Handler]

_factories: dict[str, Factory] = {}


def register(channel: str, factory: Factory) -> None:
    """Name the handler of a channel (again: replaces it)."""
    _factories[channel] = factory


def channels() -> frozenset[str]:
    return frozenset(_factories)


def open_handlers(settings: Settings) -> dict[str, Handler]:
    """One handler per registered channel, for one batch."""
    if not _factories:
        raise RuntimeError("no outbox handlers registered: call portal.wiring.configure() at start")
    return {channel: factory(settings) for channel, factory in _factories.items()}

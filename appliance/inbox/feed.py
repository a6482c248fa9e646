"""The doorbell of each recipient's open streams: "something changed, look at the inbox again".

It carries no message, only whose inbox changed: the table is the source of truth, and a stream
that is woken reads what it has not sent yet. A lost ring only delays a message until the
stream's next periodic look; it never loses one.

Rings may come from another thread (embedded mode delivers on Dramatiq's event loop while the
streams wait on the web server's), so each waiter is woken on its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta


class Doorbell:
    """One stream's bell: `wait` returns when it rang (True) or after `timeout` (False)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._loop.call_soon_threadsafe(self._rung.set)

    async def wait(self, timeout: timedelta) -> bool:
        try:
            await asyncio.wait_for(self._rung.wait(), timeout.total_seconds())
        except TimeoutError:
            return False
        self._rung.clear()
        return True


class Doorbells:
    """Who listens to which recipient, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bells: dict[str, set[Doorbell]] = {}

    @contextmanager
    def listen(self, recipient_id: str) -> Iterator[Doorbell]:
        bell = Doorbell()
        with self._lock:
            self._bells.setdefault(recipient_id, set()).add(bell)
        try:
            yield bell
        finally:
            with self._lock:
                bells = self._bells[recipient_id]
                bells.discard(bell)
                if not bells:
                    del self._bells[recipient_id]

    def ring(self, recipient_id: str) -> None:
        with self._lock:
            bells = list(self._bells.get(recipient_id, ()))
        for bell in bells:
            bell.ring()

    def ring_all(self) -> None:
        with self._lock:
            bells = [bell for group in self._bells.values() for bell in group]
        for bell in bells:
            bell.ring()


class Feed(ABC):
    """Streams listen on this process's doorbells; `ring` reaches every process's."""

    def __init__(self) -> None:
        self.doorbells = Doorbells()

    def listen(self, recipient_id: str) -> AbstractContextManager[Doorbell]:
        return self.doorbells.listen(recipient_id)

    async def start(self) -> None:  # noqa: B027  (optional hook: only a shared feed subscribes)
        """Start hearing rings from other processes; called by the processes that serve streams."""

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Stop what `start` started."""

    @abstractmethod
    async def ring(self, recipient_id: str) -> None:
        """Wake every stream of this recipient, in every `clarion serve` that shares this feed."""


class MemoryFeed(Feed):
    """Embedded mode: one process serves every stream."""

    async def ring(self, recipient_id: str) -> None:
        self.doorbells.ring(recipient_id)

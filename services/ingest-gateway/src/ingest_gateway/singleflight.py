"""Identical reads in flight at the same moment share one answer.

Twenty people opening the same dashboard ask for the same first page of events within a second;
each answer costs the store tens of milliseconds of work. The first request computes it; the
others that arrive while it runs wait for that answer instead of starting their own. Nothing is
kept afterwards, so no answer is older than the one request it comes from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """`compute()`'s result, shared with every caller of the same `key` while it runs. The work
        runs as a task of its own: a caller that goes away (a client disconnecting) does not cancel
        it for the others."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)

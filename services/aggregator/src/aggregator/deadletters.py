"""The dead-letter topic: where a record goes when it can never be processed, with the reason.

Every step that gives up on a record sends it here, and only here: the original key and value,
the original headers, and three more: `dlq-reason` (what is wrong, for a person), `dlq-kind` (the
class of failure, as counted in `aggregator_dead_letters_total{reason}`) and `dlq-origin`
(`topic/partition/offset`), so an operator can inspect it and, after a fix, produce it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from prometheus_client import Counter

from aggregator.steps import Record, Sink

log = logging.getLogger(__name__)
_MAX_REASON = 500


class DeadLetters:
    """Sends dead letters without waiting for each; `flush()` waits until the broker has them all
    (a step flushes before its records may be committed)."""

    def __init__(self, sink: Sink, counter: Counter) -> None:
        self._sink = sink
        self._counter = counter
        self._pending: list[Awaitable[Any]] = []

    async def send(self, record: Record, reason: str, kind: str) -> None:
        headers = [
            *record.headers,
            ("dlq-reason", reason[:_MAX_REASON].encode()),
            ("dlq-kind", kind.encode()),
            ("dlq-origin", record.origin.encode()),
        ]
        self._pending.append(await self._sink.send(key=record.key, value=record.value, headers=headers))
        self._counter.labels(kind).inc()
        log.warning(
            "record dead-lettered", extra={"origin": record.origin, "kind": kind, "reason": reason[:_MAX_REASON]}
        )

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

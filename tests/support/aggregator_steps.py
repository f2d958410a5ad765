"""Stand-ins for the aggregator steps' edges (topics, the engine's tables), for unit tests without
Faust or a broker: a sink that keeps what was sent, and records as a consumer would read them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from aggregator.deadletters import DeadLetters
from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore
from aggregator.metrics import Metrics
from aggregator.steps import Record
from incident_shared.schemas.events import Event
from incident_shared.timeutil import epoch_ms


@dataclass
class Sent:
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: dict[str, bytes]


@dataclass
class ListSink:
    """A topic that keeps every record sent; `fail` makes the broker refuse the next sends with it."""

    sent: list[Sent] = field(default_factory=list)
    fail: list[BaseException] = field(default_factory=list)

    async def send(
        self, *, key: bytes | None, value: bytes | None, partition: int | None = None, headers: Any = None
    ) -> Awaitable[Any]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            future.set_exception(self.fail.pop(0))
            return future
        self.sent.append(Sent(key, value, partition, dict(headers or [])))
        future.set_result(None)
        return future


class SavingStore(MemoryStore):
    """The engine's in-memory store, counting the saves the worker asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def write_through(self) -> None:
        self.saves += 1


def metrics() -> tuple[Metrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return Metrics.create(registry), registry


def dead_letters(m: Metrics) -> tuple[DeadLetters, ListSink]:
    sink = ListSink()
    return DeadLetters(sink, m.dead_letters), sink


def engine(store: MemoryStore | None = None, **config: Any) -> CorrelationEngine:
    return CorrelationEngine(CorrelationConfig(**config), store or SavingStore())


def record(
    value: bytes | None,
    *,
    offset: int,
    partition: int = 0,
    topic: str = "events",
    key: bytes | None = None,
    at: datetime | None = None,
) -> Record:
    return Record(topic, partition, offset, key, value, None if at is None else epoch_ms(at))


def event_record(event: Event, *, offset: int, partition: int = 0, topic: str = "events") -> Record:
    key = event.service.encode()
    return record(event.to_record(), offset=offset, partition=partition, topic=topic, key=key, at=event.receivedAt)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A metric's current value (0 when it has no sample yet)."""
    return float(registry.get_sample_value(name, labels) or 0.0)

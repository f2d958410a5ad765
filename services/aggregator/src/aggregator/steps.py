"""The processing steps the aggregator's consumers are made of, and what they pass along.

A consumer is a chain of small steps, each with one job (decode, route, correlate, publish, save
state), modelled on getsentry/arroyo's processing strategies:

- `submit(message)` hands a step a message and returns once that step, and every step after it,
  is done with it: when the first step returns, the records behind the message may be committed;
- `poll()` lets a step do time-driven work (the worker's timer calls it);
- `join()` waits for work in flight (before a rebalance or a shutdown; bound it with `asyncio.timeout`);
- `close()` says that nothing more will be submitted.

Steps know nothing of Faust: the worker turns Faust's messages into `Record`s and feeds them in, and
the unit tests feed lists. Each step handles the errors of its own job in one place and decides
what becomes of each record: passed on, dead-lettered with the reason, or held back while a
transient failure lasts. Nothing a single record does may end the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from prometheus_client import Counter

log = logging.getLogger(__name__)
_REFUSED = (MessageSizeTooLargeError, RecordTooLargeError)

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Step(Protocol[T_contra]):
    async def submit(self, message: T_contra) -> None: ...
    async def poll(self) -> None: ...
    async def join(self) -> None: ...
    async def close(self) -> None: ...


class Sink(Protocol):
    """Where a step sends records: a Kafka topic. The returned awaitable resolves once the broker
    has the record (Faust's `Topic.send` is one; the tests use a list)."""

    async def send(
        self, *, key: bytes | None, value: bytes | None, partition: int | None = None, headers: Any = None
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read from a topic. `timestamp_ms` is the record's own timestamp in milliseconds
    since the epoch, as Kafka keeps it (None when the record has none)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def source(self) -> str:
        """`topic/partition`: where the record was read, as the engine keeps its positions."""
        return f"{self.topic}/{self.partition}"

    @property
    def origin(self) -> str:
        """`topic/partition/offset`: the one place of this record, for a dead letter's header."""
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(slots=True)
class Span:
    """The offsets a batch covers, per topic partition: (first, last), both included.

    Kept along the chain even when records drop out (dead-lettered, forwarded, duplicates), so that
    whoever reads the chain's output knows which positions are settled.
    """

    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[Record]) -> Span:
        """The span of records read in order (a partition's records never arrive out of order)."""
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            if tp not in first:
                first[tp] = r.offset
            last[tp] = r.offset
        return cls({tp: (offset, last[tp]) for tp, offset in first.items()})


@dataclass(slots=True)
class Batch(Generic[T]):
    """What passes between steps: the items still in play, and the span of records they came from."""

    items: list[T]
    span: Span


class Forward:
    """Base of a step that hands its output to the next one: poll, join and close travel down."""

    def __init__(self, next_step: Step[Any]) -> None:
        self.next_step = next_step

    async def poll(self) -> None:
        await self.next_step.poll()

    async def join(self) -> None:
        await self.next_step.join()

    async def close(self) -> None:
        await self.next_step.close()


class Terminal:
    """The end of a chain: takes anything and does nothing."""

    async def submit(self, message: object) -> None:
        return None

    async def poll(self) -> None:
        return None

    async def join(self) -> None:
        return None

    async def close(self) -> None:
        return None


def headers_of(pairs: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Record headers from text values (Kafka headers are bytes)."""
    return [(k, v.encode()) for k, v in pairs.items()]


async def await_sent(sent: list[tuple[str, Awaitable[Any]]], refused: Counter) -> None:
    """Waits until the broker has every record sent (`(what, future)` pairs). A record the broker
    refuses for its own sake (too large for the topic) is logged, counted by `what` and skipped;
    any other failure is raised (the input is replayed after the restart)."""
    results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
    for (what, _), result in zip(sent, results, strict=True):
        if isinstance(result, _REFUSED):
            refused.labels(what).inc()
            log.error("the broker refused a record as too large; it is skipped", extra={"what": what})
        elif isinstance(result, BaseException):
            raise result

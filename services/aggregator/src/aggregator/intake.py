"""The first steps of every consumer: records in, typed messages out, the rest dead-lettered.

- `DecodeEvents`: `events` records to events; an invalid one goes to the dead-letter topic with the
  reason, and the invalid-ratio guard halts the worker when most of a window is invalid (a bad
  deploy upstream must stop the stream, not quietly dead-letter it).
- `ForwardMiskeyed`: an event whose record key does not route to its correlation key's partition
  is sent once to the internal re-keyed topic under the right key, so that each group lives on one
  partition; the rest go on.
- `Decode`: the same for the other inputs (commands, summaries, cascade links and candidates) with
  the parser of each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import Counter

from aggregator.deadletters import DeadLetters
from aggregator.records import Invalid, InvalidRatioGuard, decode_record
from aggregator.routing import partition_for
from aggregator.steps import Batch, Forward, Record, Sink, Span, Step
from incident_shared.schemas.events import Event

M = TypeVar("M")
_MAX_KEYS_CACHED = 100_000


@dataclass(frozen=True, slots=True)
class Decoded(Generic[M]):
    """A record and what it holds."""

    record: Record
    value: M


class DecodeEvents(Forward):
    def __init__(
        self, next_step: Step[Batch[Decoded[Event]]], dead_letters: DeadLetters, guard: InvalidRatioGuard
    ) -> None:
        super().__init__(next_step)
        self._dead_letters = dead_letters
        self._guard = guard

    async def submit(self, message: list[Record]) -> None:
        guard = self._guard
        out: list[Decoded[Event]] = []
        for record in message:
            parsed = decode_record(record)
            if isinstance(parsed, Invalid):
                guard.record(True)
                await self._dead_letters.send(record, parsed.reason, "invalid")
                continue
            guard.record(False)
            out.append(Decoded(record, parsed))
        await self._dead_letters.flush()
        await self.next_step.submit(Batch(out, Span.of(message)))


class ForwardMiskeyed(Forward):
    def __init__(
        self,
        next_step: Step[Batch[Decoded[Event]]],
        rekeyed: Sink,
        correlation_key: Callable[[str], str],
        partitions: int,
        counter: Counter,
    ) -> None:
        super().__init__(next_step)
        self._rekeyed = rekeyed
        self._correlation_key = correlation_key
        self._partitions = partitions
        self._counter = counter
        self._home: dict[str, int] = {}

    def _partition_of(self, key: str) -> int:
        home = self._home.get(key)
        if home is None:
            if len(self._home) >= _MAX_KEYS_CACHED:
                self._home.clear()
            home = self._home[key] = partition_for(key, self._partitions)
        return home

    async def submit(self, message: Batch[Decoded[Event]]) -> None:
        keep: list[Decoded[Event]] = []
        sent: list[Any] = []
        for item in message.items:
            key = self._correlation_key(item.value.service)
            if self._partition_of(key) == item.record.partition:
                keep.append(item)
                continue
            # The decoded event, so that a fallback id stays the one derived from this position.
            sent.append(await self._rekeyed.send(key=key.encode(), value=item.value.to_record()))
        if sent:
            self._counter.inc(len(sent))
            await asyncio.gather(*sent)
        await self.next_step.submit(Batch(keep, message.span))


class Decode(Forward, Generic[M]):
    """Parses each record with `parse` (which raises ValueError, or a pydantic ValidationError, for
    a record that is not one); what cannot be parsed is dead-lettered as `invalid`."""

    def __init__(
        self,
        next_step: Step[Batch[Decoded[M]]],
        parse: Callable[[bytes], M],
        dead_letters: DeadLetters,
        what: str,
    ) -> None:
        super().__init__(next_step)
        self._parse = parse
        self._dead_letters = dead_letters
        self._what = what

    async def submit(self, message: list[Record]) -> None:
        out: list[Decoded[M]] = []
        for record in message:
            if record.value is None:
                await self._dead_letters.send(record, f"{self._what}: empty record", "invalid")
                continue
            try:
                out.append(Decoded(record, self._parse(record.value)))
            except (ValueError, TypeError, KeyError) as exc:
                await self._dead_letters.send(record, f"{self._what}: {exc}", "invalid")
        await self._dead_letters.flush()
        await self.next_step.submit(Batch(out, Span.of(message)))

"""The steps that drive the correlation engine: events, commands, summaries and cascade links in;
one `Cycle` (the incident changes, the cross-key candidates, the history assignments) out.

The engine is one object shared by every input, so each of these steps takes the engine lock and
holds it until the cycle has gone down the rest of the chain (published, state saved): the next
input then starts from the saved state. An exception from the engine on one record is that record's
failure alone: it is dead-lettered with the reason and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aggregator import assignments
from aggregator.assignments import Assignment
from aggregator.deadletters import DeadLetters
from aggregator.engine import CorrelationEngine, Outcome
from aggregator.intake import Decoded
from aggregator.metrics import Metrics
from aggregator.steps import Batch, Forward, Record, Sink, Step
from incident_shared import codec
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import IncidentChange, IncidentCommand, IncidentSummary

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Cycle:
    """What one turn of the engine produced, to publish before the engine's state is saved."""

    changes: list[IncidentChange]
    candidates: list[dict[str, Any]]
    assignments: list[Assignment] = field(default_factory=list)


def _reason(step: str, exc: BaseException) -> str:
    return f"{step}: {type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What every engine step shares: the engine, the lock around it, the metrics, the dead letters."""

    engine: CorrelationEngine
    lock: asyncio.Lock
    metrics: Metrics
    dead_letters: DeadLetters


class EngineStep(Forward):
    """Base of the steps that use the engine: the lock, the flush into a `Cycle`, the dead letters."""

    def __init__(self, next_step: Step[Cycle], ctx: EngineContext) -> None:
        super().__init__(next_step)
        self.engine = ctx.engine
        self.lock = ctx.lock
        self.metrics = ctx.metrics
        self.dead_letters = ctx.dead_letters

    async def cycle(self, produced: list[Assignment] | None = None) -> None:
        """Flushes the engine and sends the cycle down the chain (the caller holds the lock)."""
        changes = self.engine.flush()
        await self.dead_letters.flush()
        await self.next_step.submit(Cycle(changes, self.engine.take_candidates(), produced or []))

    async def failed(self, record: Record, step: str, exc: Exception) -> None:
        log.error("a record failed in the engine", exc_info=exc, extra={"origin": record.origin})
        await self.dead_letters.send(record, _reason(step, exc), "failed")


class Correlate(EngineStep):
    """Events through the engine; the batch's assignments ride along with the cycle."""

    def __init__(self, next_step: Step[Cycle], ctx: EngineContext, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(next_step, ctx)
        self._clock = clock
        self.latest_event_time = 0.0

    async def submit(self, message: Batch[Decoded[Event]]) -> None:
        engine = self.engine
        async with self.lock:
            processed: list[tuple[Record, Outcome]] = []
            duplicates = 0
            latest = self.latest_event_time
            for item in message.items:
                record = item.record
                try:
                    outcome = engine.process(item.value, source=record.source, offset=record.offset)
                except Exception as exc:  # noqa: BLE001 - one record must never end the worker
                    await self.failed(record, "engine", exc)
                    continue
                if outcome is None:
                    duplicates += 1
                    continue
                latest = max(latest, item.value.timestamp.timestamp())
                processed.append((record, outcome))
            self.latest_event_time = latest
            if duplicates:
                self.metrics.duplicates.inc(duplicates)
            self.metrics.events.inc(len(processed))
            await self.cycle(assignments.build(message.span, processed))

    async def poll(self) -> None:
        """Wall-clock housekeeping: closes what went quiet, forgets what expired."""
        async with self.lock:
            self.engine.close_quiet(self._clock())
            if self.latest_event_time:
                self.engine.expire(self.latest_event_time)
            await self.cycle()
        await super().poll()


class ApplyCommands(EngineStep):
    """A person's changes. A command on the root of a cascade is sent on to the incidents merged
    into it (acknowledging a cascade acknowledges all of it)."""

    def __init__(self, next_step: Step[Cycle], ctx: EngineContext, *, commands: Sink) -> None:
        super().__init__(next_step, ctx)
        self._commands = commands

    async def submit(self, message: Batch[Decoded[IncidentCommand]]) -> None:
        forward: list[IncidentCommand] = []
        routing: list[str] = []
        async with self.lock:
            for item in message.items:
                cmd, key = item.value, _key(item.record)
                try:
                    result = self.engine.apply_command(cmd, key)
                except Exception as exc:  # noqa: BLE001 - one record must never end the worker
                    await self.failed(item.record, "command", exc)
                    continue
                self.metrics.commands.labels("applied" if result.applied else result.reason).inc()
                for member_id, routing_key in result.forward:
                    forward.append(
                        cmd.model_copy(update={"commandId": f"{cmd.commandId}:{member_id}", "incidentId": member_id})
                    )
                    routing.append(routing_key)
            await self.cycle()
        # Idempotent by command id: a restart that sends them again changes nothing.
        sent = [
            await self._commands.send(key=rk.encode(), value=codec.dumps(c))
            for c, rk in zip(forward, routing, strict=True)
        ]
        await asyncio.gather(*sent)


class ApplySummaries(EngineStep):
    async def submit(self, message: Batch[Decoded[IncidentSummary]]) -> None:
        async with self.lock:
            for item in message.items:
                try:
                    merged = self.engine.apply_summary(item.value, _key(item.record))
                except Exception as exc:  # noqa: BLE001 - one record must never end the worker
                    await self.failed(item.record, "summary", exc)
                    continue
                self.metrics.summaries.labels("merged" if merged else "stale").inc()
            await self.cycle()


class ApplyLinks(EngineStep):
    """Decisions of the cross-key stage (merges and member snapshots) applied to this partition's incidents."""

    async def submit(self, message: Batch[Decoded[dict[str, Any]]]) -> None:
        async with self.lock:
            for item in message.items:
                try:
                    self.engine.apply_link(item.value, _key(item.record))
                except Exception as exc:  # noqa: BLE001 - one record must never end the worker
                    await self.failed(item.record, "link", exc)
            await self.cycle()


def _key(record: Record) -> str | None:
    return record.key.decode(errors="replace") if record.key else None

"""The history writer's consumer: its own group (`<app id>-history`) and offsets, apart from the engine.

It reads the event records (`events` and the re-keyed topic), the engine's assignments and the
`incidents` topic; pairs events with their assignments (`Join`), writes (`HistoryWriter`), and
commits only what is written. The engine never waits for it: MongoDB slow or down delays history
alone, and the lag shows in `aggregator_history_lag_events` and the worker's `/health/detailed`.

The body, assignment and incident topics have the same partition count and are assigned with the
range assignor, so that partition p of each lands on the same writer (the join needs both sides).
A rebalance waits for the write in flight and its commit, then forgets the revoked partitions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from aggregator.assignments import Assignment
from aggregator.deadletters import DeadLetters
from aggregator.history.join import TP, Join
from aggregator.history.writer import Backoff, HistoryWriter, Prepared
from aggregator.metrics import Metrics
from aggregator.steps import Record
from incident_shared.schemas.incidents import IncidentChange

log = logging.getLogger(__name__)
_LAG_EVERY = 5.0


@dataclass(frozen=True, slots=True)
class HistoryTopics:
    bodies: tuple[str, ...]  # the events topic and the re-keyed one
    assignments: str
    incidents: str

    @property
    def all(self) -> list[str]:
        return [*self.bodies, self.assignments, self.incidents]


def to_record(r: Any) -> Record:
    """An aiokafka ConsumerRecord as a `Record` (its timestamp is in milliseconds already)."""
    return Record(
        r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, tuple((k, v) for k, v in (r.headers or ()))
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's base class is untyped
    def __init__(self, owner: HistoryConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._owner.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._owner.assigned(list(assigned))


class HistoryConsumer:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: HistoryTopics,
        writer: HistoryWriter,
        dead_letters: DeadLetters,
        metrics: Metrics,
        max_records: int = 5000,
    ) -> None:
        self.topics = topics
        self._writer = writer
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._max_records = max_records
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            # Writes are held while MongoDB is down; the group must not evict the writer meanwhile.
            max_poll_interval_ms=24 * 3600 * 1000,
            metadata_max_age_ms=30_000,
            max_partition_fetch_bytes=4 << 20,
        )
        self.join = Join(assignments_topic=topics.assignments, max_bodies=max(20_000, 4 * max_records))
        self._lock = asyncio.Lock()  # one write (and its commit) at a time; a rebalance waits for it
        self._writing: asyncio.Task[None] | None = None  # the write in flight while the next is built
        self._begin: set[TP] = set()
        self._paused: set[TopicPartition] = set()
        self._stopping = asyncio.Event()
        self.started = False
        self.lag = 0
        self.last_write: float | None = None

    # -- rebalances --------------------------------------------------------------------------------

    def assigned(self, tps: list[TopicPartition]) -> None:
        self._begin.update((tp.topic, tp.partition) for tp in tps if tp.topic in self.topics.bodies)

    async def revoked(self, tps: list[TopicPartition]) -> None:
        async with self._lock:
            self.join.forget([(tp.topic, tp.partition) for tp in tps])
            self._begin.difference_update((tp.topic, tp.partition) for tp in tps)
            self._paused.difference_update(tps)

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Consumes until `stop()`; Kafka unreachable at start is waited for."""
        backoff = Backoff(first=0.5, cap=10.0)
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self._consumer.start()
                break
            except KafkaError as exc:
                attempt += 1
                log.warning("Kafka unreachable; the history writer retries", extra={"error": repr(exc)})
                await backoff.wait(attempt)
        self._consumer.subscribe(self.topics.all, listener=_Rebalance(self))
        self.started = True
        lag = asyncio.create_task(self._watch_lag())
        try:
            while not self._stopping.is_set():
                await self._step()
            await self._written()
        finally:
            lag.cancel()
            if self._writing is not None:
                self._writing.cancel()  # cut short (a held write): its records are written again
            await self._consumer.stop()

    async def stop(self) -> None:
        self._stopping.set()

    async def _step(self) -> None:
        batch = await self._consumer.getmany(timeout_ms=200, max_records=self._max_records)
        if self._begin:
            await self._begin_partitions()
        incidents: list[tuple[Record, IncidentChange]] = []
        incident_commits: dict[TP, int] = {}
        for tp, records in batch.items():
            for raw in records:
                record = to_record(raw)
                if tp.topic == self.topics.assignments:
                    await self._add_assignment(record)
                elif tp.topic == self.topics.incidents:
                    incident_commits[(tp.topic, tp.partition)] = record.offset + 1
                    change = await self._decode_incident(record)
                    if change is not None:
                        incidents.append((record, change))
                elif self.join.begun((tp.topic, tp.partition)):
                    self.join.add_body(record)
        work = self.join.take()
        if not work.empty() or incidents or incident_commits:
            # Built while the previous unit is being written: the store and this process work at
            # the same time. Writes (and their commits) still happen one at a time, in order.
            built = self._writer.build(work, incidents)
            await self._written()
            self._writing = asyncio.create_task(self._write(built, {**work.commits, **incident_commits}))
        self._flow()

    async def _write(self, built: Prepared, commits: dict[TP, int]) -> None:
        async with self._lock:
            await self._writer.apply(built)
            await self._commit(commits)
            self.last_write = time.monotonic()

    async def _written(self) -> None:
        """Waits for the write in flight and its commit (its failure, a bug, is raised here)."""
        task, self._writing = self._writing, None
        if task is not None:
            await task

    async def _begin_partitions(self) -> None:
        tps = [TopicPartition(t, p) for t, p in self._begin]
        self._begin.clear()
        starts = await self._consumer.beginning_offsets(tps)
        for tp in tps:
            committed = await self._consumer.committed(tp)
            self.join.begin((tp.topic, tp.partition), committed if committed is not None else starts[tp])

    async def _add_assignment(self, record: Record) -> None:
        try:
            assignment = Assignment.decode(record.value or b"")
        except ValueError as exc:
            await self._dead_letters.send(record, f"assignment: {exc}", "invalid")
            return
        self.join.add_assignment(record.offset, record.partition, assignment)

    async def _decode_incident(self, record: Record) -> IncidentChange | None:
        if record.value is None:
            return None  # a tombstone of the compacted topic
        try:
            return IncidentChange.model_validate_json(record.value)
        except ValueError as exc:
            await self._dead_letters.send(record, f"incident: {exc}", "invalid")
            return None

    async def _commit(self, offsets: dict[TP, int]) -> None:
        if not offsets:
            return
        try:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another writer meanwhile: it writes them again (idempotent).
            log.info("history offsets not committed after a rebalance", extra={"error": repr(exc)})

    def _flow(self) -> None:
        """Pauses a partition whose records wait (for their assignments, or for the bodies of them)."""
        assignment = self._consumer.assignment()
        backlogged = {tp for tp in assignment if self.join.backlogged((tp.topic, tp.partition))}
        if backlogged - self._paused:
            self._consumer.pause(*(backlogged - self._paused))
        if self._paused - backlogged:
            self._consumer.resume(*((self._paused - backlogged) & assignment))
        self._paused = backlogged

    async def _watch_lag(self) -> None:
        """Measures the lag on its own clock: it matters most while a write is held."""
        while True:
            await asyncio.sleep(_LAG_EVERY)
            await self._refresh_lag()

    async def _refresh_lag(self) -> None:
        nexts = self.join.positions()
        if not nexts:
            self.lag = 0
        else:
            try:
                ends = await self._consumer.end_offsets([TopicPartition(t, p) for t, p in nexts])
            except KafkaError:
                return
            self.lag = sum(max(0, ends[TopicPartition(t, p)] - n) for (t, p), n in nexts.items())
        self._metrics.history_lag.set(self.lag)

    def status(self) -> dict[str, Any]:
        """What `/health/detailed` shows of history."""
        return {
            "consuming": self.started,
            "lagEvents": self.lag,
            "buffered": self.join.buffered(),
            "holding": self._writer.holding_since is not None,
            "heldSeconds": self._writer.held_seconds(),
            "lastError": self._writer.last_error,
            "lastWriteSecondsAgo": None if self.last_write is None else round(time.monotonic() - self.last_write, 1),
        }

"""The running summarizer: incident changes in, summaries out.

- A consumer of the compacted `incidents` topic (a consumer group, so replicas share partitions).
  On each assignment it reads its partitions from the beginning: the topic holds the latest state
  of every incident, so the decision policy rebuilds what it knows (what is summarized, what is
  not) without a store of its own. Offsets are never committed for the same reason.
- While that replay runs nothing is dispatched (intermediate states of old incidents are not worth
  a call); once the partitions are caught up, the policy decides after every batch and every tick.
- Each due incident is summarized in its own task (the engine bounds the concurrency) and the
  summary is produced to `incident-summaries` with the incident's routing key, so it reaches the
  aggregator worker that owns the incident. The aggregator merges it and publishes
  `summary_updated`, which comes back here as an echo and is only recorded.
- No single record stops it. A record that is not an incident change (not JSON, not the schema) is
  counted as `invalid`; one that validates but that the policy or the summary cannot handle (a
  value no valid producer writes) as `unprocessable`; both are logged with their partition and
  offset and skipped, and `/health/detailed` shows the last one. Nothing is dead-lettered: the
  topic is the aggregator's output, not input to be repaired and replayed, and the record stays on
  it, at the offset the log names, for inspection with any Kafka client.
- Kafka failing (a fetch, the connection, a publish) is an outage, not an error: the loop waits
  with exponential backoff and tries again for as long as it takes, `/health/ready` names it, and
  `summarizer_kafka_errors_total` counts it. While summaries cannot be published no new ones are
  started (each may cost a provider call); a summary already written is kept and published once
  Kafka is back (within `publish_deadline` seconds), never written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from pydantic import ValidationError

from incident_shared.codec import dumps, loads
from incident_shared.kafka import is_transient, stop_quietly
from incident_shared.outage import Outage
from incident_shared.schemas import Incident, IncidentChange, IncidentSummary
from summarizer.decision import SummaryPolicy
from summarizer.engine import Outcome, SummaryEngine

log = logging.getLogger(__name__)


class _Replay(ConsumerRebalanceListener):  # type: ignore[misc] # aiokafka ships no type hints
    def __init__(self, service: SummarizerService) -> None:
        self._service = service

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._service.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._service.partitions_assigned(set(assigned))


class SummarizerService:
    def __init__(
        self,
        *,
        policy: SummaryPolicy,
        engine: SummaryEngine,
        consumer_factory: Callable[[], AIOKafkaConsumer],
        producer_factory: Callable[[], AIOKafkaProducer],
        incidents_topic: str,
        summaries_topic: str,
        tick_seconds: float = 1.0,
        publish_timeout: float = 15.0,
        publish_deadline: float = 600.0,
    ) -> None:
        self.policy = policy
        self.engine = engine
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._incidents_topic = incidents_topic
        self._summaries_topic = summaries_topic
        self._tick = tick_seconds
        self._publish_timeout = publish_timeout
        self._publish_deadline = publish_deadline
        metrics = engine.metrics
        self.reading = Outage(
            "kafka", what="reading the incidents topic", log=log, errors=metrics.kafka_errors.labels("read")
        )
        self.publishing = Outage(
            "kafka", what="publishing summaries", log=log, errors=metrics.kafka_errors.labels("publish")
        )
        self.last_skipped: dict[str, Any] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._catch_up: dict[TopicPartition, int] = {}
        self._partition_of: dict[str, TopicPartition] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.connected = False
        self.caught_up = False
        self.records = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts in the background: Kafka being down at start delays summaries, not the process."""
        self._runner = asyncio.create_task(self._run(), name="summarizer-consumer")
        self._runner.add_done_callback(self._runner_done)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Unreachable by design (every failure is retried or skipped); should it happen, readiness
            # turns red so that the orchestrator restarts the process.
            self.connected = False
            log.error("the incidents consumer stopped", exc_info=task.exception())

    async def stop(self, drain_seconds: float = 20.0) -> None:
        """Stops taking work, lets summaries being written finish (up to `drain_seconds`), closes."""
        self._stopping.set()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        self.connected = False

    async def _connect(self) -> None:
        while not self._stopping.is_set():
            producer, consumer = self._producer_factory(), self._consumer_factory()
            try:
                await producer.start()
                await consumer.start()
            except Exception as exc:  # noqa: BLE001 - any start failure is retried; the reason is logged
                await stop_quietly(consumer, "incidents consumer")
                await stop_quietly(producer, "summaries producer")
                await asyncio.sleep(self.reading.failed(exc))
                continue
            consumer.subscribe([self._incidents_topic], listener=_Replay(self))
            self._producer, self._consumer = producer, consumer
            self.connected = True
            return

    async def _run(self) -> None:
        await self._connect()
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - _connect returns only once connected (or cancelled)
        ticker = asyncio.create_task(self._tick_loop(), name="summarizer-ticker")
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=500)
                    for tp, records in batches.items():
                        for record in records:
                            self._observe(tp, record.value, record.offset)
                    await self._check_caught_up(consumer)
                except Exception as exc:  # noqa: BLE001 - the client reconnects by itself; wait and retry
                    await asyncio.sleep(self.reading.failed(exc))
                    continue
                self.reading.recovered()
                self.dispatch()
        finally:
            ticker.cancel()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                self.engine.metrics.incidents_tracked.set(len(self.policy))
                self.dispatch()
            except Exception:
                # dispatch() isolates each incident; anything else is a bug, and the next tick retries.
                log.exception("a summary tick failed")

    # -- partitions --------------------------------------------------------------------------------

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if not assigned or self._consumer is None:
            self.caught_up = not self._catch_up
            return
        await self._consumer.seek_to_beginning(*assigned)
        ends = await self._consumer.end_offsets(list(assigned))
        self._catch_up.update({tp: off for tp, off in ends.items() if off > 0})
        self.caught_up = not self._catch_up
        log.info(
            "partitions assigned; replaying them",
            extra={"partitions": sorted(tp.partition for tp in assigned), "records": sum(ends.values())},
        )

    def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        gone = {iid for iid, tp in self._partition_of.items() if tp in revoked}
        self.policy.forget(gone)
        for iid in gone:
            del self._partition_of[iid]
        for tp in revoked:
            self._catch_up.pop(tp, None)

    async def _check_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        for tp, end in list(self._catch_up.items()):
            if tp not in consumer.assignment() or await consumer.position(tp) >= end:
                del self._catch_up[tp]
        if not self._catch_up and not self.caught_up:
            self.caught_up = True
            log.info("caught up with the incidents topic", extra={"incidentsTracked": len(self.policy)})

    # -- records -----------------------------------------------------------------------------------

    def _observe(self, tp: TopicPartition, value: bytes | None, offset: int = -1) -> None:
        self.records += 1
        metrics = self.engine.metrics
        if value is None:  # a tombstone: the incident is gone from the topic
            metrics.records.labels("tombstone").inc()
            return
        try:
            change = IncidentChange.model_validate(loads(value))
        except (ValueError, ValidationError) as exc:
            self._skipped("invalid", tp, offset, exc)
            return
        incident_id = change.incident.incidentId
        try:
            self.policy.observe(change)
            # Judging it once here finds a record the policy cannot handle at its own offset, instead
            # of in the middle of a later tick.
            self.policy.evaluate(incident_id, ai_available=self.engine.ai_available)
        except Exception as exc:  # noqa: BLE001 - whatever broke, it broke on this record alone
            self.policy.reject(incident_id)
            self._skipped("unprocessable", tp, offset, exc, incident_id)
            return
        metrics.records.labels(change.action).inc()
        self._partition_of[incident_id] = tp

    def _skipped(
        self, kind: str, tp: TopicPartition | None, offset: int, exc: BaseException, incident_id: str | None = None
    ) -> None:
        """Counts and logs a record (or incident) that is skipped, and keeps it for the health page."""
        self.engine.metrics.records.labels(kind).inc()
        error = f"{type(exc).__name__}: {exc}"[:300]
        where = {"partition": tp.partition, "offset": offset} if tp is not None else {}
        self.last_skipped = {"kind": kind, "incidentId": incident_id, **where, "error": error}
        log.warning(
            "skipping an incident record the summarizer cannot use (written by another version of the"
            " aggregator?); it stays on the topic at the logged offset",
            extra={"kind": kind, "incidentId": incident_id, "topic": self._incidents_topic, **where, "error": error},
        )

    def _rejected(self, incident: Incident, exc: Exception) -> None:
        self._skipped("unprocessable", self._partition_of.get(incident.incidentId), -1, exc, incident.incidentId)

    def dispatch(self) -> int:
        """Starts a summary task for every incident the policy says is due; returns how many.

        Nothing starts while summaries cannot be published: each may cost a provider call, and the
        ones already written are waiting for Kafka too.
        """
        if not self.caught_up or self._stopping.is_set() or self._producer is None or self.publishing.failing:
            return 0
        due = self.policy.due(ai_available=self.engine.ai_available, on_error=self._rejected)
        for d in due:
            for reason in d.reasons:
                self.engine.metrics.decisions.labels(reason).inc()
            task = asyncio.create_task(self._summarize(d.incident, trigger=d.reasons[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(due)

    async def _summarize(self, incident: Incident, *, trigger: str) -> Outcome | None:
        try:
            outcome = await self.engine.summarize(incident)
        except Exception as exc:  # noqa: BLE001 - provider failures end in a fallback; this is the incident
            self.policy.reject(incident.incidentId)
            self._rejected(incident, exc)
            return None
        if not await self._publish_until_done(outcome.summary, incident):
            return None
        self.policy.completed(incident, outcome.summary.kind, fallback_reason=outcome.fallback_reason)
        self.engine.record_published(outcome.summary.kind, trigger)
        log.info(
            "summary published",
            extra={
                "incidentId": incident.incidentId,
                "version": incident.version,
                "kind": outcome.summary.kind,
                "trigger": trigger,
                "fallback": outcome.fallback_reason,
            },
        )
        return outcome

    async def _publish_until_done(self, summary: IncidentSummary, incident: Incident) -> bool:
        """Publishes a written summary, waiting out a Kafka outage (up to the publish deadline)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_deadline
        while True:
            try:
                await self.publish(summary, incident)
            except Exception as exc:  # noqa: BLE001 - classified below
                if not is_transient(exc):
                    self.policy.reject(incident.incidentId)
                    self._rejected(incident, exc)
                    return False
                delay = self.publishing.failed(exc)
                if self._stopping.is_set() or loop.time() + delay > deadline:
                    log.warning(
                        "giving up publishing a summary; the incident will be summarized again",
                        extra={"incidentId": incident.incidentId, "error": self.publishing.last_error},
                    )
                    self.policy.failed(incident.incidentId)
                    return False
                await asyncio.sleep(delay)
                continue
            self.publishing.recovered()
            return True

    async def summarize_now(self, incident: Incident) -> Outcome:
        """A summary asked for over the API: written and published now, whatever the policy says."""
        self.policy.start(incident.incidentId)
        try:
            outcome = await self.engine.summarize(incident)
            await self.publish(outcome.summary, incident)
        except BaseException:
            self.policy.failed(incident.incidentId)
            raise
        self.policy.completed(incident, outcome.summary.kind, fallback_reason=outcome.fallback_reason)
        self.engine.record_published(outcome.summary.kind, "requested")
        return outcome

    async def publish(self, summary: IncidentSummary, incident: Incident) -> None:
        if self._producer is None:
            raise ConnectionError("not connected to Kafka yet")
        key = (incident.routingKey or incident.incidentId).encode()
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._producer.send_and_wait(self._summaries_topic, dumps(summary), key=key)
        except Exception:
            self.engine.metrics.publish_errors.inc()
            raise

    def cached(self, incident_id: str) -> Incident | None:
        return self.policy.get(incident_id)

    def status(self) -> dict[str, Any]:
        return {
            "kafkaConnected": self.connected,
            "caughtUp": self.caught_up,
            "recordsRead": self.records,
            "incidentsTracked": len(self.policy),
            "summariesInFlight": len(self._tasks),
        }

    def kafka_status(self) -> str:
        """Raises while reading or publishing fails (what readiness reports); else a short line."""
        if not self.connected and not self.reading.failing:
            raise ConnectionError("not connected to Kafka yet")
        self.reading.check()
        self.publishing.check()
        return f"reading and publishing; {self.records} records read"

    def records_status(self) -> str:
        """The incidents topic as this worker reads it, the last record it had to skip included."""
        skipped = self.last_skipped
        if skipped is None:
            return f"{self.records} records read, none skipped"
        where = f" at partition {skipped['partition']} offset {skipped['offset']}" if "partition" in skipped else ""
        return f"{self.records} records read; last skipped ({skipped['kind']}){where}: {skipped['error']}"


def newer(a: Incident | None, b: Incident | None) -> Incident | None:
    """The more recent of two states of one incident."""
    if a is None or b is None:
        return a or b
    return a if a.version >= b.version else b

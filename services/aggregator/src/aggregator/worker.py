"""The Faust application: hosts the engine, consumes events, commands and summaries, publishes every
incident change, and projects events and incidents into MongoDB.

An error in an agent stops the whole worker (CrashingSupervisor): restarting only the agent would
let Faust acknowledge the failed batch and lose it; a restarted worker replays it instead.

One cycle per batch, under one lock (agents and the timer share the engine):
  process -> engine.flush() (the incident changes) -> MongoDB (events, incidents) -> publish the
  changes and wait for the broker -> write the engine's state to the tables -> Faust acks the batch.
Offsets are committed by Faust after the producer is flushed, so a worker killed at any point
replays its last batch: the projection is idempotent, incident ids are derived from events, and
events already in the engine's state are recognised by id.

Records whose key does not route to the partition of their correlation key (a producer keyed them
by something else) are forwarded once to an internal topic under the right key, so that every
group lives on exactly one partition and its commands (keyed by `routingKey`) arrive there too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import faust
from mode.supervisors import CrashingSupervisor
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pymongo import AsyncMongoClient

from aggregator.engine import CorrelationEngine, Outcome, load_config
from aggregator.faust_store import FaustStore
from aggregator.metrics import Metrics
from aggregator.projection import Projection
from aggregator.records import Invalid, InvalidRatioGuard, decode
from aggregator.routing import partition_for, partitioner
from aggregator.settings import AggregatorSettings
from incident_shared import codec, mongo
from incident_shared.schemas.incidents import IncidentChange, IncidentCommand, IncidentSummary
from incident_shared.topics import EVENTS

log = logging.getLogger(__name__)
_MAX_KEYS_CACHED = 100_000


@dataclass
class Runtime:
    """What the agents share: the engine over its store, the projection, and the lock around them."""

    settings: AggregatorSettings
    engine: CorrelationEngine
    store: FaustStore
    metrics: Metrics
    registry: CollectorRegistry
    guard: InvalidRatioGuard
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    projection: Projection | None = None
    mongo_client: AsyncMongoClient[dict[str, Any]] | None = None
    consuming: bool = False
    # Set once MongoDB is ready (or at once without a projection): no batch is acknowledged before
    # its events can be projected.
    projection_ready: asyncio.Event = field(default_factory=asyncio.Event)
    latest_event_time: float = 0.0


def build_app(  # noqa: PLR0915 - the agents close over one runtime; splitting them hides the cycle
    settings: AggregatorSettings, *, registry: CollectorRegistry | None = None
) -> faust.App:
    """The Faust app for these settings. Nothing connects until the worker starts it."""
    topics = settings.topics
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=EVENTS.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        web_port=settings.port,
        web_host="0.0.0.0",  # noqa: S104 - the health probe comes from outside the pod
        web_enabled=True,
        producer_acks=-1,
        producer_partitioner=partitioner,
        # Tables use JSON keys and values; the product's own topics set raw bytes explicitly.
        key_serializer="json",
        value_serializer="json",
        consumer_auto_offset_reset="earliest",
        broker_commit_every=2000,
        broker_commit_interval=1.0,
        table_cleanup_interval=60.0,
        stream_wait_empty=False,
        # Records keep arriving while a batch is processed: a buffer as large as a batch lets the
        # next batch be full at once when there is a backlog, so a backlog is worked off in fewer,
        # larger batches (fewer incident and rollup writes per event).
        stream_buffer_maxsize=max(4096, settings.batch_size),
        # A send waits for the broker whenever its partition's batch is full. At the default of
        # 16 KiB two incident changes (8 KiB and more each) or one group's state fill a batch, so
        # nearly every send waited for a round trip: larger batches let sends queue up behind the
        # request in flight. Below the broker's default limit (message.max.bytes, 1 MiB).
        producer_max_batch_size=512 * 1024,
    )
    registry = registry or CollectorRegistry()
    groups = app.Table("groups", use_partitioner=True)
    baselines = app.Table("baselines", use_partitioner=True)
    seen = app.Table("seen", use_partitioner=True)
    minute_counts = app.Table("minute_counts", default=int, use_partitioner=True).tumbling(
        60.0, expires=timedelta(hours=3)
    )
    store = FaustStore(groups, baselines, seen, minute_counts)
    rt = Runtime(
        settings=settings,
        engine=CorrelationEngine(load_config(settings.correlation_config), store, clock=time.time),
        store=store,
        metrics=Metrics.create(registry),
        registry=registry,
        guard=InvalidRatioGuard(settings.max_invalid_ratio, settings.invalid_window),
    )
    app.aggregator_runtime = rt  # type: ignore[attr-defined]

    events_topic = app.topic(topics.events, key_serializer="raw", value_serializer="raw")
    rekeyed_topic = app.topic(
        f"{settings.app_id}-events-by-key",
        partitions=EVENTS.partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    dlq_topic = app.topic(topics.events_dlq, key_serializer="raw", value_serializer="raw")
    incidents_topic = app.topic(topics.incidents, key_serializer="raw", value_serializer="raw")
    commands_topic = app.topic(topics.incident_commands, key_serializer="raw", value_serializer="raw")
    summaries_topic = app.topic(topics.incident_summaries, key_serializer="raw", value_serializer="raw")

    async def publish(changes: list[IncidentChange]) -> None:
        """Projects and publishes the changes, waiting until the broker has them."""
        if not changes:
            return
        if rt.projection is not None:
            await rt.projection.write_incidents([c.incident for c in changes])
            rt.metrics.projection_writes.labels("incidents").inc(len(changes))
        futures = [
            await incidents_topic.send(key=c.incident.incidentId.encode(), value=codec.dumps(c)) for c in changes
        ]
        await asyncio.gather(*futures)
        for c in changes:
            rt.metrics.incident_changes.labels(c.action).inc()

    async def cycle(outcomes: list[Outcome]) -> None:
        changes = rt.engine.flush()
        if rt.projection is not None and outcomes:
            await rt.projection.write_events(outcomes)
            rt.metrics.projection_writes.labels("events").inc(len(outcomes))
        await publish(changes)
        rt.store.write_through()

    async def handle_events(stream: Any, *, forward: bool) -> None:
        partitions = EVENTS.partitions
        engine, guard, metrics = rt.engine, rt.guard, rt.metrics
        # Per-record work that depends only on a key or a partition is done once per key.
        partition_of: dict[str, int] = {}
        sources: dict[tuple[str, int], str] = {}
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            await rt.projection_ready.wait()
            rt.consuming = True
            started = time.perf_counter()
            async with rt.lock:
                outcomes: list[Outcome] = []
                duplicates = 0
                latest = rt.latest_event_time
                for ev in batch:
                    msg = ev.message
                    parsed = decode(
                        msg.value,
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                        timestamp_ms=msg.timestamp,
                    )
                    if isinstance(parsed, Invalid):
                        guard.record(True)
                        metrics.dead_letters.labels("invalid").inc()
                        await dlq_topic.send(
                            key=msg.key,
                            value=msg.value,
                            headers={
                                "dlq-reason": parsed.reason.encode(),
                                "dlq-origin": f"{msg.topic}/{msg.partition}/{msg.offset}".encode(),
                            },
                        )
                        continue
                    guard.record(False)
                    key = engine.correlation_key(parsed.service)
                    if forward:
                        home = partition_of.get(key)
                        if home is None:
                            if len(partition_of) >= _MAX_KEYS_CACHED:
                                partition_of.clear()
                            home = partition_of[key] = partition_for(key, partitions)
                        if home != msg.partition:
                            metrics.rekeyed.inc()
                            # The decoded event, so that a fallback id stays the one derived here.
                            await rekeyed_topic.send(key=key.encode(), value=parsed.to_record())
                            continue
                    source = sources.get((msg.topic, msg.partition))
                    if source is None:
                        source = sources[msg.topic, msg.partition] = f"{msg.topic}/{msg.partition}"
                    outcome = engine.process(parsed, source=source, offset=msg.offset)
                    if outcome is None:
                        duplicates += 1
                        continue
                    latest = max(latest, parsed.timestamp.timestamp())
                    outcomes.append(outcome)
                rt.latest_event_time = latest
                if duplicates:
                    metrics.duplicates.inc(duplicates)
                metrics.events.inc(len(outcomes))
                await cycle(outcomes)
            rt.metrics.batch_seconds.observe(time.perf_counter() - started)

    @app.agent(events_topic, name="events", supervisor_strategy=CrashingSupervisor)
    async def events_agent(stream: Any) -> None:
        await handle_events(stream, forward=True)

    @app.agent(rekeyed_topic, name="events-by-key", supervisor_strategy=CrashingSupervisor)
    async def rekeyed_agent(stream: Any) -> None:
        await handle_events(stream, forward=False)

    @app.agent(commands_topic, name="commands", supervisor_strategy=CrashingSupervisor)
    async def commands_agent(stream: Any) -> None:
        async for ev in stream.events():
            try:
                cmd = IncidentCommand.model_validate_json(ev.message.value)
            except ValueError:
                rt.metrics.commands.labels("invalid").inc()
                log.warning("invalid incident command", extra={"offset": ev.message.offset})
                continue
            key = ev.message.key.decode() if ev.message.key else None
            await rt.projection_ready.wait()
            async with rt.lock:
                result = rt.engine.apply_command(cmd, key)
                rt.metrics.commands.labels("applied" if result.applied else result.reason).inc()
                await cycle([])

    @app.agent(summaries_topic, name="summaries", supervisor_strategy=CrashingSupervisor)
    async def summaries_agent(stream: Any) -> None:
        async for ev in stream.events():
            try:
                summary = IncidentSummary.model_validate_json(ev.message.value)
            except ValueError:
                rt.metrics.summaries.labels("invalid").inc()
                continue
            key = ev.message.key.decode() if ev.message.key else None
            await rt.projection_ready.wait()
            async with rt.lock:
                merged = rt.engine.apply_summary(summary, key)
                rt.metrics.summaries.labels("merged" if merged else "stale").inc()
                await cycle([])

    @app.timer(settings.quiet_check_seconds)  # type: ignore[untyped-decorator]
    async def close_quiet() -> None:
        """Wall-clock housekeeping: close what went quiet, forget what expired."""
        if not rt.projection_ready.is_set():
            return
        async with rt.lock:
            rt.engine.close_quiet(time.time())
            if rt.latest_event_time:
                rt.engine.expire(rt.latest_event_time)
            await cycle([])

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Under the lock: a batch in flight finishes its cycle (and writes its state) first.
        async with rt.lock:
            rt.store.reset()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        async with rt.lock:
            rt.store.reset()

    @app.service
    class MongoProjection(faust.Service):
        async def on_start(self) -> None:
            if not settings.project_to_mongo:
                rt.projection_ready.set()
                return
            client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(
                settings.mongodb_uri.get_secret_value(), app_name="aggregator"
            )
            db = client[settings.mongodb_database]
            await mongo.ensure_indexes(db)
            rt.mongo_client = client
            rt.projection = Projection(db)
            rt.projection_ready.set()

        async def on_stop(self) -> None:
            if rt.mongo_client is not None:
                await rt.mongo_client.close()

    _add_pages(app, rt)
    return app


def _add_pages(app: faust.App, rt: Runtime) -> None:
    def page(path: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        return app.page(path)

    @page("/health/live")
    async def live(self: Any, request: Any) -> Any:
        return self.json({"status": "ok"})

    @page("/health/ready")
    async def ready(self: Any, request: Any) -> Any:
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        down = [
            name
            for name, ok in (
                ("kafka-assignment", assigned and not app.rebalancing),
                ("mongodb-projection", rt.projection_ready.is_set()),
            )
            if not ok
        ]
        if not down:
            return self.json({"status": "ready", "consuming": rt.consuming})
        return self.json({"status": "not ready", "down": down}, status=503)

    @page("/health")
    async def health(self: Any, request: Any) -> Any:
        return self.json({"status": "ok", "service": "aggregator", "consuming": rt.consuming})

    @page("/metrics")
    async def metrics(self: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is ASCII anyway.
        return self.bytes(generate_latest(rt.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

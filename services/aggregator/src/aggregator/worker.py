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

from aggregator.engine import CorrelationEngine, Linker, Outcome, load_config
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
    # Set once every output is writable: the producer knows the changelog topics' partitions and
    # MongoDB is ready (if projecting). No batch is processed before, so none is acknowledged before
    # its state and events can be written.
    outputs_ready: asyncio.Event = field(default_factory=asyncio.Event)
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
    # The cross-key stage's state: the open incident candidates and the cascade decisions, all on
    # the one partition of the candidates topic.
    link_state = app.Table("links", partitions=1, use_partitioner=True)
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
    linker = Linker(link_state, cascade_window=rt.engine.config.cascade_window)

    events_topic = app.topic(topics.events, key_serializer="raw", value_serializer="raw")
    rekeyed_topic = app.topic(
        f"{settings.app_id}-events-by-key",
        partitions=EVENTS.partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    # Incident candidates for the cross-key stage (one partition: it must see them all), and its
    # decisions back to each incident's partition (keyed by routing key, like commands).
    candidates_topic = app.topic(
        f"{settings.app_id}-incident-candidates",
        partitions=1,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    links_topic = app.topic(
        f"{settings.app_id}-incident-links",
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
        futures.extend(
            [
                await candidates_topic.send(key=c["incidentId"].encode(), value=codec.dumps(c))
                for c in rt.engine.take_candidates()
            ]
        )
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
            await rt.outputs_ready.wait()
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
            await rt.outputs_ready.wait()
            async with rt.lock:
                result = rt.engine.apply_command(cmd, key)
                rt.metrics.commands.labels("applied" if result.applied else result.reason).inc()
                await cycle([])
            # The incidents merged into this one take the same command (idempotent by its id).
            for member_id, routing_key in result.forward:
                forwarded = cmd.model_copy(
                    update={"commandId": f"{cmd.commandId}:{member_id}", "incidentId": member_id}
                )
                await commands_topic.send(key=routing_key.encode(), value=codec.dumps(forwarded))

    @app.agent(candidates_topic, name="incident-candidates", supervisor_strategy=CrashingSupervisor)
    async def candidates_agent(stream: Any) -> None:
        """The cross-key stage: sends its decisions, then saves them (a crash in between re-decides)."""
        async for ev in stream.events():
            links = linker.update(codec.loads(ev.message.value))
            futures = [
                await links_topic.send(key=str(link["routingKey"]).encode(), value=codec.dumps(link)) for link in links
            ]
            await asyncio.gather(*futures)
            linker.commit()
            rt.metrics.links.inc(len(links))

    @app.agent(links_topic, name="incident-links", supervisor_strategy=CrashingSupervisor)
    async def links_agent(stream: Any) -> None:
        async for ev in stream.events():
            link = codec.loads(ev.message.value)
            key = ev.message.key.decode() if ev.message.key else None
            await rt.outputs_ready.wait()
            async with rt.lock:
                if rt.engine.apply_link(link, key):
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
            await rt.outputs_ready.wait()
            async with rt.lock:
                merged = rt.engine.apply_summary(summary, key)
                rt.metrics.summaries.labels("merged" if merged else "stale").inc()
                await cycle([])

    @app.timer(settings.quiet_check_seconds)  # type: ignore[untyped-decorator]
    async def close_quiet() -> None:
        """Wall-clock housekeeping: close what went quiet, forget what expired."""
        if not rt.outputs_ready.is_set():
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

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def on_rebalance_complete(sender: Any, *args: Any, **kwargs: Any) -> None:
        hold_deliveries_until_seek(app)

    @app.service
    class Outputs(faust.Service):
        async def on_start(self) -> None:
            await wait_for_changelog_metadata(app)
            if not settings.project_to_mongo:
                rt.outputs_ready.set()
                return
            client: AsyncMongoClient[dict[str, Any]] = mongo.make_client(
                settings.mongodb_uri.get_secret_value(), app_name="aggregator"
            )
            rt.mongo_client = client
            # In the background: a MongoDB that is down (or fails a request) at start must not stop
            # the worker; batches wait for it (nothing is acknowledged before it can be projected).
            self.add_future(self._connect(Projection(client[settings.mongodb_database])))

        async def _connect(self, projection: Projection) -> None:
            await projection.prepare()
            rt.projection = projection
            rt.outputs_ready.set()

        async def on_stop(self) -> None:
            if rt.mongo_client is not None:
                await rt.mongo_client.close()

    _add_pages(app, rt)
    return app


def hold_deliveries_until_seek(app: faust.App) -> None:
    """Stops handing fetched records to the agents until Faust has sought to the committed offsets.

    After a rebalance, Faust's recovery resumes the stream partitions and only then awaits
    `consumer.perform_seek()`, which reads the committed offsets from the broker and resets the
    consumer's read and committed positions to them. When the worker had table state to restore,
    the fetcher is already running with the flow open, so records (and their acks) go through
    during that round trip; the reset then rewinds the read position under them. The next record
    looks like a jump in offsets: Faust records a gap that overlaps offsets also acknowledged for
    real, its commit bookkeeping holds duplicates, and the committed offset creeps by one a second
    or stops for good while the worker keeps processing. It depends on timing: a worker restarted
    against a freshly started broker hit it in most runs, one on a warm broker rarely.

    `on_rebalance_complete` is sent just before that resume-and-seek, and Faust reopens the flow
    itself right after the seek, so stopping it here leaves nothing in flight during the seek.
    Stream partitions are paused until then, so no stream record is cut off mid-delivery.
    """
    app.consumer.stop_flow()


async def wait_for_changelog_metadata(app: faust.App) -> None:
    """Makes the producer track every table's changelog topic and waits until it knows them.

    Faust writes to a table (`use_partitioner=True`) by hashing the key against the producer's
    cached metadata, synchronously (`key_partition`): when the topic is not in that cache, aiokafka
    raises `TypeError: 'NoneType' object is not iterable` and the crashing supervisor stops the
    worker. The cache holds the topics the producer's client tracks; while it tracks none it fetches
    every topic, but the first `send` to a topic missing from the cache makes the client track that
    topic alone, and from then on each refresh drops everything else, the changelogs included.
    On a warm broker the full fetch Faust does after declaring its topics finds them all, so
    nothing is ever added; a freshly started broker can answer before a just-created topic is
    visible, and the worker crashes on its first table write. Tracking the changelogs explicitly
    keeps them in every refresh.
    """
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]  # the aiokafka producer
    topics = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    await asyncio.gather(*(producer.client.add_topic(topic) for topic in topics))
    for topic in topics:
        partitions = await producer.partitions_for(topic)  # refreshes until the topic is there
        log.debug("changelog topic known to the producer", extra={"topic": topic, "partitions": len(partitions)})


def halted(app: Any) -> dict[str, Any] | None:
    """Why the worker is stopping (crashed or asked to), or None while it runs.

    After an agent crashes, Faust stops the worker, and that stop can hang (seen in the fault suite)
    while the web server still answers: a live, ready-looking process that processes nothing and
    never exits. The health pages report this, so that the orchestrator's liveness probe restarts it.
    """
    if not app.should_stop:
        return None
    reason = app.crash_reason
    return {"status": "crashed" if reason else "stopping", "reason": repr(reason)[:300] if reason else None}


def _add_pages(app: faust.App, rt: Runtime) -> None:
    def page(path: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        return app.page(path)

    def stopping() -> dict[str, Any] | None:
        return halted(app)

    @page("/health/live")
    async def live(self: Any, request: Any) -> Any:
        if (halted := stopping()) is not None:
            return self.json(halted, status=503)
        return self.json({"status": "ok"})

    @page("/health/ready")
    async def ready(self: Any, request: Any) -> Any:
        if (halted := stopping()) is not None:
            return self.json({**halted, "down": ["worker"]}, status=503)
        assigned = bool(app.consumer.assignment()) if app.consumer else False
        down = [
            name
            for name, ok in (
                ("kafka-assignment", assigned and not app.rebalancing),
                ("mongodb-projection", rt.outputs_ready.is_set()),
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

"""The Faust application: a thin shell that feeds the aggregator's processing steps.

Faust owns the consumer group, the tables (changelog-backed state) and the producer; everything
else is in steps that know nothing of Faust (`steps.py`): each agent turns a batch of Faust
messages into `Record`s and submits them to its chain, and Faust acknowledges the batch once the
chain returns, i.e. after every side effect it stands for. A batch the chain did not finish (the
worker stopped or failed in the middle of it) is never acknowledged (`withhold_acks`): the next
worker replays it.

    events        DecodeEvents -> ForwardMiskeyed -> Correlate -+
    re-keyed      DecodeEvents -------------------> Correlate -+
    commands      Decode -> ApplyCommands ---------------------+-> Publish -> SaveState
    summaries     Decode -> ApplySummaries --------------------+   (incidents, candidates,
    links         Decode -> ApplyLinks ------------------------+    assignments; then tables)
    candidates    Decode -> LinkCandidates (the cross-key stage: links out, then its table)
    timer         Correlate.poll (close what went quiet, expire what is old)

The steps that use the engine share one lock, held until their cycle's state is saved. Invalid
records, and records the engine fails on, go to the dead-letter topic with the reason; no single
record ends the worker. An error anywhere else stops the whole worker (CrashingSupervisor):
restarting only the agent would let Faust acknowledge the failed batch and lose it; a restarted
worker replays it instead, and finds its own earlier results harmless.

History (events, rollups, incidents in MongoDB) is not on this path: the history writer is its own
consumer (`history/`), fed by the engine's per-batch assignments, so a slow or stopped MongoDB
delays history alone. It runs inside this worker (AGGREGATOR_HISTORY_IN_WORKER), or beside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import faust
from mode.supervisors import CrashingSupervisor
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from aggregator.cascade import LinkCandidates, parse_candidate, parse_link
from aggregator.correlate import ApplyCommands, ApplyLinks, ApplySummaries, Correlate, EngineContext
from aggregator.deadletters import DeadLetters
from aggregator.engine import CorrelationEngine, Linker, load_config
from aggregator.faust_store import FaustStore
from aggregator.history.service import History
from aggregator.intake import Decode, DecodeEvents, ForwardMiskeyed
from aggregator.metrics import Metrics
from aggregator.publish import Publish, SaveState
from aggregator.records import InvalidRatioGuard
from aggregator.routing import partitioner
from aggregator.settings import AggregatorSettings
from aggregator.steps import Record, Step
from incident_shared.schemas.incidents import IncidentCommand, IncidentSummary
from incident_shared.topics import EVENTS

log = logging.getLogger(__name__)
_MINOR_BATCH = 500  # commands, summaries, links, candidates: few, but taken together when they queue
_MINOR_WITHIN = 0.05


@dataclass
class Runtime:
    """What the shell keeps: the steps' heads, and what health reports."""

    settings: AggregatorSettings
    metrics: Metrics
    registry: CollectorRegistry
    correlate: Correlate | None = None
    history: History | None = None  # when this worker runs the history writer
    consuming: bool = False
    last_batch: float | None = None
    # Set once the producer knows every changelog topic: no batch is processed before (its state
    # could not be written).
    outputs_ready: asyncio.Event = field(default_factory=asyncio.Event)


def to_record(message: Any) -> Record:
    """A Faust message as a `Record`. Faust gives the record's timestamp in seconds (a float);
    Kafka keeps milliseconds, and so do records everywhere else (replay, the history writer)."""
    ts = message.timestamp
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = headers.items()
    return Record(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        None if ts is None else round(ts * 1000),
        tuple((k, v) for k, v in headers),
    )


def faust_app(settings: AggregatorSettings) -> faust.App:
    """The Faust app with the aggregator's settings and nothing on it yet (the benchmark's no-op
    agent runs on the same, so that the two are compared like for like)."""
    return faust.App(
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
        # larger batches (fewer incident changes per event).
        stream_buffer_maxsize=max(4096, settings.batch_size),
        # A send waits for the broker whenever its partition's batch is full. At the default of
        # 16 KiB two incident changes (8 KiB and more each) or one group's state fill a batch, so
        # nearly every send waited for a round trip: larger batches let sends queue up behind the
        # request in flight. Below the broker's default limit (message.max.bytes, 1 MiB).
        producer_max_batch_size=512 * 1024,
    )


@dataclass(frozen=True)
class _Topics:
    events: Any
    rekeyed: Any
    candidates: Any
    links: Any
    assignments: Any
    dlq: Any
    incidents: Any
    commands: Any
    summaries: Any


def _topics(app: faust.App, settings: AggregatorSettings) -> _Topics:
    names = settings.topics

    def raw(name: str, **kwargs: Any) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw", **kwargs)

    def internal(suffix: str, partitions: int) -> Any:
        return raw(f"{settings.app_id}-{suffix}", partitions=partitions, internal=True)

    return _Topics(
        events=raw(names.events),
        rekeyed=internal("events-by-key", EVENTS.partitions),
        # Incident candidates for the cross-key stage (one partition: it must see them all), and
        # its decisions back to each incident's partition (keyed by routing key, like commands).
        candidates=internal("incident-candidates", 1),
        links=internal("incident-links", EVENTS.partitions),
        # What the engine made of each batch, for the history writer (partition = the events' one).
        assignments=internal("event-assignments", EVENTS.partitions),
        dlq=raw(names.events_dlq),
        incidents=raw(names.incidents),
        commands=raw(names.incident_commands),
        summaries=raw(names.incident_summaries),
    )


def _chains(  # noqa: PLR0917 - the parts the chains are made of
    settings: AggregatorSettings,
    rt: Runtime,
    t: _Topics,
    store: FaustStore,
    engine: CorrelationEngine,
    make_linker: Callable[[], Linker],
    lock: asyncio.Lock,
) -> dict[str, Step[list[Record]]]:
    """Every input's chain of steps, by agent name (see the module's docstring)."""
    m = rt.metrics
    dead_letters = DeadLetters(t.dlq, m.dead_letters)
    tail = Publish(
        SaveState(store),
        incidents=t.incidents,
        candidates=t.candidates,
        assignments=t.assignments if settings.project_to_mongo else None,
        metrics=m,
    )
    ctx = EngineContext(engine, lock, m, dead_letters)
    correlate = rt.correlate = Correlate(tail, ctx)
    guard = InvalidRatioGuard(settings.max_invalid_ratio, settings.invalid_window)
    forward = ForwardMiskeyed(correlate, t.rekeyed, engine.correlation_key, EVENTS.partitions, m.rekeyed)
    return {
        "events": DecodeEvents(forward, dead_letters, guard),
        "events-by-key": DecodeEvents(correlate, dead_letters, guard),
        "commands": Decode(
            ApplyCommands(tail, ctx, commands=t.commands),
            IncidentCommand.model_validate_json,
            dead_letters,
            "command",
        ),
        "summaries": Decode(
            ApplySummaries(tail, ctx),
            IncidentSummary.model_validate_json,
            dead_letters,
            "summary",
        ),
        "incident-links": Decode(ApplyLinks(tail, ctx), parse_link, dead_letters, "link"),
        "incident-candidates": Decode(
            LinkCandidates(make_linker, t.links, m, dead_letters), parse_candidate, dead_letters, "candidate"
        ),
    }


def build_app(settings: AggregatorSettings, *, registry: CollectorRegistry | None = None) -> faust.App:
    """The Faust app for these settings. Nothing connects until the worker starts it."""
    app = faust_app(settings)
    registry = registry or CollectorRegistry()
    rt = Runtime(settings=settings, metrics=Metrics.create(registry), registry=registry)
    app.aggregator_runtime = rt  # type: ignore[attr-defined]

    store = FaustStore(
        app.Table("groups", use_partitioner=True),
        app.Table("baselines", use_partitioner=True),
        app.Table("seen", use_partitioner=True),
        app.Table("minute_counts", default=int, use_partitioner=True).tumbling(60.0, expires=timedelta(hours=3)),
    )
    # The cross-key stage's state: the open incident candidates and the cascade decisions, all on
    # the one partition of the candidates topic.
    link_state = app.Table("links", partitions=1, use_partitioner=True)
    engine = CorrelationEngine(load_config(settings.correlation_config), store, clock=time.time)
    t = _topics(app, settings)
    lock = asyncio.Lock()
    chains = _chains(
        settings, rt, t, store, engine, lambda: Linker(link_state, cascade_window=engine.config.cascade_window), lock
    )

    def agent(topic: Any, name: str, size: int, within: float) -> None:
        chain = chains[name]
        events = name.startswith("events")

        async def feed(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                try:
                    await rt.outputs_ready.wait()
                    started = time.perf_counter()
                    await chain.submit([to_record(ev.message) for ev in batch])
                except BaseException as exc:
                    withhold_acks(batch)
                    log.warning(
                        "a batch was not finished; it is left unacknowledged, for the next worker to replay",
                        extra={"agent": name, "records": len(batch), "why": type(exc).__name__},
                    )
                    raise
                if events:
                    rt.consuming = True
                    rt.last_batch = time.monotonic()
                    rt.metrics.batch_seconds.observe(time.perf_counter() - started)

        app.agent(topic, name=name, supervisor_strategy=CrashingSupervisor)(feed)

    agent(t.events, "events", settings.batch_size, settings.batch_seconds)
    agent(t.rekeyed, "events-by-key", settings.batch_size, settings.batch_seconds)
    agent(t.commands, "commands", _MINOR_BATCH, _MINOR_WITHIN)
    agent(t.summaries, "summaries", _MINOR_BATCH, _MINOR_WITHIN)
    agent(t.links, "incident-links", _MINOR_BATCH, _MINOR_WITHIN)
    agent(t.candidates, "incident-candidates", _MINOR_BATCH, _MINOR_WITHIN)

    @app.timer(settings.quiet_check_seconds)  # type: ignore[untyped-decorator]
    async def housekeeping() -> None:
        if rt.outputs_ready.is_set() and rt.correlate is not None:
            await rt.correlate.poll()

    async def reset_store(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Under the lock: a batch in flight finishes its cycle (and writes its state) first.
        async with lock:
            store.reset()

    app.on_partitions_revoked.connect(reset_store)  # type: ignore[arg-type]
    app.on_partitions_assigned.connect(reset_store)  # type: ignore[arg-type]

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def on_rebalance_complete(sender: Any, *args: Any, **kwargs: Any) -> None:
        hold_deliveries_until_seek(app)

    @app.service
    class Outputs(faust.Service):
        async def on_start(self) -> None:
            await wait_for_changelog_metadata(app)
            if settings.project_to_mongo:
                # Written to, never read by an agent: Faust declares only the topics its agents and
                # tables use, so this one is declared here, before the first batch is sent to it.
                await t.assignments.maybe_declare()
                producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
                await producer.partitions_for(t.assignments.get_topic_name())
            rt.outputs_ready.set()
            if settings.project_to_mongo and settings.history_in_worker:
                history = rt.history = History(settings, rt.metrics)
                # A failure of the history writer's own (a bug: store and Kafka failures are held or
                # dead-lettered) crashes the worker, whose restart resumes from committed offsets.
                history.started(self.add_future(history.run()))

        async def on_stop(self) -> None:
            if rt.history is not None:
                await rt.history.stop()

    _add_pages(app, rt)
    return app


def withhold_acks(batch: Sequence[Any]) -> None:
    """Keeps a batch that did not go through its chain from being acknowledged.

    `take_events` acknowledges a batch in a `finally`, so also when the chain failed in the middle
    of it (the worker then stops) or the agent's task was cancelled, and the worker's last commit
    can then record offsets whose effect never reached the engine's state: the next worker starts
    after them, from the state before them, and the incidents lack those events. Marking the
    messages as acknowledged already makes that late ack a no-op: their offsets are never
    committed, and the next worker replays the batch from the state saved before it (its own
    earlier results, if some were published, are harmless: see `publish.py`). A graceful stop
    (SIGTERM) ends an agent's stream and waits for the batch in flight to finish.
    """
    for event in batch:
        event.message.acked = True


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


def _readiness(app: faust.App, rt: Runtime) -> list[str]:
    """The dependencies that are not there: Kafka (this worker holds partitions, not rebalancing),
    and MongoDB for history (connected, not holding on a failure)."""
    assigned = bool(app.consumer.assignment()) if app.consumer else False
    down = []
    if not (assigned and not app.rebalancing):
        down.append("kafka-assignment")
    in_worker = rt.settings.project_to_mongo and rt.settings.history_in_worker
    if in_worker and (rt.history is None or not rt.history.ready()):
        down.append("mongodb-projection")
    return down


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
    started = time.monotonic()

    def page(path: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        return app.page(path)

    def engine_status() -> dict[str, Any]:
        return {
            "consuming": rt.consuming,
            "lastBatchSecondsAgo": None if rt.last_batch is None else round(time.monotonic() - rt.last_batch, 1),
        }

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
        down = _readiness(app, rt)
        if not down:
            return self.json({"status": "ready", "consuming": rt.consuming})
        # Incidents go on while history waits for MongoDB: say so, so nobody restarts the worker for it.
        return self.json({"status": "not ready", "down": down, "incidents": engine_status()}, status=503)

    @page("/health")
    async def health(self: Any, request: Any) -> Any:
        return self.json({"status": "ok", "service": "aggregator", "consuming": rt.consuming})

    @page("/health/detailed")
    async def detailed(self: Any, request: Any) -> Any:
        down = _readiness(app, rt)
        history: dict[str, Any] = {
            "enabled": rt.settings.project_to_mongo,
            "inWorker": rt.settings.project_to_mongo and rt.settings.history_in_worker,
        }
        if rt.history is not None:
            history.update(rt.history.status())
        body = {
            "status": "ok" if not down else "degraded",
            "service": "aggregator",
            "uptimeSeconds": round(time.monotonic() - started, 1),
            "down": down,
            "incidents": engine_status(),
            "history": history,
        }
        return self.json(body, status=200 if not down else 503)

    @page("/metrics")
    async def metrics(self: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is ASCII anyway.
        return self.bytes(generate_latest(rt.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

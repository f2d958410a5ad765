"""The aiohttp application: the WebSocket endpoint, the Kafka readers, health and metrics.

Path: the WebSocket is served at `/ws` (what the ingest gateway forwards from
`ws://localhost:5000/ws`, and what an ingress routes in Kubernetes) and also at `/` for clients
that connect to the bare origin. A plain GET on `/` describes the service.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version

from aiohttp import WSCloseCode, WSMsgType, web
from prometheus_client import CollectorRegistry

from incident_shared.kafka import probe_kafka
from incident_shared.web.access import bearer_token
from incident_shared.web.health import Check, add_health_routes, json_response
from ws_broadcaster.client import Client, ClientLimits
from ws_broadcaster.consumers import EventsHandler, IncidentsHandler, TopicReader
from ws_broadcaster.hub import Hub
from ws_broadcaster.metrics import BroadcasterMetrics
from ws_broadcaster.protocol import MAX_CLIENT_MESSAGE_BYTES
from ws_broadcaster.settings import BroadcasterSettings

log = logging.getLogger(__name__)

SERVICE = "ws-broadcaster"
SETTINGS = web.AppKey("settings", BroadcasterSettings)
METRICS = web.AppKey("metrics", BroadcasterMetrics)
HUB = web.AppKey("hub", Hub)
READERS = web.AppKey("readers", list[TopicReader])
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
_SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)
STOP_GRACE_SECONDS = 5.0  # a reader ends within one poll; one that does not is cancelled

_ids = itertools.count(1)


def _version() -> str:
    try:
        return version(SERVICE)
    except PackageNotFoundError:
        return "0.0.0"


def _client_limits(settings: BroadcasterSettings) -> ClientLimits:
    return ClientLimits(
        max_queued_events=settings.max_queued_events,
        max_queued_priority=settings.max_queued_incidents,
        send_timeout=settings.send_timeout_seconds,
        max_batch_events=settings.max_batch_events,
    )


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings, hub, metrics = app[SETTINGS], app[HUB], app[METRICS]
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_seconds,
        compress=settings.compress,
        max_msg_size=MAX_CLIENT_MESSAGE_BYTES,
    )
    if not ws.can_prepare(request).ok:
        if request.path == "/":
            return json_response({"service": SERVICE, "version": _version(), "websocket": ["/ws", "/"]})
        return json_response(
            {"error": "this endpoint speaks WebSocket only; connect with ws://"},
            status=426,
            headers={"Upgrade": "websocket"},
        )
    access = settings.access
    if not access.origin_allowed(request.headers.get("Origin"), request.host):
        metrics.connections_closed.labels("rejected").inc()
        return json_response(
            {"error": "pages from this origin may not open the live feed; add it to CORS_ORIGINS to allow it"},
            status=403,
        )
    if not access.may_read(bearer_token(request.headers, request.query)):
        metrics.connections_closed.labels("rejected").inc()
        return json_response(
            {"error": "the live feed needs a read token: 'Authorization: Bearer <token>' or ?token=<token>"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="incident-intelligence"'},
        )
    if len(hub) >= settings.max_clients:
        metrics.connections_closed.labels("rejected").inc()
        return json_response(
            {"error": "too many connections to this replica; retry shortly"}, status=503, headers={"Retry-After": "5"}
        )
    await ws.prepare(request)
    app[SOCKETS].add(ws)
    transport = request.transport

    def abort(_reason: str) -> None:
        # A hopeless client may not even read a close frame: drop the connection outright.
        if transport is not None:
            transport.abort()

    async def send(frame: bytes) -> None:
        await ws.send_frame(frame, WSMsgType.TEXT)

    client = Client(
        client_id=f"ws{next(_ids)}",
        send=send,
        abort=abort,
        limits=_client_limits(settings),
        metrics=metrics,
        batching=request.query.get("batch", "") in ("1", "true"),
    )
    hub.register(client)
    writer = asyncio.create_task(client.run(), name=f"writer-{client.client_id}")
    reason = "normal"
    try:
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                hub.handle_message(client, message.data)
            elif message.type == WSMsgType.ERROR:
                reason = "error"
    finally:
        if app[_SHUTTING_DOWN].is_set():
            reason = "shutdown"
        hub.unregister(client, reason)
        writer.cancel()
        with suppress(asyncio.CancelledError):
            await writer
        app[SOCKETS].discard(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    """First step of shutdown: tell every client to go elsewhere (they reconnect to another replica)."""
    app[_SHUTTING_DOWN].set()
    open_sockets = app[SOCKETS]
    sockets = list(open_sockets)
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down") for ws in sockets),
        return_exceptions=True,
    )


def _kafka_readers(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    settings, hub, metrics = app[SETTINGS], app[HUB], app[METRICS]

    # A fetch never brings more events than half a client's queue: a client that keeps up never
    # loses events just because one Kafka fetch was large.
    max_records = max(1, min(2000, settings.max_queued_events // 2))

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        topics = settings.topics
        incidents = TopicReader(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=topics.incidents,
            label="incidents",
            from_beginning=True,
            handle=IncidentsHandler(hub, metrics),
            metrics=metrics,
            client_id=f"{SERVICE}-incidents",
            refresh_seconds=settings.partition_refresh_seconds,
        )
        events = TopicReader(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=topics.events,
            label="events",
            from_beginning=False,
            handle=EventsHandler(hub, metrics),
            metrics=metrics,
            client_id=f"{SERVICE}-events",
            max_records=max_records,
            max_lag=settings.max_events_lag,
            on_skip=hub.events_skipped,
            refresh_seconds=settings.partition_refresh_seconds,
        )
        app[READERS].extend([incidents, events])

        async def mark_loaded() -> None:
            await incidents.caught_up.wait()
            hub.mark_incidents_loaded()

        tasks = [
            asyncio.create_task(incidents.run(), name="read-incidents"),
            asyncio.create_task(events.run(), name="read-events"),
            asyncio.create_task(mark_loaded(), name="incidents-loaded"),
        ]
        yield
        for reader in (incidents, events):
            reader.stop()
        tasks[2].cancel()
        _finished, running = await asyncio.wait(tasks[:2], timeout=STOP_GRACE_SECONDS)
        for task in running:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return ctx


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Once a second: disconnect clients stuck on a write; every heartbeat interval: heartbeats."""
    hub, interval = app[HUB], app[SETTINGS].heartbeat_seconds

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + interval
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            hub.check_stalled(now)
            if now >= next_beat:
                hub.heartbeat()
                next_beat = now + interval

    task = asyncio.create_task(tick(), name="housekeeping")
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def build_app(settings: BroadcasterSettings, *, registry: CollectorRegistry | None = None) -> web.Application:
    """The whole service; `registry` lets tests and benchmarks keep metrics apart."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = BroadcasterMetrics(registry)
    hub = Hub(
        metrics=metrics,
        max_batch_events=settings.max_batch_events,
        max_channels_per_client=settings.max_channels_per_client,
    )
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[HUB] = hub
    app[READERS] = []
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[SOCKETS] = sockets
    app[_SHUTTING_DOWN] = asyncio.Event()

    app.router.add_get("/ws", websocket_handler)
    app.router.add_get("/", websocket_handler)
    app.on_shutdown.append(_close_sockets)
    app.cleanup_ctx.append(_kafka_readers(app))
    app.cleanup_ctx.append(_housekeeping)

    async def kafka_probe() -> str:
        return await probe_kafka(settings.kafka_bootstrap_servers)

    async def snapshot_probe() -> str:
        if not hub.incidents_loaded:
            raise RuntimeError("still reading the incidents topic to build the active-incident snapshot")
        return f"{len(hub.active)} active incidents"

    async def readers_probe() -> str:
        readers = app[READERS]
        for reader in readers:
            reader.outage.check()
        if not readers or not all(r.partitions for r in readers):
            raise RuntimeError("not yet reading the events and incidents topics")
        return ", ".join(f"{r.label}: {len(r.partitions)} partitions" for r in readers) + f"; {len(hub)} clients"

    add_health_routes(
        app,
        service=SERVICE,
        version=_version(),
        checks=[
            Check("kafka", kafka_probe),
            Check("incidents-snapshot", snapshot_probe),
            Check("consumers", readers_probe),
        ],
        registry=registry,
    )
    return app

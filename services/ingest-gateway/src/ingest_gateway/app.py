"""Builds the gateway application: routes, middlewares, and one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from importlib.resources import files
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from incident_shared import mongo
from incident_shared.kafka import make_producer, probe_kafka
from incident_shared.retention import Retention, RetentionPolicy, run_periodically
from incident_shared.topology import CorrelationKeys, load_topology
from incident_shared.web.health import Check, add_health_routes, json_response
from ingest_gateway import middleware, proxy
from ingest_gateway.appkeys import (
    BUSY_BUCKETS,
    HTTP,
    INCIDENT_READER,
    INCIDENT_VIEW,
    METRICS,
    MONGO,
    PUBLISHER,
    REGISTRY,
    SETTINGS,
    SHARED_READS,
    WATCH,
)
from ingest_gateway.history import BusyBuckets
from ingest_gateway.incident_view import IncidentView, IncidentViewReader
from ingest_gateway.metrics import GatewayMetrics
from ingest_gateway.pipeline import AggregatorWatch
from ingest_gateway.publisher import EventPublisher
from ingest_gateway.routes import alertmanager, events, incidents, otlp, pagerduty
from ingest_gateway.settings import GatewaySettings
from ingest_gateway.singleflight import SingleFlight

log = logging.getLogger(__name__)

VERSION = "0.1.0"
OPENAPI = web.AppKey("openapi", dict[str, Any])


def load_openapi() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(files("ingest_gateway").joinpath("openapi.yaml").read_text())
    return doc


async def _kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    factory = partial(make_producer, settings.kafka_bootstrap_servers, "ingest-gateway")
    keys = CorrelationKeys(load_topology(settings.correlation_config))
    publisher = EventPublisher(factory, settings.topics.events, app[METRICS], settings.produce_timeout_seconds, keys)
    app[PUBLISHER] = publisher
    await publisher.start()
    yield
    await publisher.stop()


async def _mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = mongo.make_client(settings.mongodb_uri.get_secret_value(), app_name="ingest-gateway")
    app[MONGO] = client[settings.mongodb_database]
    try:
        await mongo.ensure_indexes(app[MONGO])
    except Exception as exc:  # noqa: BLE001 - MongoDB being down must not stop ingest; readiness reports it
        log.warning("cannot create MongoDB indexes now; reads will wait for MongoDB", extra={"error": str(exc)})
    yield
    await client.close()


async def _incident_view_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    view = IncidentView(timedelta(days=settings.incident_retention_days))
    reader = IncidentViewReader(
        view,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.topics.incidents,
        on_bad_record=lambda _: app[METRICS].view_bad_records.inc(),
    )
    app[INCIDENT_VIEW] = view
    app[INCIDENT_READER] = reader
    app[METRICS].view_incidents.set_function(lambda: len(view))
    await reader.start()
    yield
    await reader.stop()


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sweeps the history store every RETENTION_INTERVAL_SECONDS (RETENTION_ENABLED=false: never);
    each sweep also measures the store for the metrics."""
    settings = app[SETTINGS]
    if not settings.retention_enabled:
        yield
        return
    retention = Retention(app[MONGO], RetentionPolicy.from_settings(settings))
    task = asyncio.create_task(
        run_periodically(retention, settings.retention_interval_seconds, app[METRICS].store), name="retention"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _watch_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, metrics = app[SETTINGS], app[METRICS]
    watch = AggregatorWatch(
        settings.kafka_bootstrap_servers,
        group=settings.aggregator_app_id,
        topic=settings.topics.events,
        check_seconds=settings.aggregator_check_seconds,
        stall_seconds=settings.aggregator_stall_seconds,
        lag_gauge=metrics.aggregator_waiting,
        members_gauge=metrics.aggregator_workers,
    )
    app[WATCH] = watch
    await watch.start()
    yield
    await watch.stop()


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


def build_app(settings: GatewaySettings, registry: CollectorRegistry | None = None) -> web.Application:
    """The whole gateway; nothing connects until the app starts."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[middleware.cors, middleware.errors_and_metrics, middleware.access],
    )
    app[SETTINGS] = settings
    app[REGISTRY] = registry or CollectorRegistry()
    app[METRICS] = GatewayMetrics.create(app[REGISTRY])
    app[OPENAPI] = load_openapi()
    app[BUSY_BUCKETS] = BusyBuckets()
    app[SHARED_READS] = SingleFlight()
    app[proxy.WEBSOCKETS] = set()
    app.cleanup_ctx.extend([_http_ctx, _kafka_ctx, _mongo_ctx, _watch_ctx, _incident_view_ctx, _retention_ctx])
    app.on_shutdown.append(proxy.close_websockets)

    app.router.add_routes(events.routes)
    app.router.add_routes(incidents.routes)
    app.router.add_routes(alertmanager.routes)
    app.router.add_routes(pagerduty.routes)
    app.router.add_routes(otlp.routes)
    app.router.add_routes(proxy.routes)

    async def openapi(request: web.Request) -> web.Response:
        return json_response(request.app[OPENAPI])

    app.router.add_get("/api/openapi.json", openapi)

    async def kafka_probe() -> str:
        if not app[PUBLISHER].connected:
            raise ConnectionError("the producer is not connected yet")
        return await probe_kafka(settings.kafka_bootstrap_servers, writes_to=settings.topics.events)

    async def mongo_probe() -> str:
        return await mongo.probe_mongo(app[MONGO].client)

    async def view_probe() -> str:
        reader = app[INCIDENT_READER]
        if not reader.ready.is_set():
            raise RuntimeError(f"loading the {reader.topic} topic: {len(reader.view)} incidents so far")
        return f"{len(reader.view)} incidents"

    async def aggregator_probe() -> str:
        return app[WATCH].probe()

    add_health_routes(
        app,
        service="ingest-gateway",
        version=VERSION,
        checks=[
            Check("kafka", kafka_probe),
            Check("mongodb", mongo_probe),
            # Reported, not required: ingest must not wait for the incident lists to load.
            Check("incident-view", view_probe, required=False),
            # Incidents not being updated is news for every user, but not a reason to stop taking
            # events: they wait in Kafka for the aggregator.
            Check("aggregator", aggregator_probe, required=False),
        ],
        registry=app[REGISTRY],
    )
    access = settings.access
    if not access.write_tokens:
        log.warning("API_TOKENS is not set: writes (POST, PATCH) are open to anyone who can reach the API")
    if access.any_origin:
        log.warning("CORS_ORIGINS is '*': any web page a person opens can call this API through their browser")
    return app

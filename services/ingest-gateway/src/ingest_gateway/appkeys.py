"""Typed keys for what the application holds: one resource each, set up in `app.cleanup_ctx`."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from ingest_gateway.history import BusyBuckets
from ingest_gateway.incident_view import IncidentView, IncidentViewReader
from ingest_gateway.metrics import GatewayMetrics
from ingest_gateway.pipeline import AggregatorWatch
from ingest_gateway.publisher import EventPublisher
from ingest_gateway.settings import GatewaySettings
from ingest_gateway.singleflight import SingleFlight

SETTINGS = web.AppKey("settings", GatewaySettings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", GatewayMetrics)
PUBLISHER = web.AppKey("publisher", EventPublisher)
MONGO = web.AppKey("mongo", AsyncDatabase[dict[str, Any]])
HTTP = web.AppKey("http", aiohttp.ClientSession)
INCIDENT_READER = web.AppKey("incident_reader", IncidentViewReader)
INCIDENT_VIEW = web.AppKey("incident_view", IncidentView)
BUSY_BUCKETS = web.AppKey("busy_buckets", BusyBuckets)
SHARED_READS = web.AppKey("shared_reads", SingleFlight[bytes])
WATCH = web.AppKey("aggregator_watch", AggregatorWatch)

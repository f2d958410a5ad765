"""Helpers for the broadcaster's integration tests: replicas on real Kafka, real WebSocket clients.

`start_broadcaster(**settings)` runs the whole app (Kafka readers included) on a loopback port and
waits until both topics are being read; `Feed` produces events and incident changes; `WsClient`
wraps an aiohttp WebSocket with "receive until" helpers; `RawWebSocket` is a client that can stop
reading its socket altogether, as a frozen browser tab does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from incident_shared.kafka import make_producer
from incident_shared.topics import Topics
from support.ws_broadcaster_live import Feed, StartBroadcaster, WsClient
from ws_broadcaster.app import HUB, READERS, build_app
from ws_broadcaster.settings import BroadcasterSettings


@pytest.fixture
async def feed(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[Feed]:
    producer = make_producer(kafka_bootstrap, "ws-broadcaster-tests")
    await producer.start()
    try:
        yield Feed(producer, topics)
    finally:
        await producer.stop()


@pytest.fixture
async def start_broadcaster(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[StartBroadcaster]:
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> TestServer:
        values: dict[str, Any] = {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": topics.prefix,
            "WS_HEARTBEAT_SECONDS": 300,
        } | overrides
        settings = BroadcasterSettings(**values)
        app = build_app(settings, registry=CollectorRegistry())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        async with asyncio.timeout(60):
            while len(app[READERS]) < 2:  # noqa: ASYNC110 - the readers appear when the app starts
                await asyncio.sleep(0.05)
            for reader in app[READERS]:
                await reader.caught_up.wait()
            while not app[HUB].incidents_loaded:  # noqa: ASYNC110 - set by a task right after catching up
                await asyncio.sleep(0.05)
        return server

    yield start
    for server in servers:
        async with asyncio.timeout(60):  # a shutdown that hangs fails here, named, not as a suite timeout
            await server.close()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[WsClient]]]:
    clients: list[WsClient] = []

    async def _connect(server: TestServer, path: str = "/ws") -> WsClient:
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(server.make_url(path))
        client = WsClient(session, ws)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()

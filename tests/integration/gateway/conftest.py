"""The gateway in-process, on a real port, against the real Kafka and MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer

from incident_shared.topics import Topics
from ingest_gateway.app import build_app
from ingest_gateway.appkeys import INCIDENT_READER, INCIDENT_VIEW
from ingest_gateway.settings import GatewaySettings
from support.incident_records import publish_incidents, wait_for_versions

GatewayFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_gateway(
    kafka_bootstrap: str, mongo_uri: str, topics: Topics, mongo_db_name: str
) -> AsyncIterator[GatewayFactory]:
    """Starts gateways with this test's topics and database; `overrides` are settings fields."""
    clients: list[TestClient[Any, Any]] = []

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        fields: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_topic_prefix": topics.prefix,
            "mongodb_uri": mongo_uri,
            "mongodb_database": mongo_db_name,
            "command_wait_seconds": 3.0,
        }
        fields.update(overrides)
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(GatewaySettings(**fields))))
        await client.start_server()
        clients.append(client)
        # Incident reads answer 503 until the view has read the incidents topic: wait for it, on
        # this test's topics (another broker or topic prefix may have no incidents topic).
        if not {"kafka_bootstrap_servers", "kafka_topic_prefix"} & overrides.keys():
            await asyncio.wait_for(client.server.app[INCIDENT_READER].ready.wait(), 30)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> TestClient[Any, Any]:
    return await make_gateway()


@pytest.fixture
def publish(kafka_bootstrap: str, topics: Topics) -> Callable[..., Awaitable[None]]:
    """`await publish(gateway, incidents)`: publishes incident changes to this test's topic, as the
    aggregator does, and waits until the gateway's incident view holds them."""

    async def send(gateway: TestClient[Any, Any], incidents: list[dict[str, Any]]) -> None:
        await publish_incidents(kafka_bootstrap, topics.incidents, incidents)
        versions = {i["incidentId"]: i["version"] for i in incidents}
        await wait_for_versions(gateway.server.app[INCIDENT_VIEW], versions)

    return send


async def _read_topic(bootstrap: str, topic: str, count: int, wait: float = 20.0) -> list[Any]:
    """Reads `count` records from the start of `topic` (or fewer if `wait` seconds pass)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + wait
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> Callable[..., Awaitable[list[Any]]]:
    """`await read_topic(topic, count)`: the first `count` records of `topic`, from its start."""
    return lambda topic, count, wait=20.0, bootstrap=None: _read_topic(bootstrap or kafka_bootstrap, topic, count, wait)


@pytest.fixture
def decode() -> Callable[[list[Any]], list[dict[str, Any]]]:
    return lambda records: [orjson.loads(r.value) for r in records]

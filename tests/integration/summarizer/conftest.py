"""Helpers for the summarizer's integration tests: incidents, a settable clock, the fake provider, engines."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from incident_shared import mongo
from incident_shared.codec import dumps, loads
from incident_shared.schemas import IncidentSummary
from summarizer.app import build_app
from summarizer.breaker import CircuitBreaker
from summarizer.budget import Budget
from summarizer.engine import SummaryEngine
from summarizer.fakeprovider import FakeProvider
from summarizer.metrics import SummarizerMetrics
from summarizer.providers.claude import ClaudeProvider
from summarizer.providers.openai_compat import OpenAIProvider
from summarizer.settings import SummarizerSettings


class RecordingSleep:
    """Stands in for asyncio.sleep in retries: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def fake_provider():

    fake = FakeProvider()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def make_engine(fake_provider, clock):
    """Builds a SummaryEngine against the fake server: make_engine('claude', threshold=2, budget=1.0)."""

    engines = []

    def build(
        kind="claude",
        *,
        threshold=3,
        cooldown=60.0,
        budget=5.0,
        attempts=3,
        timeout=5.0,
        max_wait=30.0,
        concurrency=4,
        model=None,
    ):
        if kind == "claude":
            provider = ClaudeProvider(
                api_key=SecretStr("sk-ant-test"),
                model=model or "claude-haiku-4-5",
                base_url=fake_provider.base_url,
                timeout=timeout,
            )
        elif kind == "openai":
            provider = OpenAIProvider(
                api_key=SecretStr("sk-test"),
                model=model or "gpt-4o-mini",
                base_url=fake_provider.base_url + "/v1",
                timeout=timeout,
            )
        else:
            provider = None
        sleep = RecordingSleep()
        engine = SummaryEngine(
            provider=provider,
            breaker=CircuitBreaker(failure_threshold=threshold, cooldown_seconds=cooldown, clock=clock),
            budget=Budget(daily_usd=budget, clock=clock),
            metrics=SummarizerMetrics.create(CollectorRegistry()),
            clock=clock,
            attempts=attempts,
            retry_max_wait=max_wait,
            concurrency=concurrency,
            sleep=sleep,
        )
        engine.test_sleep = sleep
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        if engine.provider is not None:
            await engine.provider.close()


@pytest.fixture
async def summarizer_app(topics, kafka_bootstrap, mongo_uri, mongo_db_name, fake_provider):
    """Starts the summarizer app (real Kafka, real MongoDB-protocol server, fake provider); yields a client.

    `await summarizer_app(**settings)` builds it; the client is aiohttp's TestClient.
    """
    clients = []

    async def start(*, wait_ready=True, **overrides):
        values = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_topic_prefix": topics.prefix,
            "mongodb_uri": mongo_uri,
            "mongodb_database": mongo_db_name,
            "ai_provider": "claude",
            "anthropic_api_key": "sk-ant-test",
            "anthropic_base_url": fake_provider.base_url,
            "summary_settle_seconds": 0.5,
            "summary_settle_events": 5,
            "ai_retry_max_wait_seconds": 1.0,
            "api_tokens": "",
        } | overrides
        app = build_app(SummarizerSettings(**values))
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        if wait_ready:
            await _until_ready(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def kafka_io(kafka_bootstrap, topics):
    """Produces incident changes to the test's incidents topic; reads its incident-summaries topic."""

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    consumer = AIOKafkaConsumer(
        topics.incident_summaries,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await producer.start()
    await consumer.start()

    class IO:
        async def send_change(self, change):
            await producer.send_and_wait(topics.incidents, dumps(change), key=change.incident.incidentId.encode())

        async def next_summary(self, within=60.0):
            """The next record on incident-summaries as (key, IncidentSummary)."""
            async with asyncio.timeout(within):
                record = await consumer.getone()
            return record.key.decode(), IncidentSummary.model_validate(loads(record.value))

    yield IO()
    await consumer.stop()
    await producer.stop()


@pytest.fixture
async def store_incident(mongo_uri, mongo_db_name):
    """`await store_incident(incident)`: writes it to the test database as the aggregator projects it."""
    client = AsyncMongoClient(mongo_uri, tz_aware=True)

    async def store(incident):
        await client[mongo_db_name]["incidents"].insert_one(
            {"_id": incident.incidentId, **mongo.incident_document(incident)}
        )

    yield store
    await client.close()


async def _until_ready(client, within=60.0):
    """Polls /api/ai/health until the summarizer is connected to Kafka and caught up."""
    async with asyncio.timeout(within):
        while True:
            body = await (await client.get("/api/ai/health")).json()
            if body["data"]["caughtUp"] and body["data"]["kafkaConnected"]:
                return body["data"]
            await asyncio.sleep(0.2)

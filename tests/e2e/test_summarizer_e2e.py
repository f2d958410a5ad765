"""A storm through the gateway ends with an incident carrying a summary and suggested actions.

The whole stack runs as processes (tests/e2e/conftest.py), with the summarizer pointed at the local
stand-in for the AI provider: events in over HTTP -> Kafka -> the aggregator opens an incident ->
the summarizer decides it is worth a summary, calls the provider through the real SDK, publishes
it -> the aggregator merges it (`summary_updated`) and projects it into MongoDB.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from incident_shared.codec import loads
from incident_shared.timeutil import iso, utcnow

pytestmark = pytest.mark.e2e


async def _summarized_incident(http: aiohttp.ClientSession, api: str, service: str) -> dict[str, Any]:
    """Polls the read API until an incident of `service` carries a summary."""
    async with asyncio.timeout(180):
        while True:
            resp = await http.get(f"{api}/api/incidents", params={"service": service})
            incidents = (await resp.json()).get("data", []) if resp.status == 200 else []
            found = [i for i in incidents if i.get("aiGeneratedSummary")]
            if found:
                return found[0]
            await asyncio.sleep(0.5)


async def _summary_updated_on_topic(stack: Any, incident_id: str) -> dict[str, Any]:
    """Reads the compacted incidents topic from the beginning until this incident's summary_updated."""
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}incidents",
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        change = loads(record.value)
                        if change["incident"]["incidentId"] == incident_id and change["action"] == "summary_updated":
                            return change
    finally:
        await consumer.stop()


async def test_a_storm_ends_with_a_summarized_incident(stack):
    service = f"e2e-payments-{secrets.token_hex(3)}"
    now = utcnow()
    storm = [
        {
            "service": service,
            "severity": 4,
            "timestamp": iso(now - timedelta(seconds=60 - i)),
            "message": f"Timeout after {5000 + i}ms calling payments-db:5432",
            "errorType": "TimeoutError",
        }
        for i in range(60)
    ]
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{stack.api_url}/api/events/batch", json=storm)
        assert resp.status == 201, await resp.text()

        incident = await _summarized_incident(http, stack.api_url, service)
        incident_id = incident["incidentId"]
        assert incident["suggestedActions"], incident
        assert incident["rootCause"]
        assert incident["summaryKind"] == "ai"
        assert incident["summaryProvider"] == "anthropic"
        assert incident["summaryModel"] == "claude-haiku-4-5"
        assert service in incident["aiGeneratedSummary"]  # the stand-in writes from the digest it was sent

        # In MongoDB, as the aggregator projected it.
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
        try:
            stored = await mongo[stack.database]["incidents"].find_one({"incidentId": incident_id})
        finally:
            await mongo.close()
        assert stored is not None
        assert stored["aiGeneratedSummary"] == incident["aiGeneratedSummary"]
        assert stored["suggestedActions"] == incident["suggestedActions"]
        assert stored["summaryKind"] == "ai"

        # On the topic: the aggregator merged the summary and published the change.
        change = await _summary_updated_on_topic(stack, incident_id)
        assert change["incident"]["suggestedActions"]
        assert change["incident"]["summaryProvider"] == "anthropic"

        # The summarizer's API, at the same base as the rest of the API.
        health = await (await http.get(f"{stack.api_url}/api/ai/health")).json()
        assert health["data"]["provider"] == "anthropic"
        assert health["data"]["aiAvailable"] is True
        metrics = await (await http.get(f"{stack.api_url}/api/ai/metrics")).json()
        assert metrics["data"]["calls"]["byOutcome"].get("success", 0) >= 1
        breaker = await (await http.get(f"{stack.api_url}/api/ai/circuit-breaker")).json()
        assert breaker["data"]["state"] == "closed"
        resp = await http.post(f"{stack.api_url}/api/ai/summarize/{incident_id}")
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["data"]["summary"]["incidentId"] == incident_id
        assert body["data"]["published"] is True

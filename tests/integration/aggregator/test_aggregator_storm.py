"""A storm produced straight to Kafka becomes the expected incidents in MongoDB and on the topic; a
worker killed or stopped gracefully mid-stream and restarted loses and duplicates nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from aggregator.engine import load_config
from aggregator.replay import diff, live_incidents, replay
from incident_shared.schemas.incidents import IncidentChange, IncidentCommand, IncidentSummary
from incident_shared.topics import Topics
from support.aggregator_storm import (
    all_events_projected,
    cross_key_cascade,
    kill_mid_stream_and_restart,
    produce,
    read_topic,
    storm,
    wait_for,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[3]


async def _send_command_and_summary(bootstrap: str, topics: Topics, incident: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        key = incident["routingKey"].encode()
        command = IncidentCommand(
            commandId="cmd_it1",
            incidentId=incident["incidentId"],
            action="acknowledge",
            actor="alice",
            issuedAt=datetime.now(UTC),
        )
        await producer.send_and_wait(topics.incident_commands, command.model_dump_json().encode(), key=key)
        summary = IncidentSummary(
            incidentId=incident["incidentId"],
            basedOnVersion=incident["version"],
            kind="rule-based",
            provider="rule-based",
            summary="payments-db is saturated",
            rootCause="connection limit",
            suggestedActions=["raise max_connections"],
            confidence=0.4,
            generatedAt=datetime.now(UTC),
        )
        await producer.send_and_wait(topics.incident_summaries, summary.model_dump_json().encode(), key=key)
    finally:
        await producer.stop()


async def test_a_storm_becomes_a_few_incidents_in_mongodb_and_on_the_topic(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start)
    aggregator_worker.start()
    # Keyed by correlation key and in time order, as the gateway does.
    await produce(kafka_bootstrap, topics.events, events)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:
        await wait_for(db, lambda d: all_events_projected(d, len(events)))
        await asyncio.sleep(3)  # the last batch's incident versions
        incidents = [d async for d in db.incidents.find({})]
        by_origin = {i["probableOrigin"]: i for i in incidents}
        assert len(incidents) == 2, [(i["title"], i["eventCount"]) for i in incidents]
        cascade = by_origin["payments-db"]
        assert cascade["affectedServices"] == ["checkout-service", "payment-service", "payments-db"]
        assert cascade["eventCount"] == 600
        assert cascade["correlationKey"] == cascade["routingKey"] == "checkout"
        assert by_origin["search"]["eventCount"] == 200
        assert isinstance(cascade["firstSeen"], datetime)
        # Every event is projected once, with its incident, fingerprint, template and minute.
        assert await db.events.count_documents({}) == len(events)
        assert await db.events.count_documents({"incidentId": cascade["incidentId"]}) == 600
        doc = await db.events.find_one({"eventId": "evt_pay00010"})
        assert doc is not None
        assert doc["template"] == "Timeout after <NUM> calling payments-db:<NUM>"
        assert isinstance(doc["timestamp"], datetime)
        assert doc["minute"] == doc["timestamp"].replace(second=0, microsecond=0)
        rollups = [r async for r in db.event_rollups.find({})]
        assert sum(r["count"] for r in rollups) == len(events)
        # The topic has every change, versions increasing, the last one matching MongoDB.
        records = await read_topic(kafka_bootstrap, topics.incidents)
        changes = [IncidentChange.model_validate_json(r.value) for r in records]
        latest: dict[str, int] = {}
        for r, c in zip(records, changes, strict=True):
            assert r.key.decode() == c.incident.incidentId
            assert c.incident.version > latest.get(c.incident.incidentId, 0)
            latest[c.incident.incidentId] = c.incident.version
        assert {i["incidentId"]: i["version"] for i in incidents} == latest
        # The invalid record went to the dead-letter topic with the reason.
        [dead] = await read_topic(kafka_bootstrap, topics.events_dlq)
        headers = dict(dead.headers)
        assert b"service" in headers["dlq-reason"]
        assert headers["dlq-origin"].startswith(topics.events.encode())
        # A replay of the same range gives the same incidents as live (read-only, in memory).
        config = load_config(ROOT / "deploy/config/correlation.toml")
        result = await replay(
            kafka_bootstrap, topics.events, start - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1), config
        )
        assert result.invalid == 1
        d = diff(
            await live_incidents(kafka_bootstrap, topics.incidents, start - timedelta(days=1), datetime.now(UTC)),
            result.incidents,
        )
        assert d["onlyLive"] == d["onlyReplay"] == []
        assert d["same"] == 2, d["changed"]
        # A person acknowledges it and the summarizer summarizes it, both keyed by its routing key.
        await _send_command_and_summary(kafka_bootstrap, topics, cascade)

        async def applied(d: Any) -> bool:
            doc = await d.incidents.find_one({"_id": cascade["incidentId"]})
            return bool(doc and doc["lastCommandId"] == "cmd_it1" and doc["aiGeneratedSummary"])

        await wait_for(db, applied, limit=60)
        doc = await db.incidents.find_one({"_id": cascade["incidentId"]})
        assert doc is not None
        assert doc["status"] == "acknowledged"
        assert doc["acknowledgedBy"] == "alice"
        assert doc["summaryKind"] == "rule-based"
        assert doc["summaryBasedOnVersion"] == cascade["version"]
        assert doc["version"] == cascade["version"] + 2
        actions = [
            IncidentChange.model_validate_json(r.value).action
            for r in await read_topic(kafka_bootstrap, topics.incidents)
        ]
        assert "summary_updated" in actions
    finally:
        await client.close()


@pytest.mark.timeout(600)
async def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    await kill_mid_stream_and_restart(aggregator_worker, topics, kafka_bootstrap, mongo_uri, mongo_db_name)


@pytest.mark.timeout(900)
async def test_a_worker_stopped_gracefully_mid_batch_loses_and_duplicates_nothing(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    # Small batches: each stop lands in the middle of one, after earlier ones were acknowledged.
    aggregator_worker.env["AGGREGATOR_BATCH_SIZE"] = "100"
    await kill_mid_stream_and_restart(
        aggregator_worker, topics, kafka_bootstrap, mongo_uri, mongo_db_name, graceful_stops=3
    )


async def test_records_without_the_correlation_key_still_join_their_group(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = storm(start, n_db=100, n_search=50)
    aggregator_worker.start()
    # No key at all: the records land on random partitions and must be forwarded to their group's.
    await produce(kafka_bootstrap, topics.events, events, keyed=False)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:
        await wait_for(db, lambda d: all_events_projected(d, len(events)))
        await asyncio.sleep(3)
        incidents = sorted([d async for d in db.incidents.find({})], key=lambda i: i["eventCount"])
        assert [(i["routingKey"], i["eventCount"]) for i in incidents] == [("search", 50), ("checkout", 200)]
    finally:
        await client.close()


async def test_a_cascade_across_correlation_keys_is_one_incident_and_acknowledged_as_one(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = cross_key_cascade(start)
    aggregator_worker.start()
    await produce(kafka_bootstrap, topics.events, events)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:

        async def merged(d: Any) -> bool:
            roots = [i async for i in d.incidents.find({"mergedIncidentIds.1": {"$exists": True}})]
            return bool(roots) and roots[0]["eventCount"] == len(events)

        await wait_for(db, merged)
        incidents = {i["_id"]: i async for i in db.incidents.find({})}
        [root] = [i for i in incidents.values() if i.get("mergedInto") is None]
        assert root["probableOrigin"] == "postgres-orders"
        assert root["affectedServices"] == ["checkout-api", "order-service", "postgres-orders"]
        members = [incidents[m] for m in root["mergedIncidentIds"]]
        assert {m["mergedInto"] for m in members} == {root["_id"]}
        assert sorted(m["routingKey"] for m in members) == ["checkout-api", "order-service"]
        # Acknowledging the cascade acknowledges every incident merged into it.
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            command = IncidentCommand(
                commandId="cmd_cascade",
                incidentId=root["_id"],
                action="acknowledge",
                actor="bob",
                issuedAt=datetime.now(UTC),
            )
            await producer.send_and_wait(
                topics.incident_commands, command.model_dump_json().encode(), key=root["routingKey"].encode()
            )
        finally:
            await producer.stop()

        async def all_acknowledged(d: Any) -> bool:
            return await d.incidents.count_documents({"status": "acknowledged", "acknowledgedBy": "bob"}) == 3

        await wait_for(db, all_acknowledged, limit=60)
        # A replay of the range merges the same way.
        config = load_config(ROOT / "deploy/config/correlation.toml")
        result = await replay(
            kafka_bootstrap, topics.events, start - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1), config
        )
        [replayed_root] = [i for i in result.incidents if i.mergedInto is None]
        assert replayed_root.incidentId == root["_id"]
        assert sorted(replayed_root.mergedIncidentIds) == sorted(root["mergedIncidentIds"])
        assert replayed_root.eventCount == len(events)
    finally:
        await client.close()

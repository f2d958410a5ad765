"""An operator lists what the aggregator dead-lettered, fixes a record and replays it: it becomes one
event, however often it is replayed. Real worker, real Kafka, real MongoDB-protocol server; the
tool runs as an operator runs it (`incidentctl`, a separate process)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from incident_shared.ids import stable_id
from incident_shared.topics import Topics
from support.aggregator_storm import read_topic

pytestmark = pytest.mark.integration


def incidentctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _until(predicate: Any, limit: float = 120.0) -> Any:
    async with asyncio.timeout(limit):
        while not (result := await predicate()):  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(1.0)
        return result


@pytest.mark.timeout(400)
async def test_a_dead_lettered_event_is_fixed_and_replayed_once(
    aggregator_worker: Any, topics: Topics, kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str
) -> None:
    aggregator_worker.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        # A producer bug: severity out of range; no eventId and no timestamp, as a raw Kafka producer sends.
        bad = b'{"service": "billing", "severity": 9, "message": "Disk full on /var/lib/billing"}'
        sent = await producer.send_and_wait(topics.events, bad, key=b"billing")
        good = b'{"service": "billing", "severity": 2, "message": "nightly export done", "eventId": "evt_ok-1"}'
        await producer.send_and_wait(topics.events, good, key=b"billing")
    finally:
        await producer.stop()
    origin_id = stable_id("evt_", topics.events, sent.partition, sent.offset)
    env = aggregator_worker.env

    letters = await _until(lambda: read_topic(kafka_bootstrap, topics.events_dlq, idle=2.0))
    listed = incidentctl(env, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert row["offset"] == letters[0].offset
    assert "severity" in row["reason"]
    assert row["origin"] == f"{topics.events}/{sent.partition}/{sent.offset}"
    assert "Disk full" in row["value"]
    assert "1 of 1 dead-lettered records" in listed.stderr
    table = incidentctl(env, "dlq", "list", "--reason", "severity")
    assert "Disk full on /var/lib/billing" in table.stdout

    dry = incidentctl(env, "dlq", "replay", "--offset", str(row["offset"]), "--set", "severity=4", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert '"severity":4' in dry.stdout
    assert origin_id in dry.stdout
    assert "would be replayed" in dry.stderr
    assert incidentctl(env, "dlq", "replay", "--offset", "999").returncode == 2
    bad_edit = incidentctl(env, "dlq", "replay", "--all", "--set", "severity")
    assert (bad_edit.returncode, "expected FIELD=VALUE" in bad_edit.stderr) == (2, True)

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[mongo_db_name]
    try:
        for _ in range(2):  # replayed twice: still one event
            done = incidentctl(env, "dlq", "replay", "--offset", str(row["offset"]), "--set", "severity=4")
            assert done.returncode == 0, done.stderr
            assert "replayed 1 record(s)" in done.stderr
        event = await _until(lambda: db.events.find_one({"eventId": origin_id}))
        assert event["severity"] == 4
        assert event["message"] == "Disk full on /var/lib/billing"
        await _until(lambda: db.events.find_one({"eventId": "evt_ok-1"}))
        replays = [r for r in await read_topic(kafka_bootstrap, topics.events, idle=2.0) if r.headers]
        assert len(replays) == 2
        assert dict(replays[0].headers)["dlq-replayed-from"] == f"{topics.events_dlq}/0/{row['offset']}".encode()
        await asyncio.sleep(3)  # the second replay is processed (as a duplicate) by now
        assert await db.events.count_documents({"service": "billing"}) == 2
        # Nothing new was dead-lettered: the fix took.
        assert len(await read_topic(kafka_bootstrap, topics.events_dlq, idle=2.0)) == 1
    finally:
        await client.close()

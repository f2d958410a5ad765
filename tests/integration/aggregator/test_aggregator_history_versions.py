"""Incident versions in the history against the real MongoDB-protocol server: an older version
written after a newer one (a batch replayed after a restart, or a command applied while another
path already stored a newer version) is a no-op, never an error that stops the writer, and never
drops the rest of its batch.

FerretDB 1.x answers an update with write errors without `n`/`nModified` and stops at its first
failing statement, even unordered: the writer must still store every newer version in the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from aggregator.assignments import Row
from aggregator.deadletters import DeadLetters
from aggregator.history.join import Insert, Work
from aggregator.history.service import ProducerSink
from aggregator.history.writer import HistoryWriter
from aggregator.replay import live_incidents
from aggregator.steps import Record
from incident_shared import kafka, mongo
from incident_shared.schemas import Event
from incident_shared.schemas.incidents import Incident, IncidentChange
from incident_shared.timeutil import epoch_ms
from incident_shared.topics import Topics
from support import aggregator_steps as s

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
async def history(
    kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str, topics: Topics
) -> AsyncIterator[tuple[HistoryWriter, AsyncDatabase[dict[str, Any]], Any]]:
    m, registry = s.metrics()
    producer = AIOKafkaProducer(**kafka.producer_config(kafka_bootstrap, "history-versions-test"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    await producer.start()
    try:
        w = HistoryWriter(
            client[mongo_db_name],
            dead_letters=DeadLetters(ProducerSink(producer, topics.events_dlq), m.dead_letters),
            metrics=m,
        )
        await w.prepare()
        yield w, client[mongo_db_name], registry
    finally:
        await producer.stop()
        await client.close()


def _change(incident_id: str, version: int, count: int = 1, status: str = "active") -> tuple[Record, IncidentChange]:
    incident = Incident.model_validate(
        {
            "incidentId": incident_id,
            "version": version,
            "status": status,
            "severityScore": 3,
            "eventCount": count,
            "firstSeen": T0,
            "lastSeen": T0,
            "createdAt": T0,
            "updatedAt": T0,
        }
    )
    change = IncidentChange(action="updated", incident=incident, emittedAt=T0)
    return Record("incidents", 0, version, incident_id.encode(), change.model_dump_json().encode(), 0), change


async def test_older_versions_in_a_batch_leave_the_newer_ones_stored(history: tuple[HistoryWriter, Any, Any]) -> None:
    w, db, registry = history
    await w.write(Work(), [_change("inc_a", 5, 50, "acknowledged"), _change("inc_b", 2, 20)])
    # Replayed: inc_a's older version in front of a new incident and inc_b's newer one, in one batch.
    await w.write(Work(), [_change("inc_a", 3, 30), _change("inc_c", 1, 3), _change("inc_b", 4, 40)])
    stored = {d["_id"]: (d["version"], d["eventCount"], d["status"]) async for d in db.incidents.find({})}
    assert stored == {"inc_a": (5, 50, "acknowledged"), "inc_b": (4, 40, "active"), "inc_c": (1, 3, "active")}
    assert s.value(registry, "aggregator_dead_letters_total", reason="store-refused") == 0


async def test_a_newer_version_replaces_an_older_one(history: tuple[HistoryWriter, Any, Any]) -> None:
    w, db, _ = history
    await w.write(Work(), [_change("inc_a", 1)])
    await w.write(Work(), [_change("inc_a", 2, status="resolved")])
    doc = await db.incidents.find_one({"incidentId": "inc_a"})
    assert doc is not None
    assert (doc["version"], doc["status"]) == (2, "resolved")


async def test_an_equal_version_read_later_replaces_the_stored_one(history: tuple[HistoryWriter, Any, Any]) -> None:
    # A worker killed after publishing version 3 replays its batch, cut differently: version 3 again,
    # with the count its saved state agrees with. That one is the truth, here and in a replay.
    w, db, _ = history
    await w.write(Work(), [_change("inc_a", 3, 40)])
    await w.write(Work(), [_change("inc_a", 3, 55), _change("inc_a", 2, 20)])
    doc = await db.incidents.find_one({"_id": "inc_a"})
    assert doc is not None
    assert (doc["version"], doc["eventCount"]) == (3, 55)
    await w.write(Work(), [_change("inc_a", 3, 41), _change("inc_a", 3, 60)])  # in one unit, the later wins
    doc = await db.incidents.find_one({"_id": "inc_a"})
    assert doc is not None
    assert (doc["version"], doc["eventCount"]) == (3, 60)


async def test_replay_reads_the_later_of_two_equal_versions_from_the_topic(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # What the incidents topic holds after such a restart; compaction keeps the later one too.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for _, change in (_change("inc_a", 3, 40), _change("inc_a", 3, 55)):
            await producer.send_and_wait(topics.incidents, change.model_dump_json().encode(), key=b"inc_a")
    finally:
        await producer.stop()
    [incident] = await live_incidents(kafka_bootstrap, topics.incidents)
    assert (incident.version, incident.eventCount) == (3, 55)


async def test_events_rollups_and_incidents_are_stored_as_the_gateway_reads_them(
    history: tuple[HistoryWriter, Any, Any], topics: Topics
) -> None:
    """The gateway reads pages of events bucket by bucket, rollups hour by hour and incident lists
    by the day of their last event, and retention deletes by the same fields: what the history
    writes must be the shared stored form (`incident_shared.mongo.*_document`), buckets included."""
    w, db, _ = history
    at = datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)
    event = Event(eventId="evt_buckets", service="api", severity=4, timestamp=at, receivedAt=at)
    body = Record(topics.events, 0, 0, b"api", event.to_record(), epoch_ms(at))
    minute = int(at.timestamp() // 60)
    work = Work(
        operations=[Insert([(body, Row(0, event.eventId, "inc_a", "fp", "t"))])], rollups={(minute, "api", 4): 1}
    )
    record, change = _change("inc_a", 1)
    await w.write(work, [(record, change)])

    expected = mongo.event_document(event, incident_id="inc_a", fingerprint="fp", template="t")
    assert await db.events.find_one({"_id": "evt_buckets"}) == expected
    assert (expected["day"], expected["hour"], expected["tenMinutes"], expected["minute"]) == (
        datetime(2026, 11, 27, tzinfo=UTC),
        datetime(2026, 11, 27, 12, tzinfo=UTC),
        datetime(2026, 11, 27, 12, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 12, 34, tzinfo=UTC),
    )
    rollup = mongo.rollup_document(expected["minute"], "api", 4, 1)
    assert await db[mongo.EVENT_ROLLUPS].find({"hour": expected["hour"]}).to_list() == [rollup]
    incident = await db.incidents.find_one({"_id": "inc_a"})
    assert incident is not None
    assert incident["lastSeenDay"] == datetime(2026, 11, 27, tzinfo=UTC)

    # A rollup this writer wrote before and that is gone since (retention swept it) is created
    # again by the `$max` upsert: with every field of the stored form, not only its count.
    await db[mongo.EVENT_ROLLUPS].delete_many({})
    await w.write(Work(rollups={(minute, "api", 4): 3}))
    rollups = await db[mongo.EVENT_ROLLUPS].find({"hour": expected["hour"]}).to_list()
    assert rollups == [mongo.rollup_document(expected["minute"], "api", 4, 3)]

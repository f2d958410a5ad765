"""The history writer against the real MongoDB-protocol server and the real dead-letter topic: a
document the store refuses goes to the dead-letter topic with the server's reason and the rest of
the batch is written; writing the same batch again changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from aggregator.assignments import Row
from aggregator.deadletters import DeadLetters
from aggregator.engine import CorrelationConfig, CorrelationEngine, MemoryStore
from aggregator.history.join import Assign, Insert, SetResults, Work
from aggregator.history.service import ProducerSink
from aggregator.history.writer import HistoryWriter
from aggregator.steps import Record
from incident_shared import kafka
from incident_shared.schemas.incidents import IncidentChange
from incident_shared.timeutil import epoch_ms
from incident_shared.topics import Topics
from support import aggregator_steps as s
from support.aggregator_storm import read_topic
from support.engine_scenarios import T0, make_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def writer(
    kafka_bootstrap: str, mongo_uri: str, mongo_db_name: str, topics: Topics
) -> AsyncIterator[tuple[HistoryWriter, Any, Any]]:
    m, registry = s.metrics()
    producer = AIOKafkaProducer(**kafka.producer_config(kafka_bootstrap, "history-test"))
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


def _incident_change(version: int, **extra: Any) -> IncidentChange:
    engine = CorrelationEngine(CorrelationConfig(), MemoryStore())
    engine.process(make_event("payments-db", 5, "too many connections", T0))
    [change] = engine.flush()
    incident = change.incident.model_copy(update={"version": version, **extra})
    return change.model_copy(update={"incident": incident})


def _record(value: bytes, topic: str, offset: int) -> Record:
    return Record(topic, 0, offset, b"k", value, epoch_ms(T0))


async def test_documents_the_store_refuses_are_dead_lettered_and_the_rest_is_written(
    writer: tuple[HistoryWriter, Any, Any], kafka_bootstrap: str, topics: Topics
) -> None:
    w, db, registry = writer
    events = [make_event("api", 4, f"timeout {i}", T0 + timedelta(seconds=i)) for i in range(3)]
    # Legal JSON that FerretDB 1.x cannot hold (MongoDB can): stored as its JSON text by the event
    # rules, or refused by the server; either way never lost.
    nested = make_event("api", 4, "odd metadata", T0, metadata={"k": [[], None, ""]})
    bodies = [_record(e.to_record(), topics.events, i) for i, e in enumerate([*events, nested])]
    rows = [Row(i, e.eventId, "inc_a" if i < 2 else None, "fp", "timeout <NUM>") for i, e in enumerate(events)]
    good = _incident_change(1)
    # An incident whose sample holds an array in an array: FerretDB refuses the whole document.
    refused = _incident_change(1, incidentId="inc_refused", sampleEvents=[{"metadata": {"k": [[1], [2]]}}])
    incidents = [(_record(c.model_dump_json().encode(), topics.incidents, i), c) for i, c in enumerate([good, refused])]
    work = Work(
        operations=[
            Insert([(b, r) for b, r in zip(bodies, [*rows, None], strict=True)]),
            Assign("inc_b", [events[2].eventId]),
        ],
        rollups={(int(T0.timestamp() // 60), "api", 4): 4},
    )
    await w.write(work, incidents)

    stored = {d["_id"]: d async for d in db.events.find({})}
    assert [stored[e.eventId]["incidentId"] for e in events] == ["inc_a", "inc_a", "inc_b"]
    assert stored[events[0].eventId]["template"] == "timeout <NUM>"
    assert stored[events[0].eventId]["timestamp"] == T0
    [rollup] = [r async for r in db.event_rollups.find({})]
    assert (rollup["service"], rollup["severity"], rollup["count"]) == ("api", 4, 4)
    assert await db.incidents.count_documents({"_id": good.incident.incidentId, "version": 1}) == 1
    assert await db.incidents.count_documents({"_id": "inc_refused"}) == 0

    letters = {
        h["dlq-origin"].decode(): h
        for h in (dict(r.headers) for r in await read_topic(kafka_bootstrap, topics.events_dlq))
    }
    incident_letter = letters[f"{topics.incidents}/0/1"]
    assert incident_letter["dlq-kind"] == b"store-refused"
    assert b"nested arrays" in incident_letter["dlq-reason"]
    nested_origin = f"{topics.events}/0/3"
    assert (nested.eventId in stored) != (nested_origin in letters), "stored, or dead-lettered with the reason"
    assert s.value(registry, "aggregator_dead_letters_total", reason="store-refused") == len(letters)

    # The same work again (a restart before the commit): nothing new, nothing doubled, and a newer
    # result for a stored event replaces the old one. The stored incident is written again (an
    # equal version), and the refused one is still found and dead-lettered again.
    await w.write(work, incidents)
    again = [dict(r.headers) for r in await read_topic(kafka_bootstrap, topics.events_dlq)]
    assert sum(h["dlq-origin"] == f"{topics.incidents}/0/1".encode() for h in again) == 2
    await w.write(Work(operations=[SetResults([Row(0, events[0].eventId, "inc_c", "fp2", "t2")])]))
    assert await db.events.count_documents({}) == len(stored)
    doc = await db.events.find_one({"_id": events[0].eventId})
    assert doc is not None
    assert (doc["incidentId"], doc["fingerprint"], doc["template"]) == ("inc_c", "fp2", "t2")
    [rollup] = [r async for r in db.event_rollups.find({})]
    assert rollup["count"] == 4
    assert orjson.loads(incidents[0][0].value or b"")["incident"]["version"] == 1

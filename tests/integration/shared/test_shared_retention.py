"""Retention against the real MongoDB-protocol server: what is past its age or over the count goes,
everything else stays, and each sweep reports the store's size and its oldest event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from incident_shared import mongo
from incident_shared.retention import Retention, RetentionMetrics, RetentionPolicy
from incident_shared.schemas import Event, Incident

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def event(i: int, at: datetime) -> dict[str, Any]:
    e = Event(eventId=f"evt_{i:05d}", service="checkout", severity=3, timestamp=at, receivedAt=at)
    return mongo.event_document(e, incident_id=None, fingerprint="fp", template="t")


def incident(incident_id: str, last_seen: datetime) -> dict[str, Any]:
    inc = Incident(
        incidentId=incident_id,
        version=1,
        severityScore=3,
        firstSeen=last_seen - timedelta(minutes=5),
        lastSeen=last_seen,
        createdAt=last_seen,
        updatedAt=last_seen,
    )
    return {"_id": incident_id, **mongo.incident_document(inc)}


@pytest.fixture
async def db(mongo_uri: str, mongo_db_name: str) -> AsyncIterator[Any]:
    client = mongo.make_client(mongo_uri, app_name="test")
    database = client[mongo_db_name]
    await mongo.ensure_indexes(database)
    yield database
    await client.close()


async def ids(coll: Any) -> set[str]:
    return {d["_id"] async for d in coll.find({}, {"_id": 1})}


async def test_what_is_past_its_age_goes_and_the_rest_stays(db: Any) -> None:
    days = [10, 8, 7.01, 6.9, 3, 0]
    await db[mongo.EVENTS].insert_many([event(i, NOW - timedelta(days=d)) for i, d in enumerate(days)])
    await db[mongo.EVENT_ROLLUPS].insert_many(
        [mongo.rollup_document(mongo.minute_of(NOW - timedelta(days=d)), "checkout", 3, 1) for d in (40, 20)]
    )
    await db[mongo.INCIDENTS].insert_many(
        [incident("inc_old", NOW - timedelta(days=45)), incident("inc_kept", NOW - timedelta(days=20))]
    )
    policy = RetentionPolicy(
        event_max_age=timedelta(days=7), incident_max_age=timedelta(days=30), rollup_max_age=timedelta(days=30)
    )
    retention = Retention(db, policy, clock=lambda: NOW)
    registry = CollectorRegistry()
    metrics = RetentionMetrics.create(registry, "test")
    report = await retention.sweep()
    metrics.record(report)

    if retention.ttl:
        pytest.skip("this server expires documents itself (TTL indexes); the sweep is for servers without them")
    # Events older than seven days went (whole hours older than the cutoff; 7.01 days is in the hour
    # that straddles it, which goes at the next sweep).
    assert await ids(db[mongo.EVENTS]) == {"evt_00002", "evt_00003", "evt_00004", "evt_00005"}
    assert await ids(db[mongo.INCIDENTS]) == {"inc_kept"}
    assert len(await ids(db[mongo.EVENT_ROLLUPS])) == 1
    assert report.deleted == {mongo.EVENTS: 2, mongo.EVENT_ROLLUPS: 1, mongo.INCIDENTS: 1}
    assert report.oldest_event == NOW - timedelta(days=7.01)
    assert (
        registry.get_sample_value("test_store_oldest_event_timestamp_seconds")
        == (NOW - timedelta(days=7.01)).timestamp()
    )
    assert registry.get_sample_value("test_retention_deleted_documents_total", {"collection": "events"}) == 2
    assert report.sizes[mongo.EVENTS].bytes > 0

    # An hour later the straddling hour is wholly past the cutoff.
    retention.clock = lambda: NOW + timedelta(hours=1)
    await retention.sweep()
    assert await ids(db[mongo.EVENTS]) == {"evt_00003", "evt_00004", "evt_00005"}


async def test_past_the_count_the_oldest_hours_go(db: Any) -> None:
    # 300 events, 50 an hour over six whole hours.
    start = mongo.hour_of(NOW) - timedelta(hours=6)
    await db[mongo.EVENTS].insert_many([event(i, start + timedelta(minutes=1.2 * i)) for i in range(300)])
    retention = Retention(db, RetentionPolicy(event_max_count=180), clock=lambda: NOW)
    report = await retention.sweep()
    kept = sorted(await ids(db[mongo.EVENTS]))
    # 120 over: the three oldest hours (150 events) go, rounded up to the hour; the newest stay.
    assert kept == [f"evt_{i:05d}" for i in range(150, 300)]
    assert report.deleted[mongo.EVENTS] == 150
    assert report.oldest_event == start + timedelta(hours=3)


async def test_the_oldest_event_is_found_without_a_scan_and_none_when_empty(db: Any) -> None:
    retention = Retention(db, RetentionPolicy(), clock=lambda: NOW)
    assert await retention.oldest_event() is None
    await db[mongo.EVENTS].insert_many([event(i, NOW - timedelta(hours=h)) for i, h in enumerate((30, 2.5, 0.1))])
    assert await retention.oldest_event() == NOW - timedelta(hours=30)

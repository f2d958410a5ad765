"""MongoDB: the client, the collections, their documents and their indexes.

MongoDB holds a projection of the Kafka topics (events, incidents, per-minute rollups); it can be
rebuilt from them. The code uses only what MongoDB 6+ and FerretDB 1.x both support: unique and
compound indexes, `find` with equality filters, `bulk_write` of `UpdateOne(..., upsert=True)` with
`$setOnInsert`/`$set`/`$inc`/`$max`, `insert_many`, `delete_many`, `$collStats`. No transactions,
change streams or aggregation beyond `$match`/`$group`/`$sum`.

**Query shapes.** The local MongoDB-protocol server (FerretDB 1.x) sorts in its own process after
decoding every matching document (about a quarter of a millisecond of CPU per stored event), and
pushes down to its storage only equality on top-level fields (served by an index there) and `_id`.
So every read names its documents by equality on a *bucket* of event time, never by a range or a
sort over a collection: an event by `_id`; a page of events bucket by bucket (`day`, `hour`,
`tenMinutes`, `minute`, newest first: see the gateway's `history` module); rollups by `hour`; retention deletes by
`day` and `hour`. Each stored document carries its buckets, computed here when it is built. On
MongoDB the same shapes are plain index lookups.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident

log = logging.getLogger(__name__)

EVENTS: Final = "events"
INCIDENTS: Final = "incidents"
EVENT_ROLLUPS: Final = "event_rollups"  # one document per (minute, service, severity)

# Fields a stored document carries for the store's own use; the API never shows them.
STORE_FIELDS: Final = frozenset({"_id", "minute", "tenMinutes", "hour", "day", "lastSeenDay"})

INDEXES: Final[dict[str, list[IndexModel]]] = {
    EVENTS: [
        # A page of events reads one day, hour, ten minutes or minute at a time; with a service, or not.
        IndexModel([("day", ASCENDING), ("service", ASCENDING)], name="day_service"),
        IndexModel([("hour", ASCENDING), ("service", ASCENDING)], name="hour_service"),
        IndexModel([("tenMinutes", ASCENDING), ("service", ASCENDING)], name="tenMinutes_service"),
        IndexModel([("minute", ASCENDING), ("service", ASCENDING)], name="minute_service"),
        # An incident's events: all at once when it has few, minute by minute when it has many.
        IndexModel([("incidentId", ASCENDING), ("minute", ASCENDING)], name="incident_minute"),
    ],
    INCIDENTS: [
        # Retention where TTL indexes do not exist: incidents last seen on a day are deleted together.
        IndexModel([("lastSeenDay", ASCENDING)], name="lastSeenDay"),
    ],
    EVENT_ROLLUPS: [
        IndexModel([("hour", ASCENDING)], name="hour"),
        IndexModel([("day", ASCENDING)], name="day"),
    ],
}

# Indexes of earlier versions that no query uses any more: dropped where found, as each one costs
# every write (on FerretDB/PostgreSQL twice: its own index and the GIN index beside it).
RETIRED_INDEXES: Final[dict[str, tuple[str, ...]]] = {
    EVENTS: ("eventId_unique", "timestamp", "service_timestamp", "incident_timestamp"),
    INCIDENTS: ("incidentId_unique", "status_severity", "lastSeen", "affectedServices", "mergedInto"),
    EVENT_ROLLUPS: ("minute",),
}


def minute_of(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def ten_minutes_of(ts: datetime) -> datetime:
    return ts.replace(minute=ts.minute - ts.minute % 10, second=0, microsecond=0)


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def day_of(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def event_document(
    event: Event, *, incident_id: str | None, fingerprint: str | None, template: str | None
) -> dict[str, Any]:
    """The stored form of a processed event: `_id` is its eventId (a redelivery is a duplicate-key
    error, so inserting twice is harmless), timestamps are datetimes, and it carries its buckets."""
    doc = event.to_api()
    doc["_id"] = event.eventId
    doc["timestamp"] = event.timestamp
    doc["receivedAt"] = event.receivedAt
    doc["minute"] = minute_of(event.timestamp)
    doc["tenMinutes"] = ten_minutes_of(event.timestamp)
    doc["hour"] = hour_of(event.timestamp)
    doc["day"] = day_of(event.timestamp)
    doc["incidentId"] = incident_id
    doc["fingerprint"] = fingerprint
    doc["template"] = template
    return doc


def incident_document(incident: Incident) -> dict[str, Any]:
    """The stored form of an incident (`$set` whole, keyed by `_id` = incidentId)."""
    doc = incident.model_dump(mode="python")
    doc["lastSeenDay"] = day_of(incident.lastSeen)
    return doc


def rollup_id(minute: datetime, service: str, severity: int) -> str:
    return f"{minute.astimezone(UTC).isoformat().replace('+00:00', 'Z')}|{service}|{severity}"


def rollup_document(minute: datetime, service: str, severity: int, count: int) -> dict[str, Any]:
    """One (minute, service, severity) count, with its hour and day buckets."""
    return {
        "_id": rollup_id(minute, service, severity),
        "minute": minute,
        "hour": hour_of(minute),
        "day": day_of(minute),
        "service": service,
        "severity": severity,
        "count": count,
    }


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API shows it: without the store's own fields."""
    for name in STORE_FIELDS:
        doc.pop(name, None)
    return doc


def make_client(uri: str, *, app_name: str, timeout_ms: int = 5000) -> AsyncMongoClient[dict[str, Any]]:
    """An async client that fails fast: a dead server is an error within `timeout_ms`, not a hang."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
    )


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Creates the indexes the read API and projections rely on, and drops retired ones (idempotent).

    Only missing indexes are created: FerretDB 1.24 drops the connection (a server-side panic) when
    `createIndexes` names an index that already exists, so the second service to start would fail.
    """

    async def reconcile(name: str, models: list[IndexModel]) -> None:
        existing = {index["name"] async for index in await db[name].list_indexes()}
        missing = [m for m in models if m.document["name"] not in existing]
        if missing:
            await db[name].create_indexes(missing)
        for retired in RETIRED_INDEXES.get(name, ()):
            if retired in existing:
                try:
                    await db[name].drop_index(retired)
                except OperationFailure as exc:  # another service dropped it first
                    log.debug("retired index already gone", extra={"index": retired, "error": str(exc)})

    await asyncio.gather(*(reconcile(name, models) for name, models in INDEXES.items()))


@dataclass(frozen=True, slots=True)
class CollectionSize:
    documents: int  # -1 while the server does not know (PostgreSQL before its first ANALYZE)
    bytes: int  # data and indexes, as the server reports them


async def collection_size(db: AsyncDatabase[dict[str, Any]], name: str) -> CollectionSize:
    """The server's own count and size of a collection (`$collStats`: no scan, on MongoDB and FerretDB).

    FerretDB/PostgreSQL's count is PostgreSQL's estimate, -1 until the table is first analyzed (a
    table just created, or just loaded in bulk, until autovacuum gets to it); its `collStats` command
    analyzes the table (a sample, not a scan) and answers the fresh estimate. MongoDB never gets there.
    """
    size = CollectionSize(0, 0)
    async for row in await db[name].aggregate([{"$collStats": {"storageStats": {}, "count": {}}}]):
        stats = row.get("storageStats", {})
        size = CollectionSize(
            documents=int(row.get("count", stats.get("count", 0))),
            bytes=int(stats.get("totalSize", stats.get("size", 0))),
        )
        break
    if size.documents < 0:
        stats = await db.command("collStats", name)
        size = CollectionSize(documents=int(stats.get("count", -1)), bytes=size.bytes)
    return size


def hours_between(newest: datetime, oldest: datetime) -> list[datetime]:
    """The hour buckets from `newest`'s down to `oldest`'s, newest first."""
    hours: list[datetime] = []
    h, stop = hour_of(newest), hour_of(oldest)
    while h >= stop:
        hours.append(h)
        h -= timedelta(hours=1)
    return hours


async def probe_mongo(client: AsyncMongoClient[dict[str, Any]], limit_seconds: float = 3.0) -> str:
    """Pings the server; returns its version or raises."""
    async with asyncio.timeout(limit_seconds):
        await client.admin.command("ping")
        info = await client.server_info()
    return f"version {info.get('version', '?')}"

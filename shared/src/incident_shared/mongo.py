"""MongoDB: the client, the collections, and their indexes.

MongoDB holds a projection of the Kafka topics (events, incidents, per-minute rollups); it can be
rebuilt from them. The code uses only what MongoDB 6+ and FerretDB 1.x both support: unique and
compound indexes, `find` with sort/skip/limit, `bulk_write` of `UpdateOne(..., upsert=True)` with
`$setOnInsert`/`$set`/`$inc`/`$max`, `find_one_and_update`, `count_documents`, and aggregation
limited to `$match`/`$group` with `$sum`/`$sort`/`$limit`. No transactions, change streams or TTL
indexes (retention is a periodic delete).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

EVENTS: Final = "events"
INCIDENTS: Final = "incidents"
EVENT_ROLLUPS: Final = "event_rollups"  # one document per (minute, service, severity)

INDEXES: Final[dict[str, list[IndexModel]]] = {
    EVENTS: [
        IndexModel([("eventId", ASCENDING)], unique=True, name="eventId_unique"),
        IndexModel([("timestamp", DESCENDING)], name="timestamp"),
        IndexModel([("service", ASCENDING), ("timestamp", DESCENDING)], name="service_timestamp"),
        IndexModel([("incidentId", ASCENDING), ("timestamp", DESCENDING)], name="incident_timestamp"),
    ],
    INCIDENTS: [
        IndexModel([("incidentId", ASCENDING)], unique=True, name="incidentId_unique"),
        IndexModel([("status", ASCENDING), ("severityScore", DESCENDING)], name="status_severity"),
        IndexModel([("lastSeen", DESCENDING)], name="lastSeen"),
        IndexModel([("affectedServices", ASCENDING)], name="affectedServices"),
        IndexModel([("mergedInto", ASCENDING)], name="mergedInto"),
    ],
    EVENT_ROLLUPS: [
        IndexModel([("minute", DESCENDING)], name="minute"),
    ],
}


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
    """Creates the indexes the read API and projections rely on (idempotent).

    Only missing indexes are created: FerretDB 1.24 drops the connection (a server-side panic) when
    `createIndexes` names an index that already exists, so the second service to start would fail.
    """

    async def create_missing(name: str, models: list[IndexModel]) -> None:
        existing = {index["name"] async for index in await db[name].list_indexes()}
        missing = [m for m in models if m.document["name"] not in existing]
        if missing:
            await db[name].create_indexes(missing)

    await asyncio.gather(*(create_missing(name, models) for name, models in INDEXES.items()))


async def probe_mongo(client: AsyncMongoClient[dict[str, Any]], limit_seconds: float = 3.0) -> str:
    """Pings the server; returns its version or raises."""
    async with asyncio.timeout(limit_seconds):
        await client.admin.command("ping")
        info = await client.server_info()
    return f"version {info.get('version', '?')}"

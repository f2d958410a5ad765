"""Index creation against the real MongoDB-protocol server."""

from __future__ import annotations

import pytest

from incident_shared import mongo

pytestmark = pytest.mark.integration


async def test_every_service_can_ensure_the_indexes_on_start(mongo_uri: str, mongo_db_name: str) -> None:
    """The gateway and the aggregator both ensure the indexes; the second one must not fail."""
    client = mongo.make_client(mongo_uri, app_name="test")
    try:
        db = client[mongo_db_name]
        await mongo.ensure_indexes(db)
        await mongo.ensure_indexes(db)
        for name, models in mongo.INDEXES.items():
            names = {index["name"] async for index in await db[name].list_indexes()}
            assert {m.document["name"] for m in models} <= names, name
    finally:
        await client.close()


async def test_indexes_no_query_uses_any_more_are_dropped(mongo_uri: str, mongo_db_name: str) -> None:
    """A store made by an earlier version loses the indexes that only cost writes now."""
    client = mongo.make_client(mongo_uri, app_name="test")
    try:
        db = client[mongo_db_name]
        await db[mongo.INCIDENTS].create_index([("status", 1), ("severityScore", -1)], name="status_severity")
        await db[mongo.EVENTS].create_index([("eventId", 1)], name="eventId_unique", unique=True)
        await mongo.ensure_indexes(db)
        incidents = {index["name"] async for index in await db[mongo.INCIDENTS].list_indexes()}
        events = {index["name"] async for index in await db[mongo.EVENTS].list_indexes()}
        assert "status_severity" not in incidents
        assert "eventId_unique" not in events
        assert "hour_service" in events
    finally:
        await client.close()

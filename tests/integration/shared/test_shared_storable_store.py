"""Each storage rule, checked against the real MongoDB-protocol server: what it refuses as sent, it
holds once made storable, and what the rules leave alone it holds as it is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson.errors import InvalidDocument
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from incident_shared.schemas import parse_event
from support.storable_cases import KEPT, UNCHANGED, Kept

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(mongo_uri: str, mongo_db_name: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield client[mongo_db_name]
    await client.close()


async def store(db: AsyncDatabase[dict[str, Any]], doc_id: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """Writes metadata as the projection does (an event document, and an incident's sample event via
    `$set`), then reads the event back."""
    await db.events.insert_one({"_id": doc_id, "eventId": doc_id, "metadata": metadata})
    await db.incidents.update_one(
        {"_id": doc_id}, {"$set": {"sampleEvents": [{"eventId": doc_id, "metadata": metadata}]}}, upsert=True
    )
    return await db.events.find_one({"_id": doc_id})


@pytest.mark.parametrize("case", [c for c in KEPT if c.refused_as_sent], ids=lambda c: c.name)
async def test_the_server_refuses_the_value_as_sent(db: AsyncDatabase[dict[str, Any]], case: Kept) -> None:
    with pytest.raises((PyMongoError, InvalidDocument, OverflowError)):
        await store(db, "sent", case.metadata)


@pytest.mark.parametrize("case", KEPT, ids=lambda c: c.name)
async def test_the_server_holds_the_event_once_made_storable(db: AsyncDatabase[dict[str, Any]], case: Kept) -> None:
    event = parse_event({"service": "api", "severity": 3, "metadata": case.metadata}, received_at=NOW)
    assert event.metadata == case.stored
    doc = await store(db, event.eventId, event.metadata)
    assert doc is not None
    assert doc["metadata"] == case.stored


@pytest.mark.parametrize("metadata", UNCHANGED)
async def test_the_server_holds_what_the_rules_leave_alone(
    db: AsyncDatabase[dict[str, Any]], metadata: dict[str, Any]
) -> None:
    doc = await store(db, "unchanged", metadata)
    assert doc is not None
    assert doc["metadata"] == metadata

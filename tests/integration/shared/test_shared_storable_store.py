"""Each storage rule, checked against the real MongoDB-protocol server: what it refuses as sent, it
holds once made storable, and what the rules leave alone it holds as it is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson.errors import InvalidDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from incident_shared.schemas import parse_event
from support.storable_cases import KEPT, UNCHANGED, Kept

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def store(db: AsyncDatabase[dict[str, Any]], doc_id: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """Writes metadata as the projection does (an event document, and an incident's sample event via
    `$set`), then reads the event back."""
    await db.events.insert_one({"_id": doc_id, "eventId": doc_id, "metadata": metadata})
    await db.incidents.update_one(
        {"_id": doc_id}, {"$set": {"sampleEvents": [{"eventId": doc_id, "metadata": metadata}]}}, upsert=True
    )
    return await db.events.find_one({"_id": doc_id})


@pytest.mark.parametrize("case", [c for c in KEPT if c.refused_as_sent], ids=lambda c: c.name)
async def test_the_server_refuses_the_value_as_sent(mongo_db: AsyncDatabase[dict[str, Any]], case: Kept) -> None:
    with pytest.raises((PyMongoError, InvalidDocument, OverflowError)):
        await store(mongo_db, "sent", case.metadata)


@pytest.mark.parametrize("case", KEPT, ids=lambda c: c.name)
async def test_the_server_holds_the_event_once_made_storable(
    mongo_db: AsyncDatabase[dict[str, Any]], case: Kept
) -> None:
    event = parse_event({"service": "api", "severity": 3, "metadata": case.metadata}, received_at=NOW)
    assert event.metadata == case.stored
    doc = await store(mongo_db, event.eventId, event.metadata)
    assert doc is not None
    assert doc["metadata"] == case.stored


@pytest.mark.parametrize("metadata", UNCHANGED)
async def test_the_server_holds_what_the_rules_leave_alone(
    mongo_db: AsyncDatabase[dict[str, Any]], metadata: dict[str, Any]
) -> None:
    doc = await store(mongo_db, "unchanged", metadata)
    assert doc is not None
    assert doc["metadata"] == metadata

"""The stored documents against the real MongoDB-protocol server: whatever an accepted event holds,
its document is stored and read back (PostgreSQL's JSON, under the local server, refuses NUL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_shared import mongo
from incident_shared.schemas import parse_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(mongo_uri: str, mongo_db_name: str) -> AsyncIterator[Any]:
    client = mongo.make_client(mongo_uri, app_name="test")
    yield client[mongo_db_name]
    await client.close()


async def test_an_event_with_nul_in_every_text_is_stored_and_read_back(db: Any) -> None:
    event = parse_event(
        {
            "service": "api",
            "severity": 4,
            "message": "boom\x00",
            "errorType": "Err\x00",
            "tags": ["a\x00"],
            "dedupKey": "k\x00",
            "metadata": {"key\x00": "value\x00", "nested": {"list": ["x\x00"]}},
        },
        received_at=NOW,
    )
    doc = mongo.event_document(event, incident_id=None, fingerprint="fp", template="boom")
    await db[mongo.EVENTS].insert_one(doc)
    stored = mongo.public(await db[mongo.EVENTS].find_one({"_id": event.eventId}))
    assert stored["message"] == "boom\u2400"
    assert stored["errorType"] == "Err\u2400"
    assert stored["tags"] == ["a\u2400"]
    assert stored["dedupKey"] == "k\u2400"
    assert stored["metadata"] == {"key\u2400": "value\u2400", "nested": {"list": ["x\u2400"]}}
    assert {a["path"] for a in stored["metadataAdjustments"]} == {"/key\u2400", "/nested/list/0"}
    assert "\x00" not in repr(stored)

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
        names = {index["name"] async for index in await db[mongo.INCIDENTS].list_indexes()}
        assert {"incidentId_unique", "status_severity", "lastSeen", "affectedServices"} <= names
    finally:
        await client.close()

"""The projection against the real MongoDB-protocol server: a stale incident version written after a
newer one (a batch replayed after a restart) is a no-op, never an error that stops the worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from aggregator.projection import Projection
from incident_shared.schemas.incidents import Incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def incident(incident_id: str, version: int, count: int) -> Incident:
    return Incident(
        incidentId=incident_id,
        version=version,
        severityScore=3,
        eventCount=count,
        firstSeen=T0,
        lastSeen=T0,
        createdAt=T0,
        updatedAt=T0,
    )


async def test_older_incident_versions_in_a_batch_leave_the_newer_ones_stored(
    mongo_uri: str, mongo_db_name: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        projection = Projection(client[mongo_db_name])
        await projection.prepare()
        await projection.write_incidents([incident("inc_a", 5, 50), incident("inc_b", 2, 20)])
        # Replayed: inc_a's older version beside a new incident and inc_b's newer one, in one batch.
        await projection.write_incidents([incident("inc_a", 3, 30), incident("inc_c", 1, 3), incident("inc_b", 4, 40)])
        stored = {d["_id"]: (d["version"], d["eventCount"]) async for d in client[mongo_db_name].incidents.find({})}
        assert stored == {"inc_a": (5, 50), "inc_b": (4, 40), "inc_c": (1, 3)}
    finally:
        await client.close()

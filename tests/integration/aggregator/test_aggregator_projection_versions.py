"""The projection against the real MongoDB-protocol server: an older incident version is a no-op.

FerretDB 1.x answers an unordered bulk whose upsert hits a duplicate key (the stored version is
newer) without `nModified`, which the driver cannot merge; the projection must not fail on it (a
worker that applied a command while another path had already stored a newer version crashed so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from aggregator.projection import Projection
from incident_shared.schemas.incidents import Incident

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def incident(incident_id: str, version: int, status: str = "active") -> Incident:
    return Incident.model_validate(
        {
            "incidentId": incident_id,
            "version": version,
            "status": status,
            "severityScore": 3,
            "firstSeen": T0,
            "lastSeen": T0,
            "createdAt": T0,
            "updatedAt": T0,
        }
    )


async def test_an_older_version_after_a_newer_one_changes_nothing(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    projection = Projection(mongo_db)
    await projection.write_incidents([incident("inc_a", 5, "acknowledged")])
    await projection.write_incidents([incident("inc_a", 3), incident("inc_b", 1)])
    stored = {d["incidentId"]: d async for d in mongo_db.incidents.find({})}
    assert stored["inc_a"]["version"] == 5
    assert stored["inc_a"]["status"] == "acknowledged"
    assert stored["inc_b"]["version"] == 1


async def test_a_newer_version_replaces_an_older_one(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    projection = Projection(mongo_db)
    await projection.write_incidents([incident("inc_a", 1)])
    await projection.write_incidents([incident("inc_a", 2, "resolved")])
    doc = await mongo_db.incidents.find_one({"incidentId": "inc_a"})
    assert doc is not None
    assert (doc["version"], doc["status"]) == (2, "resolved")

"""The projection against the real MongoDB-protocol server: an older incident version is a no-op.

FerretDB 1.x answers an unordered bulk whose upsert hits a duplicate key (the stored version is
newer) without `nModified`, which the driver cannot merge; the projection must not fail on it (a
worker that applied a command while another path had already stored a newer version crashed so).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from aggregator.engine.correlator import Outcome
from aggregator.projection import Projection
from incident_shared import mongo
from incident_shared.schemas import Event
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


async def test_events_and_rollups_are_stored_as_the_gateway_reads_them(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    """The gateway reads pages of events bucket by bucket, and rollups hour by hour: what the
    projection writes must carry those buckets (the shared stored form, `mongo.*_document`)."""
    at = datetime(2026, 11, 27, 12, 34, 56, tzinfo=UTC)
    event = Event(eventId="evt_buckets", service="api", severity=4, timestamp=at, receivedAt=at)
    outcome = Outcome(event=event, correlation_key="api", template="t", fingerprint="fp", incident_id="inc_a", rollup=1)
    projection = Projection(mongo_db)
    assert await projection.write_events([outcome]) == 1
    stored = await mongo_db.events.find_one({"_id": "evt_buckets"})
    assert stored is not None
    expected = mongo.event_document(event, incident_id="inc_a", fingerprint="fp", template="t")
    assert stored == expected
    assert (stored["day"], stored["hour"], stored["minute"]) == (
        datetime(2026, 11, 27, tzinfo=UTC),
        datetime(2026, 11, 27, 12, tzinfo=UTC),
        datetime(2026, 11, 27, 12, 34, tzinfo=UTC),
    )
    # A second write of the same minute's count (a new projection: through `$max`) keeps the buckets.
    await Projection(mongo_db).write_events([replace(outcome, rollup=3)])
    rollups = await mongo_db[mongo.EVENT_ROLLUPS].find({"hour": expected["hour"]}).to_list()
    assert [(r["minute"], r["day"], r["count"]) for r in rollups] == [(expected["minute"], expected["day"], 3)]

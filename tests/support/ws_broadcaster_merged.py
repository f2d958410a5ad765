"""Incident changes of a cascade for the broadcaster's tests: a root and incidents merged into it."""

from __future__ import annotations

from typing import Any

from incident_shared.codec import dumps
from incident_shared.schemas.incidents import IncidentChange
from support.ws_broadcaster_fakes import make_change
from support.ws_broadcaster_live import Feed


def merged_change(
    incident_id: str,
    version: int,
    services: list[str],
    *,
    merged_into: str | None = None,
    merged_ids: list[str] | None = None,
    **kwargs: Any,
) -> IncidentChange:
    """`make_change` with the merge fields: `merged_into` names the root, `merged_ids` what a root holds."""
    change = make_change(incident_id, version, services, **kwargs)
    incident = change.incident.model_copy(update={"mergedInto": merged_into, "mergedIncidentIds": merged_ids or []})
    return IncidentChange(action=change.action, incident=incident, emittedAt=change.emittedAt)


async def produce(feed: Feed, change: IncidentChange) -> None:
    """Produces a change the way `Feed.incident` does (partition 0, keyed by incident id)."""
    key = change.incident.incidentId.encode()
    await feed.producer.send_and_wait(feed.topics.incidents, dumps(change), key=key, partition=0)

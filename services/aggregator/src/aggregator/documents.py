"""The documents the history writer stores, built by small pure functions (the store's layout can
change here without touching the consumer that writes them).

- events: `Event.to_api()` with `timestamp` and `receivedAt` as dates, the `minute` it falls in,
  and what the engine made of it (`incidentId`, `fingerprint`, `template`); `_id` is the `eventId`.
- incidents: `Incident.model_dump()`; `_id` is the `incidentId`, replaced by an equal or higher version.
- event_rollups: one per (minute, service, severity) with the exact count of events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident

# The fields of a stored event that come from the engine rather than from the event itself.
RESULT_FIELDS = ("incidentId", "fingerprint", "template")


def event_document(
    event: Event, *, incident_id: str | None, fingerprint: str | None, template: str | None
) -> dict[str, Any]:
    doc = event.to_api()
    doc["_id"] = event.eventId
    doc["timestamp"] = event.timestamp
    doc["receivedAt"] = event.receivedAt
    doc["minute"] = event.timestamp.replace(second=0, microsecond=0)
    doc["incidentId"] = incident_id
    doc["fingerprint"] = fingerprint
    doc["template"] = template
    return doc


def incident_document(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="python")


def rollup_id(minute: int, service: str, severity: int) -> str:
    """`<minute ISO>|<service>|<severity>` for the epoch minute `minute`."""
    iso = datetime.fromtimestamp(minute * 60, tz=UTC).isoformat().replace("+00:00", "Z")
    return f"{iso}|{service}|{severity}"


def rollup_document(minute: int, service: str, severity: int, count: int) -> dict[str, Any]:
    return {
        "_id": rollup_id(minute, service, severity),
        "minute": datetime.fromtimestamp(minute * 60, tz=UTC),
        "service": service,
        "severity": severity,
        "count": count,
    }

"""The documents the history writer stores. Their form is the one the gateway's reads and the
retention sweep expect, so it is built by `incident_shared.mongo` (one definition for writer and
readers); this module adapts the writer's units (an epoch minute for rollups) to it.

- events: `Event.to_api()` with `timestamp` and `receivedAt` as dates, the day, hour, ten-minute and
  minute buckets it falls in, and what the engine made of it (`incidentId`, `fingerprint`,
  `template`); `_id` is the `eventId`.
- incidents: `Incident.model_dump()` with its `lastSeenDay`; `_id` is the `incidentId`, replaced by an
  equal or higher version.
- event_rollups: one per (minute, service, severity) with the exact count of events, and the hour and
  day the minute falls in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from incident_shared import mongo
from incident_shared.schemas.events import Event
from incident_shared.schemas.incidents import Incident

# The fields of a stored event that come from the engine rather than from the event itself.
RESULT_FIELDS = ("incidentId", "fingerprint", "template")

# The fields of a rollup fixed by its `_id`: set once, when an update creates it.
ROLLUP_KEY_FIELDS = ("_id", "count")


def event_document(
    event: Event, *, incident_id: str | None, fingerprint: str | None, template: str | None
) -> dict[str, Any]:
    return mongo.event_document(event, incident_id=incident_id, fingerprint=fingerprint, template=template)


def incident_document(incident: Incident) -> dict[str, Any]:
    return mongo.incident_document(incident)


def minute_at(minute: int) -> datetime:
    """The start of the epoch minute `minute`, in UTC."""
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def rollup_id(minute: int, service: str, severity: int) -> str:
    """`<minute ISO>|<service>|<severity>` for the epoch minute `minute`."""
    return mongo.rollup_id(minute_at(minute), service, severity)


def rollup_document(minute: int, service: str, severity: int, count: int) -> dict[str, Any]:
    return mongo.rollup_document(minute_at(minute), service, severity, count)


def rollup_on_insert(doc: dict[str, Any]) -> dict[str, Any]:
    """A rollup's fields but its `_id` and count: what an upsert that creates it must set besides."""
    return {k: v for k, v in doc.items() if k not in ROLLUP_KEY_FIELDS}

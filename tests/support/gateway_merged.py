"""Incidents and event documents for the gateway's cascade tests, as the aggregator publishes and
projects them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from incident_shared import mongo
from incident_shared.schemas import Event, Incident
from incident_shared.timeutil import utcnow

# Five minutes ago: within the span of every incident of the cascade below.
T0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)


def incident_doc(incident_id: str, services: list[str], last_seen: datetime, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "incidentId": incident_id,
        "version": 1,
        "title": f"{services[0]}: connection refused",
        "severityScore": 4,
        "affectedServices": services,
        "eventCount": 10,
        "firstSeen": last_seen - timedelta(minutes=10),
        "lastSeen": last_seen,
        "createdAt": last_seen - timedelta(minutes=10),
        "updatedAt": last_seen,
        "routingKey": services[0],
    }
    fields.update(extra)
    return Incident.model_validate(fields).model_dump()


def cascade_incidents(now: datetime, *, acknowledged_at: datetime | None = None) -> list[dict[str, Any]]:
    """postgres-orders failed, then order-service, then checkout-api: one incident, the database's.

    With `acknowledged_at`, the root was acknowledged then and the aggregator passed it on.
    """
    ack: dict[str, Any] = {}
    if acknowledged_at is not None:
        ack = {"status": "acknowledged", "acknowledgedAt": acknowledged_at}
    return [
        incident_doc(
            "inc_db",
            ["postgres-orders", "order-service", "checkout-api"],
            now,
            mergedIncidentIds=["inc_orders", "inc_checkout"],
            eventCount=30,
            **ack,
        ),
        incident_doc(
            "inc_orders", ["order-service"], now - timedelta(seconds=10), mergedInto="inc_db", severityScore=3, **ack
        ),
        incident_doc(
            "inc_checkout", ["checkout-api"], now - timedelta(seconds=20), mergedInto="inc_db", severityScore=5, **ack
        ),
    ]


def legacy_incident_doc(incident_id: str, now: datetime) -> dict[str, Any]:
    """An incident published before cascades existed: neither merge field is in the record."""
    doc = incident_doc(incident_id, ["search"], now - timedelta(minutes=1), severityScore=2)
    del doc["mergedInto"], doc["mergedIncidentIds"]
    return doc


def event_doc(i: int, service: str, incident_id: str) -> dict[str, Any]:
    ts = T0 + timedelta(seconds=i)
    event = Event(
        eventId=f"evt_{i:04d}", service=service, severity=4, timestamp=ts, message=f"failure {i}", receivedAt=ts
    )
    return mongo.event_document(event, incident_id=incident_id, fingerprint=f"fp-{service}", template="failure <NUM>")

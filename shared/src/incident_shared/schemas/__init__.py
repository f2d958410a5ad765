"""Versioned message schemas, one module per kind of message.

Producers validate strictly (unknown fields are an error at the gateway); consumers tolerate
unknown fields so that a newer producer never breaks an older consumer.
"""

from incident_shared.schemas.events import (
    EVENT_SCHEMA_VERSION,
    Event,
    EventValidationError,
    FieldError,
    parse_event,
)
from incident_shared.schemas.incidents import (
    INCIDENT_SCHEMA_VERSION,
    Incident,
    IncidentAction,
    IncidentChange,
    IncidentCommand,
    IncidentStatus,
    IncidentSummary,
)

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "INCIDENT_SCHEMA_VERSION",
    "Event",
    "EventValidationError",
    "FieldError",
    "Incident",
    "IncidentAction",
    "IncidentChange",
    "IncidentCommand",
    "IncidentStatus",
    "IncidentSummary",
    "parse_event",
]

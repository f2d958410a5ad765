"""The topic registry: every Kafka topic the product uses, with its settings and an example.

Topics are created explicitly from here (`incident_shared.kafka.ensure_topics`); the broker's
auto-creation is off. A `prefix` (KAFKA_TOPIC_PREFIX) lets tests and several installations share one
cluster without seeing each other's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from incident_shared.schemas import Event, IncidentChange, IncidentCommand, IncidentSummary

WEEK_MS: Final = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its base name, layout, schema and who writes and reads it."""

    base: str
    partitions: int
    key: str
    schema: type[BaseModel] | type[Event] | None
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str
    config: dict[str, str] = field(default_factory=dict)
    example: dict[str, Any] = field(default_factory=dict)


EVENTS: Final = TopicSpec(
    base="events",
    partitions=6,
    key="the correlation key: the service name, or its group from the topology file",
    schema=Event,
    producers=("ingest-gateway", "any service producing straight to Kafka"),
    consumers=("aggregator", "ws-broadcaster", "incidentctl replay"),
    description=(
        "Every accepted event. The source of truth: MongoDB's copy is rebuilt from here. The record"
        " timestamp is the time of receipt (so retention counts from then, even for backfilled events);"
        " the event time is the value's `timestamp`."
    ),
    config={"retention.ms": str(WEEK_MS), "min.insync.replicas": "1"},
    example={
        "schemaVersion": 1,
        "eventId": "evt_018f2a6b3c4d9e8f7a6b5c4d",
        "service": "payment-service",
        "severity": 4,
        "timestamp": "2026-01-31T12:00:00.000Z",
        "message": "Timeout after 5000ms calling db-primary:5432",
        "errorType": "TimeoutError",
        "metadata": {"region": "eu-west-1", "pod": "payment-7d9f8-x2k4p"},
        "tags": ["checkout"],
        "resolved": False,
        "source": "http",
        "receivedAt": "2026-01-31T12:00:00.120Z",
    },
)

EVENTS_DLQ: Final = TopicSpec(
    base="events.dlq",
    partitions=1,
    key="the original record's key",
    schema=None,
    producers=("aggregator",),
    consumers=("operators",),
    description=(
        "Records the aggregator could not process (from `events` or any other topic it reads):"
        " invalid, failed in the engine, or refused by MongoDB; the reason in the `dlq-reason`"
        " header, its class in `dlq-kind`, the original topic, partition and offset in `dlq-origin`."
    ),
    config={"retention.ms": str(4 * WEEK_MS)},
    example={"service": "", "severity": 9},
)

INCIDENTS: Final = TopicSpec(
    base="incidents",
    partitions=6,
    key="incidentId",
    schema=IncidentChange,
    producers=("aggregator",),
    consumers=("summarizer", "ws-broadcaster", "ingest-gateway (incident view)", "aggregator (MongoDB projection)"),
    description=(
        "Every incident change, the whole incident each time. Compacted: the latest per incident stays,"
        " for 30 days after its last change (what readers that start from the beginning must read)."
    ),
    config={
        "cleanup.policy": "compact,delete",
        "retention.ms": str(30 * 24 * 3600 * 1000),
        "min.compaction.lag.ms": "3600000",
        "segment.ms": "3600000",
    },
    example={
        "action": "created",
        "emittedAt": "2026-01-31T12:01:00.000Z",
        "incident": {
            "incidentId": "inc_018f2a6b3c4d1a2b3c4d5e6f",
            "version": 1,
            "status": "active",
            "title": "payment-service: Timeout after <NUM>ms calling <HOST>",
            "correlationKey": "payments",
            "severityScore": 4,
            "affectedServices": ["payment-service"],
            "probableOrigin": "payment-service",
            "eventCount": 12,
            "firstSeen": "2026-01-31T12:00:00.000Z",
            "lastSeen": "2026-01-31T12:00:55.000Z",
            "suggestedActions": [],
            "createdAt": "2026-01-31T12:00:10.000Z",
            "updatedAt": "2026-01-31T12:01:00.000Z",
        },
    },
)

INCIDENT_COMMANDS: Final = TopicSpec(
    base="incident-commands",
    partitions=6,
    key="incidentId",
    schema=IncidentCommand,
    producers=("ingest-gateway (PATCH /api/incidents/:id)",),
    consumers=("aggregator",),
    description="A person's change to an incident: acknowledge, resolve, reopen, assign, note.",
    config={"retention.ms": str(WEEK_MS)},
    example={
        "commandId": "cmd_018f2a6b3c4d0011aabbccdd",
        "incidentId": "inc_018f2a6b3c4d1a2b3c4d5e6f",
        "action": "acknowledge",
        "actor": "alice",
        "issuedAt": "2026-01-31T12:03:00.000Z",
    },
)

INCIDENT_SUMMARIES: Final = TopicSpec(
    base="incident-summaries",
    partitions=6,
    key="incidentId",
    schema=IncidentSummary,
    producers=("summarizer",),
    consumers=("aggregator",),
    description="Summaries (AI or rule-based) for the aggregator to merge into incidents.",
    config={"retention.ms": str(WEEK_MS)},
    example={
        "incidentId": "inc_018f2a6b3c4d1a2b3c4d5e6f",
        "basedOnVersion": 3,
        "kind": "rule-based",
        "provider": "rule-based",
        "summary": "payment-service is timing out calling its database.",
        "rootCause": "The database db-primary is not answering within 5 s.",
        "suggestedActions": ["Check db-primary's health and connection count."],
        "confidence": 0.4,
        "generatedAt": "2026-01-31T12:02:00.000Z",
    },
)

ALL_TOPICS: Final = (EVENTS, EVENTS_DLQ, INCIDENTS, INCIDENT_COMMANDS, INCIDENT_SUMMARIES)


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one installation (one prefix)."""

    prefix: str = ""

    def name(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.base}"

    @property
    def events(self) -> str:
        return self.name(EVENTS)

    @property
    def events_dlq(self) -> str:
        return self.name(EVENTS_DLQ)

    @property
    def incidents(self) -> str:
        return self.name(INCIDENTS)

    @property
    def incident_commands(self) -> str:
        return self.name(INCIDENT_COMMANDS)

    @property
    def incident_summaries(self) -> str:
        return self.name(INCIDENT_SUMMARIES)

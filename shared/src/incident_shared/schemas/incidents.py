"""Incidents, and the messages that change them.

The aggregator is the only writer of incident state. It publishes every change as an
`IncidentChange` (key `incidentId`, `version` strictly increasing per incident) to the compacted
`incidents` topic. Others ask for changes with an `IncidentCommand` (from the API's PATCH) or
an `IncidentSummary` (from the summarizer); the aggregator applies them and publishes the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

INCIDENT_SCHEMA_VERSION: Final = 1

IncidentStatus = Literal["active", "acknowledged", "resolved"]
IncidentAction = Literal["created", "updated", "resolved", "summary_updated"]
CommandAction = Literal["acknowledge", "resolve", "reopen", "assign", "note"]
SummaryKind = Literal["ai", "rule-based"]


class _Tolerant(BaseModel):
    """Consumers tolerate unknown fields: a newer producer never breaks an older consumer."""

    model_config = ConfigDict(extra="ignore")


class SeverityFactor(_Tolerant):
    """One term of the severity score, so that the score explains itself."""

    name: str  # criticality | peakSeverity | spike | breadth | duration | flapping ...
    value: float  # the raw input (a tier, a z-score, a count of services, minutes ...)
    contribution: float  # what it added to the score
    detail: str = ""  # one line a person can read


class TemplateCount(_Tolerant):
    fingerprint: str
    template: str
    service: str
    errorType: str | None = None
    count: int
    firstSeen: datetime
    lastSeen: datetime


class TimelinePoint(_Tolerant):
    """Events of one service in one minute of event time."""

    minute: datetime
    service: str
    count: int
    maxSeverity: int


class Note(_Tolerant):
    author: str
    text: str
    at: datetime


class Reason(_Tolerant):
    """One decision of the correlation engine and why it was taken."""

    rule: str  # a stable name: same-fingerprint, similar-words, threshold, departure, names-service ...
    detail: str  # one line a person can read, with the numbers the rule compared
    score: float | None = None  # the number compared, where there is one (a similarity, a probability)
    evidence: list[str] = Field(default_factory=list)  # what it saw: shared words, names a message mentions


class JoinedTemplate(Reason):
    """Why one template's events are part of the incident."""

    fingerprint: str
    service: str
    template: str
    at: datetime


class MergedReason(Reason):
    """Why an incident of another correlation key was merged into this one."""

    incidentId: str


class NotMergedReason(Reason):
    """An incident (or a service) a person might expect this one to be part of, and why it is not."""

    incidentId: str | None = None
    service: str | None = None


class HistoryEntry(_Tolerant):
    what: str  # resolved | cycle | flapping | recovering | reopened ...
    at: datetime
    detail: str


class Explanation(_Tolerant):
    """Every grouping decision behind an incident, so that a person can see why."""

    opened: Reason | None = None
    joined: list[JoinedTemplate] = Field(default_factory=list)
    merged: list[MergedReason] = Field(default_factory=list)
    notMerged: list[NotMergedReason] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)


class Identity(_Tolerant):
    """One alert or failure the incident reports on, and where it stands."""

    identity: str  # the events' dedupKey, else their fingerprint
    kind: Literal["dedupKey", "fingerprint"]
    service: str
    resolved: bool
    at: datetime  # its latest event


class Incident(_Tolerant):
    """The state of one incident as every consumer sees it (and as MongoDB stores it)."""

    schemaVersion: int = INCIDENT_SCHEMA_VERSION
    incidentId: str
    version: int = Field(ge=1)
    status: IncidentStatus = "active"
    title: str = ""
    correlationKey: str = ""
    # The Kafka key under which the aggregator owns this incident: commands and summaries for it are
    # produced with this key so that they reach the worker holding its state.
    routingKey: str = ""
    severityScore: int = Field(ge=1, le=5)
    severityFactors: list[SeverityFactor] = Field(default_factory=list)
    affectedServices: list[str] = Field(default_factory=list)
    probableOrigin: str | None = None
    eventCount: int = 0
    firstSeen: datetime
    lastSeen: datetime
    flapping: bool = False
    flapCount: int = 0  # cycles: times it stopped failing (quiet or resolved) and failed again
    recovering: bool = False  # flapping, and every failure it reports on resolved for now
    previousIncidentId: str | None = None
    # Cascades across correlation keys: a failure that spread to services outside its group is one
    # incident, the one of the service where it started. The others are merged into it: they stay
    # open (their events still arrive) but list `mergedInto` and are not shown as incidents of
    # their own; the root lists them in `mergedIncidentIds` and counts their services, events,
    # templates and timeline as its own.
    mergedInto: str | None = None
    mergedIncidentIds: list[str] = Field(default_factory=list)
    templates: list[TemplateCount] = Field(default_factory=list)
    timeline: list[TimelinePoint] = Field(default_factory=list)
    sampleEvents: list[dict[str, Any]] = Field(default_factory=list)
    identities: list[Identity] = Field(default_factory=list)
    explanation: Explanation | None = None
    # Summary, merged from the summarizer.
    aiGeneratedSummary: str | None = None
    rootCause: str | None = None
    suggestedActions: list[str] = Field(default_factory=list)
    summaryKind: SummaryKind | None = None
    summaryProvider: str | None = None
    summaryModel: str | None = None
    summaryConfidence: float | None = None
    summarizedAt: datetime | None = None
    summaryBasedOnVersion: int | None = None
    # Human workflow, from commands.
    assignee: str | None = None
    notes: list[Note] = Field(default_factory=list)
    acknowledgedAt: datetime | None = None
    acknowledgedBy: str | None = None
    resolvedAt: datetime | None = None
    resolvedBy: str | None = None
    # manual: a person; quiet: no failure for the quiet period; source: every failure it reports on
    # was resolved by its source; locked: older than the maximum duration.
    resolution: Literal["manual", "quiet", "source", "locked"] | None = None
    lastCommandId: str | None = None  # the last IncidentCommand applied, so a PATCH can wait for it
    createdAt: datetime
    updatedAt: datetime


class IncidentChange(_Tolerant):
    """A value on the `incidents` topic: the whole incident after one change."""

    action: IncidentAction
    incident: Incident
    emittedAt: datetime


class IncidentCommand(_Tolerant):
    """A value on the `incident-commands` topic: a person's change to an incident."""

    commandId: str
    incidentId: str
    action: CommandAction
    actor: str = "anonymous"
    assignee: str | None = None
    note: str | None = None
    issuedAt: datetime


class SummaryEvidence(_Tolerant):
    templates: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)


class SummaryUsage(_Tolerant):
    inputTokens: int = 0
    outputTokens: int = 0
    costUsd: float = 0.0


class IncidentSummary(_Tolerant):
    """A value on the `incident-summaries` topic: a summary for the aggregator to merge."""

    incidentId: str
    basedOnVersion: int
    kind: SummaryKind
    provider: str  # anthropic | openai | rule-based
    model: str | None = None
    summary: str
    rootCause: str
    suggestedActions: list[str]
    confidence: float = Field(ge=0, le=1)
    evidence: SummaryEvidence = Field(default_factory=SummaryEvidence)
    promptVersion: str | None = None
    usage: SummaryUsage = Field(default_factory=SummaryUsage)
    generatedAt: datetime

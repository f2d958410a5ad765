"""The engine's state, as plain dataclasses that round-trip through JSON-able dicts.

Times are float seconds since the epoch (event time unless named `wall`): cheap to compare in the
hot path, and exact in JSON. Stores keep these objects (in memory) or their dicts (Faust tables).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class TemplateStat:
    fingerprint: str
    template: str
    service: str
    error_type: str | None
    count: int
    first: float
    last: float


@dataclass(slots=True)
class ServiceStat:
    first: float
    last: float
    count: int
    max_severity: int


@dataclass(slots=True)
class IncidentState:
    """One incident as the engine tracks it; `Incident` (the schema) is built from it on emission."""

    incident_id: str
    key: str
    first_seen: float
    last_seen: float
    last_failure: float
    created_at: float  # wall (or replay) clock
    updated_at: float
    last_wall: float  # wall clock of the last event, for closing what went quiet in wall time
    version: int = 0
    status: str = "active"
    event_count: int = 0
    peak_severity: int = 1
    severity_total: int = 0
    services: dict[str, ServiceStat] = field(default_factory=dict)
    templates: dict[str, TemplateStat] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)  # service -> constant words of its failures
    error_types: dict[str, list[str]] = field(default_factory=dict)  # service -> error types seen
    timeline: dict[str, list[int]] = field(default_factory=dict)  # "minute|service" -> [count, maxSeverity]
    samples: list[dict[str, Any]] = field(default_factory=list)
    spike: float = 1.0
    flapping: bool = False
    flap_count: int = 0
    recovering_since: float | None = None
    previous_incident_id: str | None = None
    origin: str | None = None
    score: int = 1
    factors: list[dict[str, Any]] = field(default_factory=list)
    resolution: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    assignee: str | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)
    last_command_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # what its failures' messages name (hosts, services)
    merged_into: str | None = None  # the root of the cascade this incident is part of
    linked: dict[str, dict[str, Any]] = field(default_factory=dict)  # merged incident id -> its snapshot
    # What it reports on: identity (an event's dedupKey, else its fingerprint) ->
    # [kind ("dedupKey" | "fingerprint"), service, error type, resolved, time of the latest event].
    identities: dict[str, list[Any]] = field(default_factory=dict)
    # Why: the decision that opened it, why each template joined (by fingerprint), incidents a person
    # might expect it to be part of and why it is not, and what happened to it since (reopened,
    # marked flapping, resolved by its source ...). Each a `Decision.to_dict()`, bounded.
    opened: dict[str, Any] = field(default_factory=dict)
    why: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_merged: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentState:
        data = dict(data)
        data["services"] = {k: ServiceStat(**v) for k, v in data.get("services", {}).items()}
        data["templates"] = {k: TemplateStat(**v) for k, v in data.get("templates", {}).items()}
        return cls(**data)


@dataclass(slots=True)
class PendingEvent:
    event_id: str
    t: float
    severity: int
    service: str
    fingerprint: str
    template: str
    error_type: str | None
    api: dict[str, Any]


@dataclass(slots=True)
class Pending:
    """Events of one failure that have not (yet) been enough to open an incident.

    `events` keeps the latest few (those that open the incident join it), `times` the times of the
    latest failures (how many fell in the open window), `verdict` the last opening decision.
    """

    service: str
    fingerprint: str
    error_type: str | None
    tokens: list[str]
    count: int
    first: float
    last: float
    events: list[PendingEvent] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    max_severity: int = 0
    why: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> why it joined the cluster
    verdict: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        data = dict(data)
        data["events"] = [PendingEvent(**e) for e in data.get("events", [])]
        return cls(**data)


@dataclass(slots=True)
class GroupState:
    """Everything the engine keeps for one correlation key."""

    key: str
    clock: float = 0.0  # the latest event time seen in the group
    last_wall: float = 0.0
    open: list[IncidentState] = field(default_factory=list)
    closed: list[IncidentState] = field(default_factory=list)
    pending: dict[str, Pending] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)  # service -> services its messages name
    services: list[str] = field(default_factory=list)  # services seen in the group (bounded)
    # The highest record position applied per source ("topic/partition"), kept in the same write as
    # the rest of the group: a record replayed after a crash is recognised even if other writes of
    # its batch were lost.
    offsets: dict[str, int] = field(default_factory=dict)
    # Events per "<epoch minute>|<service>|<severity>" (recent minutes only): the statistics rollups,
    # kept with the group so that they are exact across crashes and replays.
    rollups: dict[str, int] = field(default_factory=dict)
    # Fingerprints that hold still (see fingerprints.py): the fingerprint of a template text ->
    # the fingerprint its cluster was first given, where they differ; and the generalised templates
    # behind those fingerprints ([service, error type, template]), to teach a restarted miner.
    aliases: dict[str, str] = field(default_factory=dict)
    learned: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # orjson serialises dataclasses natively: a deep copy an order of magnitude faster than asdict.
        data: dict[str, Any] = orjson.loads(orjson.dumps(self))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        data = dict(data)
        data["open"] = [IncidentState.from_dict(i) for i in data.get("open", [])]
        data["closed"] = [IncidentState.from_dict(i) for i in data.get("closed", [])]
        data["pending"] = {k: Pending.from_dict(p) for k, p in data.get("pending", {}).items()}
        return cls(**data)

    def find(self, incident_id: str) -> IncidentState | None:
        for inc in self.open:
            if inc.incident_id == incident_id:
                return inc
        for inc in self.closed:
            if inc.incident_id == incident_id:
                return inc
        return None


@dataclass(slots=True)
class Baseline:
    """An exponentially weighted mean and variance of a key's events per minute."""

    mean: float = 0.0
    var: float = 0.0
    minute: int = 0  # the minute being counted now
    minutes: int = 0  # minutes folded in so far
    last_t: float = 0.0
    count: int = 0  # events of the minute being counted (written to the store's minute counts when it closes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        return cls(**data)

"""A small scenario builder for the correlation engine: events at offsets of event time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.engine import CorrelationConfig, CorrelationEngine, Linker, MemoryStore, Outcome, link_in_process
from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event, EventSource
from incident_shared.schemas.incidents import Incident, IncidentChange

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def make_event(
    service: str,
    severity: int,
    message: str,
    at: datetime,
    *,
    error_type: str | None = None,
    resolved: bool = False,
    event_id: str | None = None,
    **extra: Any,
) -> Event:
    return Event(
        eventId=event_id or stable_id("evt_", service, message, at.isoformat(), severity),
        service=service,
        severity=severity,
        timestamp=at,
        message=message,
        errorType=error_type,
        resolved=resolved,
        receivedAt=at,
        **extra,
    )


@dataclass
class Scenario:
    """Collects events, then runs them through a fresh engine in timestamp order (or as given)."""

    config: CorrelationConfig = field(default_factory=CorrelationConfig)
    events: list[Event] = field(default_factory=list)

    def emit(
        self,
        service: str,
        severity: int,
        message: str,
        *,
        at: float = 0.0,
        count: int = 1,
        every: float = 10.0,
        error_type: str | None = None,
        resolved: bool = False,
        dedup_key: str | None = None,
        source: EventSource = "http",
    ) -> Scenario:
        """`count` events from minute `at` (fractional allowed), `every` s apart; `{i}` is the index."""
        for i in range(count):
            ts = T0 + timedelta(minutes=at, seconds=i * every)
            self.events.append(
                make_event(
                    service,
                    severity,
                    message.format(i=i),
                    ts,
                    error_type=error_type,
                    resolved=resolved,
                    event_id=f"evt_{len(self.events):06d}",
                    dedupKey=dedup_key,
                    source=source,
                )
            )
        return self

    def run(self, *, ordered: bool = True, linked: bool = True) -> Result:
        """`linked`: with the cross-key stage (as the aggregator runs), else the first stage alone."""
        engine = CorrelationEngine(self.config, MemoryStore())
        linker = Linker({}, cascade_window=self.config.cascade_window)
        events = sorted(self.events, key=lambda e: e.timestamp) if ordered else list(self.events)
        outcomes: list[Outcome | None] = []
        changes: list[IncidentChange] = []
        for e in events:
            outcomes.append(engine.process(e))
            changes.extend(engine.flush())
            if linked:
                changes.extend(link_in_process(engine, linker))
        return Result(engine, outcomes, changes)


@dataclass
class Result:
    engine: CorrelationEngine
    outcomes: list[Outcome | None]
    changes: list[IncidentChange]

    @property
    def incidents(self) -> list[Incident]:
        """The latest state of every incident, in order of first event."""
        latest: dict[str, Incident] = {}
        for c in self.changes:
            latest[c.incident.incidentId] = c.incident
        return sorted(latest.values(), key=lambda i: (i.firstSeen, i.incidentId))

    @property
    def shown(self) -> list[Incident]:
        """The incidents a person sees: those not merged into another."""
        return [i for i in self.incidents if i.mergedInto is None]

    def by_service(self, service: str) -> list[Incident]:
        return [i for i in self.incidents if service in i.affectedServices]

    def changes_of(self, incident_id: str) -> list[IncidentChange]:
        return [c for c in self.changes if c.incident.incidentId == incident_id]


def healthy_background(
    s: Scenario, services: list[str], *, minutes: float, seed: int = 5, start: float = 0.0
) -> Scenario:
    """Healthy but chatty services: access logs (severity 1) several times a minute, slow requests
    mostly at severity 2 and now and then at 3 (the same line), and a call retried at severity 3
    every few minutes (at random, so now and then two or three come close together)."""
    rng = random.Random(seed)
    end = start + minutes
    for service in services:
        dependency = rng.choice(["postgres-main", "redis-sessions", "pricing-api", "kafka"])
        t = start + rng.uniform(0, 0.2)
        while t < end:
            s.emit(service, 1, f"GET /api/items/{rng.randint(1, 99999)} 200 in {rng.randint(3, 120)}ms", at=t)
            t += rng.expovariate(6.0)
        t = start + rng.uniform(0, 2)
        while t < end:
            severity = 3 if rng.random() < 0.3 else 2
            took = rng.randint(800, 2400)
            s.emit(service, severity, f"Slow request: /api/items took {took}ms (threshold 750ms)", at=t)
            t += rng.expovariate(0.5)
        t = start + rng.uniform(0, 4)
        while t < end:
            attempt = rng.randint(1, 2)
            s.emit(service, 3, f"Retrying call to {dependency} after connection reset (attempt {attempt}/3)", at=t)
            t += rng.expovariate(1 / 4)
    return s

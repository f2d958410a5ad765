"""A small scenario builder for the correlation engine: events at offsets of event time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.engine import CorrelationConfig, CorrelationEngine, Linker, MemoryStore, Outcome, link_in_process
from incident_shared.ids import stable_id
from incident_shared.schemas.events import Event
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

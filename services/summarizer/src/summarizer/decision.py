"""When an incident is worth a (re)summary: pure logic over incident changes and an injected clock.

Modelled on Alertmanager's group timings:
- a new incident waits for its first burst to settle (`settle_seconds` after it was created, or as soon
  as it holds `settle_events` events), so that the first summary sees more than one event;
- after that, only a significant change asks for a new one: the severity went up, a service or a
  failure template appeared, or the event count grew by `growth_factor` since the last summary;
- never more often than `min_interval_seconds` per incident; a change inside the interval waits for it;
- a rule-based summary written while the provider was unavailable is upgraded once the provider is
  back (same interval).
- an incident merged into another one (`mergedInto` set) is never summarized: it is part of its root's
  cascade, and the root, which counts its services, events and templates, is summarized instead. Once
  un-merged it is an incident like any other again.

The policy never does I/O: the service feeds it changes (`observe`), asks what is due (`due`), and
reports what it published (`completed`) or gave up on (`failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from incident_shared.schemas import Incident, IncidentChange
from incident_shared.schemas.incidents import SummaryKind

Reason = Literal[
    "settled-delay",
    "settled-events",
    "severity-up",
    "new-service",
    "new-template",
    "event-growth",
    "upgrade-to-ai",
]
Clock = Callable[[], datetime]
ErrorCallback = Callable[[Incident, Exception], None]


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    settle_seconds: float = 20.0
    settle_events: int = 25
    min_interval_seconds: float = 120.0
    growth_factor: float = 2.0
    retry_after_failure_seconds: float = 30.0
    max_tracked: int = 20_000


@dataclass(frozen=True, slots=True)
class Basis:
    """What a summary was written from: the facts a significant change is measured against."""

    version: int
    severity: int
    services: frozenset[str]
    fingerprints: frozenset[str]
    event_count: int

    @classmethod
    def of(cls, incident: Incident) -> Basis:
        return cls(
            version=incident.version,
            severity=incident.severityScore,
            services=frozenset(incident.affectedServices),
            fingerprints=frozenset(t.fingerprint for t in incident.templates),
            event_count=incident.eventCount,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["now", "later", "skip"]
    reasons: tuple[Reason, ...] = ()
    at: datetime | None = None  # for "later": when it may become due
    why_not: str = ""  # for "skip": a short reason


@dataclass(frozen=True, slots=True)
class Due:
    incident: Incident
    reasons: tuple[Reason, ...]


@dataclass(slots=True)
class _Tracked:
    incident: Incident
    basis: Basis | None = None
    last_request_at: datetime | None = None
    last_kind: SummaryKind | None = None
    in_flight: bool = False
    upgradable: bool = False  # the last summary is a fallback written during a provider outage
    not_before: datetime | None = None  # after a failed attempt


class SummaryPolicy:
    """Per-incident summary timing. Not thread-safe; one event loop owns it."""

    def __init__(self, config: DecisionConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._tracked: dict[str, _Tracked] = {}
        # What `due` needs to look at, so that a tick costs what changed, not what is tracked:
        # incidents changed since the last look, the ones waiting for a time, and the upgradable.
        self._dirty: set[str] = set()
        self._wake: dict[str, datetime] = {}
        self._upgradable: set[str] = set()

    def __len__(self) -> int:
        return len(self._tracked)

    def get(self, incident_id: str) -> Incident | None:
        """The latest state seen of an incident (the topic's, as far as this worker has read it)."""
        tracked = self._tracked.get(incident_id)
        return tracked.incident if tracked is not None else None

    def in_flight(self, incident_id: str) -> bool:
        tracked = self._tracked.get(incident_id)
        return tracked is not None and tracked.in_flight

    def observe(self, change: IncidentChange) -> None:
        """Records the latest state of an incident (our own `summary_updated` echoes included)."""
        incident = change.incident
        tracked = self._tracked.get(incident.incidentId)
        if tracked is None:
            tracked = self._tracked[incident.incidentId] = _Tracked(incident=incident)
            self._evict_if_full()
        elif incident.version < tracked.incident.version:
            return  # a stale redelivery; the newer state stays
        tracked.incident = incident
        self._dirty.add(incident.incidentId)
        # The incident already carries a summary we did not see being written (a restart, or another
        # replica wrote it): measure change from its current state, as the best approximation left.
        if (
            incident.summaryBasedOnVersion is not None
            and not tracked.in_flight
            and (tracked.basis is None or tracked.basis.version < incident.summaryBasedOnVersion)
        ):
            tracked.basis = Basis.of(incident)
            tracked.last_request_at = incident.summarizedAt or self._clock()
            tracked.last_kind = incident.summaryKind
            tracked.upgradable = False
            self._upgradable.discard(incident.incidentId)

    def evaluate(self, incident_id: str, *, ai_available: bool = True) -> Decision:
        """What to do about one incident now; changes nothing."""
        tracked = self._tracked.get(incident_id)
        if tracked is None:
            return Decision("skip", why_not="unknown incident")
        incident = tracked.incident
        if incident.status == "resolved":
            return Decision("skip", why_not="resolved")
        if incident.mergedInto is not None:
            return Decision("skip", why_not=f"merged into {incident.mergedInto}")
        if tracked.in_flight:
            return Decision("skip", why_not="a summary is being written")
        now = self._clock()
        cfg = self._config
        if tracked.not_before is not None and now < tracked.not_before:
            return Decision("later", at=tracked.not_before)
        if tracked.basis is None:
            if incident.eventCount >= cfg.settle_events:
                return Decision("now", ("settled-events",))
            settled_at = incident.createdAt + timedelta(seconds=cfg.settle_seconds)
            if now >= settled_at:
                return Decision("now", ("settled-delay",))
            return Decision("later", at=settled_at)
        reasons = self._changes(tracked, ai_available=ai_available)
        if not reasons:
            return Decision("skip", why_not="no significant change since the last summary")
        if tracked.last_request_at is not None:
            allowed_at = tracked.last_request_at + timedelta(seconds=cfg.min_interval_seconds)
            if now < allowed_at:
                return Decision("later", reasons, at=allowed_at)
        return Decision("now", reasons)

    def _changes(self, tracked: _Tracked, *, ai_available: bool) -> tuple[Reason, ...]:
        basis, incident = tracked.basis, tracked.incident
        assert basis is not None  # noqa: S101 - callers check; narrows the type
        reasons: list[Reason] = []
        if incident.severityScore > basis.severity:
            reasons.append("severity-up")
        if not set(incident.affectedServices) <= basis.services:
            reasons.append("new-service")
        if not {t.fingerprint for t in incident.templates} <= basis.fingerprints:
            reasons.append("new-template")
        if incident.eventCount >= max(basis.event_count, 1) * self._config.growth_factor:
            reasons.append("event-growth")
        if ai_available and tracked.last_kind == "rule-based" and tracked.upgradable:
            reasons.append("upgrade-to-ai")
        return tuple(reasons)

    def due(self, *, ai_available: bool = True, on_error: ErrorCallback | None = None) -> list[Due]:
        """The incidents to summarize now, most severe first; each is marked in flight.

        An incident the policy cannot judge (its evaluation raises: a record no valid producer
        writes) is rejected and reported to `on_error`; it never keeps the others from being due.
        """
        now = self._clock()
        candidates = self._dirty | {i for i, at in self._wake.items() if at <= now}
        if ai_available:
            candidates |= self._upgradable
        self._dirty = set()
        found: list[Due] = []
        for incident_id in candidates:
            try:
                decision = self.evaluate(incident_id, ai_available=ai_available)
            except Exception as exc:  # noqa: BLE001 - whatever broke, it is this incident's alone
                incident = self._tracked[incident_id].incident
                self.reject(incident_id)
                if on_error is not None:
                    on_error(incident, exc)
                continue
            if decision.action == "later" and decision.at is not None:
                self._wake[incident_id] = decision.at
                continue
            self._wake.pop(incident_id, None)
            if decision.action == "now":
                found.append(Due(self._tracked[incident_id].incident, decision.reasons))
        found.sort(key=lambda d: (-d.incident.severityScore, d.incident.createdAt))
        for d in found:
            self.start(d.incident.incidentId)
        return found

    def start(self, incident_id: str) -> None:
        """Marks a summary as being written (also for one asked for over the API)."""
        tracked = self._tracked.get(incident_id)
        if tracked is not None:
            tracked.in_flight = True
            tracked.last_request_at = self._clock()

    def completed(self, incident: Incident, kind: SummaryKind, *, fallback_reason: str | None = None) -> None:
        """A summary of `incident` (the state it was written from) was published."""
        tracked = self._tracked.get(incident.incidentId)
        if tracked is None:
            tracked = self._tracked[incident.incidentId] = _Tracked(incident=incident)
        tracked.in_flight = False
        tracked.not_before = None
        tracked.basis = Basis.of(incident)
        tracked.last_request_at = tracked.last_request_at or self._clock()
        tracked.last_kind = kind
        # Only a fallback caused by an outage is worth upgrading later; "no provider configured"
        # or "budget spent" would just produce the same rule-based summary again.
        tracked.upgradable = fallback_reason in _UPGRADABLE
        if tracked.upgradable:
            self._upgradable.add(incident.incidentId)
        else:
            self._upgradable.discard(incident.incidentId)
        self._dirty.add(incident.incidentId)

    def failed(self, incident_id: str) -> None:
        """Nothing was published; the incident is looked at again after `retry_after_failure_seconds`."""
        tracked = self._tracked.get(incident_id)
        if tracked is not None:
            tracked.in_flight = False
            tracked.not_before = self._clock() + timedelta(seconds=self._config.retry_after_failure_seconds)
            self._dirty.add(incident_id)

    def reject(self, incident_id: str) -> None:
        """Stops following an incident that cannot be summarized as it stands (its record breaks the
        policy or the summary); a newer version of it, once observed, is followed again."""
        self._drop(incident_id)

    def forget(self, incident_ids: set[str] | frozenset[str]) -> None:
        for incident_id in incident_ids:
            self._drop(incident_id)

    def _drop(self, incident_id: str) -> None:
        self._tracked.pop(incident_id, None)
        self._dirty.discard(incident_id)
        self._wake.pop(incident_id, None)
        self._upgradable.discard(incident_id)

    def pending_later(self) -> list[tuple[str, datetime]]:
        """Incidents waiting for a settle delay or an interval, with when (for inspection)."""
        out: list[tuple[str, datetime]] = []
        for incident_id in self._tracked:
            decision = self.evaluate(incident_id)
            if decision.action == "later" and decision.at is not None:
                out.append((incident_id, decision.at))
        return out

    def _evict_if_full(self) -> None:
        if len(self._tracked) <= self._config.max_tracked:
            return
        # Resolved incidents go first, then the ones quiet for longest.
        victims = sorted(
            (t for t in self._tracked.values() if not t.in_flight),
            key=lambda t: (t.incident.status != "resolved", t.incident.lastSeen),
        )
        for t in victims[: len(self._tracked) - self._config.max_tracked]:
            self._drop(t.incident.incidentId)


_UPGRADABLE = frozenset({"breaker-open", "server-error", "connection", "timeout", "rate-limited", "invalid-output"})

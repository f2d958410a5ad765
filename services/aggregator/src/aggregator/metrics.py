"""Every metric the aggregator exports, declared in one place on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class Metrics:
    events: Counter
    duplicates: Counter
    dead_letters: Counter
    rekeyed: Counter
    incident_changes: Counter
    commands: Counter
    summaries: Counter
    links: Counter
    projection_writes: Counter
    batch_seconds: Histogram
    open_incidents: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            events=Counter("aggregator_events_total", "Events processed by the engine", registry=registry),
            duplicates=Counter(
                "aggregator_duplicate_events_total", "Events dropped as already seen", registry=registry
            ),
            dead_letters=Counter(
                "aggregator_dead_letters_total", "Records sent to the dead-letter topic", ["reason"], registry=registry
            ),
            rekeyed=Counter(
                "aggregator_rekeyed_events_total",
                "Events forwarded to the partition of their correlation key",
                registry=registry,
            ),
            incident_changes=Counter(
                "aggregator_incident_changes_total", "Incident changes published", ["action"], registry=registry
            ),
            commands=Counter("aggregator_commands_total", "Incident commands received", ["result"], registry=registry),
            summaries=Counter("aggregator_summaries_total", "Summaries received", ["result"], registry=registry),
            links=Counter(
                "aggregator_cascade_links_total",
                "Decisions of the cross-key stage sent (merges and member snapshots)",
                registry=registry,
            ),
            projection_writes=Counter(
                "aggregator_projection_writes_total", "Documents written to MongoDB", ["collection"], registry=registry
            ),
            batch_seconds=Histogram(
                "aggregator_batch_seconds", "Time to process one batch of events", registry=registry
            ),
            open_incidents=Gauge("aggregator_open_incidents", "Open incidents held by this worker", registry=registry),
        )

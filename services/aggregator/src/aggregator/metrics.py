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
    publish_refused: Counter
    commands: Counter
    summaries: Counter
    links: Counter
    batch_seconds: Histogram
    open_incidents: Gauge
    # The history writer (MongoDB): its own consumer, so its lag is not the engine's.
    projection_writes: Counter
    history_lag: Gauge
    history_holding: Gauge
    history_retries: Counter
    history_batch_seconds: Histogram
    history_skipped: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            events=Counter("aggregator_events_total", "Events processed by the engine", registry=registry),
            duplicates=Counter(
                "aggregator_duplicate_events_total", "Events dropped as already seen", registry=registry
            ),
            dead_letters=Counter(
                "aggregator_dead_letters_total",
                "Records sent to the dead-letter topic, by reason: invalid (cannot be decoded), failed (the"
                " engine failed on it), store-refused (MongoDB refuses the document), store-failed (it failed"
                " every attempt)",
                ["reason"],
                registry=registry,
            ),
            rekeyed=Counter(
                "aggregator_rekeyed_events_total",
                "Events forwarded to the partition of their correlation key",
                registry=registry,
            ),
            incident_changes=Counter(
                "aggregator_incident_changes_total", "Incident changes published", ["action"], registry=registry
            ),
            publish_refused=Counter(
                "aggregator_publish_refused_total",
                "Records the broker refused as too large, skipped (incident, candidate, assignment, link)",
                ["what"],
                registry=registry,
            ),
            commands=Counter("aggregator_commands_total", "Incident commands received", ["result"], registry=registry),
            summaries=Counter("aggregator_summaries_total", "Summaries received", ["result"], registry=registry),
            links=Counter(
                "aggregator_cascade_links_total",
                "Decisions of the cross-key stage sent (merges and member snapshots)",
                registry=registry,
            ),
            batch_seconds=Histogram(
                "aggregator_batch_seconds", "Time to process one batch of events", registry=registry
            ),
            open_incidents=Gauge("aggregator_open_incidents", "Open incidents held by this worker", registry=registry),
            projection_writes=Counter(
                "aggregator_projection_writes_total", "Documents written to MongoDB", ["collection"], registry=registry
            ),
            history_lag=Gauge(
                "aggregator_history_lag_events",
                "Records of the events topics this worker's history writer has not yet written to MongoDB",
                registry=registry,
            ),
            history_holding=Gauge(
                "aggregator_history_holding",
                "1 while the history writer holds its stream on a transient MongoDB failure (retrying with backoff)",
                registry=registry,
            ),
            history_retries=Counter(
                "aggregator_history_retries_total",
                "MongoDB writes retried, by kind: transient (server down, timeout) or unknown (retried a bounded"
                " number of times)",
                ["kind"],
                registry=registry,
            ),
            history_batch_seconds=Histogram(
                "aggregator_history_batch_seconds", "Time to write one batch of history to MongoDB", registry=registry
            ),
            history_skipped=Counter(
                "aggregator_history_skipped_writes_total",
                "MongoDB writes given up that stand for no record (rollups, results): refused, or failed every attempt",
                ["collection"],
                registry=registry,
            ),
        )

"""Every metric the gateway exports, declared once, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from incident_shared.retention import RetentionMetrics

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class GatewayMetrics:
    requests: Counter
    request_seconds: Histogram
    events_accepted: Counter
    events_rejected: Counter
    produce_seconds: Histogram
    produce_errors: Counter
    commands: Counter
    pagerduty_events: Counter
    otlp_records_dropped: Counter
    view_incidents: Gauge
    view_bad_records: Counter
    store: RetentionMetrics
    aggregator_waiting: Gauge
    aggregator_workers: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        return cls(
            requests=Counter(
                "ingest_gateway_http_requests_total",
                "HTTP requests by route, method and status",
                ["route", "method", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                "ingest_gateway_http_request_duration_seconds",
                "HTTP request latency by route",
                ["route", "method"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            events_accepted=Counter(
                "ingest_gateway_events_accepted_total",
                "Events acknowledged by Kafka, by source",
                ["source"],
                registry=registry,
            ),
            events_rejected=Counter(
                "ingest_gateway_events_rejected_total",
                "Events refused, by reason",
                ["reason"],
                registry=registry,
            ),
            produce_seconds=Histogram(
                "ingest_gateway_kafka_produce_duration_seconds",
                "Time from send to acknowledgement by all in-sync replicas, per request",
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            produce_errors=Counter(
                "ingest_gateway_kafka_produce_errors_total",
                "Failed produce calls, by error",
                ["error"],
                registry=registry,
            ),
            commands=Counter(
                "ingest_gateway_incident_commands_total",
                "Incident commands sent, by action and outcome",
                ["action", "outcome"],
                registry=registry,
            ),
            pagerduty_events=Counter(
                "ingest_gateway_pagerduty_events_total",
                "PagerDuty Events API v2 events answered 202, by event_action",
                ["action"],
                registry=registry,
            ),
            otlp_records_dropped=Counter(
                "ingest_gateway_otlp_log_records_dropped_total",
                "OTLP log records not stored on purpose, by reason (below_min_severity)",
                ["reason"],
                registry=registry,
            ),
            view_incidents=Gauge(
                "ingest_gateway_incident_view_incidents",
                "Incidents held by the incident view (lists, open incidents, statistics)",
                registry=registry,
            ),
            view_bad_records=Counter(
                "ingest_gateway_incident_view_bad_records_total",
                "Records of the incidents topic skipped because they are not incident changes",
                registry=registry,
            ),
            # ingest_gateway_store_documents / _bytes / _oldest_event_timestamp_seconds, and
            # ingest_gateway_retention_deleted_documents_total.
            store=RetentionMetrics.create(registry, "ingest_gateway"),
            aggregator_waiting=Gauge(
                "ingest_gateway_aggregator_waiting_events",
                "Events on the events topic the aggregator has not processed yet (its consumer group's lag)",
                registry=registry,
            ),
            aggregator_workers=Gauge(
                "ingest_gateway_aggregator_workers",
                "Members of the aggregator's consumer group (0: no aggregator is running)",
                registry=registry,
            ),
        )

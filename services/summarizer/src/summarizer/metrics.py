"""Every metric the summarizer exports, declared once, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_CALL_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
BREAKER_STATE_VALUE = {"closed": 0, "half-open": 1, "open": 2}


@dataclass(frozen=True)
class SummarizerMetrics:
    registry: CollectorRegistry
    provider_calls: Counter
    provider_call_seconds: Histogram
    provider_retries: Counter
    tokens: Counter
    cost_usd: Counter
    failures: Counter
    fallbacks: Counter
    summaries: Counter
    decisions: Counter
    breaker_state: Gauge
    breaker_transitions: Counter
    budget_remaining_usd: Gauge
    in_flight: Gauge
    incidents_tracked: Gauge
    records: Counter
    publish_errors: Counter
    kafka_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SummarizerMetrics:
        return cls(
            registry=registry,
            provider_calls=Counter(
                "summarizer_provider_calls_total",
                "Provider calls (after retries), by provider, model and outcome",
                ["provider", "model", "outcome"],
                registry=registry,
            ),
            provider_call_seconds=Histogram(
                "summarizer_provider_call_duration_seconds",
                "Provider call latency, retries included",
                ["provider"],
                buckets=_CALL_BUCKETS,
                registry=registry,
            ),
            provider_retries=Counter(
                "summarizer_provider_retries_total",
                "Provider attempts retried, by reason",
                ["reason"],
                registry=registry,
            ),
            tokens=Counter(
                "summarizer_tokens_total",
                "Tokens used, by model and direction (input, output)",
                ["model", "direction"],
                registry=registry,
            ),
            cost_usd=Counter(
                "summarizer_cost_usd_total", "Estimated provider cost in USD, by model", ["model"], registry=registry
            ),
            failures=Counter(
                "summarizer_failures_total", "Failed AI summaries, by reason", ["reason"], registry=registry
            ),
            fallbacks=Counter(
                "summarizer_fallbacks_total",
                "Rule-based summaries written instead of AI ones, by reason",
                ["reason"],
                registry=registry,
            ),
            summaries=Counter(
                "summarizer_summaries_published_total",
                "Summaries published, by kind and trigger",
                ["kind", "trigger"],
                registry=registry,
            ),
            decisions=Counter(
                "summarizer_decisions_total",
                "Summaries the policy asked for, by reason",
                ["reason"],
                registry=registry,
            ),
            breaker_state=Gauge(
                "summarizer_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", registry=registry
            ),
            breaker_transitions=Counter(
                "summarizer_breaker_transitions_total",
                "Circuit breaker transitions, by new state",
                ["state"],
                registry=registry,
            ),
            budget_remaining_usd=Gauge(
                "summarizer_budget_remaining_usd", "What is left of today's AI budget", registry=registry
            ),
            in_flight=Gauge("summarizer_in_flight_summaries", "Summaries being written", registry=registry),
            incidents_tracked=Gauge(
                "summarizer_incidents_tracked", "Incidents the decision policy follows", registry=registry
            ),
            records=Counter(
                "summarizer_incident_records_total",
                "Records read from the incidents topic, by action; skipped ones as invalid (not an"
                " incident change) or unprocessable (valid, but breaking the policy or the summary)",
                ["action"],
                registry=registry,
            ),
            publish_errors=Counter(
                "summarizer_publish_errors_total",
                "Summaries that could not be produced to Kafka",
                registry=registry,
            ),
            kafka_errors=Counter(
                "summarizer_kafka_errors_total",
                "Failed Kafka operations, retried with backoff, by operation (read, publish)",
                ["operation"],
                registry=registry,
            ),
        )

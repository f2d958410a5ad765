"""Every metric the broadcaster exports, declared on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

# `type` label values of sent messages; `event` counts events, even when several share one frame.
SENT_TYPES = ("event", "incident", "snapshot", "control")
CLOSE_REASONS = ("normal", "slow", "backlog", "error", "shutdown", "rejected")
TOPICS = ("events", "incidents")


class BroadcasterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge("ws_broadcaster_connections", "WebSocket clients connected now", registry=registry)
        self.connections_opened = Counter(
            "ws_broadcaster_connections_opened_total", "WebSocket connections accepted", registry=registry
        )
        self.connections_closed = Counter(
            "ws_broadcaster_connections_closed_total",
            "WebSocket connections ended, by reason (slow and backlog: disconnected as hopeless)",
            ["reason"],
            registry=registry,
        )
        self.subscriptions = Gauge(
            "ws_broadcaster_subscriptions", "Channel subscriptions over all clients", registry=registry
        )
        self.subscription_groups = Gauge(
            "ws_broadcaster_subscription_groups",
            "Distinct channel sets among clients (each is filtered and framed once)",
            registry=registry,
        )
        self.messages_sent = Counter(
            "ws_broadcaster_messages_sent_total",
            "Messages written to clients, by type",
            ["type"],
            registry=registry,
        )
        self.frames_sent = Counter(
            "ws_broadcaster_frames_sent_total", "WebSocket frames written to clients", registry=registry
        )
        self.bytes_sent = Counter(
            "ws_broadcaster_sent_bytes_total", "Payload bytes written to clients", registry=registry
        )
        self.messages_dropped = Counter(
            "ws_broadcaster_messages_dropped_total",
            "Events not delivered because a client fell behind (it is told how many)",
            registry=registry,
        )
        self.events_skipped = Counter(
            "ws_broadcaster_events_skipped_total",
            "Events skipped because the replica fell more than WS_MAX_EVENTS_LAG behind the topic",
            registry=registry,
        )
        self.client_messages = Counter(
            "ws_broadcaster_client_messages_total",
            "Messages received from clients, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.records_consumed = Counter(
            "ws_broadcaster_records_consumed_total", "Kafka records read, by topic", ["topic"], registry=registry
        )
        self.records_invalid = Counter(
            "ws_broadcaster_records_invalid_total",
            "Kafka records skipped as undecodable, by topic",
            ["topic"],
            registry=registry,
        )
        self.reader_errors = Counter(
            "ws_broadcaster_reader_errors_total",
            "Failures reading a topic (Kafka down or unreachable), each retried with backoff, by topic",
            ["topic"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "ws_broadcaster_consumer_lag_messages",
            "Records behind the partition ends, by topic",
            ["topic"],
            registry=registry,
        )
        self.active_incidents = Gauge(
            "ws_broadcaster_active_incidents", "Incidents in the snapshot new clients get", registry=registry
        )
        self.sent_by_type = {kind: self.messages_sent.labels(kind) for kind in SENT_TYPES}
        for reason in CLOSE_REASONS:
            self.connections_closed.labels(reason)
        for topic in TOPICS:
            self.records_consumed.labels(topic)
            self.records_invalid.labels(topic)
            self.reader_errors.labels(topic)
            self.consumer_lag.labels(topic)
        for outcome in ("ok", "error"):
            self.client_messages.labels(outcome)
